"""``POST /mm7`` end to end over real HTTP on 127.0.0.1: the provider document's SubmitReq, the
real-world prefixed SubmitReq, every published namespace, each status code the endpoint
answers with, guards (HTTP 401), error styles, SMIL, hostile XML, CancelReq / ReplaceReq and
scenario rules. Answers are read back with the same codec (``codec.parse_response``)."""

from __future__ import annotations

import base64
import re
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import SHARED, Fake

from fakemms.protocols.mm7 import codec

FIXTURES = SHARED / "fixtures" / "mm7"
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
NS13 = NS + "REL-5-MM7-1-3"
NS14 = NS + "REL-6-MM7-1-4"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
AUTH = ("acme", "s3cret")
# A real 1x1 GIF87a (the document's elided image/gif part starts "R0lGODdh" = "GIF87a").
GIF = base64.b64decode("R0lGODdhAQABAIAAAP///wAAACwAAAAAAQABAAACAkQBADs=")
SMIL = (b'<smil><head><layout><root-layout/><region id="Image" top="0" left="0"/></layout>'
        b'</head><body><par dur="5s"><img src="cid:pic" region="Image"/>'
        b'<text src="cid:words"/></par></body></smil>')

ACCOUNT: dict[str, Any] = {
    "username": "acme", "password": "s3cret",
    "mt_configs": {"config1": {"region": "US"}, "News": {"region": "US"}},
}


def config(**extra: Any) -> dict[str, Any]:
    account = {**ACCOUNT, **extra.pop("account", {})}
    return {"accounts": [account], **extra}


@pytest.fixture(scope="module")
def shared_fake() -> Any:
    """One fake for the tests that only read their own answers (cheaper than one per test)."""
    from fakemms.app import create_app
    from fakemms.server import ServerThread

    server = ServerThread(create_app({"seed": 7, **config()})).start()
    yield Fake(server)
    server.stop()


# --- request builders -------------------------------------------------------------------------
def envelope(op_xml: str, *, ns: str = NS14, txn: str | None = "txn-1",
             prefixed: bool = False) -> bytes:
    """A SOAP envelope; ``prefixed`` declares ``mm7:`` on the Envelope (submit-req-prefixed
    style), else the TransactionID carries its own default-namespace declaration."""
    if prefixed:
        head = (f'<env:Envelope xmlns:env="{SOAP_ENV}" xmlns:mm7="{ns}">'
                + (f'<env:Header><mm7:TransactionID env:mustUnderstand="1">{txn}'
                   "</mm7:TransactionID></env:Header>" if txn is not None else ""))
    else:
        head = (f'<env:Envelope xmlns:env="{SOAP_ENV}">'
                + (f'<env:Header><TransactionID xmlns="{ns}" env:mustUnderstand="1">{txn}'
                   "</TransactionID></env:Header>" if txn is not None else ""))
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n{head}<env:Body>{op_xml}</env:Body>'
            "</env:Envelope>").encode()


def prefix_all(xml: str) -> str:
    """Every element of an operation written with the ``mm7:`` prefix, no default xmlns."""
    xml = re.sub(r' xmlns="[^"]*"', "", xml)
    return re.sub(r"<(/?)([A-Za-z])", r"<\1mm7:\2", xml)


def submit_xml(*, ns: str = NS14, version: str = "6.8.0", vasid: str = "",
               to: tuple[str, ...] = ("15551230000",), extra: str = "",
               content: str | None = "cid:content") -> str:
    recipients = "".join(f"<To><Number>{n}</Number></To>" for n in to)
    href = f'<Content href="{content}" allowAdaptations="true"/>' if content else ""
    return (f'<SubmitReq xmlns="{ns}"><MM7Version>{version}</MM7Version>'
            f"<SenderIdentification><VASPID>acme</VASPID><VASID>{vasid}</VASID>"
            "<SenderAddress><ShortCode>88600</ShortCode></SenderAddress>"
            f"</SenderIdentification><Recipients>{recipients}</Recipients>"
            f"<Subject>hello</Subject>{extra}{href}</SubmitReq>")


def cancel_xml(message_id: str, *, ns: str = NS14, op: str = "CancelReq") -> str:
    return (f'<{op} xmlns="{ns}"><MM7Version>6.8.0</MM7Version><SenderIdentification>'
            f"<VASPID>acme</VASPID></SenderIdentification><MessageID>{message_id}</MessageID>"
            + ('<Content href="cid:content"/>' if op == "ReplaceReq" else "") + f"</{op}>")


Parts = list[tuple[dict[str, str], bytes]]


def mime(parts: Parts, boundary: str) -> bytes:
    out = b""
    for headers, data in parts:
        out += f"--{boundary}\r\n".encode()
        out += b"".join(f"{k}: {v}\r\n".encode() for k, v in headers.items())
        out += b"\r\n" + data + b"\r\n"
    return out + f"--{boundary}--\r\n".encode()


