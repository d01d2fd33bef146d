"""The MM7 codec on every real-world sample in tests/data/fixtures/mm7/, the provider document's
example, our own callbacks round-tripped, hostile XML, and each status code the codec raises."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta

import pytest
from conftest import SHARED

from fakemms.errors import FakeMmsError
from fakemms.models import Part
from fakemms.protocols.mm7 import codec

FIXTURES = SHARED / "fixtures" / "mm7"
NS = "http://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/"
NS14 = NS + "REL-6-MM7-1-4"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 8 + b"\xff\xd9"


def unexpected(warnings: list[str]) -> list[str]:
    """Warnings other than a 5.x MM7Version in a REL-6 namespace: the provider's own callbacks
    pair them (mm7-api.txt), so the codec notes it and the tests accept it."""
    return [w for w in warnings if not re.match(r"MM7Version 5\.\d\.\d in a REL-6 namespace", w)]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def body_only(name: str) -> tuple[bytes, str]:
    """A fixture that is a bare multipart body: the boundary is its first delimiter line."""
    body = fixture(name)
    first = body.lstrip(b"\r\n").split(b"\n", 1)[0].rstrip(b"\r ")
    return body, f'multipart/related; boundary="{first[2:].decode()}"'


def split_http(raw: bytes) -> tuple[dict[str, str], bytes]:
    """A raw HTTP request: its headers (lower-cased names) and its body."""
    head, _, body = raw.replace(b"\r\n", b"\n").partition(b"\n\n")
    headers = {}
    for line in head.decode().split("\n")[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return headers, body


def soap(op_xml: str, *, ns: str = NS14, txn: str | None = "t-1") -> bytes:
    header = (f'<env:Header><mm7:TransactionID xmlns:mm7="{ns}" env:mustUnderstand="1">{txn}'
              "</mm7:TransactionID></env:Header>") if txn is not None else ""
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/">'
            f"{header}<env:Body>{op_xml}</env:Body></env:Envelope>").encode()


def submit_xml(*, ns: str = NS14, version: str = "6.8.0", recipients: str | None = None,
               extra: str = "", content: str = "") -> str:
    if recipients is None:
        recipients = "<To><Number>15551230000</Number></To>"
    return (f'<SubmitReq xmlns="{ns}"><MM7Version>{version}</MM7Version>'
            "<SenderIdentification><VASPID>acme</VASPID><VASID>mt1</VASID>"
            "<SenderAddress><ShortCode>111122</ShortCode></SenderAddress>"
            f"</SenderIdentification><Recipients>{recipients}</Recipients>{extra}{content}"
            "</SubmitReq>")


def related(parts: list[tuple[dict[str, str], bytes]], *, start: str | None = None
            ) -> tuple[bytes, str]:
    out = b""
    for headers, data in parts:
        out += b"--b1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()).encode()
        out += b"\r\n" + data + b"\r\n"
    ctype = 'multipart/related; type="text/xml"; boundary="b1"'
    if start:
        ctype += f'; start="{start}"'
    return out + b"--b1--\r\n", ctype


def assert_status(exc: pytest.ExceptionInfo, code: int) -> None:
    assert isinstance(exc.value, FakeMmsError)
    assert exc.value.mm7_status == code, exc.value


# --- real-world samples ---------------------------------------------------------------------
def test_submit_req_prefixed() -> None:
    msg = codec.parse(*body_only("submit-req-prefixed.txt"))
    assert isinstance(msg, codec.SubmitReq)
    assert msg.transaction_id == "909f0596-3c7f-48f7-99de-f3c41eaa6d54"
    assert (msg.namespace, msg.mm7_version) == (NS14, "6.8.0")
    assert msg.vasp_id == "PRLS01AUDC" and msg.vas_id == ""
    assert msg.sender == codec.Address("Number", "13056024143", "+13056024143", plus=True)
    assert [(a.kind, a.value, a.plus) for a in msg.recipients.to] == [
        ("Number", "12345678903", True)]
    assert (msg.service_code, msg.message_class, msg.charged_party) == (
        "+13056024143", "Personal", "Sender")
    content = msg.content
    assert content is not None and content.href == "cid:mm7-content"
    assert content.content_type.startswith("multipart/mixed")
    text, image = content.parts
    assert (text.media_type, text.content_id, text.data) == ("text/plain", "textContent",
                                                              b"message text")
    assert (image.media_type, image.content_id, image.content_location) == (
        "image/jpeg", "84TPF", "84TPF.jpg")
    assert image.data[:2] == b"\xff\xd8" and image.data.rstrip()[-2:] == b"\xff\xd9"
    assert content.smil is None
    # the real client's sloppiness is accepted, one warning per finding
    assert [w.split(":")[0] for w in msg.warnings] == [
        "SenderAddress Number '+13056024143'", "To Number '+12345678903'", "VASID is empty"]


def test_deliver_req1_rfc2822_sender_and_single_part() -> None:
    msg = codec.parse(*body_only("deliver-req1.txt"))
    assert isinstance(msg, codec.DeliverReq)
    assert (msg.transaction_id, msg.mm7_version, msg.namespace) == ("vas00324-dlvr", "6.7.0",
                                                                    NS14)
    assert (msg.mms_relay_server_id, msg.linked_id, msg.vasp_id, msg.vas_id) == (
        "240.110.75.34", "wthr8391", "TNN", "Reminder")
    assert msg.sender == codec.Address("RFC2822Address", "97254265781@OMMS.com",
                                       "97254265781@OMMS.com")
    assert (msg.timestamp, msg.priority, msg.subject) == ("2002-04-15T14:35:21-05:00", "Normal",
                                                          "Weather Forecast")
    [part] = msg.content.parts
    assert part.data.startswith(b"Los Angeles, Calif, USA")
    assert "MM7Version 6.7.0" not in " ".join(msg.warnings)


@pytest.mark.parametrize("name", ["deliver-req2.txt", "deliver-req-post.txt"])
def test_deliver_req_with_a_content_href_that_matches_no_part(name: str) -> None:
    if name.endswith("post.txt"):
        headers, body = split_http(fixture(name))
        ctype = headers["content-type"]
        assert 'start="</cmvt256/mm7-deliver>"' in ctype
    else:
        body, ctype = body_only(name)
    with pytest.raises(codec.ContentRefused) as exc:
        codec.parse(body, ctype)
    assert_status(exc, 2004)
    msg = codec.parse(body, ctype, strict=False)
    assert isinstance(msg, codec.DeliverReq) and msg.transaction_id == "vas00324-dlvr"
    assert any("matches no MIME part" in w for w in msg.warnings)
    media = [p.media_type for p in msg.content.parts]
    assert media == (["text/plain"] if name.endswith("post.txt") else ["text/plain", "image/gif"])
    if "image/gif" in media:
        assert msg.content.parts[1].data.startswith(b"GIF87a")


def test_deliver_req3_real_nokia_capture() -> None:
    msg = codec.parse(*body_only("deliver-req3.txt"))
    assert isinstance(msg, codec.DeliverReq)
    assert msg.mms_relay_server_id == "Nokia MMS Center MC5.0"
    assert msg.linked_id == "0402105226100000000000000"
    assert (msg.sender.value, msg.sender.raw, msg.sender.plus) == (
        "3859100010010", "+3859100010010/TYPE=PLMN", True)
    assert [a.value for a in msg.recipients.to] == ["88888"]
    assert msg.subject == "Bomb" and msg.timestamp == "2010-04-02T10:52:26Z"
    content = msg.content
    assert content.href == "cid:57626X20-1VO9-A93941F7"
    assert content.content_type.startswith("multipart/related")
    smil, gif = content.parts
    assert content.smil is smil and smil.content_id == "AAAA" and smil.is_smil
    assert (gif.content_id, gif.content_location, gif.data[:6]) == (None, "Bomb.gif", b"GIF89a")
    assert codec.smil_references(smil.data) == ["Bomb.gif"]


def test_deliver_req4_minimal_nested_base64_jpeg() -> None:
    msg = codec.parse(*body_only("deliver-req4.txt"))
    assert isinstance(msg, codec.DeliverReq)
    assert msg.sender is None and not msg.recipients
    jpeg, smil = msg.content.parts
    assert jpeg.media_type == "image/jpeg" and jpeg.data[:2] == b"\xff\xd8"
    assert msg.content.smil is smil and smil.content_id == "580210102"
    assert codec.smil_references(smil.data) == ["flowers_.jpg"]


def test_deliver_req5_no_soap_content_id_unbracketed_cid_raw_binary() -> None:
    body, ctype = body_only("deliver-req5.txt")
    assert "start" not in ctype  # the SOAP part is found as the first part
    msg = codec.parse(body, ctype)
    assert isinstance(msg, codec.DeliverReq)
    assert msg.transaction_id == "11398c6a2e9f00000010"
    assert (msg.vasp_id, msg.vas_id, msg.mms_relay_server_id) == ("xmmc", "xmmc", "xmmc1")
    assert (msg.sender.value, msg.sender.plus) == ("381600001200", True)
    assert [(a.kind, a.value) for a in msg.recipients.to] == [("ShortCode", "121399")]
    assert msg.content.href == "cid: content_15"  # prefixed href, a space after "cid:"
    smil, jpeg = msg.content.parts
    assert (smil.content_id, smil.content_location) == ("smil", "smil.xml")
    assert msg.content.smil is smil
    assert (jpeg.content_id, jpeg.content_location) == ("DCIM_11", "DCIM_11.jpg")
    assert jpeg.transfer_encoding is None and b"JFIF" in jpeg.data[:20]
    raw = body.split(b"Content-Location: DCIM_11.jpg\r\n\r\n", 1)[1]
    assert jpeg.data == raw.split(b"\r\n------=_Part_25_182972131.1346680532641--", 1)[0]


@pytest.mark.parametrize(("name", "code", "text", "fault_code", "txn", "version"), [
    ("fault.xml", 4002, "Unsupported version", "Client", "123456", "6.8.0"),
    ("fault_02.xml", 2002, "Address Error", "env:Client", "0_1500103103727", "5.3.0"),
])
def test_faults(name: str, code: int, text: str, fault_code: str, txn: str,
                version: str) -> None:
    for parsed in (codec.parse(fixture(name), "text/xml"),
                   codec.parse_response(fixture(name), "text/xml")):
        assert isinstance(parsed, codec.SoapFault)
        assert (parsed.fault_code, parsed.fault_string) == (fault_code, "Client error")
        assert parsed.status == codec.Status(code, text)
        assert (parsed.transaction_id, parsed.mm7_version) == (txn, version)
        assert parsed.error.operation == "RSErrorRsp"


def test_submit_rsp_with_unpublished_namespace() -> None:
    with pytest.raises(codec.UnsupportedVersion) as exc:
        codec.parse(fixture("submit-rsp.xml"), "text/xml")
    assert_status(exc, 4002)
    rsp = codec.parse_response(fixture("submit-rsp.xml"), "text/xml")
    assert isinstance(rsp, codec.Mm7Response)
    assert (rsp.operation, rsp.transaction_id, rsp.mm7_version) == ("SubmitRsp", "vas00001-sub",
                                                                    "6.7.0")
    assert rsp.status == codec.Status(1000, "Success") and rsp.status.ok
    assert rsp.message_id == "041502073667"
    assert rsp.namespace.endswith("REL-6-MM7-6-7") and rsp.warnings


def _document_example(*, http: bool, elided: bool) -> tuple[bytes, str]:
    """mm7-api.txt's MM7_Submit example: the lines from the first delimiter to the last."""
    lines = (SHARED / "reference" / "mm7-api.txt").read_text().splitlines()
    first = lines.index("--NextPart_000_0028_01C19839.84698430")
    last = lines.index("--NextPart_000_0028_01C19839.84698430--")
    part = [ln for ln in lines[first:last + 1] if elided or ln != "..."]
    text = "\r\n".join(part) + "\r\n"
    if http:
        text = text.replace("https://", "http://")
    # the page wraps the HTTP header's start parameter onto a line of its own
    return text.encode(), ('multipart/related; boundary="NextPart_000_0028_01C19839.84698430"; '
                           'type=text/xml; start="</tnn-200102/mm7-submit>"')


