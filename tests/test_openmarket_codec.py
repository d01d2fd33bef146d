"""The OpenMarket codec and the shared MIME helpers, without a server (openmarket-mms-send.txt)."""

from __future__ import annotations

import base64
import json

import pytest
from conftest import PNG_1PX, SHARED, om_body

from fakemms import errors
from fakemms.protocols import mime
from fakemms.protocols.openmarket import codec

CT = "multipart/mixed; boundary=mimeboundary"
FIELDS = {"type": "MT", "source": "88600", "destination": "12515550130", "mtConfig": "config1"}
SEND_DOC = SHARED / "reference" / "openmarket-mms-send.txt"


def document_example(remote_url: str | None = None) -> bytes:
    """The send document's example request body, laid out as its own rule asks: a blank line
    above each --mimeboundary. The page's non-breaking spaces (an HTML artefact) become spaces;
    nothing else changes (remote links still sit right under their headers, as printed)."""
    text = SEND_DOC.read_text(encoding="utf-8")
    start = text.index("--mimeboundary\nContent-Type: application/json")
    end = text.index("--mimeboundary--", start) + len("--mimeboundary--")
    example = text[start:end].replace("\xa0", " ")
    if remote_url is not None:
        example = example.replace(
            "https://www.openmarket.com/docs/Content/downloads/MMS-Demo.mp4", remote_url)
    lines: list[str] = []
    for line in example.split("\n"):
        if line.startswith("--mimeboundary") and lines and lines[-1].strip():
            lines.append("")
        lines.append(line)
    return ("\r\n".join(lines) + "\r\n").encode("utf-8")


def fields_error(fields: dict) -> errors.FakeMmsError:
    with pytest.raises(errors.FakeMmsError) as info:
        codec.validate_fields(fields)
    return info.value


# --- the document's example ------------------------------------------------------------------
def test_document_example_parses_into_its_three_content_items():
    req = codec.parse_send(document_example(), CT)
    assert req.fields == {"type": "MT", "source": "88600", "destination": "12515550130",
                          "mtConfig": "config1", "subject": "Example MMS",
                          "mobileOperatorId": 77}
    codec.validate_fields(req.fields)
    remote, text, png = req.parts
    assert remote.content_type == codec.REMOTE_CONTENT
    assert remote.content_id == "MMS-Demo.mp4"
    assert remote.remote_url == "https://www.openmarket.com/docs/Content/downloads/MMS-Demo.mp4"
    assert remote.data == b""
    assert text.content_type == "text/plain; charset=utf-8" and text.data == b"This is my text."
    assert png.content_id == "example.png" and png.transfer_encoding == "BASE64"
    assert png.data.startswith(b"\x89PNG\r\n\x1a\n") and png.data.endswith(b"IEND\xaeB`\x82")
    assert req.warnings == []


def test_document_example_without_the_blank_lines_is_refused_in_strict_mode():
    body = document_example().replace(b"\r\n\r\n--mimeboundary", b"\r\n--mimeboundary")
    with pytest.raises(errors.MalformedRequest, match="blank line"):
        codec.parse_send(body, CT)
    lenient = codec.parse_send(body, CT, strict=False)
    assert len(lenient.parts) == 3
    assert any("blank line" in w for w in lenient.warnings)


def test_remote_link_right_under_the_headers_is_content_not_a_header():
    # As in the document's "Content Caching" example: no blank line between headers and URL.
    body = (b"--mimeboundary\r\nContent-Type: application/json\r\n\r\n"
            + json.dumps(FIELDS).encode() + b"\r\n\r\n"
            b"--mimeboundary\r\nContent-Type: application/vnd.openmarket.remoteContent\r\n"
            b"Content-Id: MMS-Demo.mp4 \r\nhttp://127.0.0.1:9/a.mp4\r\n\r\n--mimeboundary--\r\n")
    (part,) = codec.parse_send(body, CT).parts
    assert part.remote_url == "http://127.0.0.1:9/a.mp4"


