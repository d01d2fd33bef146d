"""Load with everything on, shared by tests/test_load.py and bench/load.py.

Many concurrent senders (a ThreadPoolExecutor, one requests Session each) post OpenMarket sends
(``POST /mms/v2/send``) and MM7 SubmitReqs (``POST /mm7``) to one ``fakemms serve`` (a
subprocess on 127.0.0.1) whose accounts send their delivery reports to a live receiver
(``fakemms.testing.AppReceiver``, in this process), with TPS and account limits configured.
``check`` then compares three views of the run: what the senders were answered, what the fake
stored and counts (its control API), and what the receiver got.

Accounts (a message's account is picked by its place in the sender's sequence, ``MIX``):

- ``om``: OpenMarket REPORT callbacks, one report per message;
- ``mm7``: MM7 6.8.0 DeliveryReportReq callbacks, two reports (Deferred, then Retrieved);
- ``tps``: OpenMarket reports, a TPS limit (``tps``);
- ``capped``: MM7 5.3.0 reports, a daily limit (``day_limit``);
- ``monthly`` (when ``month_limit`` is set): MM7 6.8.0 reports, a monthly limit.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import requests

from fakemms.protocols.mm7 import codec
from fakemms.testing import AppReceiver
from fakemms.testing.receiver import ReceivedCallback

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"
PASSWORD = "s3cret"
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-6-MM7-1-4"
REAL_SUBMIT = ROOT / "tests" / "data" / "fixtures" / "mm7" / "submit-req-prefixed.txt"
MIX = ("om", "mm7", "om", "mm7", "om", "mm7", "tps", "capped")
REPORTS_PER_MESSAGE = {"om": 1, "mm7": 2, "tps": 1, "capped": 1, "monthly": 1}
# the documented refusals (docs/openmarket.md, docs/mm7.md): HTTP code / MM7 StatusCode
REFUSALS = {15406: "tps", 15301: "day", 15302: "month", 4006: "tps"}
MM7_LIMIT = 4007  # MM7's one status for the daily, monthly and prepaid limits
LIMIT_OF = {"capped": "day", "monthly": "month"}  # the one limit each account has


@dataclass
class Plan:
    senders: int = 50
    per_sender: int = 40
    tps: float = 20.0
    day_limit: int = 100
    month_limit: int | None = None  # adds the ``monthly`` account (MM7 6.8.0 reports)
    report_after: float = 1.0  # seconds from the accept to the first report
    max_messages: int = 50_000  # nothing evicted: every report still has its message
    callbacks: bool = True  # False: no dlr_url (the baseline: reports recorded, none sent)
    real_every: int = 25  # every Nth MM7 submit is the real-world SubmitReq (tests/data)
    clock: str = "real"

    @property
    def total(self) -> int:
        return self.senders * self.per_sender


def server_config(plan: Plan, receiver_url: str | None) -> dict[str, Any]:
    """The fake's configuration for a plan: four accounts, reports to ``receiver_url``."""
    def mt(protocol: str) -> dict[str, Any]:
        url = f"{receiver_url}/dlr" if plan.callbacks and receiver_url else None
        return {"config1": {"dlr_url": url, "dlr_protocol": protocol, "region": "US"}}

    accounts = [
        {"username": "om", "password": PASSWORD, "mt_configs": mt("http")},
        {"username": "mm7", "password": PASSWORD, "mt_configs": mt("mm7-6.8.0")},
        {"username": "tps", "password": PASSWORD, "mt_configs": mt("http"), "tps": plan.tps},
        {"username": "capped", "password": PASSWORD, "mt_configs": mt("mm7-5.3.0"),
         "max_per_day": plan.day_limit},
    ]
    if plan.month_limit is not None:
        accounts.append({"username": "monthly", "password": PASSWORD,
                         "mt_configs": mt("mm7-6.8.0"), "max_per_month": plan.month_limit})
    return {
        "accounts": accounts, "seed": 1, "clock": plan.clock,
        "max_messages": plan.max_messages,
        "default_report": {"status": "Retrieved", "after": f"{plan.report_after:g}s",
                           "outcome_id": 1, "description": "Message retrieved"},
        # a healthy receiver answers at once; short retries would show as extra attempts
        "callbacks": {"workers": 16, "timeout_seconds": 10, "retry_delays": [2]},
        "http": {"threads": 8},
    }