def test_document_submit_example() -> None:
    msg = codec.parse(*_document_example(http=True, elided=False))
    assert isinstance(msg, codec.SubmitReq) and msg.warnings == []
    assert (msg.transaction_id, msg.mm7_version) == ("vas00001-sub", "5.3.0")
    assert msg.namespace == NS + "REL-5-MM7-1-3"
    assert (msg.vasp_id, msg.vas_id, msg.sender) == ("TNN", "News", None)
    assert [a.value for a in msg.recipients.to] == ["7255441234"]
    assert (msg.delivery_report, msg.subject, msg.priority) == (True, "News for today", "Normal")
    assert msg.expiry_date == "2020-01-20T09:30:47-05:00"
    assert msg.content.allow_adaptations is True
    text, gif = msg.content.parts
    assert text.data.startswith(b"Science news") and gif.content_id == "saturn.gif"
    assert gif.data.startswith(b"GIF87a")


def test_document_example_as_printed() -> None:
    """https:// namespaces are accepted with a warning; the page's "..." is not base64."""
    msg = codec.parse(*_document_example(http=False, elided=False))
    assert msg.namespace.startswith("https://") and msg.warnings
    with pytest.raises(codec.ContentRefused) as exc:
        codec.parse(*_document_example(http=False, elided=True))
    assert_status(exc, 2004)