def related(soap: bytes, parts: Parts | None = None, *, inner_type: str = "multipart/mixed",
            start: str = "<soap>") -> tuple[bytes, str]:
    """multipart/related: the SOAP part (Content-ID ``start``) and one content part
    (Content-ID ``<content>``): a nested multipart of ``parts``."""
    outer: Parts = [({"Content-Type": 'text/xml; charset="utf-8"', "Content-ID": start}, soap)]
    if parts is not None:
        inner = mime(parts, "inner-boundary")
        outer.append(({"Content-Type": f'{inner_type}; boundary="inner-boundary"',
                       "Content-ID": "<content>"}, inner))
    ctype = f'multipart/related; boundary="outer-boundary"; type="text/xml"; start="{start}"'
    return mime(outer, "outer-boundary"), ctype


def text_part(text: str = "Hello from MM7", cid: str = "words") -> tuple[dict[str, str], bytes]:
    return {"Content-Type": "text/plain; charset=utf-8", "Content-ID": f"<{cid}>"}, text.encode()


def gif_part(cid: str = "pic") -> tuple[dict[str, str], bytes]:
    return ({"Content-Type": "image/gif", "Content-ID": f"<{cid}>",
             "Content-Transfer-Encoding": "base64"}, base64.encodebytes(GIF))


def post(fake: Fake, body: bytes, content_type: str = 'text/xml; charset="utf-8"', *,
         auth: tuple[str, str] | None = AUTH, headers: dict[str, str] | None = None):
    return fake.post("/mm7", data=body, auth=auth,
                     headers={"Content-Type": content_type, "SOAPAction": '""',
                              **(headers or {})})


def answer(response) -> codec.Mm7Response | codec.SoapFault:
    assert response.headers["Content-Type"].startswith("text/xml"), response.text[:300]
    return codec.parse_response(response.content, response.headers["Content-Type"])


def status_of(response) -> int:
    """The MM7 StatusCode of an answer: a ...Rsp's, or the Fault's RSErrorRsp's."""
    rsp = answer(response)
    if isinstance(rsp, codec.SoapFault):
        assert response.status_code == 500
        assert rsp.error is not None and rsp.error.operation == "RSErrorRsp"
        return rsp.error.status.code
    assert response.status_code == 200
    return rsp.status.code


def submit(fake: Fake, *, parts: Parts | None = None, **kw: Any):
    if parts is None:
        parts = [text_part(), gif_part()]
    body, ctype = related(envelope(submit_xml(**kw)), parts)
    return post(fake, body, ctype)


def accepted(response) -> codec.Mm7Response:
    rsp = answer(response)
    assert response.status_code == 200, response.text
    assert isinstance(rsp, codec.Mm7Response) and rsp.operation == "SubmitRsp", rsp
    assert rsp.status.code == 1000 and rsp.status.text == "Success"
    assert re.fullmatch(r"\d{18}", rsp.message_id or ""), rsp.message_id
    return rsp


def message(fake: Fake, message_id: str) -> dict[str, Any]:
    r = fake.get(f"/_fakemms/api/messages/{message_id}")
    assert r.status_code == 200, r.text
    return r.json()


def part_bytes(fake: Fake, message_id: str, index: int) -> bytes:
    r = fake.get(f"/_fakemms/api/messages/{message_id}/parts/{index}")
    assert r.status_code == 200
    return r.content


def messages(fake: Fake) -> list[dict[str, Any]]:
    return fake.get("/_fakemms/api/messages").json()["messages"]


# --- the documents' requests ------------------------------------------------------------------
DOC_SUBMIT = """\
<?xml version="1.0" ?>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">
<env:Header>
<mm7:TransactionID xmlns:mm7="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3" env:mustUnderstand="1">
vas00001-sub
</mm7:TransactionID>
</env:Header>
<env:Body>
<SubmitReq xmlns="http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3">
<MM7Version>5.3.0</MM7Version>
<SenderIdentification>
<VASPID>TNN</VASPID>
<VASID>News</VASID>
</SenderIdentification>
<Recipients>
<To>
<Number>7255441234</Number>
</To>
</Recipients>
<TimeStamp>2020-01-02T09:30:47-05:00</TimeStamp>
<ExpiryDate>2020-01-20T09:30:47-05:00</ExpiryDate>
<DeliveryReport>true</DeliveryReport>
<Subject>News for today</Subject>
<Priority>Normal</Priority>
<Content href="cid:SaturnPics-01020930@news.tnn.com" allowAdaptations="true"/>
</SubmitReq>
</env:Body>
</env:Envelope>
"""  # noqa: E501 (the document's lines, as written)


