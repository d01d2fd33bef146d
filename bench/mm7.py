"""Benchmark: the full MM7 SubmitReq path beside the OpenMarket HTTP send path, in the same run.

    .venv/bin/python bench/mm7.py [--connections 8] [--threads 2] [--duration 3] [--rounds 4]

One fakemms process (``fakemms.server.ServerThread``, what ``fakemms serve`` uses, with the
embedded default configuration) on 127.0.0.1 serves both paths, started as a subprocess. The
load comes from wrk (``-t2 -c8``, keep-alive, a Lua script posting the same body each time).
Runs alternate MM7/HTTP (ABBA over rounds) so drift hits both.

- MM7: ``POST /mm7``, ``multipart/related`` SOAP 1.1 SubmitReq (REL-6-MM7-1-4, 6.8.0) with a
  nested ``multipart/mixed`` holding one text part: Basic auth, guards, MIME split, defusedxml
  parse, validation, media and size checks, SMIL generation, store, SubmitRsp. Expected: 200.
- HTTP: ``POST /mms/v2/send``, a 1 KB multipart body (JSON part + a text part of the same
  text as the SubmitReq's). Expected: 202.

The goal (issue 10) is MM7 >= 0.9x the HTTP path's req/s. Bounded: each wrk run lasts
``--duration`` seconds. Prints figures and the ratio; asserts nothing (a measurement).
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import HOST, add_wrk_arguments, machine, run_abba, start_fakemms, wrk_script  # noqa: E402

USER, PASSWORD = "fakemms", "fakemms"  # the embedded default account (MT configuration config1)
AUTH = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
OUTER, INNER, OM = "mm7-outer-boundary", "mm7-inner-boundary", "mimeboundary"
TEXT_SIZE = 850


def text(size: int = TEXT_SIZE) -> bytes:
    return (b"Hello from the benchmark. " * (size // 26 + 1))[:size]


def send_body() -> bytes:
    """The HTTP send body: JSON part, then the text part, a blank line above each boundary."""
    fields = {"type": "MT", "source": "88600", "destination": "12515550130",
              "mtConfig": "config1", "subject": "Benchmark"}
    out = b""
    for headers, data in (("Content-Type: application/json\r\nContent-Id: main",
                           json.dumps(fields).encode()),
                          ("Content-Type: text/plain; charset=utf-8\r\nContent-Id: text.txt",
                           text())):
        out += f"--{OM}\r\n{headers}\r\n\r\n".encode() + data + b"\r\n\r\n"
    return out + f"--{OM}--\r\n".encode()


SEND_HEADERS = {"Content-Type": f"multipart/mixed; boundary={OM}", "Authorization": AUTH}


def submit_body() -> bytes:
    """A SubmitReq as real VASPs send it: SOAP part named by ``start``, content a nested
    multipart/mixed with one text part (the HTTP body's text)."""
    soap = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<env:Header><mm7:TransactionID xmlns:mm7="{NS}" env:mustUnderstand="1">bench-1'
        "</mm7:TransactionID></env:Header><env:Body>"
        f'<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version>'
        "<SenderIdentification><VASPID>bench</VASPID><VASID>config1</VASID>"
        "<SenderAddress><ShortCode>88600</ShortCode></SenderAddress></SenderIdentification>"
        "<Recipients><To><Number>12515550130</Number></To></Recipients>"
        "<DeliveryReport>true</DeliveryReport><Subject>Benchmark</Subject>"
        '<Content href="cid:content" allowAdaptations="true"/></SubmitReq>'
        "</env:Body></env:Envelope>"
    ).encode()
    inner = (f"--{INNER}\r\nContent-Type: text/plain; charset=utf-8\r\n"
             "Content-ID: <text.txt>\r\n\r\n").encode() + text() + f"\r\n--{INNER}--\r\n".encode()
    return (f"--{OUTER}\r\nContent-Type: text/xml; charset=utf-8\r\n"
            "Content-ID: <soap-start>\r\n\r\n").encode() + soap + (
        f"\r\n--{OUTER}\r\nContent-Type: multipart/mixed; boundary={INNER}\r\n"
        "Content-ID: <content>\r\n\r\n").encode() + inner + f"--{OUTER}--\r\n".encode()


MM7_HEADERS = {
    "Content-Type": (f'multipart/related; type="text/xml"; start="<soap-start>"; '
                     f'boundary="{OUTER}"'),
    "SOAPAction": '""',
    "Authorization": AUTH,
}


def check_once(port: int, path: str, body: bytes, headers: dict[str, str], status: int,
               needle: bytes) -> None:
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.request("POST", path, body=body, headers=headers)
    r = conn.getresponse()
    data = r.read()
    conn.close()
    if r.status != status or needle not in data:
        raise SystemExit(f"{path} answered {r.status}: {data[:400]!r}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_wrk_arguments(ap)
    args = ap.parse_args(argv)

    levels = [int(c) for c in args.connections.split(",") if c]
    mm7, http_body = submit_body(), send_body()
    targets = {
        "mm7 SubmitReq": ("/mm7", mm7, MM7_HEADERS),
        "http send": ("/mms/v2/send", http_body, SEND_HEADERS),
    }
    m = machine()
    print(f"machine: {m['nproc']} CPUs, {m['cpu']}, Python {m['python']}; {m['date']}; "
          f"load average {m['load']}")
    print(f"bodies: SubmitReq {len(mm7)} bytes, HTTP send {len(http_body)} bytes; wrk "
          f"-t{args.threads}, {args.rounds} ABBA round(s) x {args.duration} s per cell")

    server = start_fakemms()
    try:
        check_once(server.port, "/mm7", mm7, MM7_HEADERS, 200, b"<StatusCode>1000</StatusCode>")
        check_once(server.port, "/mms/v2/send", http_body, SEND_HEADERS, 202, b"mtId")
        with tempfile.TemporaryDirectory() as tmp:
            scripts = {}
            for name, (path, body, headers) in targets.items():
                (Path(tmp) / name[:4]).mkdir()
                script = wrk_script(Path(tmp) / name[:4], "POST", path, body, headers)
                scripts[name] = (server.port, server.proc.pid, script)
            results = run_abba(scripts, levels, args)
    finally:
        server.stop()

    print()
    print(f"| {'path':<14} | {'conn':>4} | {'req/s':>7} | {'p50 ms':>6} | {'p99 ms':>6} | "
          f"{'errors':>6} | {'server CPU us':>13} | {'load':>9} |")
    print(f"|{'-' * 16}|{'-' * 6}|{'-' * 9}|{'-' * 8}|{'-' * 8}|{'-' * 8}|{'-' * 15}|{'-' * 11}|")
    for c in levels:
        for name in targets:
            res = results[(name, c)]
            load = f"{min(res.loads):.1f}-{max(res.loads):.1f}"
            print(f"| {name:<14} | {c:>4} | {res.rps:>7.0f} | {res.p50:>6.2f} | "
                  f"{res.p99:>6.2f} | {res.errors:>6} | {res.cpu_us_per_request:>13.0f} | "
                  f"{load:>9} |")
    print()
    for c in levels:
        a, b = results[("mm7 SubmitReq", c)], results[("http send", c)]
        ratio = a.rps / b.rps if b.rps else float("nan")
        cpu = a.cpu_us_per_request / b.cpu_us_per_request
        verdict = "met" if ratio >= 0.9 else "NOT met"
        print(f"{c} connections: MM7 / HTTP = {ratio:.2f}x req/s (server CPU per request "
              f"{cpu:.2f}x); goal >= 0.9x {verdict}")


if __name__ == "__main__":
    main()