def test_unqualified_operation_takes_the_transaction_id_namespace() -> None:
    """skycore-mm7/mm7Submit.md's full example: SubmitReq without a namespace."""
    xml = soap(submit_xml(ns="").replace(' xmlns=""', ""))
    msg = codec.parse(xml, "text/xml")
    assert isinstance(msg, codec.SubmitReq) and msg.namespace == NS14
    assert any("unqualified" in w for w in msg.warnings)
    assert msg.sender == codec.Address("ShortCode", "111122", "111122")


# --- our own messages round-trip ------------------------------------------------------------
MO_PARTS = [Part("image/jpeg", JPEG, content_id="img1", filename="photo.jpg"),
            Part("text/plain; charset=utf-8", "héllo".encode(), content_id="<t1>"),
            Part("audio/amr", b"#!AMR\n" + bytes(64), filename="voice.amr")]


@pytest.mark.parametrize("version", ["5.3.0", "5.6.0", "6.1.0", "6.8.0"])
def test_deliver_req_round_trip(version: str) -> None:
    when = datetime(2024, 5, 1, 12, 30, tzinfo=UTC)
    enc = codec.encode_deliver_req(
        version=version, transaction_id="tx-9", sender="+15551234567",
        recipients=["111122"], parts=MO_PARTS, linked_id="mo-1", timestamp=when,
        subject="Hi & bye", ua_prof="http://example.com/uaprof.xml", carrier_id=383)
    assert enc.content_type.startswith('multipart/related; start="soap-start"; type="text/xml"; ')
    assert enc.headers["SOAPAction"] == '""' and enc.headers["User-Agent"] == "OpenMarket"
    assert enc.headers["X-OpenMarket-Carrier-Id"] == "383"
    assert ("UAProf" in enc.headers) is (version != "6.8.0")
    assert b"Content-ID: <soap-start>" in enc.body
    assert b'mustUnderstand="1"' in enc.body
    assert enc == codec.encode_deliver_req(  # deterministic: no randomness in the codec
        version=version, transaction_id="tx-9", sender="+15551234567",
        recipients=["111122"], parts=MO_PARTS, linked_id="mo-1", timestamp=when,
        subject="Hi & bye", ua_prof="http://example.com/uaprof.xml", carrier_id=383)

    msg = codec.parse(enc.body, enc.content_type)
    assert isinstance(msg, codec.DeliverReq) and unexpected(msg.warnings) == []
    assert (msg.namespace, msg.mm7_version) == (codec.VERSION_NAMESPACES[version], version)
    assert (msg.transaction_id, msg.linked_id, msg.subject) == ("tx-9", "mo-1", "Hi & bye")
    assert msg.sender == codec.Address("Number", "15551234567", "15551234567")
    assert [a.value for a in msg.recipients.to] == ["111122"]
    assert msg.timestamp == "2024-05-01T12:30:00.000Z"
    assert msg.ua_prof == ("http://example.com/uaprof.xml" if version == "6.8.0" else None)
    smil, *rest = msg.content.parts
    assert msg.content.smil is smil and msg.content.content_type.startswith("multipart/related")
    assert [(p.content_type, p.data, p.transfer_encoding) for p in rest] == [
        (p.content_type, p.data, "base64") for p in MO_PARTS]
    assert [p.content_location for p in rest] == ["photo.jpg", None, "voice.amr"]
    assert codec.smil_references(smil.data) == ["cid:img1", "cid:t1", "voice.amr"]