def test_remote_link_with_a_blank_line_after_the_headers():
    body = om_body(parts=[({"Content-Type": codec.REMOTE_CONTENT, "Content-Id": "v.mp4"},
                           b"  https://127.0.0.1/v.mp4  ")])
    (part,) = codec.parse_send(body, CT).parts
    assert part.remote_url == "https://127.0.0.1/v.mp4" and part.data == b""


def test_remote_content_that_is_not_a_url_is_malformed():
    body = om_body(parts=[({"Content-Type": codec.REMOTE_CONTENT, "Content-Id": "v"},
                           b"ftp://127.0.0.1/v.mp4")])
    with pytest.raises(errors.MalformedRequest, match="not an http"):
        codec.parse_send(body, CT)


# --- transfer encodings ----------------------------------------------------------------------
@pytest.mark.parametrize("cte", ["base64", "BASE64", "Base64", " base64 "])
def test_base64_in_any_case(cte):
    body = om_body(parts=[({"Content-Type": "image/png", "Content-Id": "a.png",
                            "Content-Transfer-Encoding": cte}, base64.encodebytes(PNG_1PX))])
    (part,) = codec.parse_send(body, CT).parts
    assert part.data == PNG_1PX


def test_binary_is_the_default_and_keeps_every_byte():
    blob = bytes(range(256)) * 4 + b"\r\n\r\n--mimeboundar\r\n"
    body = om_body(parts=[({"Content-Type": "application/octet-stream", "Content-Id": "b"},
                           blob)])
    (part,) = codec.parse_send(body, CT).parts
    assert part.data == blob and part.transfer_encoding is None


def test_quoted_printable_is_decoded():
    body = om_body(parts=[({"Content-Type": "text/plain; charset=utf-8", "Content-Id": "t",
                            "Content-Transfer-Encoding": "quoted-printable"},
                           b"caf=C3=A9 =3D soft=\r\nbreak")])
    (part,) = codec.parse_send(body, CT).parts
    assert part.data == "café = softbreak".encode()


@pytest.mark.parametrize("cte", ["x-uuencode", "gzip", "base32"])
def test_unsupported_transfer_encoding_is_malformed(cte):
    body = om_body(parts=[({"Content-Type": "text/plain", "Content-Id": "t",
                            "Content-Transfer-Encoding": cte}, b"hello")])
    with pytest.raises(errors.MalformedRequest, match="Content-Transfer-Encoding"):
        codec.parse_send(body, CT)


def test_bad_base64_is_malformed():
    body = om_body(parts=[({"Content-Type": "image/png", "Content-Id": "a",
                            "Content-Transfer-Encoding": "base64"}, b"not*base64!")])
    with pytest.raises(errors.MalformedRequest, match="base64"):
        codec.parse_send(body, CT)


# --- layout ----------------------------------------------------------------------------------
def test_blank_line_rule_reports_the_offending_line():
    body = om_body(blank_lines=False)
    assert mime.boundaries_without_blank_line(body, "mimeboundary") == [6, 11]
    assert mime.boundaries_without_blank_line(om_body(), "mimeboundary") == []
    with pytest.raises(errors.MalformedRequest, match="line 6, 11"):
        codec.parse_send(body, CT)


def test_lenient_mode_accepts_and_warns():
    req = codec.parse_send(om_body(blank_lines=False), CT, strict=False)
    assert req.parts[0].data == b"This is my text."
    assert [w for w in req.warnings if "lenient" in w]


def test_longer_token_starting_with_the_boundary_is_not_a_delimiter():
    body = om_body(parts=[({"Content-Type": "text/plain", "Content-Id": "t"},
                           b"line\r\n--mimeboundaryX is text")])
    assert mime.boundaries_without_blank_line(body, "mimeboundary") == []
    assert codec.parse_send(body, CT).parts[0].data == b"line\r\n--mimeboundaryX is text"