def document_example() -> tuple[bytes, str]:
    """mm7-api.txt's MM7_Submit request, https:// namespaces written http://, its MIME laid
    out with the blank lines its rendering lost, the elided GIF replaced by a real one."""
    inner = (b'--StoryParts 74526 8432 2002-77645\r\n'
             b'Content-Type: text/plain; charset="us-ascii"\r\n\r\n'
             b"Science news, new Saturn pictures...\r\n"
             b"--StoryParts 74526 8432 2002-77645\r\n"
             b"Content-Type: image/gif;\r\nContent-ID:<saturn.gif>\r\n"
             b"Content-Transfer-Encoding: base64\r\n\r\n"
             + base64.encodebytes(GIF).replace(b"\n", b"\r\n")
             + b"--StoryParts 74526 8432 2002-77645--\r\n")
    body = (b"--NextPart_000_0028_01C19839.84698430\r\n"
            b'Content-Type:text/xml; charset="utf-8"\r\n'
            b"Content-ID: </tnn-200102/mm7-submit>\r\n\r\n"
            + DOC_SUBMIT.replace("\n", "\r\n").encode() + b"\r\n"
            b"--NextPart_000_0028_01C19839.84698430\r\n"
            b'Content-Type: multipart/mixed; boundary="StoryParts 74526 8432 2002-77645"\r\n'
            b"Content-ID:<SaturnPics-01020930@news.tnn.com>\r\n\r\n"
            + inner + b"--NextPart_000_0028_01C19839.84698430--\r\n")
    ctype = ('multipart/related; boundary="NextPart_000_0028_01C19839.84698430"; '
             'type=text/xml; start="</tnn-200102/mm7-submit>"')
    return body, ctype


def test_document_submit_example_accepted(shared_fake):
    body, ctype = document_example()
    r = post(shared_fake, body, ctype)
    rsp = accepted(r)
    assert rsp.namespace == NS13 and rsp.mm7_version == "5.3.0"
    assert rsp.transaction_id == "vas00001-sub"
    assert f'<TransactionID xmlns="{NS13}"'.encode() in r.content
    assert f'<SubmitRsp xmlns="{NS13}">'.encode() in r.content
    msg = message(shared_fake, rsp.message_id)
    assert msg["interface"] == "mm7" and msg["direction"] == "mt"
    assert msg["mt_config"] == "News"  # VASID names the MT configuration
    assert msg["destinations"] == ["7255441234"] and msg["subject"] == "News for today"
    assert msg["extra"]["transaction_id"] == "vas00001-sub"
    assert msg["extra"]["delivery_report"] is True
    types = [p["content_type"].split(";")[0] for p in msg["parts"]]
    assert sorted(types) == ["application/smil", "image/gif", "text/plain"]
    gif = types.index("image/gif")
    assert part_bytes(shared_fake, rsp.message_id, gif) == GIF
    text = types.index("text/plain")
    assert part_bytes(shared_fake, rsp.message_id, text) == \
        b"Science news, new Saturn pictures..."


def fixture_jpeg() -> bytes:
    raw = (FIXTURES / "submit-req-prefixed.txt").read_bytes()
    head, _, rest = raw.partition(b"Content-Disposition: Attachment; Filename=84TPF.jpg\n\n")
    assert rest, "the fixture changed"
    return base64.b64decode(rest.split(b"\n--", 1)[0])


def test_prefixed_fixture_accepted_and_jpeg_stored_byte_exact(shared_fake):
    raw = (FIXTURES / "submit-req-prefixed.txt").read_bytes()
    boundary = raw.split(b"\n", 1)[0][2:].decode()
    ctype = (f'multipart/related; type="text/xml"; start="</PRLS01AUDC/mm7-submit>"; '
             f'boundary="{boundary}"')
    r = post(shared_fake, raw, ctype)
    rsp = accepted(r)
    assert rsp.namespace == NS14 and rsp.mm7_version == "6.8.0"
    assert rsp.transaction_id == "909f0596-3c7f-48f7-99de-f3c41eaa6d54"
    msg = message(shared_fake, rsp.message_id)
    assert msg["mt_config"] == "config1"  # empty VASID: the account's first configuration
    assert msg["destinations"] == ["12345678903"] and msg["source"] == "13056024143"
    types = [p["content_type"].split(";")[0].lower() for p in msg["parts"]]
    jpeg = fixture_jpeg()
    assert jpeg[:2] == b"\xff\xd8" and len(jpeg) > 50_000
    index = types.index("image/jpeg")
    assert part_bytes(shared_fake, rsp.message_id, index) == jpeg
    assert msg["parts"][index]["size"] == len(jpeg)
    assert part_bytes(shared_fake, rsp.message_id, types.index("text/plain")) == b"message text"


# --- namespaces -------------------------------------------------------------------------------
PUBLISHED = [f"REL-5-MM7-1-{n}" for n in range(6)] + [f"REL-6-MM7-1-{n}" for n in range(5)]