def test_deliver_req_keeps_a_given_smil_first() -> None:
    given = Part("application/smil", b"<smil><body><par><img src='cid:img1'/></par></body></smil>",
                 content_id="pres")
    enc = codec.encode_deliver_req(version="6.8.0", transaction_id="t", sender="15550001111",
                                   recipients=["111122"], parts=[MO_PARTS[0], given])
    msg = codec.parse(enc.body, enc.content_type)
    assert [p.content_id for p in msg.content.parts] == ["pres", "img1"]
    assert msg.content.smil.data == given.data
    assert 'start="<pres>"' in msg.content.content_type


def test_deliver_req_parts_known_by_filename_only() -> None:
    """Like the Nokia capture: Content-Location only; the SMIL still gets a start Content-ID."""
    smil = Part("application/smil", b"<smil><body><par><img src='a.gif'/></par></body></smil>",
                filename="main.smil")
    enc = codec.encode_deliver_req(version="5.3.0", transaction_id="t", sender="15550001111",
                                   recipients=["111122"],
                                   parts=[Part("image/gif", b"GIF89a", filename="a.gif"), smil])
    msg = codec.parse(enc.body, enc.content_type)
    first, gif = msg.content.parts
    assert (first.content_id, first.content_location) == ("part1", "main.smil")
    assert (gif.content_id, gif.content_location) == (None, "a.gif")
    assert msg.content.smil is first and 'start="<part1>"' in msg.content.content_type


def test_deliver_req_without_content_and_with_one_recipient_string() -> None:
    enc = codec.encode_deliver_req(version="6.8.0", transaction_id="t", sender="a@b.example",
                                   recipients="+111122", parts=[])
    assert enc.body.count(b"Content-Type:") == 1  # the SOAP part only
    msg = codec.parse(enc.body, enc.content_type)
    assert msg.content is None and msg.sender.kind == "RFC2822Address"
    assert [(a.value, a.raw) for a in msg.recipients.to] == [("111122", "111122")]
    assert msg.priority == "Normal" and msg.timestamp is None


def test_unqualified_fault_elements_and_top_level_error_response() -> None:
    fault = codec.parse_response(soap(
        "<Fault><faultcode>Server</faultcode><faultstring>oops</faultstring><detail>"
        f'<VASPErrorRsp xmlns="{NS14}"><MM7Version>6.8.0</MM7Version><Status>'
        "<StatusCode>3000</StatusCode></Status></VASPErrorRsp></detail></Fault>"), "text/xml")
    assert isinstance(fault, codec.SoapFault) and fault.error.operation == "VASPErrorRsp"
    assert fault.status == codec.Status(3000) and fault.fault_code == "Server"
    rsp = codec.parse_response(soap(
        f'<RSErrorRsp xmlns="{NS14}"><MM7Version>6.8.0</MM7Version><Status>'
        "<StatusCode>4006</StatusCode><StatusText>busy</StatusText></Status></RSErrorRsp>"),
        "text/xml")
    assert isinstance(rsp, codec.Mm7Response) and rsp.status == codec.Status(4006, "busy")
    with pytest.raises(codec.FormatCorrupt):
        codec.parse_response(soap(f'<SubmitRsp xmlns="{NS14}"><MM7Version>6.8.0</MM7Version>'
                                  "</SubmitRsp>"), "text/xml")


@pytest.mark.parametrize("version", codec.CALLBACK_VERSIONS)
@pytest.mark.parametrize("mm_status", ["Retrieved", "Rejected"])
def test_delivery_report_req_round_trip(version: str, mm_status: str) -> None:
    enc = codec.encode_delivery_report_req(
        version=version, transaction_id="dr-1", message_id="369500617770864640",
        recipient="16175550123", sender="111122",
        date=datetime(2015, 3, 16, 14, 3, 51, 749000, tzinfo=UTC), mm_status=mm_status,
        ua_prof="Samsung Galaxy", carrier_id=79)
    assert enc.content_type == 'text/xml; charset="utf-8"'
    assert ("X-OpenMarket-Carrier-Id" in enc.headers) is (mm_status == "Retrieved")
    msg = codec.parse(enc.body, enc.content_type)
    assert isinstance(msg, codec.DeliveryReportReq) and unexpected(msg.warnings) == []
    assert (msg.namespace, msg.mm7_version, msg.transaction_id) == (
        codec.VERSION_NAMESPACES[version], version, "dr-1")
    assert msg.message_id == "369500617770864640"
    assert (msg.recipient.value, msg.sender.value) == ("16175550123", "111122")
    assert msg.date == "2015-03-16T14:03:51.749Z"
    assert (msg.mm_status, msg.status_text) == (
        mm_status, "Success" if mm_status == "Retrieved" else mm_status)
    assert msg.ua_prof == ("Samsung Galaxy" if version == "6.8.0" else None)


def test_read_reply_req_round_trip() -> None:
    enc = codec.encode_read_reply_req(
        version="6.1.0", transaction_id="rr", message_id="m1", recipient="16175550123",
        sender="111122", timestamp="2024-01-01T00:00:00Z", mm_status="Read")
    msg = codec.parse(enc.body, enc.content_type)
    assert isinstance(msg, codec.ReadReplyReq)
    assert (msg.message_id, msg.mm_status, msg.timestamp) == ("m1", "Read",
                                                              "2024-01-01T00:00:00Z")
    with pytest.raises(ValueError):
        codec.encode_read_reply_req(version="6.1.0", transaction_id="rr", message_id="m1",
                                    recipient="1", sender="2", timestamp="x", mm_status="Nope")