def scenario(plan: Plan) -> dict[str, Any]:
    """Two reports for the ``mm7`` account's messages: Deferred, then Retrieved."""
    reports = [{"status": "Deferred", "after": f"{plan.report_after:g}s"},
               {"status": "Retrieved", "after": "0.5s"}]
    return {"name": "load", "rules": [{"name": "two-reports", "match": {"account": "mm7"},
                                       "reports": reports}]}


class Server:
    """``fakemms serve --config FILE`` in a subprocess on 127.0.0.1."""

    def __init__(self, config: dict[str, Any], scenarios: list[dict[str, Any]] = (),
                 module: str = "fakemms") -> None:
        """``module``: what ``python -m`` runs (a bench may run fakemms with a change)."""
        self._dir = tempfile.TemporaryDirectory(prefix="fakemms-load-")
        tmp = Path(self._dir.name)
        names = []
        for i, sc in enumerate(scenarios):
            (tmp / f"s{i}.yaml").write_text(json.dumps(sc))
            names.append(str(tmp / f"s{i}.yaml"))
        (tmp / "config.yaml").write_text(json.dumps({**config, "scenarios": names}))
        self.log_path = tmp / "serve.log"  # its log (stdout) and stderr: tracebacks too
        self._log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
        env["PYTHONPATH"] = str(ROOT)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, "serve", "--config", str(tmp / "config.yaml"),
             "--port", "0", "--quiet"],
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT, env=env,
            cwd=ROOT)
        self.http = requests.Session()
        deadline = time.monotonic() + 20
        while True:  # port 0: the banner says where it listens
            found = re.search(r"listening on http://127\.0\.0\.1:(\d+)", self.log())
            if found:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fakemms serve did not start: {self.log()[-2000:]}")
            time.sleep(0.02)
        self.port = int(found.group(1))
        self.url = f"http://{HOST}:{self.port}"
        self.health()

    def health(self) -> dict[str, Any]:
        return self.http.get(self.url + "/_fakemms/health", timeout=30).json()

    def api(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.http.request(method, self.url + "/_fakemms/api" + path, timeout=60, **kw)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def log(self) -> str:
        return self.log_path.read_text("utf-8", "replace")

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()
        self._dir.cleanup()


# --- requests ---------------------------------------------------------------------------------
def om_send(destination: str, text: str) -> tuple[bytes, dict[str, str]]:
    """An OpenMarket send (the document's layout: a blank line above each boundary)."""
    fields = {"type": "MT", "source": "88600", "destination": destination,
              "mtConfig": "config1", "subject": "Load"}
    body = b""
    for headers, data in ((b"Content-Type: application/json\r\nContent-Id: main",
                           json.dumps(fields).encode()),
                          (b"Content-Type: text/plain; charset=utf-8\r\nContent-Id: text.txt",
                           text.encode())):
        body += b"--mimeboundary\r\n" + headers + b"\r\n\r\n" + data + b"\r\n\r\n"
    body += b"--mimeboundary--\r\n"
    return body, {"Content-Type": "multipart/mixed; boundary=mimeboundary"}


def mm7_submit(destination: str, text: str, transaction_id: str) -> tuple[bytes, dict[str, str]]:
    """A SubmitReq laid out as VASPs send it: the SOAP part named by ``start``, the content a
    nested multipart/mixed with one text part."""
    soap = (
        '<?xml version="1.0" encoding="UTF-8"?>\r\n'
        '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
        f'<env:Header><mm7:TransactionID xmlns:mm7="{NS}" env:mustUnderstand="1">'
        f"{transaction_id}</mm7:TransactionID></env:Header><env:Body>"
        f'<SubmitReq xmlns="{NS}"><MM7Version>6.8.0</MM7Version>'
        "<SenderIdentification><VASPID>load</VASPID><VASID>config1</VASID>"
        "<SenderAddress><ShortCode>88600</ShortCode></SenderAddress></SenderIdentification>"
        f"<Recipients><To><Number>{destination}</Number></To></Recipients>"
        "<DeliveryReport>true</DeliveryReport><Subject>Load</Subject>"
        '<Content href="cid:content" allowAdaptations="true"/></SubmitReq>'
        "</env:Body></env:Envelope>").encode()
    inner = (b"--inner\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <text.txt>"
             b"\r\n\r\n" + text.encode() + b"\r\n--inner--\r\n")
    body = (b"--outer\r\nContent-Type: text/xml; charset=utf-8\r\nContent-ID: <soap-start>"
            b"\r\n\r\n" + soap + b"\r\n--outer\r\nContent-Type: multipart/mixed; boundary=inner"
            b"\r\nContent-ID: <content>\r\n\r\n" + inner + b"--outer--\r\n")
    return body, {"Content-Type": 'multipart/related; type="text/xml"; start="<soap-start>"; '
                                  'boundary="outer"', "SOAPAction": '""'}


@lru_cache(maxsize=1)
def real_submit() -> tuple[bytes, dict[str, str]]:
    """The real-world SubmitReq (tests/data/fixtures/mm7, with its JPEG), as a VASP sent it."""
    raw = REAL_SUBMIT.read_bytes()
    boundary = raw.split(b"\n", 1)[0][2:].decode()
    return raw, {"Content-Type": f'multipart/related; type="text/xml"; '
                                 f'start="</PRLS01AUDC/mm7-submit>"; boundary="{boundary}"',
                 "SOAPAction": '""'}


@dataclass
class Sent:
    """One request and what it was answered."""

    sender: int
    seq: int
    account: str
    protocol: str  # http | mm7
    outcome: str  # accepted | tps | day | month | other
    id: str | None
    status: int
    code: int | None  # OpenMarket code or MM7 StatusCode
    started: float  # time.monotonic()
    latency: float  # seconds
    detail: str = ""
    wall: float = 0.0  # time.time() at the start (the receiver stamps reports with it)


def classify(protocol: str, response: requests.Response) -> tuple[str, str | None, int | None,
                                                                  str]:
    """(outcome, message id, code, detail) of an answer."""
    if protocol == "http":
        try:
            data = response.json()
        except ValueError:
            return "other", None, None, response.text[:300]
        if response.status_code == 202 and data.get("mtId"):
            return "accepted", str(data["mtId"]), None, ""
        code = (data.get("error") or {}).get("code") if isinstance(data, dict) else None
        code = int(code) if code is not None else None
        return REFUSALS.get(code or 0, "other"), None, code, response.text[:300]
    try:
        parsed = codec.parse_response(response.content, response.headers.get("Content-Type"))
    except Exception as exc:  # noqa: BLE001 - an unparsable answer is a finding, not a crash
        return "other", None, None, f"{exc}: {response.text[:300]}"
    status = parsed.status
    code = status.code if status is not None else None
    if response.status_code == 200 and code == 1000 and getattr(parsed, "message_id", None):
        return "accepted", parsed.message_id, code, ""
    if code == MM7_LIMIT:  # one status for every limit, no Details: send_one names it
        return "limit", None, code, response.text[:300]
    return REFUSALS.get(code or 0, "other"), None, code, response.text[:300]


Request = Callable[[int, int], tuple[str, str, bytes, dict[str, str]]]


def request(account: str, protocol: str, i: int, k: int, *, real: bool = False
            ) -> tuple[str, str, bytes, dict[str, str]]:
    """Sender ``i``'s ``k``-th request to ``account``: (account, protocol, body, headers);
    ``real``: the real-world SubmitReq (MM7 only)."""
    destination = f"1255{i:03d}{k:04d}"
    text = f"load {i}/{k}"
    if protocol == "http":
        return (account, protocol, *om_send(destination, text))
    if real:
        return (account, protocol, *real_submit())
    return (account, protocol, *mm7_submit(destination, text, f"txn-{i}-{k}"))


def mixed_request(plan: Plan) -> Request:
    """The load's mix: accounts in ``MIX`` order, HTTP and MM7 in turn, every
    ``plan.real_every``-th MM7 submit the real-world one."""
    def build(i: int, k: int) -> tuple[str, str, bytes, dict[str, str]]:
        protocol = "http" if (i + k // len(MIX)) % 2 == 0 else "mm7"
        real = bool(plan.real_every) and (i * plan.per_sender + k) % plan.real_every == 0
        return request(MIX[(i + k) % len(MIX)], protocol, i, k, real=real)
    return build


def send_one(session: requests.Session, url: str, i: int, k: int, build: Request) -> Sent:
    account, protocol, body, headers = build(i, k)
    auth = "Basic " + base64.b64encode(f"{account}:{PASSWORD}".encode()).decode()
    path = "/mms/v2/send" if protocol == "http" else "/mm7"
    t0, wall = time.monotonic(), time.time()
    try:
        r = session.post(url + path, data=body, headers={**headers, "Authorization": auth},
                         timeout=60)
    except requests.RequestException as exc:
        return Sent(i, k, account, protocol, "other", None, 0, None, t0,
                    time.monotonic() - t0, f"{exc.__class__.__name__}: {exc}", wall)
    latency = time.monotonic() - t0
    outcome, message_id, code, detail = classify(protocol, r)
    if outcome == "limit":  # MM7 4007 does not say which limit: the account's only one
        outcome = LIMIT_OF.get(account, "other")
    return Sent(i, k, account, protocol, outcome, message_id, r.status_code, code, t0, latency,
                detail, wall)


def run_senders(url: str, plan: Plan, build: Request | None = None,
                seqs: range | None = None,
                pool: ThreadPoolExecutor | None = None,
                sessions: list[requests.Session] | None = None) -> list[Sent]:
    """``plan.senders`` concurrent senders, each sending its ``seqs`` (default
    ``range(plan.per_sender)``) one after another; all start together (a barrier)."""
    build = build or mixed_request(plan)
    seqs = seqs if seqs is not None else range(plan.per_sender)
    own_pool = pool is None
    pool = pool or ThreadPoolExecutor(max_workers=plan.senders, thread_name_prefix="sender")
    own_sessions = sessions is None
    sessions = sessions or [requests.Session() for _ in range(plan.senders)]
    start = threading.Barrier(plan.senders)

    def sender(i: int) -> list[Sent]:
        start.wait(timeout=30)
        return [send_one(sessions[i], url, i, k, build) for k in seqs]

    try:
        return [s for batch in pool.map(sender, range(plan.senders)) for s in batch]
    finally:
        if own_sessions:
            for s in sessions:
                s.close()
        if own_pool:
            pool.shutdown()


# --- the reports the receiver got -------------------------------------------------------------
def report_message_id(item: ReceivedCallback) -> str | None:
    if item.protocol == "mm7" and item.mm7 is not None:
        return getattr(item.mm7, "message_id", None)
    try:
        return str(item.json()["mtId"])
    except (ValueError, KeyError, TypeError):
        return None


def expected_reports(sent: list[Sent]) -> int:
    return sum(REPORTS_PER_MESSAGE[s.account] for s in sent if s.outcome == "accepted")


def wait_delivered(server: Server, receiver: AppReceiver, expected: int,
                   timeout: float) -> dict[str, Any]:
    """Wait for ``expected`` reports at the receiver, then until the fake has recorded them
    (the receiver sees a request a moment before the fake records its attempt)."""
    try:
        receiver.wait_for(expected, timeout=timeout)
    except AssertionError:
        pass  # counted as lost by check()
    deadline = time.monotonic() + 10
    while True:
        health = server.health()
        if (health["callbacks_delivered"] >= expected and not health["callbacks_busy"]) \
                or time.monotonic() > deadline:
            return health
        time.sleep(0.05)


@dataclass
class Outcome:
    """What ``check`` found; every list or count here should be empty or zero."""

    by_outcome: Counter = field(default_factory=Counter)
    accepted: int = 0
    duplicate_ids: list[str] = field(default_factory=list)
    unexpected: list[Sent] = field(default_factory=list)  # neither accepted nor documented
    stored_not_accepted: list[str] = field(default_factory=list)
    accepted_not_stored: list[str] = field(default_factory=list)
    lost_reports: dict[str, int] = field(default_factory=dict)  # id -> reports missing
    extra_reports: dict[str, int] = field(default_factory=dict)  # id -> reports too many
    stray_reports: int = 0  # reports for ids nobody was answered
    reports_received: int = 0
    reports_expected: int = 0
    health: dict[str, Any] = field(default_factory=dict)
    per_account: dict[str, Counter] = field(default_factory=dict)
    not_delivered_first_time: int = 0
    account_counts: dict[str, tuple[int, int]] = field(default_factory=dict)  # stored, accepted
    early_reports: list[str] = field(default_factory=list)  # ids reported before due

    def problems(self) -> list[str]:
        h = self.health
        out = []
        for name in ("duplicate_ids", "stored_not_accepted", "accepted_not_stored",
                     "account_counts", "early_reports"):
            found = getattr(self, name)
            if found:
                shown = list(found.items() if isinstance(found, dict) else found)[:5]
                out.append(f"{name}: {shown} ({len(found)})")
        if self.unexpected:
            out.append(f"unexpected answers ({len(self.unexpected)}): {self.unexpected[:3]}")
        if self.lost_reports:
            out.append(f"lost reports for {len(self.lost_reports)} message(s): "
                       f"{list(self.lost_reports.items())[:5]}")
        if self.extra_reports:
            out.append(f"duplicate reports for {len(self.extra_reports)} message(s): "
                       f"{list(self.extra_reports.items())[:5]}")
        if self.stray_reports:
            out.append(f"{self.stray_reports} report(s) for unknown ids")
        if h.get("messages") != self.accepted:
            out.append(f"store holds {h.get('messages')} messages, {self.accepted} accepted")
        for key in ("evicted", "dropped_jobs", "failed_jobs", "callbacks_shed",
                    "callbacks_dropped", "callbacks_failed", "callbacks_cancelled"):
            if h.get(key):
                out.append(f"health {key} = {h[key]}")
        if h.get("callbacks") != self.reports_expected:
            out.append(f"fake recorded {h.get('callbacks')} callbacks, "
                       f"{self.reports_expected} expected")
        if h.get("callbacks_delivered") != self.reports_expected:
            out.append(f"fake delivered {h.get('callbacks_delivered')} callbacks, "
                       f"{self.reports_expected} expected")
        return out


def check(server: Server, receiver: AppReceiver, sent: list[Sent],
          health: dict[str, Any] | None = None, report_after: float | None = None) -> Outcome:
    """Compare the answers, the fake's store and counters, and the receiver's reports;
    ``report_after`` (a real clock): no report may arrive sooner after its send started."""
    out = Outcome()
    out.by_outcome = Counter(s.outcome for s in sent)
    for s in sent:
        out.per_account.setdefault(s.account, Counter())[s.outcome] += 1
    accepted = [s for s in sent if s.outcome == "accepted"]
    out.accepted = len(accepted)
    ids = Counter(s.id for s in accepted)
    out.duplicate_ids = sorted(i for i, n in ids.items() if n > 1)
    out.unexpected = [s for s in sent if s.outcome == "other"]
    listed = server.api("GET", "/messages", params={"limit": 10 ** 6}).json()["messages"]
    stored = {m["id"] for m in listed}
    out.stored_not_accepted = sorted(stored - set(ids))
    out.accepted_not_stored = sorted(set(ids) - stored)
    for account, outcomes in out.per_account.items():
        count = server.api("GET", "/messages", params={"account": account, "limit": 0}
                           ).json()["count"]
        if count != outcomes["accepted"]:
            out.account_counts[account] = (count, outcomes["accepted"])
    want = {s.id: REPORTS_PER_MESSAGE[s.account] for s in accepted}
    out.reports_expected = sum(want.values())
    got: Counter = Counter()
    received = list(receiver.received)
    out.reports_received = len(received)
    started = {s.id: s.wall for s in accepted}
    for item in received:
        mid = report_message_id(item)
        got[mid] += 1
        if report_after is not None and mid in started and \
                item.at < started[mid] + report_after - 0.01:
            out.early_reports.append(mid)
    for mid, n in want.items():
        if got[mid] < n:
            out.lost_reports[mid] = n - got[mid]
        elif got[mid] > n:
            out.extra_reports[mid] = got[mid] - n
    out.stray_reports = sum(n for mid, n in got.items() if mid not in want)
    out.health = health if health is not None else server.health()
    callbacks = server.api("GET", "/callbacks").json()["callbacks"]
    out.not_delivered_first_time = sum(
        1 for c in callbacks if c["state"] != "delivered" or c["attempt_count"] != 1)
    return out


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, max(0, int(round(q / 100 * len(values))) - 1))]
