"""A stand-in for your application beside the fakemms service (docker/compose.yaml).

It sends an MT to fakemms, receives that MT's delivery report on /dlr, plays a handset through
fakemms's control API so an MO arrives on /mo, and answers that MO with another MT: both
directions, as a real application would use the provider. Standard library and requests only.

Settings: FAKEMMS_URL (where fakemms is), APP_PORT (where this listens, default 9000),
APP_USERNAME / APP_PASSWORD (the account fakemms was given), APP_SHORT_CODE (default 88600).
"""

from __future__ import annotations

import email
import json
import os
import signal
import sys
import threading
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

FAKEMMS = os.environ.get("FAKEMMS_URL", "http://127.0.0.1:8025").rstrip("/")
AUTH = (os.environ.get("APP_USERNAME", "fakemms"), os.environ.get("APP_PASSWORD", "fakemms"))
SHORT_CODE = os.environ.get("APP_SHORT_CODE", "88600")


def send_mt(destination: str, text: str) -> int:
    """POST /mms/v2/send: a JSON part (Content-Id main) then the content, multipart/mixed."""
    fields = {"type": "MT", "source": SHORT_CODE, "destination": destination,
              "mtConfig": "config1"}
    body = ("--b\r\nContent-Type: application/json\r\nContent-Id: main\r\n\r\n"
            f"{json.dumps(fields)}\r\n\r\n"
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Id: text.txt\r\n\r\n"
            f"{text}\r\n\r\n--b--\r\n").encode()
    r = requests.post(f"{FAKEMMS}/mms/v2/send", data=body, auth=AUTH, timeout=10,
                      headers={"Content-Type": "multipart/mixed; boundary=b"})
    r.raise_for_status()
    mt_id = r.json()["mtId"]
    print(f"app: sent MT {mt_id} to {destination}", flush=True)
    return mt_id


class Callbacks(BaseHTTPRequestHandler):
    """/dlr: a REPORT (JSON); /mo: an MO (multipart/mixed, its JSON part first)."""

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if self.path == "/dlr":
            report = json.loads(body)
            print(f"app: report for MT {report['mtId']}: {report['status']}", flush=True)
        elif self.path == "/mo":
            raw = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body
            parts = email.message_from_bytes(raw, policy=HTTP).get_payload()
            mo = json.loads(parts[0].get_payload(decode=True))
            text = parts[1].get_payload(decode=True).decode() if len(parts) > 1 else ""
            print(f"app: MO {mo['moId']} from {mo['source']}: {text}", flush=True)
            threading.Thread(target=send_mt, args=(mo["source"], f"You said: {text}")).start()

    def log_message(self, format: str, *args: object) -> None:
        pass  # the lines above say what arrived


def main() -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))  # PID 1 in its container
    server = ThreadingHTTPServer(("", int(os.environ.get("APP_PORT", "9000"))), Callbacks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    send_mt("12515550130", "Hello from the example app")
    # a handset writes to our short code: fakemms's control API plays it
    requests.post(f"{FAKEMMS}/_fakemms/api/mo", timeout=10, json={
        "account": AUTH[0], "destination": SHORT_CODE, "source": "12015550123",
        "parts": [{"content_type": "text/plain", "text": "Hi app"}]}).raise_for_status()
    threading.Event().wait()  # serve callbacks until stopped


if __name__ == "__main__":
    main()