def test_lf_line_ends_case_insensitive_type_and_preamble_are_fine():
    lf = codec.parse_send(om_body().replace(b"\r\n", b"\n"), CT)
    assert lf.parts[0].data == b"This is my text." and lf.warnings == []
    cased = codec.parse_send(om_body(), "Multipart/Mixed; Boundary=mimeboundary")
    assert cased.parts[0].data == b"This is my text." and cased.warnings == []
    framed = codec.parse_send(b"preamble\r\n\r\n" + om_body() + b"epilogue\r\n", CT)
    assert framed.parts[0].data == b"This is my text."
    with pytest.raises(errors.MalformedRequest, match="line 2"):
        codec.parse_send(b"preamble\r\n" + om_body(), CT)


def test_no_content_part_is_refused():
    with pytest.raises(errors.NoContent):
        codec.parse_send(om_body(parts=[]), CT)


def test_first_part_must_be_json():
    body = mime.build_multipart([({"Content-Type": "text/plain"}, b"hi"),
                                 ({"Content-Type": "application/json"}, b"{}")],
                                "mimeboundary", blank_line_before_boundary=True)
    with pytest.raises(errors.MalformedRequest, match="first MIME part"):
        codec.parse_send(body, CT)


def test_nested_multipart_part_is_malformed():
    inner = b"--in\r\nContent-Type: text/plain\r\n\r\nx\r\n\r\n--in--"
    body = om_body(parts=[({"Content-Type": "multipart/related; boundary=in"}, inner)])
    with pytest.raises(errors.MalformedRequest, match="nested"):
        codec.parse_send(body, CT)


def test_deeply_nested_multiparts_are_malformed_not_a_crash():
    inner = b"--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0--\r\n"
    for d in range(1, 1200):
        inner = (f"--b{d}\r\nContent-Type: multipart/mixed; boundary=b{d - 1}\r\n\r\n".encode()
                 + inner + f"\r\n--b{d}--\r\n".encode())
    with pytest.raises(errors.MalformedRequest, match="nested too deeply"):
        codec.parse_send(inner, "multipart/mixed; boundary=b1199", strict=False)


@pytest.mark.parametrize("content_type, problem", [
    (None, "missing Content-Type"),
    ("", "missing Content-Type"),
    ("application/json", "must be multipart"),
    ("text/plain; boundary=mimeboundary", "must be multipart"),
    ("multipart/mixed", "without a boundary"),
    ("multipart/mixed; boundary=", "without a boundary"),
    ("multipart/mixed; boundary=other", "no --other delimiter"),
])
def test_content_type_problems(content_type, problem):
    with pytest.raises(errors.MalformedRequest, match=problem):
        codec.parse_send(om_body(), content_type)


def test_quoted_boundary_and_multipart_related_are_accepted_with_a_warning():
    req = codec.parse_send(om_body(), 'multipart/related; boundary="mimeboundary"')
    assert req.parts[0].data == b"This is my text."
    assert any("multipart/mixed" in w for w in req.warnings)


@pytest.mark.parametrize("body, problem", [
    (b"", "empty body"),
    (b"hello, I am not MIME", "no --mimeboundary delimiter"),
    (b"--mimeboundary--\r\n", "not a multipart|no parts"),
])
def test_not_mime(body, problem):
    with pytest.raises(errors.MalformedRequest, match=problem):
        codec.parse_send(body, CT)


@pytest.mark.parametrize("raw, problem", [
    (b"[1, 2]", "must be an object"),
    (b'"MT"', "must be an object"),
    (b"null", "must be an object"),
    (b"{", "not valid JSON"),
    (b"", "not valid JSON"),
    (b'{"type": "\xff"}', "not valid UTF-8"),
    (b"[" * 100_000, "nested too deeply"),
    (b'{"a":' * 50_000, "nested too deeply"),
])
def test_bad_json_part(raw, problem):
    with pytest.raises(errors.MalformedRequest, match=problem):
        codec.parse_send(om_body(raw_json=raw), CT)