@pytest.mark.parametrize("operation", ["SubmitRsp", "DeliverRsp", "DeliveryReportRsp",
                                       "ReadReplyRsp", "CancelRsp", "ReplaceRsp"])
def test_responses_round_trip(operation: str) -> None:
    ns = "https://www.3gpp.org/ftp/Specs/archive/23_series/23.140/schema/REL-5-MM7-1-3"
    enc = codec.encode_response(operation, namespace=ns, mm7_version="5.3.0",
                                transaction_id="vas00001-sub", message_id="041502073667")
    assert enc.content_type == 'text/xml; charset="utf-8"' and enc.headers == {}
    assert b'env:mustUnderstand="1">vas00001-sub</TransactionID>' in enc.body
    rsp = codec.parse_response(enc.body, enc.content_type)
    assert (rsp.operation, rsp.namespace, rsp.mm7_version) == (operation, ns, "5.3.0")
    assert rsp.status == codec.Status(1000, "Success") and rsp.message_id == "041502073667"


def test_response_without_transaction_id_and_with_error_status() -> None:
    enc = codec.encode_response("SubmitRsp", namespace=NS14, mm7_version="6.8.0",
                                transaction_id=None, status_code=3510)
    rsp = codec.parse_response(enc.body, enc.content_type)
    assert rsp.transaction_id is None and b"Header" not in enc.body
    assert rsp.status == codec.Status(3510, "Throughput exceeded") and not rsp.status.ok


@pytest.mark.parametrize("qualified", [False, True])
def test_fault_round_trip(qualified: bool) -> None:
    enc = codec.encode_fault(status_code=2002, namespace=NS + "REL-5-MM7-1-3",
                             mm7_version="5.3.0", transaction_id="0_1500103103727",
                             qualified=qualified)
    assert (b"<env:faultcode>" in enc.body) is qualified
    assert (b"<faultcode>env:Client</faultcode>" in enc.body) is not qualified
    fault = codec.parse_response(enc.body, enc.content_type)
    expected = codec.parse_response(fixture("fault_02.xml"), "text/xml")
    assert isinstance(fault, codec.SoapFault)
    assert fault == expected


def test_encode_error_from_any_fake_error() -> None:
    fault = codec.parse_response(*codec.encode_error(codec.FormatCorrupt("no Body"))[:2])
    assert fault.fault_code == "env:Client"
    assert fault.status == codec.Status(2007, "Message format corrupt", "no Body")
    assert fault.namespace == codec.VERSION_NAMESPACES["5.3.0"]
    from fakemms.errors import TpsExceeded
    enc = codec.encode_error(TpsExceeded(), namespace=NS14, mm7_version="6.8.0",
                             transaction_id="x")
    fault = codec.parse_response(enc.body, enc.content_type)
    assert fault.status == codec.Status(4006, "Service unavailable")
    server = codec.parse_response(*codec.encode_fault(status_code=3000)[:2])
    assert server.fault_code == "env:Server" and server.fault_string == "Server error"


# --- hostile XML ----------------------------------------------------------------------------
XXE = b"""<?xml version="1.0"?>
<!DOCTYPE env:Envelope [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body>
<SubmitReq xmlns="%s"><MM7Version>&xxe;</MM7Version></SubmitReq></env:Body></env:Envelope>
""" % NS14.encode()

LAUGHS = b'<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n' + b"".join(
    b'<!ENTITY lol%d "%s">\n' % (i, (b"&lol%d;" % (i - 1) if i > 1 else b"&lol;") * 10)
    for i in range(1, 10)
) + b"]>\n<lolz>&lol9;</lolz>"

