"""Property-based fuzzing of ``POST /mm7``: mutated versions of the real SubmitReqs
(fixtures/mm7/submit-req-prefixed.txt, the mm7-api.txt example, the endpoint tests' envelope),
random boundaries, missing parts, broken XML and odd charsets; the codec directly, then one
real server over HTTP. Properties: only the documented answers (docs/mm7.md: 200 with a Rsp,
401 for credentials, 500 with a SOAP Fault carrying a documented StatusCode, never 3000
"Server error"), no traceback in the log, nothing stored from a refused request."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests
from fuzzing import FuzzFake, fuzz_fake, header_text, mutated, odd_text
from hypothesis import example, given
from hypothesis import strategies as st
from test_mm7_codec import body_only
from test_mm7_endpoint import (
    AUTH,
    FIXTURES,
    cancel_xml,
    config,
    document_example,
    envelope,
    gif_part,
    related,
    submit_xml,
    text_part,
)

from fakemms import errors
from fakemms.protocols.mm7 import codec

# docs/mm7.md's table: the StatusCodes a refusal may carry (401 is answered as HTTP 401)
DOCUMENTED = {2002, 2004, 2005, 2007, 3001, 3003, 4002, 4003, 4004, 4006, 4007}


def prefixed_fixture() -> tuple[bytes, str]:
    raw = (FIXTURES / "submit-req-prefixed.txt").read_bytes()
    boundary = raw.split(b"\n", 1)[0][2:].decode()
    return raw, (f'multipart/related; type="text/xml"; start="</PRLS01AUDC/mm7-submit>"; '
                 f'boundary="{boundary}"')


SEEDS: list[tuple[bytes, str]] = [
    prefixed_fixture(),
    document_example(),
    related(envelope(submit_xml()), [text_part(), gif_part()]),
    (envelope(submit_xml(content=None)), 'text/xml; charset="utf-8"'),
    (envelope(cancel_xml("123456789012345678")), "text/xml"),
]
seeds = st.sampled_from(SEEDS)
# found: an XML declaration naming an unknown or multi-byte encoding was a LookupError /
# ValueError from expat, answered 500 with StatusCode 3000 and a traceback; now 2007
BAD_ENCODINGS = [(envelope(submit_xml(content=None)).replace(b'encoding="UTF-8"', enc),
                  "text/xml") for enc in (b'encoding="TF-8"', b'encoding="shift_jis"')]
charsets = st.sampled_from(["utf-8", "UTF-16", "latin-1", "klingon", "", "utf-7", "ascii",
                            "cp500", "utf-32-be", '"utf-8'])
content_types = st.sampled_from([
    "text/xml", "application/soap+xml", "multipart/related", "multipart/related; boundary=",
    "multipart/mixed; boundary=outer-boundary", "text/plain", "",
    'multipart/related; boundary="outer-boundary"; start="<nope>"',
    'multipart/related; boundary="outer-boundary"; type="text/xml"; start="<soap>"; start=x',
]) | header_text


@st.composite
def xml_edits(draw: st.DrawFn) -> tuple[bytes, str]:
    """A seed with one element's text replaced, an element dropped, or the XML cut short."""
    body, ctype = draw(seeds)
    tags = sorted(set(re.findall(rb"<((?:[A-Za-z]+:)?[A-Za-z]+)[ >/]", body)))
    tag = draw(st.sampled_from(tags))
    kind = draw(st.sampled_from(["text", "drop", "cut", "attr", "entity"]))
    if kind == "text":
        value = draw(odd_text).encode("utf-8", "surrogatepass")
        body = re.sub(rb"(<" + re.escape(tag) + rb"(?: [^>]*)?>)[^<]*", lambda m: m.group(1)
                      + value, body, count=1)
    elif kind == "drop":
        body = re.sub(rb"<" + re.escape(tag) + rb"[ >/].*?</" + re.escape(tag) + rb">", b"",
                      body, count=1, flags=re.S)
    elif kind == "cut":
        at = body.find(b"<" + tag)
        body = body[:at + draw(st.integers(1, 40))]
    elif kind == "attr":
        body = body.replace(b"<" + tag + b">", b"<" + tag + b' href="'
                            + draw(odd_text).encode("utf-8", "surrogatepass") + b'">', 1)
    else:
        body = body.replace(b"<" + tag + b">", b"<" + tag + b">"
                            + draw(st.sampled_from([b"&lol;", b"&#0;", b"&#x110000;",
                                                    b"<![CDATA[x", b"<!--", b"&amp"])), 1)
    return body, ctype


