"""One callback of each protocol, sent by the dispatcher to a raw-socket receiver, as the
receiver saw it on the wire: the request line and the headers in order, and the body.

The callbacks are built by ``fakemms.outbound`` from fixed inputs (a seeded generator, fixed
times), so what comes out depends only on the protocol encoders and the transport.
``tests/data/callback_wire.json`` holds what the dispatcher sent when it used requests
(``python tests/callback_wire.py`` wrote it, at commit a329c2d); ``test_callback_wire.py``
checks that the transport still sends those bytes.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from fault_receiver import FaultReceiver  # noqa: E402

from fakemms import outbound  # noqa: E402
from fakemms.app import create_app  # noqa: E402
from fakemms.models import Account, Callback, Message, MoConfig, MtConfig, Part, Report  # noqa: E402
from fakemms.rng import Rng  # noqa: E402

EXPECTED = Path(__file__).parent / "data" / "callback_wire.json"
WHEN = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def _mt(interface: str, source: str = "88600") -> Message:
    return Message(id="100000000001" if interface != "mm7" else "mm7-0001", direction="mt",
                   interface=interface, account="acme", source=source,
                   destinations=["12515550130"], created_at=WHEN, mt_config="c",
                   request_id="req-1", answered=_answered())


def _answered() -> Any:
    from fakemms.models import AnswerGate

    gate = AnswerGate()
    gate.set()
    return gate


def _mo(subject: str | None = "Hi", *, sms: bool = False) -> Message:
    parts = [Part("text/plain", "héllo & ü=1 ?".encode())]
    if not sms:
        parts.append(Part("image/gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;",
                          content_id="<img>", filename="a.gif"))
    return Message(id="200000000002", direction="mo", interface="openmarket", account="acme",
                   source="12515550199", destinations=["88600"], created_at=WHEN,
                   subject=subject, mobile_operator_id=383, parts=parts,
                   extra={"type": "sms"} if sms else {}, answered=_answered())


def callbacks(base: str) -> dict[str, Callback]:
    """One callback of each protocol, to ``base`` (the receiver's URL), auth on some."""
    rng = Rng(1)
    ids = iter(f"cb-{i:06d}" for i in range(1, 100))
    report = Report(status="Retrieved", date=WHEN + 5, outcome_id=1, description="ok")
    out: dict[str, Callback] = {}
    mt = MtConfig("c", dlr_url=f"{base}/dlr/om", dlr_protocol="http", username="app",
                  password="pä:ss")
    out["openmarket-report"], = outbound.report_callbacks(
        new_id=lambda: next(ids), message=_mt("openmarket"), report=report, mt=mt, rng=rng,
        now=WHEN)
    account = Account("acme", "s3cret")
    out["openmarket-mo"] = outbound.mo_callback(
        callback_id=next(ids), message=_mo(), account=account,
        mo=MoConfig(url=f"{base}/mo/om", format="http"), rng=rng, now=WHEN)  # type: ignore
    mt = MtConfig("c", dlr_url=f"{base}/dlr/mm7", dlr_protocol="mm7-6.8.0")
    out["mm7-delivery-report"], = outbound.report_callbacks(
        new_id=lambda: next(ids), message=_mt("mm7"), report=report, mt=mt, rng=rng, now=WHEN)
    out["mm7-deliver"] = outbound.mo_callback(
        callback_id=next(ids), message=_mo(), account=account,
        mo=MoConfig(url=f"{base}/mo/mm7", format="mm7-6.8.0", username="mm7user",
                    password="secret"), rng=rng, now=WHEN)  # type: ignore
    mt = MtConfig("c", dlr_url=f"{base}/dlr/legacy?key=k1&x=a%2Fb", dlr_protocol="legacy")
    out["legacy-report-get"], = outbound.report_callbacks(
        new_id=lambda: next(ids), message=_mt("legacy", "88 600"),
        report=Report(status="Retrieved", date=WHEN + 5, user_agent="Nokia N95/1.0 (x&y)"),
        mt=mt, rng=rng, now=WHEN)
    out["legacy-mo-get"] = outbound.mo_callback(
        callback_id=next(ids), message=_mo("Grüße ~ 100% + mehr/weniger", sms=False),
        account=account, mo=MoConfig(url=f"{base}/mo/legacy", format="legacy-get"),
        rng=rng, now=WHEN)  # type: ignore
    out["legacy-mo-sms-get"] = outbound.mo_callback(
        callback_id=next(ids), message=_mo(None, sms=True), account=account,
        mo=MoConfig(url=f"{base}/mo/legacy", format="legacy-get", username="u", password=""),
        rng=rng, now=WHEN)  # type: ignore
    out["legacy-mo-post"] = outbound.mo_callback(
        callback_id=next(ids), message=_mo(), account=account,
        mo=MoConfig(url=f"{base}/mo/legacy-post", format="legacy-post"), rng=rng,
        now=WHEN)  # type: ignore
    return out


def capture() -> dict[str, dict[str, Any]]:
    """Send each callback once through the dispatcher; what the receiver got, per name: the
    request line, the headers in order (the receiver's port written ``{port}``), the body's
    length and SHA-256."""
    receiver = FaultReceiver().up()
    app = create_app({"accounts": [{"username": "acme", "password": "s3cret"}], "seed": 1,
                      "clock": "virtual"})
    backend = app.extensions["fakemms"]
    try:
        made = callbacks(receiver.url(""))
        for name, callback in made.items():
            message = Message(id=f"m-{name}", direction="mt", interface="openmarket",
                              account="acme", source="1", destinations=["2"], created_at=WHEN)
            backend.store.add_message(message)
            callback.message_id = message.id
            backend.store.add_callback(callback)
            backend.dispatcher.send_now(callback)
            assert callback.state == "delivered", (name, callback.attempts)
        hits = receiver.log()
    finally:
        receiver.stop()
        backend.close()
    assert len(hits) == len(made), [h.action for h in hits]
    out: dict[str, dict[str, Any]] = {}
    port = str(receiver.port)
    for name, hit in zip(made, hits, strict=True):
        assert hit.request is not None
        line, *headers = hit.head.decode("latin-1").split("\r\n")
        out[name] = {"request_line": line,
                     "headers": [h.replace(port, "{port}") for h in headers],
                     "body_length": len(hit.request.body),
                     "body_sha256": hashlib.sha256(hit.request.body).hexdigest()}
    return out


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(capture(), indent=2, ensure_ascii=False) + "\n",
                        encoding="utf-8")
    print(f"wrote {EXPECTED}")