@pytest.mark.parametrize("style", ["default", "prefixed"])
@pytest.mark.parametrize("release", PUBLISHED)
def test_every_published_namespace_answered_in_it(shared_fake, release, style):
    ns = NS + release
    version = "5.3.0" if release.startswith("REL-5") else "6.8.0"
    op = submit_xml(ns=ns, version=version, content=None)
    if style == "prefixed":
        op = prefix_all(op)
    body = envelope(op, ns=ns, txn=f"t-{release}", prefixed=style == "prefixed")
    r = post(shared_fake, body)
    rsp = accepted(r)
    assert (rsp.namespace, rsp.mm7_version, rsp.transaction_id) == (ns, version, f"t-{release}")
    assert f'<SubmitRsp xmlns="{ns}">'.encode() in r.content


@pytest.mark.parametrize("ns", [NS + "REL-7-MM7-1-0", NS + "REL-5-MM7-1-9",
                                "http://example.com/mm7"])
def test_unknown_namespace_is_4002(shared_fake, ns):
    r = post(shared_fake, envelope(submit_xml(ns=ns, content=None), ns=ns))
    assert status_of(r) == 4002
    assert b"Unsupported version" in r.content
    fault = answer(r)
    assert fault.transaction_id == "txn-1" and fault.namespace != ns  # never answered in it


def test_plain_text_xml_submit_without_content(shared_fake):
    r = post(shared_fake, envelope(submit_xml(content=None, vasid="News"), txn="plain-1"))
    rsp = accepted(r)
    assert rsp.transaction_id == "plain-1"
    msg = message(shared_fake, rsp.message_id)
    assert msg["parts"] == [] and msg["mt_config"] == "News"


@pytest.mark.parametrize("txn", [None, ""], ids=["no-header", "empty"])
def test_missing_transaction_id_is_refused_4004_and_nothing_stored(shared_fake, txn):
    """TransactionID is mandatory in MM7 (a Java client crashed on an answer without one)."""
    before = len(messages(shared_fake))
    r = post(shared_fake, envelope(submit_xml(content=None), txn=txn))
    assert status_of(r) == 4004
    fault = answer(r)
    assert fault.namespace == NS14 and fault.error.status.text == "Validation error"
    assert "TransactionID" in (fault.error.status.details or "")
    assert len(messages(shared_fake)) == before


def test_lenient_values_true_and_plus_numbers(shared_fake):
    r = post(shared_fake, envelope(submit_xml(to=("+447700900123",), content=None,
                                              extra="<DeliveryReport>True</DeliveryReport>")))
    msg = message(shared_fake, accepted(r).message_id)
    assert msg["destinations"] == ["447700900123"] and msg["extra"]["delivery_report"] is True


def test_lenient_input_records_one_warning_per_finding(shared_fake):
    """The README promises sloppy input is accepted "with a warning": one per finding, naming
    the element and what a strict MMSC would answer."""
    extra = ("<DeliveryReport>True</DeliveryReport>"
             "<EarlistDeliveryTime>2030-01-01T00:00:00Z</EarlistDeliveryTime>")
    r = post(shared_fake, envelope(submit_xml(to=("+12515550130/TYPE=PLMN",), content=None,
                                              extra=extra)))
    msg = message(shared_fake, accepted(r).message_id)
    assert msg["destinations"] == ["12515550130"]
    assert len([w for w in msg["warnings"] if "refuses" in w]) == 4, msg["warnings"]

    def one(start: str) -> str:
        (found,) = [w for w in msg["warnings"] if w.startswith(start)]
        return found

    assert "2007 Message format corrupt" in one("DeliveryReport: 'True' is not an xsd:boolean")
    plmn = one("To Number '+12515550130/TYPE=PLMN'")
    assert "leading '+'" in plmn and "/TYPE=PLMN" in plmn and "2002 Address Error" in plmn
    assert "first MT configuration" in one("VASID is empty")
    assert "4004 Validation error" in one("SubmitReq: unknown element EarlistDeliveryTime")
    # the document's own request is clean
    body, ctype = document_example()
    clean = message(shared_fake, accepted(post(shared_fake, body, ctype)).message_id)
    assert not [w for w in clean["warnings"] if "refuses" in w]


# --- status codes -----------------------------------------------------------------------------
@pytest.mark.parametrize("number", ["12", "1555abc0000", "1234567890123456"])
def test_bad_recipient_is_2002(shared_fake, number):
    before = len(messages(shared_fake))
    assert status_of(post(shared_fake, envelope(submit_xml(to=(number,), content=None)))) == 2002
    assert len(messages(shared_fake)) == before