@st.composite
def multipart_edits(draw: st.DrawFn) -> tuple[bytes, str]:
    """The document's envelope in a multipart with random parts, boundary and charset."""
    boundary = draw(st.from_regex(r"[0-9A-Za-z'()+_,./:=? -]{0,69}[0-9A-Za-z'()+_,./:=?-]",
                                  fullmatch=True))
    soap = envelope(submit_xml())
    charset = draw(charsets)
    parts = [({"Content-Type": f'text/xml; charset="{charset}"', "Content-ID": "<soap>"},
              soap), ({"Content-Type": "text/plain", "Content-ID": "<content>"}, b"hello")]
    parts += draw(st.lists(st.tuples(
        st.dictionaries(st.sampled_from(["Content-Type", "Content-ID", "Content-Location",
                                         "Content-Transfer-Encoding"]), header_text),
        st.binary(max_size=100)), max_size=3))
    parts = draw(st.permutations(parts))
    drop = draw(st.integers(0, len(parts)))
    parts = parts[:drop] + parts[drop + 1:]
    body = b"".join(b"--" + boundary.encode() + b"\r\n"
                    + b"".join(f"{k}: {v}\r\n".encode("latin-1") for k, v in h.items())
                    + b"\r\n" + data + b"\r\n" for h, data in parts)
    body += b"--" + boundary.encode() + b"--\r\n"
    start = draw(st.sampled_from(['; start="<soap>"', "", '; start="<content>"']))
    return body, f'multipart/related; type="text/xml"; boundary="{boundary}"{start}'




# --- the codec ------------------------------------------------------------------------------
def codec_parse(body: bytes, content_type: str) -> None:
    try:
        codec.parse(body, content_type)
    except errors.FakeMmsError as exc:
        assert isinstance(exc, codec.Mm7Error), repr(exc)
        assert exc.mm7_status in DOCUMENTED and exc.text


@given(seeds.flatmap(lambda s: st.tuples(mutated(s[0], 6), st.just(s[1]))))
@example(BAD_ENCODINGS[0])
@example(BAD_ENCODINGS[1])
def test_codec_on_mutated_seeds(case: tuple[bytes, str]) -> None:
    codec_parse(*case)


@given(xml_edits() | multipart_edits())
def test_codec_on_edited_envelopes(case: tuple[bytes, str]) -> None:
    codec_parse(*case)


@given(st.binary(max_size=300), content_types)
def test_codec_on_any_bytes(body: bytes, content_type: str) -> None:
    codec_parse(body, content_type)


# the peer's side: a receiver's answers to our callbacks and the DeliverReqs of the fixtures
ANSWERS = [((FIXTURES / n).read_bytes(), "text/xml")
           for n in ("submit-rsp.xml", "fault.xml", "fault_02.xml")]
DELIVERS = [body_only(n) for n in ("deliver-req1.txt", "deliver-req3.txt", "deliver-req5.txt")]


@given(st.sampled_from(ANSWERS + DELIVERS).flatmap(
    lambda s: st.tuples(mutated(s[0], 6), st.just(s[1]))))
def test_codec_on_mutated_peer_messages(case: tuple[bytes, str]) -> None:
    codec_parse(*case)
    try:
        codec.parse_response(*case)
    except errors.FakeMmsError as exc:
        assert isinstance(exc, codec.Mm7Error), repr(exc)


# --- over HTTP --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[FuzzFake]:
    with fuzz_fake(config()) as fake:
        yield fake


def post(fake: FuzzFake, body: bytes, content_type: str, *,
         auth: tuple[str, str] | tuple[bytes, bytes] | None = AUTH,
         headers: dict | None = None) -> requests.Response:
    before = fake.message_count()
    r = fake.http.post(fake.url + "/mm7", data=body, auth=auth, timeout=10, headers={
        "Content-Type": content_type.encode("latin-1"), "SOAPAction": '""', **(headers or {})})
    after = fake.message_count()
    if r.status_code == 401:
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        assert after == before
    else:
        assert r.status_code in (200, 500), (r.status_code, r.text[:500])
        answer = codec.parse_response(r.content, r.headers["Content-Type"])
        if r.status_code == 500:
            assert isinstance(answer, codec.SoapFault) and answer.status is not None
            assert answer.status.code in DOCUMENTED, r.text[:500]
            assert after == before, "a refused request stored a message"
        else:
            assert isinstance(answer, codec.Mm7Response) and answer.status.code == 1000
            assert after == before + (answer.operation == "SubmitRsp")
    fake.assert_clean()
    return r


@given(seeds.flatmap(lambda s: st.tuples(mutated(s[0], 6), st.just(s[1]))))
@example(BAD_ENCODINGS[0])
@example(BAD_ENCODINGS[1])
def test_mutated_seeds(server: FuzzFake, case: tuple[bytes, str]) -> None:
    post(server, *case)


@given(xml_edits() | multipart_edits())
def test_edited_envelopes(server: FuzzFake, case: tuple[bytes, str]) -> None:
    post(server, *case)


@given(seeds, content_types, charsets)
def test_content_types_and_charsets(server: FuzzFake, seed: tuple[bytes, str],
                                    content_type: str, charset: str) -> None:
    if charset and "charset" not in content_type:
        content_type += f"; charset={charset}"
    post(server, seed[0], content_type)


utf8 = odd_text.map(str.encode)


@given(seeds, st.none() | st.just((b"acme", b"s3cret")) | st.tuples(utf8, utf8),
       st.dictionaries(st.sampled_from(["Authorization", "X-Forwarded-For"]), header_text,
                       max_size=1))
def test_credentials(server: FuzzFake, seed: tuple[bytes, str],
                     auth: tuple[bytes, bytes] | None, headers: dict[str, str]) -> None:
    r = post(server, *seed, auth=auth, headers={k: v.encode("latin-1")
                                                 for k, v in headers.items()})
    if auth != (b"acme", b"s3cret") and "Authorization" not in headers:
        assert r.status_code == 401