def test_json_may_be_indented_and_carry_unknown_fields():
    raw = json.dumps({**FIELDS, "extra": [1, 2]}, indent=3).encode()
    assert codec.parse_send(om_body(raw_json=raw), CT).fields["extra"] == [1, 2]


# --- Content-Id advice -----------------------------------------------------------------------
@pytest.mark.parametrize("cid, fragment", [
    ("<image1>", "angle brackets"),
    ("my image.png", "characters other than basic"),
    ("café.png", "characters other than basic"),
    ("a" * 20, "shorter than 20"),
    (None, "no Content-Id"),
])
def test_content_id_advice_gives_warnings(cid, fragment):
    warnings = codec.content_id_warnings(1, cid)
    assert len([w for w in warnings if fragment in w]) == 1, warnings
    assert all(w.startswith("part 1:") for w in warnings)


@pytest.mark.parametrize("cid", ["example.png", "a" * 19, "MMS-Demo.mp4", "x_1"])
def test_content_ids_that_follow_the_advice_give_no_warning(cid):
    assert codec.content_id_warnings(2, cid) == []


def test_content_id_warnings_land_on_the_request():
    body = om_body(parts=[({"Content-Type": "text/plain"}, b"no id"),
                          ({"Content-Type": "text/plain", "Content-Id": "<x y>"}, b"z")])
    req = codec.parse_send(body, CT)
    assert len(req.parts) == 2
    assert any(w.startswith("part 1: no Content-Id") for w in req.warnings)
    assert any(w.startswith("part 2:") and "angle brackets" in w for w in req.warnings)


# --- field validation ------------------------------------------------------------------------
def test_valid_fields_pass():
    codec.validate_fields(FIELDS)
    codec.validate_fields({**FIELDS, "subject": "s" * 255, "mobileOperatorId": 383})
    codec.validate_fields({**FIELDS, "source": "447700900750"})


@pytest.mark.parametrize("missing, code", [
    ("type", 15100), ("destination", 15101), ("source", 15102), ("mtConfig", 15105),
])
def test_missing_field_codes(missing, code):
    fields = {k: v for k, v in FIELDS.items() if k != missing}
    err = fields_error(fields)
    assert err.code == code and err.http_status == 403


@pytest.mark.parametrize("name, value, code", [
    ("type", "MO", 15200), ("type", "mt", 15200), ("type", 1, 15200), ("type", None, 15200),
    ("destination", "+447700900765", 15201), ("destination", 12515550130, 15201),
    ("destination", "1251555013a", 15201), ("destination", "", 15201),
    ("destination", "12515550130\n", 15201), ("destination", "1234567", 15201),
    ("source", "+88600", 15202), ("source", 88600, 15202), ("source", "12", 15202),
    ("source", "88600\n", 15202),
    ("subject", "", 15203), ("subject", " ", 15203), ("subject", "\t \n", 15203),
    ("subject", "s" * 256, 15203), ("subject", 5, 15203), ("subject", None, 15203),
    ("mobileOperatorId", "77", 15204), ("mobileOperatorId", 0, 15204),
    ("mobileOperatorId", -1, 15204), ("mobileOperatorId", 7.5, 15204),
    ("mobileOperatorId", True, 15204),
    ("mtConfig", 1, 15205), ("mtConfig", "", 15205), ("mtConfig", ["config1"], 15205),
])
def test_invalid_field_codes(name, value, code):
    assert fields_error({**FIELDS, name: value}).code == code


def test_lowest_code_wins():
    assert fields_error({"destination": "+1", "subject": " "}).code == 15100
    assert fields_error({**FIELDS, "type": "MO", "source": "+1"}).code == 15200
    assert fields_error({**FIELDS, "subject": "", "mobileOperatorId": "x"}).code == 15203
    assert fields_error({"type": "MT", "mtConfig": 3}).code == 15101