def test_unparseable_mime_content_is_2004(make_fake):
    bad = ({"Content-Type": "image/gif", "Content-ID": "<pic>",
            "Content-Transfer-Encoding": "base64"}, b"!!! not base64 at all ***")
    weird = ({"Content-Type": "image/gif", "Content-ID": "<pic>",
              "Content-Transfer-Encoding": "x-weird"}, GIF)
    soap = ({"Content-Type": "text/xml", "Content-ID": "<soap>"}, envelope(submit_xml()))
    no_boundary = mime([soap, ({"Content-Type": "multipart/mixed", "Content-ID": "<content>"},
                               mime([text_part()], "x"))], "ob")
    no_delimiter = mime([soap, ({"Content-Type": "multipart/mixed; boundary=zz",
                                 "Content-ID": "<content>"}, b"garbage, no delimiter")], "ob")
    ctype = 'multipart/related; boundary="ob"; start="<soap>"'
    # unparseable content is refused whatever the media-type strictness
    for fake in (make_fake(config()), make_fake(config(mm7={"strict_media_types": False}))):
        assert status_of(submit(fake, parts=[text_part(), bad])) == 2004
        assert status_of(submit(fake, parts=[text_part(), weird])) == 2004
        for body in (no_boundary, no_delimiter):
            r = post(fake, body, ctype)
            assert status_of(r) == 2004 and b"unparseable MIME content" in r.content
        assert messages(fake) == []


def test_content_href_matching_no_part_is_2004(shared_fake):
    assert status_of(submit(shared_fake, content="cid:nowhere")) == 2004


def test_unsupported_media_type_strict_is_2004_and_lenient_accepted_with_warning(make_fake):
    exe = ({"Content-Type": "application/x-msdownload", "Content-ID": "<exe>"}, b"MZ\x90\x00")
    strict = make_fake(config())
    r = submit(strict, parts=[text_part(), exe])
    assert status_of(r) == 2004 and b"application/x-msdownload" in r.content
    assert messages(strict) == []
    lenient = make_fake(config(mm7={"strict_media_types": False}))
    msg = message(lenient, accepted(submit(lenient, parts=[text_part(), exe])).message_id)
    assert any("application/x-msdownload" in w and "lenient" in w for w in msg["warnings"])
    assert any(p["content_type"] == "application/x-msdownload" for p in msg["parts"])


def test_content_over_configured_size_is_2004(make_fake):
    fake = make_fake(config(mm7={"max_content_bytes": 1000}))
    accepted(submit(fake, parts=[text_part("x" * 900)]))
    r = submit(fake, parts=[text_part("x" * 1001)])
    assert status_of(r) == 2004 and b"1000" in r.content
    assert len(messages(fake)) == 1


@pytest.mark.parametrize("op", ["CancelReq", "ReplaceReq"])
def test_cancel_or_replace_unknown_id_is_2005(shared_fake, op):
    body, ctype = related(envelope(cancel_xml("999999999999999999", op=op)), [text_part()])
    r = post(shared_fake, body, ctype)
    assert status_of(r) == 2005 and b"Message ID Not found" in r.content


def test_cancel_of_another_accounts_message_is_2005(make_fake):
    other = {"username": "other", "password": "pw", "mt_configs": {"c": {}}}
    fake = make_fake({"accounts": [ACCOUNT, other]})
    mid = accepted(post(fake, envelope(submit_xml(content=None)))).message_id
    r = fake.post("/mm7", data=envelope(cancel_xml(mid)), auth=("other", "pw"),
                  headers={"Content-Type": "text/xml"})
    assert status_of(r) == 2005
    assert message(fake, mid)["status"] != "Cancelled"


@pytest.mark.parametrize("body", [
    b"<env:Envelope xmlns:env='http://schemas.xmlsoap.org/soap/envelope/'><env:Body>",
    b"this is not xml",
    b"<Envelope/>",
    envelope(submit_xml(content=None, extra="<DeliveryReport>maybe</DeliveryReport>")),
    envelope(submit_xml(content=None, version="five")),
], ids=["truncated", "not-xml", "not-an-envelope", "bad-boolean", "bad-version"])
def test_format_corrupt_is_2007(shared_fake, body):
    assert status_of(post(shared_fake, body)) == 2007


def test_multiple_recipients_3003_only_where_the_account_says(make_fake):
    fake = make_fake(config(account={"mm7_multiple_recipients": False}))
    two = envelope(submit_xml(to=("15551230000", "15551230001"), content=None))
    r = post(fake, two)
    assert status_of(r) == 3003 and b"Multiple addresses not supported" in r.content
    accepted(post(fake, envelope(submit_xml(content=None))))
    relaxed = make_fake(config())
    msg = message(relaxed, accepted(post(relaxed, two)).message_id)
    assert msg["destinations"] == ["15551230000", "15551230001"]


@pytest.mark.parametrize("op_xml", [
    f'<DeliverReq xmlns="{NS14}"><MM7Version>6.8.0</MM7Version><Sender><Number>1555</Number>'
    "</Sender></DeliverReq>",
    f'<FrobnicateReq xmlns="{NS14}"><MM7Version>6.8.0</MM7Version></FrobnicateReq>',
], ids=["DeliverReq", "unknown"])
def test_other_operation_is_4003(shared_fake, op_xml):
    r = post(shared_fake, envelope(op_xml, txn="op-1"))
    assert status_of(r) == 4003
    fault = answer(r)
    assert fault.transaction_id == "op-1"


