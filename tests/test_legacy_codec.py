"""The legacy gateway codec: MO and report parameters, the zip, SendMMS and retrieval."""

from __future__ import annotations

import email
import email.policy
import io
import zipfile
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from fakemms.errors import FakeMmsError
from fakemms.models import Part
from fakemms.protocols.legacy import codec
from fakemms.protocols.legacy.codec import (
    MMS,
    SMS,
    InvalidParameter,
    InvalidZip,
    MissingParameter,
    NoMmsContent,
    ZipTooLarge,
    build_zip,
    callback_succeeded,
    entry_names,
    format_date,
    legacy_status,
    mo_post,
    mo_query,
    parse_date,
    parse_form,
    parse_mo,
    parse_retrieve,
    parse_send_mms,
    read_zip,
    render_error,
    report_query,
    send_answer,
)

DOC_DATE = datetime(2010, 8, 21, 17, 32, 21, tzinfo=UTC)  # legacy-mms-gateway-receive.txt
BINARY = bytes(range(256)) * 3 + b"\r\n--x\r\n\r\n\n\r"
PARTS = [
    Part("image/jpeg", b"\xff\xd8\xff" + BINARY, content_id="<image>"),
    Part("text/plain; charset=utf-8", "Héllo\r\nworld".encode(), content_id="text"),
    Part("audio/amr", b"#!AMR\n" + BINARY, filename="voice.amr"),
]
SMIL = "<smil><body><par><img src='image.jpg'/></par></body></smil>"


# --- MO notification ------------------------------------------------------------------------
def test_mo_query_repeats_to_and_cc_in_wire_order() -> None:
    pairs = mo_query(message_id="4711", source="447700900001",
                     destinations=["88600", "447700900002"], date=DOC_DATE.timestamp(),
                     network="UK-VODAFONE", ccs=["447700900003", "447700900004"],
                     subject="Holiday", expiry=DOC_DATE + timedelta(days=1))
    assert pairs == [
        ("id", "4711"), ("from", "447700900001"), ("to", "88600"), ("to", "447700900002"),
        ("date", "2010-08-21 17:32:21 +0000"), ("type", "2"), ("network", "UK-VODAFONE"),
        ("cc", "447700900003"), ("cc", "447700900004"), ("subject", "Holiday"),
        ("expiry", "2010-08-22 17:32:21 +0000"),
    ]
    mo = parse_mo(urlencode(pairs))
    assert mo.destinations == ["88600", "447700900002"]
    assert mo.ccs == ["447700900003", "447700900004"]
    assert mo.date == DOC_DATE and mo.message_type == MMS and mo.message is None


def test_optional_mo_fields_are_left_out() -> None:
    pairs = mo_query(message_id="1", source="447700900001", destinations=["88600"],
                     date=DOC_DATE)
    assert [name for name, _ in pairs] == ["id", "from", "to", "date", "type"]


@pytest.mark.parametrize(("region", "text"), [
    ("UK", "2010-08-21 17:32:21 +0000"),
    ("IE", "2010-08-21 17:32:21 +0000"),
    ("AU", "2010-08-21 17:32:21 +0000"),
    ("US", "2010-08-21 17:32:21+0000"),
    ("us", "2010-08-21 17:32:21+0000"),
])
def test_date_format_per_region(region: str, text: str) -> None:
    assert format_date(DOC_DATE.timestamp(), region) == text
    assert format_date(DOC_DATE, region) == text
    assert parse_date(text) == DOC_DATE


def test_dates_are_rendered_in_utc() -> None:
    local = DOC_DATE.astimezone(timezone(timedelta(hours=-5)))
    assert format_date(local, "UK") == "2010-08-21 17:32:21 +0000"
    assert format_date(DOC_DATE.replace(tzinfo=None), "US") == "2010-08-21 17:32:21+0000"
    with pytest.raises(ValueError, match="unknown region"):
        format_date(DOC_DATE, "FR")


def test_sms_mo_is_type_6_with_message() -> None:
    pairs = mo_query(message_id="9", source="15551230001", destinations=["88600"],
                     date=DOC_DATE, region="US", message_type=SMS, message="STOP")
    assert pairs == [("id", "9"), ("from", "15551230001"), ("to", "88600"),
                     ("date", "2010-08-21 17:32:21+0000"), ("type", "6"), ("message", "STOP")]
    assert parse_mo(pairs).message == "STOP"