EXTERNAL_DTD = (b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "http://127.0.0.1:9/evil.dtd">'
                b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"/>')


@pytest.mark.parametrize("xml", [XXE, LAUGHS, EXTERNAL_DTD], ids=["xxe", "laughs", "dtd"])
def test_hostile_xml_refused_quickly(xml: bytes) -> None:
    started = time.perf_counter()
    for body, ctype in [(xml, "text/xml"),
                        related([({"Content-Type": "text/xml", "Content-ID": "<s>"}, xml)])]:
        with pytest.raises(codec.FormatCorrupt) as exc:
            codec.parse(body, ctype)
        assert_status(exc, 2007)
        assert "root:" not in str(exc.value)
    assert time.perf_counter() - started < 1.0


# --- errors and their status codes ----------------------------------------------------------
def test_unknown_namespace_is_4002() -> None:
    with pytest.raises(codec.UnsupportedVersion) as exc:
        codec.parse(soap(submit_xml(ns=NS + "REL-7-MM7-1-0")), "text/xml")
    assert_status(exc, 4002)
    with pytest.raises(codec.UnsupportedVersion):
        codec.parse(soap(submit_xml(ns="urn:example")), "text/xml")
    with pytest.raises(codec.UnsupportedVersion):  # a release MM7 never had
        codec.parse(soap(submit_xml(version="7.0.0")), "text/xml")


@pytest.mark.parametrize("op", ["ExtendedCancelReq", "FooReq"])
def test_unknown_operation_is_4003(op: str) -> None:
    with pytest.raises(codec.UnsupportedOperation) as exc:
        codec.parse(soap(f'<{op} xmlns="{NS14}"><MM7Version>6.8.0</MM7Version></{op}>'),
                    "text/xml")
    assert_status(exc, 4003)


def test_parse_response_refuses_a_request() -> None:
    with pytest.raises(codec.UnsupportedOperation):
        codec.parse_response(soap(submit_xml()), "text/xml")


@pytest.mark.parametrize(("body", "ctype"), [
    (b"hello world", "text/xml"),
    (b"\x00\xff\xfe garbage", "text/xml"),
    (b"", "text/xml"),
    (b"<notsoap/>", "text/xml"),
    (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"/>', "text/xml"),
    (b'<env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/envelope/"><env:Body/>'
     b"</env:Envelope>", "text/xml"),
    (b"<a><b></a>", "text/xml"),
    (b"--x\r\n\r\nhello\r\n--x--", "multipart/related"),
    (b"no delimiter here", 'multipart/related; boundary="x"'),
    (b"{}", "application/json"),
], ids=["text", "binary", "empty", "not-soap", "no-body", "empty-body", "unclosed",
        "no-boundary", "no-delimiter", "json"])
def test_garbage_is_2007(body: bytes, ctype: str) -> None:
    with pytest.raises(codec.FormatCorrupt) as exc:
        codec.parse(body, ctype)
    assert_status(exc, 2007)


def test_content_refused_2004() -> None:
    href = '<Content href="cid:c1"/>'
    with pytest.raises(codec.ContentRefused) as exc:  # no attachment at all
        codec.parse(soap(submit_xml(content=href)), "text/xml")
    assert_status(exc, 2004)
    body, ctype = related([
        ({"Content-Type": "text/xml", "Content-ID": "<s>"}, soap(submit_xml(content=href))),
        ({"Content-Type": "image/jpeg", "Content-ID": "<c1>",
          "Content-Transfer-Encoding": "base64"}, b"!!!not base64!!!"),
    ], start="<s>")
    with pytest.raises(codec.ContentRefused) as exc:
        codec.parse(body, ctype)
    assert_status(exc, 2004)


@pytest.mark.parametrize("recipient", [
    "<Number>12ab34</Number>", "<Number></Number>", "<Number>+1 555 123</Number>",
    "<Number>1234567890123456</Number>", "<Number>123/TYPE=IPv4</Number>",
    "<RFC2822Address>nobody</RFC2822Address>", "<ShortCode>12-34</ShortCode>",
])
def test_address_error_2002(recipient: str) -> None:
    with pytest.raises(codec.AddressError) as exc:
        codec.parse(soap(submit_xml(recipients=f"<To>{recipient}</To>")), "text/xml")
    assert_status(exc, 2002)


def test_addresses_to_cc_bcc_and_leniency() -> None:
    recipients = ("<To><Number>+15551230001/TYPE=PLMN</Number><Number>15551230002</Number></To>"
                  "<Cc><RFC2822Address>Ann &lt;ann@example.com&gt;</RFC2822Address></Cc>"
                  '<Bcc><ShortCode displayOnly="TRUE">111122</ShortCode>'
                  "<RFC2822Address>+15551230003/TYPE=PLMN</RFC2822Address></Bcc>")
    msg = codec.parse(soap(submit_xml(recipients=recipients)), "text/xml")
    r = msg.recipients
    assert [a.value for a in r.to] == ["15551230001", "15551230002"]
    assert r.cc[0].value == "Ann <ann@example.com>"
    assert (r.bcc[0].kind, r.bcc[0].display_only) == ("ShortCode", True)
    assert (r.bcc[1].kind, r.bcc[1].value) == ("RFC2822Address", "15551230003")
    assert len(r.all()) == 5


@pytest.mark.parametrize("recipients", ["", "<To></To>"])
def test_no_recipients_is_4004(recipients: str) -> None:
    with pytest.raises(codec.Mm7ValidationError) as exc:
        codec.parse(soap(submit_xml(recipients=recipients)), "text/xml")
    assert_status(exc, 4004)


def test_mm7_version_checks() -> None:
    with pytest.raises(codec.Mm7ValidationError):
        codec.parse(soap(submit_xml().replace("<MM7Version>6.8.0</MM7Version>", "")),
                    "text/xml")
    with pytest.raises(codec.FormatCorrupt):
        codec.parse(soap(submit_xml(version="six")), "text/xml")
    msg = codec.parse(soap(submit_xml(ns=NS + "REL-5-MM7-1-3")), "text/xml")
    assert any("REL-5 namespace" in w for w in msg.warnings)  # seen in the wild; accepted


@pytest.mark.parametrize(("value", "expected"), [
    ("true", True), ("True", True), ("TRUE", True), ("1", True), (" false ", False),
    ("0", False), ("FALSE", False),
])
def test_lenient_booleans(value: str, expected: bool) -> None:
    extra = f"<DeliveryReport>{value}</DeliveryReport><ReadReply>{value}</ReadReply>"
    msg = codec.parse(soap(submit_xml(extra=extra)), "text/xml")
    assert (msg.delivery_report, msg.read_reply) == (expected, expected)


@pytest.mark.parametrize("extra", [
    "<DeliveryReport>yes</DeliveryReport>", "<Priority>Urgent</Priority>",
    "<TimeStamp>yesterday</TimeStamp>", "<ExpiryDate>2024-13</ExpiryDate>",
    '<Content href="cid:x" allowAdaptations="maybe"/>',
])
def test_malformed_values_are_2007(extra: str) -> None:
    with pytest.raises(codec.FormatCorrupt):
        codec.parse(soap(submit_xml(extra=extra)), "text/xml")


def test_submit_fields_and_relative_times() -> None:
    extra = ("<ServiceCode>sc</ServiceCode><LinkedID>mo-1</LinkedID>"
             "<MessageClass>Informational</MessageClass>"
             "<TimeStamp>2024-05-01T10:00:00+02:00</TimeStamp><ExpiryDate>P2DT3H</ExpiryDate>"
             "<EarliestDeliveryTime>2024-05-02T00:00:00Z</EarliestDeliveryTime>"
             "<Priority>high</Priority><Subject>S</Subject><ChargedParty>Recipient</ChargedParty>")
    msg = codec.parse(soap(submit_xml(extra=extra), txn="  spaced  "), "text/xml")
    assert msg.transaction_id == "spaced"
    assert (msg.service_code, msg.linked_id, msg.message_class) == ("sc", "mo-1",
                                                                    "Informational")
    assert (msg.timestamp, msg.expiry_date) == ("2024-05-01T10:00:00+02:00", "P2DT3H")
    assert (msg.priority, msg.subject, msg.charged_party) == ("High", "S", "Recipient")
    assert msg.content is None  # plain text/xml, no Content element
    assert codec.parse_time("P2DT3H") == timedelta(days=2, hours=3)
    assert codec.parse_time(msg.timestamp) == datetime(2024, 5, 1, 8, tzinfo=UTC)


def test_a_request_without_transaction_id_is_4004() -> None:
    with pytest.raises(codec.Mm7ValidationError, match="TransactionID") as info:
        codec.parse(soap(submit_xml(), txn=None), "text/xml")
    assert info.value.mm7_status == 4004
    assert info.value.request.namespace == NS14  # the Fault answers in the request's namespace
    rsp = codec.encode_response("DeliverRsp", namespace=NS14, mm7_version="6.8.0",
                                transaction_id=None)
    assert codec.parse_response(rsp.body, rsp.content_type).transaction_id is None  # answers: ok


def test_sloppy_values_and_unknown_elements_are_warned_once_each() -> None:
    extra = ("<DeliveryReport>TRUE</DeliveryReport><ReadReply>false</ReadReply>"
             '<x:Custom xmlns:x="urn:vendor">1</x:Custom><Subjekt>typo</Subjekt>')
    xml = submit_xml(extra=extra, recipients="<To><Number>15551230000</Number></To>"
                     "<Cc><Number>+15551230001</Number></Cc><Bc><Number>1</Number></Bc>")
    xml = xml.replace("<VASID>mt1</VASID>", "<VASID>mt1</VASID><VASId>x</VASId>")
    msg = codec.parse(soap(xml), "text/xml")
    assert (msg.delivery_report, msg.read_reply) == (True, False)
    assert sorted(w.split(";")[0] for w in msg.warnings) == sorted([
        "Cc Number '+15551230001': a leading '+' taken off (15551230001)",
        "DeliveryReport: 'TRUE' is not an xsd:boolean (true, false, 1, 0)",
        "Recipients: unknown element Bc was ignored",
        "SenderIdentification: unknown element VASId was ignored",
        "SubmitReq: unknown element Subjekt was ignored",
        "SubmitReq: unknown element {urn:vendor}Custom was ignored",
    ])


def test_https_namespace_is_accepted_with_a_warning() -> None:
    ns = NS14.replace("http://", "https://")
    msg = codec.parse(soap(submit_xml(ns=ns), ns=ns), "text/xml")
    assert msg.namespace == ns and any("https://" in w for w in msg.warnings)


# --- MIME layouts ---------------------------------------------------------------------------
def test_start_parameter_selects_the_soap_part_and_brackets_do_not_matter() -> None:
    xml = soap(submit_xml(content='<Content href="cid:&lt;c1&gt;"/>'))
    body, ctype = related([
        ({"Content-Type": "text/plain", "Content-ID": "c1"}, b"first, but content"),
        ({"Content-Type": "text/xml", "Content-ID": "<soap>"}, xml),
    ], start="soap")
    msg = codec.parse(body, ctype)
    assert [p.data for p in msg.content.parts] == [b"first, but content"]


def test_a_start_that_matches_nothing_falls_back_to_the_first_part() -> None:
    body, ctype = related([({"Content-Type": "text/xml"}, soap(submit_xml()))], start="<gone>")
    msg = codec.parse(body, ctype)
    assert any("start=" in w for w in msg.warnings)


def test_deeply_nested_content_is_flattened_in_order() -> None:
    inner = (b"--in\r\nContent-Type: text/plain\r\n\r\nplain\r\n"
             b"--in\r\nContent-Type: text/html\r\n\r\n<p>html</p>\r\n--in--\r\n")
    content = (b"--mid\r\nContent-Type: multipart/alternative; boundary=in\r\n\r\n" + inner
               + b"\r\n--mid\r\nContent-Type: image/png\r\nContent-ID: <p1>\r\n"
               b"Content-Transfer-Encoding: base64\r\n\r\niVBORw0KGgo=\r\n--mid--\r\n")
    body, ctype = related([
        ({"Content-Type": "text/xml"}, soap(submit_xml(content='<Content href="cid:c"/>'))),
        ({"Content-Type": "multipart/mixed; boundary=mid", "Content-ID": "<c>"}, content),
    ])
    msg = codec.parse(body, ctype)
    assert [(p.media_type, p.data) for p in msg.content.parts] == [
        ("text/plain", b"plain"), ("text/html", b"<p>html</p>"),
        ("image/png", b"\x89PNG\r\n\x1a\n")]


def test_cancel_and_replace() -> None:
    cancel = codec.parse(soap(
        f'<CancelReq xmlns="{NS14}"><MM7Version>6.8.0</MM7Version><SenderIdentification>'
        "<VASPID>acme</VASPID></SenderIdentification><MessageID> m-1 </MessageID></CancelReq>"),
        "text/xml")
    assert isinstance(cancel, codec.CancelReq)
    assert (cancel.vasp_id, cancel.message_id) == ("acme", "m-1")
    xml = soap(f'<ReplaceReq xmlns="{NS14}"><MM7Version>6.8.0</MM7Version>'
               "<MessageID>m-1</MessageID><ReadReply>1</ReadReply>"
               '<Content href="cid:new"/></ReplaceReq>')
    body, ctype = related([({"Content-Type": "text/xml", "Content-ID": "<s>"}, xml),
                           ({"Content-Type": "text/plain", "Content-ID": "<new>"}, b"v2")],
                          start="<s>")
    replace = codec.parse(body, ctype)
    assert isinstance(replace, codec.ReplaceReq) and replace.read_reply is True
    assert replace.message_id == "m-1" and replace.content.parts[0].data == b"v2"
    with pytest.raises(codec.Mm7ValidationError):
        codec.parse(soap(f'<CancelReq xmlns="{NS14}"><MM7Version>6.8.0</MM7Version>'
                         "</CancelReq>"), "text/xml")


# --- SMIL -----------------------------------------------------------------------------------
def test_generate_smil_one_par_per_media_item() -> None:
    parts = [Part("image/gif", b"GIF89a", content_id="<i1>"),
             Part("video/3gpp", b"", content_id="v1"),
             Part("audio/amr", b"", filename="a.amr"),
             Part("text/plain", b"hi", content_id="t1"),
             Part("text/vcard", b"", content_id="card")]
    smil = codec.generate_smil(parts)
    import xml.etree.ElementTree as ET
    root = ET.fromstring(smil)
    assert root.tag == "smil"
    pars = root.findall("./body/par")
    assert [(p[0].tag, p[0].get("src"), p[0].get("region")) for p in pars] == [
        ("img", "cid:i1", "Image"), ("video", "cid:v1", "Image"), ("audio", "a.amr", None),
        ("text", "cid:t1", "Text"), ("ref", "cid:card", None)]
    assert {r.get("id") for r in root.iter("region")} == {"Image", "Text"}


def test_with_smil_adds_one_only_when_missing() -> None:
    parts = [Part("image/jpeg", JPEG), Part("text/plain", b"hi", content_id="presentation")]
    out = codec.with_smil(parts)
    assert out[0].generated and out[0].content_type == "application/smil; charset=utf-8"
    assert out[0].content_id == "presentation-1"
    assert out[1].content_id == "part1" and parts[0].content_id is None
    assert codec.smil_references(out[0].data) == ["cid:part1", "cid:presentation"]
    assert codec.with_smil(out) == out
    # a SMIL sent as text/xml is recognised too
    assert codec.find_smil([Part("text/xml", b'<?xml version="1.0"?>\n<smil></smil>')]) == 0


@pytest.mark.parametrize("name", ["smil-sample.xml", "smil-sample2.xml"])
def test_sample_smil_detected(name: str) -> None:
    data = fixture(name)
    assert codec.find_smil([Part("text/plain", b"x"), Part("application/octet-stream", data)]) == 1
    assert codec.smil_references(data) == (["cid:image", "cid:text"])


# --- tables ---------------------------------------------------------------------------------
def test_tables() -> None:
    # every callback the documents show is in REL-6-MM7-1-4 (mm7-api.txt, provider-notes.md)
    assert codec.VERSION_NAMESPACES == {v: NS14 for v in ("5.3.0", "5.6.0", "6.1.0", "6.8.0")}
    assert all(codec.is_known_namespace(ns) for ns in codec.VERSION_NAMESPACES.values())
    assert len(codec.KNOWN_NAMESPACES) == 11
    with pytest.raises(ValueError):
        codec.namespace_for_version("6.7.0")
    assert codec.STATUS_TEXTS[4004] == "Validation error"
    assert codec.ALL_STATUS_TEXTS[3510] == "Throughput exceeded"
    assert codec.ALL_STATUS_TEXTS[3003] == "Multiple addresses not supported"  # 3GPP wins
    assert codec.status_text(4999) == "General service error"
    assert codec.fault_code_for(3510) == "Server" and codec.fault_code_for(2002) == "Client"
    assert {"Retrieved", "Deferred", "Unreachable"} <= codec.MM_STATUSES


def test_errors_are_fake_mms_errors_with_mm7_status() -> None:
    for cls, code in [(codec.FormatCorrupt, 2007), (codec.AddressError, 2002),
                      (codec.ContentRefused, 2004), (codec.UnsupportedVersion, 4002),
                      (codec.UnsupportedOperation, 4003), (codec.Mm7ValidationError, 4004)]:
        err = cls("why")
        assert isinstance(err, FakeMmsError) and err.mm7_status == code
        assert err.detail == "why" and err.status_text == cls().description
        assert cls().description == DOCUMENTED_STATUS.get(code, cls().description)


def _documented_status_texts() -> dict[int, str]:
    """Code -> Status Text, from mm7-api.txt's "Status Codes" table."""
    text = (SHARED / "reference" / "mm7-api.txt").read_text()
    table = text[text.index("Status Code | Status Text | Description |"):]
    return {int(code): name.strip() for code, name in
            re.findall(r"^(\d{4}) \| ([^|]+) \|", table, re.M)}


DOCUMENTED_STATUS = _documented_status_texts()


def test_status_texts_are_the_documents() -> None:
    assert len(DOCUMENTED_STATUS) == 6 and DOCUMENTED_STATUS[1000] == "Success"
    for code, text in DOCUMENTED_STATUS.items():
        # 3003: 3GPP's wording wins where the provider's table is older (README)
        assert codec.status_text(code) == text or code == 3003, (code, codec.status_text(code))