@pytest.mark.parametrize("op_xml", [
    submit_xml(content=None).replace("<MM7Version>6.8.0</MM7Version>", ""),
    submit_xml(content=None, to=()),
    submit_xml(content=None, vasid="NoSuchConfig"),
], ids=["no-version", "no-recipients", "unknown-vasid"])
def test_validation_error_is_4004(shared_fake, op_xml):
    r = post(shared_fake, envelope(op_xml, txn="v-1"))
    assert status_of(r) == 4004
    fault = answer(r)
    assert fault.namespace == NS14 and fault.transaction_id == "v-1"


@pytest.mark.parametrize("configured, expected", [(None, 4006), (3510, 3510)])
def test_tps_answers_the_configured_status(make_fake, configured, expected):
    cfg = config(clock="virtual", account={"tps": 1})
    if configured:
        cfg["mm7"] = {"tps_status": configured}
    fake = make_fake(cfg)
    accepted(post(fake, envelope(submit_xml(content=None))))
    r = post(fake, envelope(submit_xml(content=None)))
    assert status_of(r) == expected
    if expected == 3510:
        assert b"Throughput exceeded" in r.content
    limit = ("tps 1/s for account acme; the clock is paused (virtual): tokens refill only "
             "when it advances")
    assert answer(r).error.status.details == limit and r.headers["X-Fake-Decision"] == limit
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 1})
    accepted(post(fake, envelope(submit_xml(content=None))))
    assert len(messages(fake)) == 2


@pytest.mark.parametrize("limit, details", [
    ({"max_per_day": 1}, "max_per_day 1 for account acme"),
    ({"max_per_month": 1}, "max_per_month 1 for account acme"),
    ({"prepaid_credit": 1}, "prepaid_credit 1 for account acme")])
def test_account_limits_are_4007_with_details_naming_the_limit(make_fake, limit, details):
    """4007 alone does not say which limit refused: Details names it, as TPS refusals do."""
    fake = make_fake(config(clock="virtual", account=limit))
    accepted(post(fake, envelope(submit_xml(content=None))))
    r = post(fake, envelope(submit_xml(content=None)))
    assert status_of(r) == 4007
    assert answer(r).error.status.details == details
    assert len(messages(fake)) == 1


# --- guards: HTTP 401 -------------------------------------------------------------------------
def assert_401(r) -> None:
    assert r.status_code == 401, (r.status_code, r.text[:200])
    assert r.headers["WWW-Authenticate"].startswith("Basic")


@pytest.mark.parametrize("auth", [("acme", "wrong"), ("nobody", "s3cret"), None],
                         ids=["bad-password", "unknown-user", "no-auth"])
def test_bad_credentials_are_401(shared_fake, auth):
    before = len(messages(shared_fake))
    assert_401(post(shared_fake, envelope(submit_xml(content=None)), auth=auth))
    assert len(messages(shared_fake)) == before


def test_disallowed_ip_is_401_and_allowed_ip_passes(make_fake):
    assert_401(post(make_fake(config(account={"allowed_ips": ["10.0.0.0/8"]})),
                    envelope(submit_xml(content=None))))
    ok = make_fake(config(account={"allowed_ips": ["127.0.0.0/8"]}))
    accepted(post(ok, envelope(submit_xml(content=None))))


def test_closed_account_is_401(make_fake):
    fake = make_fake(config(account={"closed": True}))
    assert_401(post(fake, envelope(submit_xml(content=None))))
    assert messages(fake) == []


# --- error style ------------------------------------------------------------------------------
def test_error_style_response_answers_200_with_the_operations_rsp(make_fake):
    fake = make_fake(config(mm7={"error_style": "response"}))
    r = post(fake, envelope(submit_xml(to=("12",), content=None), txn="es-1"))
    rsp = answer(r)
    assert r.status_code == 200 and isinstance(rsp, codec.Mm7Response)
    assert rsp.operation == "SubmitRsp" and rsp.status.code == 2002
    assert rsp.transaction_id == "es-1" and rsp.namespace == NS14
    assert rsp.message_id is None and b"Fault" not in r.content
    cancel = post(fake, envelope(cancel_xml("123456789012345678")))
    crsp = answer(cancel)
    assert cancel.status_code == 200 and crsp.operation == "CancelRsp"
    assert crsp.status.code == 2005
    # refused while parsing (no recipients): still the operation's Rsp, namespace, txn
    early = post(fake, envelope(submit_xml(to=(), content=None, ns=NS13, version="5.3.0"),
                                ns=NS13, txn="es-2"))
    ersp = answer(early)
    assert early.status_code == 200 and ersp.operation == "SubmitRsp"
    assert (ersp.status.code, ersp.namespace, ersp.transaction_id) == (4004, NS13, "es-2")
    # a body that never became a request still gets a Fault
    assert status_of(post(fake, b"not xml")) == 2007


