"""Property-based fuzzing of ``POST /mms/v2/send``: the codec directly (fast), then one real
server over HTTP. Properties: never a 5xx, never a traceback in the server's log, a refused
request stores nothing, every refusal is the documented JSON error (openmarket-mms-send.txt,
"Response error codes") with a description."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from conftest import om_body
from fuzzing import FuzzFake, fuzz_fake, header_text, json_values, mutated, odd_text
from hypothesis import example, given
from hypothesis import strategies as st

from fakemms import errors
from fakemms.protocols.openmarket import codec

DOCUMENTED_CODES = set(errors.OPENMARKET_ERRORS) | {errors.MalformedRequest.code}
VALID: dict[str, Any] = {"type": "MT", "source": "88600", "destination": "12515550130",
                         "mtConfig": "config1", "subject": "Hi", "mobileOperatorId": 77}
CTYPE = "multipart/mixed; boundary=mimeboundary"

# plausible-but-wrong values per field, beside values of any JSON type
NEAR = {
    "type": st.sampled_from(["mt", "MO", "MT ", "", "REPORT"]),
    "source": st.from_regex(r"\+?[0-9]{0,17}", fullmatch=True),
    "destination": st.from_regex(r"\+?[0-9]{0,17}\n?", fullmatch=True),
    "mtConfig": st.sampled_from(["", "config2", "CONFIG1", " config1"]) | odd_text,
    "subject": st.sampled_from(["", " ", "\t\n", "x" * 256, "x" * 255]) | odd_text,
    "mobileOperatorId": st.sampled_from([0, -1, 1.0, 77.5, 2**63, "77", True]),
}


@st.composite
def send_fields(draw: st.DrawFn) -> dict[str, Any]:
    """The documented request schema's fields, each kept, dropped or replaced."""
    fields: dict[str, Any] = draw(st.dictionaries(odd_text, json_values, max_size=2))
    for name, good in VALID.items():
        choice = draw(st.sampled_from(["good", "good", "missing", "near", "any"]))
        if choice == "good":
            fields[name] = good
        elif choice == "near":
            fields[name] = draw(NEAR[name])
        elif choice == "any":
            fields[name] = draw(json_values)
    return fields


mime_headers = st.dictionaries(
    st.sampled_from(["Content-Type", "Content-Id", "Content-Transfer-Encoding",
                     "Content-Location", "X-Odd"]) | header_text.filter(
        lambda s: s and ":" not in s and s.strip() == s),
    header_text, max_size=4)
content_parts = st.lists(st.tuples(mime_headers, st.binary(max_size=200)), max_size=4)
content_types = st.sampled_from([
    CTYPE, "multipart/mixed", "multipart/mixed; boundary=", "multipart/mixed; boundary=other",
    "multipart/related; boundary=mimeboundary", "application/json", "text/plain", "",
    'multipart/mixed; boundary="mimeboundary"; charset=klingon',
    "multipart/mixed; boundary=mimeboundary; boundary=x", "multipart/; boundary=mimeboundary",
]) | header_text
auth_headers = st.one_of(
    st.none(), header_text,
    st.builds(lambda b: "Basic " + base64.b64encode(b).decode(), st.binary(max_size=40)),
    st.builds(lambda u, p: "Basic " + base64.b64encode(f"{u}:{p}".encode()).decode(),
              odd_text, odd_text),
    st.sampled_from(["Basic", "Basic ", "Basic !!!", "Bearer s3cret", "basic YWNtZTpzM2NyZXQ=",
                     "Basic YWNtZTpzM2NyZXQ", "Basic YWNtZQ=="]))


# --- the codec ------------------------------------------------------------------------------
def parse_and_validate(body: bytes, content_type: str | None) -> None:
    """The codec either accepts or raises the project's error tree: nothing else."""
    try:
        parsed = codec.parse_send(body, content_type)
        codec.validate_fields(parsed.fields)
    except errors.FakeMmsError as exc:
        assert exc.code in DOCUMENTED_CODES and exc.text
        assert not isinstance(exc, errors.InternalError)