def test_error_texts_are_the_documents():
    assert errors.MissingSource.description == "You must specify a source number."
    assert errors.InvalidSubject.description == "Invalid subject."
    assert errors.TpsExceeded.description == "TPS limit exceeded."
    assert errors.openmarket_error(15305).description == (
        "Authentication error, this account is closed.")
    with pytest.raises(ValueError):
        errors.openmarket_error(15999)


# --- callbacks the codec builds -------------------------------------------------------------
def test_report_body_has_mt_id_as_a_string():
    body = json.loads(codec.encode_report(mt_id="123456789012345",
                                          date="2014-07-16T19:20:30+00:00",
                                          status="Rejected", outcome_id=9,
                                          description="Recipient not found on mobile operator",
                                          user_agent="HTC One"))
    assert body == {"type": "REPORT", "mtId": "123456789012345",
                    "date": "2014-07-16T19:20:30+00:00", "status": "Rejected",
                    "outcomeId": 9, "outcomeDescription": "Recipient not found on mobile operator",
                    "userAgent": "HTC One"}


def test_build_multipart_round_trips_through_parse():
    parts = [({"Content-Type": "application/json"}, b'{"a": 1}'),
             ({"Content-Type": "image/png", "Content-Id": "p"}, PNG_1PX)]
    body = mime.build_multipart(parts, "zz", blank_line_before_boundary=True)
    root = mime.parse_multipart(body, "multipart/mixed; boundary=zz", strip_blank_line=True)
    assert [c.data for c in root.children] == [b'{"a": 1}', PNG_1PX]
    assert root.children[1].content_id == "p"


def test_the_hand_check_never_passes_what_the_schema_refuses():
    """validate_fields skips jsonschema for plainly valid fields: never for invalid ones."""
    from fakemms.protocols.openmarket.codec import _plainly_valid, _validator

    base = {"type": "MT", "source": "88600", "destination": "12515550130", "mtConfig": "c"}
    values = {
        "type": ["MT", "mt", None, 1],
        "source": ["88600", "12", "12515550130", "012515550130", "88600\n", 88600, None, ""],
        "destination": ["12515550130", "1251555013", "02515550130", "+12515550130",
                        "12515550130\n", 12515550130, None],
        "mtConfig": ["c", "", None, 3],
        "subject": [..., "Hi", "", " ", "x" * 255, "x" * 256, None, 5, "\u00e9"],
        "mobileOperatorId": [..., 1, 0, -1, 77.0, True, "77", None],
    }
    checked = 0
    for name, options in values.items():
        for value in options:
            fields = dict(base)
            if value is ...:
                continue
            fields[name] = value
            for drop in (None, name):
                f = {k: v for k, v in fields.items() if k != drop}
                schema_ok = not list(_validator().iter_errors(f))
                assert not _plainly_valid(f) or schema_ok, f
                checked += schema_ok == _plainly_valid(f)
    assert checked > 40  # and it agrees on most: the usual valid shapes take the fast path


@pytest.mark.parametrize("obj", [
    {}, {"type": "REPORT", "mtId": "123456789012345", "date": "2026-11-30T19:00:00+00:00",
         "status": "Retrieved", "outcomeId": 1, "outcomeDescription": "Message retrieved"},
    {"s": "é ü \u2028 \"q\" \\ \t\n", "n": -3, "b": True, "f": 1.5, "z": None},
    {"nested": [1, {"a": "b"}], "x": "y"},
])
@pytest.mark.parametrize("indent", [2, 3])
def test_pretty_flat_is_json_dumps_byte_for_byte(obj: dict, indent: int) -> None:
    # the REPORT body must stay what the documented callback looks like (dlr_report_rejected)
    assert codec.pretty_flat(obj, indent) == json.dumps(obj, indent=indent).encode("utf-8")