def test_default_error_style_is_a_fault_with_rserrorrsp(shared_fake):
    r = post(shared_fake, envelope(submit_xml(to=("12",), content=None), txn="f-1"))
    fault = answer(r)
    assert r.status_code == 500 and isinstance(fault, codec.SoapFault)
    assert fault.fault_code.endswith("Client")
    assert fault.error.status.text == "Address Error" and fault.transaction_id == "f-1"


# --- SMIL -------------------------------------------------------------------------------------
def test_smil_generated_when_absent(shared_fake):
    rsp = accepted(submit(shared_fake, parts=[text_part(cid="words"), gif_part(cid="pic")]))
    msg = message(shared_fake, rsp.message_id)
    smil = [i for i, p in enumerate(msg["parts"]) if p["content_type"].startswith(
        "application/smil")]
    assert len(smil) == 1 and msg["parts"][smil[0]]["generated"]
    data = part_bytes(shared_fake, rsp.message_id, smil[0])
    assert b"<smil>" in data and sorted(codec.smil_references(data)) == ["cid:pic", "cid:words"]
    assert any("SMIL" in w for w in msg["warnings"])


def test_smil_kept_when_given(shared_fake):
    smil_part = ({"Content-Type": "application/smil", "Content-ID": "<pres>"}, SMIL)
    body, ctype = related(envelope(submit_xml()), [smil_part, text_part(), gif_part()],
                          inner_type='multipart/related; type="application/smil"; '
                                     'start="<pres>"')
    rsp = accepted(post(shared_fake, body, ctype))
    msg = message(shared_fake, rsp.message_id)
    smil = [i for i, p in enumerate(msg["parts"]) if p["content_type"].startswith(
        "application/smil")]
    assert len(smil) == 1 and not msg["parts"][smil[0]]["generated"]
    assert part_bytes(shared_fake, rsp.message_id, smil[0]) == SMIL
    assert not any("generated" in w for w in msg["warnings"])


# --- hostile XML ------------------------------------------------------------------------------
def test_xxe_refused_without_reading_the_file(make_fake, tmp_path: Path):
    secret = "TOP-SECRET-" + base64.b32encode(b"never leak me").decode()
    target = tmp_path / "secret.txt"
    target.write_text(secret)
    fake = make_fake(config())
    dtds = [
        f'<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "file://{target}">]>',
        f'<!DOCTYPE env:Envelope [<!ENTITY % p SYSTEM "file://{target}"> %p;]>',
        f'<!DOCTYPE env:Envelope SYSTEM "file://{target}">',
    ]
    for dtd in dtds:
        op = submit_xml(content=None).replace("<Subject>hello</Subject>",
                                              "<Subject>&xxe;</Subject>")
        xml = envelope(op).replace(b"?>\n", b"?>\n" + dtd.encode() + b"\n", 1)
        for body, ctype in [(xml, "text/xml"), related(xml, [text_part()])]:
            t0 = time.monotonic()
            r = post(fake, body, ctype)
            assert time.monotonic() - t0 < 2
            assert status_of(r) == 2007, (dtd, r.text)
            assert secret not in r.text and "never leak" not in r.text
    assert messages(fake) == []
    dump = fake.get("/_fakemms/api/dump")
    assert dump.status_code == 200 and secret not in dump.text


def test_billion_laughs_refused_quickly(shared_fake):
    entities = ['<!ENTITY lol "lol">'] + [
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
        for i in range(1, 10)]
    dtd = "<!DOCTYPE env:Envelope [" + "".join(entities) + "]>"
    op = submit_xml(content=None).replace("<Subject>hello</Subject>",
                                          "<Subject>&lol9;</Subject>")
    body = envelope(op).replace(b"?>\n", b"?>\n" + dtd.encode() + b"\n", 1)
    t0 = time.monotonic()
    r = post(shared_fake, body)
    elapsed = time.monotonic() - t0
    assert status_of(r) == 2007 and elapsed < 2
    assert len(r.content) < 4096 and b"lollol" not in r.content


# --- CancelReq, ReplaceReq --------------------------------------------------------------------
DELAYED = """
name: mm7-slow
rules:
  - name: later
    match: {protocol: mm7}
    reports:
      - {status: Retrieved, after: 10s}
"""


def load_scenario(fake: Fake, text: str) -> None:
    r = fake.http.put(fake.url + "/_fakemms/api/scenarios", data=text,
                      headers={"Content-Type": "application/yaml"})
    assert r.status_code == 200, r.text