@pytest.mark.parametrize("kwargs", [
    {"message_type": SMS},
    {"message_type": SMS, "message": "x", "subject": "s"},
    {"message_type": MMS, "message": "x"},
    {"message_type": 3},
    {"destinations": []},
])
def test_mo_query_refuses_inconsistent_arguments(kwargs: dict) -> None:
    args = {"message_id": "1", "source": "447700900001", "destinations": ["88600"],
            "date": DOC_DATE, **kwargs}
    with pytest.raises(ValueError):
        mo_query(**args)


def test_post_form_parses_with_the_stdlib_email_package() -> None:
    pairs = mo_query(message_id="4711", source="447700900001",
                     destinations=["88600", "447700900002"], date=DOC_DATE, subject="Hé")
    zipped = build_zip(PARTS, SMIL)
    body, content_type = mo_post(pairs, boundary="legacy-boundary-1", mms_zip=zipped)
    assert content_type == "multipart/form-data; boundary=legacy-boundary-1"

    msg = email.message_from_bytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body, policy=email.policy.HTTP)
    assert msg.is_multipart()
    fields, files = [], {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if part.get_filename():
            files[name] = (part.get_filename(), part.get_content_type(),
                           part.get_payload(decode=True))
        else:
            fields.append((name, part.get_payload(decode=True).decode("utf-8")))
    assert fields == pairs
    assert files == {"mms.zip": ("mms.zip", "application/zip", zipped)}
    # and our own form parser agrees
    assert parse_form(body, content_type) == (pairs, {"mms.zip": ("mms.zip", zipped)})


def test_post_refuses_a_boundary_found_in_the_content() -> None:
    with pytest.raises(ValueError, match="boundary"):
        mo_post([("id", "1")], boundary="x", mms_zip=b"...--x...")


# --- the zip --------------------------------------------------------------------------------
def test_zip_round_trip_keeps_bytes_names_and_types() -> None:
    zipped = build_zip(PARTS, SMIL)
    names = zipfile.ZipFile(io.BytesIO(zipped)).namelist()
    assert names == ["presentation.smil", "image.jpg", "text.txt", "voice.amr"]
    parts = read_zip(zipped)
    assert [p.data for p in parts] == [SMIL.encode(), *(p.data for p in PARTS)]
    assert [p.content_type for p in parts] == ["application/smil", "image/jpeg", "text/plain",
                                               "audio/amr"]
    assert [p.filename for p in parts] == names
    # deterministic: the same contents give the same zip, also after a read
    assert build_zip(PARTS, SMIL) == zipped
    assert build_zip(parts) == zipped


def test_zip_entry_names_are_safe_unique_and_typed() -> None:
    parts = [
        Part("text/plain", b"1", filename="../../etc/passwd"),
        Part("image/png", b"2", content_id="<photo.PNG>"),
        Part("image/png", b"3", content_id="photo.png"),
        Part("image/gif", b"4", content_id="text.txt"),
        Part("application/x-unknown", b"5"),
        Part("video/mp4", b"6", content_id="MMS-Demo.mp4"),
        Part("image/jpeg", b"7", filename="a b\u00e9.jpeg", content_id="ignored"),
    ]
    assert entry_names(parts) == ["passwd.txt", "photo.PNG", "photo-2.png", "text.txt.gif",
                                  "part5.bin", "MMS-Demo.mp4", "a_b_.jpeg"]


def test_zip_dates_entries_with_when() -> None:
    zipped = build_zip(PARTS[:1], when=DOC_DATE.timestamp())
    assert zipfile.ZipFile(io.BytesIO(zipped)).infolist()[0].date_time == (2010, 8, 21, 17,
                                                                           32, 20)


def test_zip_bomb_refused_by_uncompressed_size() -> None:
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros.txt", b"\0" * (codec.DEFAULT_MAX_TOTAL_BYTES + 1))
    assert len(bomb.getvalue()) < 100_000
    with pytest.raises(ZipTooLarge) as info:
        read_zip(bomb.getvalue())
    assert info.value.http_status == 413
    assert "uncompressed" in info.value.text
    with pytest.raises(ZipTooLarge):
        read_zip(build_zip(PARTS), max_total_bytes=100)


def test_zip_bomb_refused_by_entry_count() -> None:
    many = build_zip([Part("text/plain", b"x", content_id=f"t{i}") for i in range(5)])
    assert len(read_zip(many, max_entries=5)) == 5
    with pytest.raises(ZipTooLarge, match="6 entries|5 entries"):
        read_zip(many, max_entries=4)


def test_zip_whose_entry_lies_about_its_size_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.txt", b"A" * 5000)
    data = bytearray(buffer.getvalue())
    # declare 10 bytes uncompressed in the local and the central header
    for signature, offset in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        at = data.index(signature) + offset
        data[at:at + 4] = (10).to_bytes(4, "little")
    with pytest.raises(InvalidZip):
        read_zip(bytes(data))


def test_not_a_zip_is_refused() -> None:
    with pytest.raises(InvalidZip) as info:
        read_zip(b"this is not a zip")
    assert info.value.http_status == 400
    assert isinstance(info.value, FakeMmsError)


def test_read_zip_skips_directories_and_macos_metadata() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("pics/", b"")
        zf.writestr("pics/cat.gif", b"GIF89a")
        zf.writestr("__MACOSX/pics/._cat.gif", b"junk")
        zf.writestr("notes.xyz", b"?")
    parts = read_zip(buffer.getvalue())
    assert [(p.filename, p.content_type) for p in parts] == [
        ("cat.gif", "image/gif"), ("notes.xyz", "application/octet-stream")]


# --- SendMMS --------------------------------------------------------------------------------
SEND = {"user": "acme", "pass": "s3cret", "from": "88600", "subject": "Hi"}


def form_body(fields: list[tuple[str, str]], zipped: bytes | None) -> tuple[bytes, str]:
    return mo_post(fields, boundary="send-boundary", mms_zip=zipped)


def test_send_mms_with_a_multipart_zip_and_repeated_or_comma_separated_to() -> None:
    zipped = build_zip(PARTS, SMIL)
    fields = [*SEND.items(), ("to", "447700900001,+447700900002"), ("to", "447700900003"),
              ("deliveryreport", "1"), ("readreport", "true"), ("note", "n"),
              ("subaccount", "sales")]
    body, ctype = form_body(fields, zipped)
    req = parse_send_mms(b"", body, ctype)
    assert req.destinations == ["447700900001", "447700900002", "447700900003"]
    assert (req.user, req.password, req.source, req.subject) == ("acme", "s3cret", "88600", "Hi")
    assert req.delivery_report and req.read_report
    assert (req.note, req.subaccount, req.url) == ("n", "sales", None)
    assert req.mms_zip == zipped
    assert [p.data for p in req.parts] == [SMIL.encode(), *(p.data for p in PARTS)]
    assert req.warnings == []


def test_send_mms_by_query_string_with_url() -> None:
    query = urlencode([*SEND.items(), ("to", "447700900001"), ("url", "https://h/mms.zip"),
                       ("colour", "red")])
    req = parse_send_mms(query.encode())
    assert req.url == "https://h/mms.zip" and req.parts == [] and req.mms_zip is None
    assert not req.delivery_report and not req.read_report
    assert req.warnings == ["unknown parameter 'colour' ignored"]


def test_send_mms_urlencoded_form_and_raw_zip_body() -> None:
    form = urlencode([*SEND.items(), ("to", "447700900001"), ("url", "http://h/z")]).encode()
    req = parse_send_mms(b"", form, "application/x-www-form-urlencoded")
    assert req.url == "http://h/z"
    zipped = build_zip(PARTS)
    req = parse_send_mms(urlencode([*SEND.items(), ("to", "447700900001")]), zipped,
                         "application/zip")
    assert len(req.parts) == 3


@pytest.mark.parametrize(("fields", "zipped", "error", "text"), [
    ([("pass", "p"), ("from", "88600"), ("to", "447700900001")], True, MissingParameter,
     "Missing parameter: user"),
    ([("user", "u"), ("pass", "p"), ("from", "88600")], True, MissingParameter,
     "Missing parameter: to"),
    ([*SEND.items(), ("to", "12")], True, InvalidParameter,
     "Invalid parameter: to: '12' is not a valid number"),
    ([*SEND.items(), ("to", "447700900001"), ("deliveryreport", "maybe")], True,
     InvalidParameter, "deliveryreport"),
    ([*SEND.items(), ("to", "447700900001"), ("url", "ftp://h/z")], False, InvalidParameter,
     "not an http or https URL"),
    ([*SEND.items(), ("to", "447700900001"), ("url", "http://h/z")], True, InvalidParameter,
     "not both"),
    ([*SEND.items(), ("to", "447700900001")], False, NoMmsContent, "url= or as a part"),
    ([*SEND.items(), ("user", "other"), ("to", "447700900001")], True, InvalidParameter,
     "user: given more than once"),
])
def test_send_mms_validation_errors(fields: list[tuple[str, str]], zipped: bool,
                                    error: type[Exception], text: str) -> None:
    body, ctype = form_body(fields, build_zip(PARTS) if zipped else None)
    with pytest.raises(error) as info:
        parse_send_mms(b"", body, ctype)
    assert text in info.value.text
    status, answer, answer_type = render_error(info.value)
    assert status == 400 and answer == info.value.text.encode()
    assert answer_type.startswith("text/plain")


def test_send_mms_with_an_empty_or_bomb_zip() -> None:
    fields = [*SEND.items(), ("to", "447700900001")]
    with pytest.raises(NoMmsContent, match="no files"):
        parse_send_mms(b"", *form_body(fields, build_zip([])))
    with pytest.raises(ZipTooLarge):
        parse_send_mms(b"", *form_body(fields, build_zip(PARTS)), max_zip_bytes=10)


def test_send_answer_is_the_message_id() -> None:
    assert send_answer("123456") == (b"123456", "text/plain; charset=utf-8")


def test_parse_retrieve() -> None:
    ask = parse_retrieve("user=acme&pass=s3cret&id=4711")
    assert (ask.user, ask.password, ask.message_id) == ("acme", "s3cret", "4711")
    with pytest.raises(MissingParameter, match="id"):
        parse_retrieve({"user": "acme", "pass": "s3cret"})


# --- report callback ------------------------------------------------------------------------
def test_report_query() -> None:
    pairs = report_query(message_id="4711", request_id="r-1", destination="447700900001",
                         source="88600", date=DOC_DATE, status="Retrieved", user_agent="HTC One")
    assert pairs == [("id", "4711"), ("requestid", "r-1"), ("to", "447700900001"),
                     ("from", "88600"), ("date", "2010-08-21 17:32:21 +0000"), ("type", "1"),
                     ("status", "3"), ("useragent", "HTC One")]
    us = dict(report_query(message_id="1", destination="15551230001", source="88600",
                           date=DOC_DATE, status="Read", region="US"))
    assert (us["type"], us["status"], us["date"]) == ("2", "7", "2010-08-21 17:32:21+0000")
    assert "requestid" not in us and "useragent" not in us


@pytest.mark.parametrize(("status", "read", "expected"), [
    ("Deferred", False, (1, 1)), ("Indeterminate", False, (1, 2)), ("Retrieved", False, (1, 3)),
    ("Expired", False, (1, 4)), ("Rejected", False, (1, 5)), ("forwarded", False, (1, 6)),
    ("Read", False, (2, 7)), ("Deleted", False, (2, 8)), ("Indeterminate", True, (2, 9)),
    ("Expired", True, (2, 10)), ("Read", True, (2, 7)), (4, False, (1, 4)), (10, False, (2, 10)),
])
def test_legacy_status_table(status: str | int, read: bool, expected: tuple[int, int]) -> None:
    assert legacy_status(status, read=read) == expected


def test_unknown_status_has_no_legacy_number() -> None:
    with pytest.raises(ValueError, match="no legacy number"):
        legacy_status("Teleported")
    with pytest.raises(ValueError):
        legacy_status(11)


@pytest.mark.parametrize(("status", "body", "ok"), [
    (200, b"OK", True), (200, "ok", True), (200, b"", False), (200, None, False),
    (204, b"OK", False), (500, b"error", False), (None, None, False),
])
def test_callback_success_rule(status: int | None, body: bytes | str | None, ok: bool) -> None:
    assert callback_succeeded(status, body) is ok