@given(mutated(om_body()), content_types)
def test_codec_on_mutated_bodies(body: bytes, content_type: str) -> None:
    parse_and_validate(body, content_type)


@given(send_fields(), content_parts)
def test_codec_on_generated_requests(fields: dict[str, Any], parts: list) -> None:
    parse_and_validate(om_body(fields, parts or None), CTYPE)


@given(st.binary(max_size=300), content_types)
def test_codec_on_any_bytes(body: bytes, content_type: str) -> None:
    parse_and_validate(body, content_type)


# --- over HTTP --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[FuzzFake]:
    with fuzz_fake() as fake:
        yield fake


def post(fake: FuzzFake, body: bytes, headers: dict[str, str | bytes]) -> requests.Response:
    before = fake.message_count()
    r = fake.http.post(fake.url + "/mms/v2/send", data=body, headers=headers, timeout=10)
    check_answer(fake, r, before)
    return r


def check_answer(fake: FuzzFake, r: requests.Response, before: int) -> None:
    assert r.status_code < 500, r.text
    assert r.headers.get("X-Request-Id")
    answer = r.json()
    after = fake.message_count()
    if r.status_code == 202:
        assert isinstance(answer["mtId"], int) and after == before + 1
    else:
        assert r.status_code in (400, 401, 403, 404, 405, 411, 413, 415, 429), r.text
        assert answer["error"]["code"] in DOCUMENTED_CODES, answer
        assert isinstance(answer["error"]["description"], str) and answer["error"]["description"]
        assert after == before, f"a refused request ({r.status_code}) stored a message"
    fake.assert_clean()


def basic() -> str:
    return "Basic " + base64.b64encode(b"acme:s3cret").decode()


@given(fields=send_fields())
@example(fields={**VALID, "mobileOperatorId": 1e300})
def test_send_json_fields(server: FuzzFake, fields: dict[str, Any]) -> None:
    r = post(server, om_body(fields), {"Content-Type": CTYPE, "Authorization": basic()})
    try:
        codec.validate_fields(fields)
        valid = fields["mtConfig"] == "config1"
    except errors.FakeMmsError:
        valid = False
    assert (r.status_code == 202) == valid, (fields, r.text)


@given(raw=st.binary(max_size=200) | st.builds(lambda v: json.dumps(v).encode(), json_values))
def test_send_raw_json_part(server: FuzzFake, raw: bytes) -> None:
    r = post(server, om_body(raw_json=raw), {"Content-Type": CTYPE, "Authorization": basic()})
    assert r.status_code != 202


@given(parts=content_parts, boundary=st.from_regex(r"[!-~]{1,70}", fullmatch=True))
def test_send_parts_and_boundaries(server: FuzzFake, parts: list, boundary: str) -> None:
    body = om_body(parts=parts or None, boundary=boundary)
    quoted = '"' + boundary.replace("\\", "\\\\").replace('"', '\\"') + '"'
    post(server, body, {"Content-Type": f"multipart/mixed; boundary={quoted}",
                        "Authorization": basic()})


@given(body=mutated(om_body()))
def test_send_mutated_bodies(server: FuzzFake, body: bytes) -> None:
    post(server, body, {"Content-Type": CTYPE, "Authorization": basic()})


@given(content_type=content_types, auth=auth_headers,
       extra=st.dictionaries(st.sampled_from(["X-Forwarded-For", "Content-Encoding",
                                              "Expect", "Accept", "Transfer-Encoding"]),
                             header_text, max_size=2))
def test_send_headers(server: FuzzFake, content_type: str, auth: str | None,
                      extra: dict[str, str]) -> None:
    headers: dict[str, str | bytes] = {k: v.encode("latin-1") for k, v in extra.items()
                                       if k != "Transfer-Encoding"}
    headers["Content-Type"] = content_type.encode("latin-1")
    if auth is not None:
        headers["Authorization"] = auth.encode("latin-1", "replace")
    r = post(server, om_body(), headers)
    if r.status_code == 202:
        assert auth is not None and auth.lower().startswith("basic")