def test_cancel_stops_later_reports(make_fake, receiver):
    fake = make_fake(config(clock="virtual", account={"mt_configs": {"config1": {
        "dlr_url": receiver.url("/dlr"), "dlr_protocol": "mm7-6.8.0"}}}))
    load_scenario(fake, DELAYED)
    cancelled = accepted(post(fake, envelope(submit_xml(content=None)))).message_id
    kept = accepted(post(fake, envelope(submit_xml(content=None)))).message_id
    r = post(fake, envelope(cancel_xml(cancelled), txn="c-1"))
    rsp = answer(r)
    assert r.status_code == 200 and rsp.operation == "CancelRsp" and rsp.status.code == 1000
    assert rsp.transaction_id == "c-1" and rsp.namespace == NS14
    assert message(fake, cancelled)["status"] == "Cancelled"
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 20})
    got = [codec.parse(x.body, x.headers["Content-Type"]) for x in receiver.received]
    assert [g.message_id for g in got] == [kept]  # the other message's report still goes out
    msg = message(fake, cancelled)
    assert msg["status"] == "Cancelled" and msg["callback_ids"] == []
    assert [rep["status"] for rep in msg["reports"]] == ["Retrieved"]
    assert "cancelled" in msg["reports"][0]["description"]
    assert message(fake, kept)["status"] == "Retrieved"


def test_cancel_of_a_finished_message_is_3001_and_changes_nothing(make_fake):
    fake = make_fake(config(clock="virtual"))
    done, deferred = (accepted(post(fake, envelope(submit_xml(content=None)))).message_id
                      for _ in range(2))
    for mid, status in ((done, "Retrieved"), (deferred, "Deferred")):
        r = fake.post(f"/_fakemms/api/messages/{mid}/reports", json={"status": status})
        assert r.status_code == 201, r.text
    r = post(fake, envelope(cancel_xml(done), txn="late-1"))
    fault = answer(r)
    assert status_of(r) == 3001 and fault.error.status.text == "Not Possible"
    assert "Retrieved" in fault.error.status.details and fault.transaction_id == "late-1"
    after = message(fake, done)
    assert after["status"] == "Retrieved" and [x["status"] for x in after["reports"]] == [
        "Retrieved"]
    # Deferred is not final (3GPP TS 23.140): still cancellable, once
    assert status_of(post(fake, envelope(cancel_xml(deferred)))) == 1000
    assert message(fake, deferred)["status"] == "Cancelled"
    assert status_of(post(fake, envelope(cancel_xml(deferred)))) == 3001


def test_replace_replaces_content(shared_fake):
    mid = accepted(submit(shared_fake, parts=[text_part("first version")])).message_id
    new_text = text_part("second version", cid="t2")
    body, ctype = related(envelope(cancel_xml(mid, op="ReplaceReq"), txn="r-1"),
                          [new_text, gif_part(cid="g2")])
    r = post(shared_fake, body, ctype)
    rsp = answer(r)
    assert r.status_code == 200 and rsp.operation == "ReplaceRsp" and rsp.status.code == 1000
    assert rsp.transaction_id == "r-1"
    msg = message(shared_fake, mid)
    stored = [part_bytes(shared_fake, mid, i) for i in range(len(msg["parts"]))]
    assert b"second version" in stored and GIF in stored
    assert b"first version" not in stored
    assert msg["extra"]["replaced"] == 1


# --- scenario rules ---------------------------------------------------------------------------
RULES = """
name: mm7-rules
rules:
  - name: busy
    match: {protocol: mm7, destination: "1555*"}
    answer: {mm7_status: 3001}
  - name: om-code
    match: {protocol: mm7, destination: "1666*"}
    answer: {error: 15201}
  - name: http-only
    match: {protocol: openmarket}
    answer: {mm7_status: 4005}
  - name: slow-report
    match: {protocol: mm7, destination: "1777*"}
    reports:
      - {status: Expired, after: 5s}
"""


def test_scenario_rules_for_protocol_mm7(make_fake):
    fake = make_fake(config(clock="virtual"))
    load_scenario(fake, RULES)
    r = post(fake, envelope(submit_xml(to=("15550001111",), content=None)))
    assert status_of(r) == 3001 and b"Not Possible" in r.content
    assert r.headers["X-Fake-Decision"] == "mm7-rules/busy"
    r = post(fake, envelope(submit_xml(to=("16660001111",), content=None)))
    assert status_of(r) == 2002  # 15201 Invalid destination number -> MM7 2002
    assert r.headers["X-Fake-Decision"] == "mm7-rules/om-code"
    ok = post(fake, envelope(submit_xml(to=("17770001111",), content=None)))
    mid = accepted(ok).message_id
    assert ok.headers["X-Fake-Decision"] == "mm7-rules/slow-report"
    plain = post(fake, envelope(submit_xml(to=("18880001111",), content=None)))
    accepted(plain)  # the openmarket-only rule does not match MM7
    assert plain.headers["X-Fake-Decision"] == "default"
    fake.post("/_fakemms/api/clock/advance", json={"seconds": 5})
    assert message(fake, mid)["status"] == "Expired"
    assert len(messages(fake)) == 2

