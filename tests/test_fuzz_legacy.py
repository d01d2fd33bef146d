"""Property-based fuzzing of the legacy gateway (docs/legacy.md): ``SendMMS`` as a query, an
urlencoded form, a multipart form with ``mms.zip`` or a raw zip body, and retrieval; the
codec directly, then one real server over HTTP. Properties: never a 5xx, no traceback, a
refused request stores nothing, every refusal a plain-text answer that names the problem."""

from __future__ import annotations

import gc
import io
import sys
import zipfile
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from conftest import PNG_1PX
from fuzzing import FuzzFake, fuzz_fake, header_text, mutated, odd_text
from hypothesis import example, given
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from fakemms import errors
from fakemms.app import FakeMmsApp
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.legacy.model import _SEND_PARAMS

GOOD = {"user": "acme", "pass": "s3cret", "to": "447700900123", "from": "88600",
        "subject": "Hi", "deliveryreport": "0"}
NEAR = {
    "user": st.sampled_from(["", "ACME", "acme "]), "pass": st.sampled_from(["", "s3cret\x00"]),
    "to": st.sampled_from(["", ",", "447700900123,", "+447700900123", "0447700900123",
                           "447700900123," * 120, "4477009001231234567"]),
    "from": st.sampled_from(["", "12", "+88600", "886000000000000000", "abc"]),
    "subject": st.sampled_from(["", "x" * 256, "\u202e"]),
    "note": st.just("note"), "subaccount": st.sampled_from(["config1", "nope", ""]),
    "deliveryreport": st.sampled_from(["1", "yes", "2", "maybe", ""]),
    "readreport": st.sampled_from(["true", "off", "-1"]),
    # remote zips only from 127.0.0.1 (a closed port), or not a usable URL at all
    "url": st.sampled_from(["http://127.0.0.1:1/mms.zip", "ftp://127.0.0.1/x", "http://",
                            "https:///x", "javascript:alert(1)", "127.0.0.1"]),
}


@st.composite
def params(draw: st.DrawFn) -> list[tuple[str, str]]:
    """The documented parameters, each kept, dropped, replaced, repeated; plus strangers."""
    out: list[tuple[str, str]] = []
    for name in _SEND_PARAMS:
        choice = draw(st.sampled_from(["good", "good", "missing", "near", "any", "twice"]))
        if choice == "good" and name in GOOD:
            out.append((name, GOOD[name]))
        elif choice == "near":
            out.append((name, draw(NEAR[name])))
        elif choice == "any":
            out.append((name, draw(odd_text)))
        elif choice == "twice" and name in GOOD:
            out += [(name, GOOD[name]), (name, draw(odd_text))]
    out += draw(st.lists(st.tuples(odd_text, odd_text), max_size=2))
    return draw(st.permutations(out))


def zip_of(entries: list[tuple[str, bytes]], compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    seen: set[str] = set()
    with zipfile.ZipFile(buf, "w", compression) as z:
        for name, data in entries:
            kept = name.split("\0")[0]  # zipfile cuts a name at NUL; it refuses "" and twins
            if kept and kept not in seen:
                seen.add(kept)
                z.writestr(name, data)
    return buf.getvalue()


VALID_ZIP = zip_of([("hello.txt", b"hello"), ("pic.png", PNG_1PX)])
zip_names = (st.sampled_from(["a.txt", "../../etc/passwd", "/abs.png", "dir/", "x.SMIL",
                              "con", "a\\b.gif", "é.jpg", "a" * 300 + ".txt"])
             | odd_text)
zips = st.one_of(
    st.just(VALID_ZIP),
    mutated(VALID_ZIP, 6),
    st.builds(zip_of, st.lists(st.tuples(zip_names, st.binary(max_size=100)), max_size=5),
              st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2,
                               zipfile.ZIP_LZMA])),
    st.binary(max_size=200),
)


# --- the codec ------------------------------------------------------------------------------
def codec_parse(query: bytes, body: bytes, content_type: str | None) -> None:
    try:
        legacy.parse_send_mms(query, body, content_type)
    except errors.FakeMmsError as exc:
        # the gateway's own errors, or the shared MIME parser's MalformedRequest
        assert isinstance(exc, legacy.LegacyError | errors.MalformedRequest), repr(exc)
        assert exc.text


@given(params(), zips)
def test_codec_on_generated_requests(pairs: list[tuple[str, str]], mms_zip: bytes) -> None:
    codec_parse(urlencode(pairs).encode(), mms_zip, "application/zip")


@given(st.binary(max_size=200), st.binary(max_size=200),
       st.sampled_from(["application/x-www-form-urlencoded; charset=klingon",
                        "application/x-www-form-urlencoded; charset=utf-16",
                        "multipart/form-data; boundary=b", "application/zip", None])
       | header_text)
def test_codec_on_any_bytes(query: bytes, body: bytes, content_type: str | None) -> None:
    codec_parse(query, body, content_type)


@given(mutated(VALID_ZIP, 3) | st.binary(max_size=300))
@example(VALID_ZIP[1:])  # found: local header offsets before the start; was a ValueError (500)
@example(VALID_ZIP.replace(b"PK\x01\x02\x14\x03\x14", b"PK\x01\x02\x14\x03\x40", 1))
# found: "needs zip version 6.4" was a NotImplementedError (500)
def test_codec_reads_any_zip_or_refuses_it(data: bytes) -> None:
    try:
        legacy.read_zip(data)
    except errors.FakeMmsError as exc:
        assert isinstance(exc, legacy.InvalidZip)


MO_FIELDS = {"id": "123", "from": "447700900123", "to": "88600", "type": "2",
             "date": "2024-01-02 03:04:05 +0000", "expiry": "2024-01-03 03:04:05 +0000"}


@given(st.lists(st.tuples(st.sampled_from([*MO_FIELDS, "cc", "network", "subject"]),
                          st.sampled_from(sorted(set(MO_FIELDS.values()))) | odd_text),
                max_size=8), st.booleans())
def test_codec_reads_mo_notifications(pairs: list[tuple[str, str]], as_text: bool) -> None:
    """An MO notification (our own callback, parsed back by the client and the tests)."""
    try:
        legacy.parse_mo(urlencode(pairs) if as_text else pairs)
    except errors.FakeMmsError as exc:
        assert isinstance(exc, legacy.LegacyError) and exc.text, repr(exc)


# --- over HTTP --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def server() -> Iterator[FuzzFake]:
    with fuzz_fake() as fake:
        yield fake


def call(fake: FuzzFake, method: str, path: str, **kw) -> requests.Response:
    before = fake.message_count()
    r = fake.http.request(method, fake.url + path, timeout=10, **kw)
    after = fake.message_count()
    assert r.status_code < 500, r.text
    if r.status_code == 200 and "retrieve" not in path.lower():
        assert r.text.isdigit() and after == before + 1
    else:
        assert r.status_code in (400, 403, 404, 405, 410, 413, 415, 429), r.text
        assert r.headers["Content-Type"].startswith("text/plain") and r.text.strip(), r.text
        assert after == before, "a refused request stored a message"
    fake.assert_clean()
    return r


@given(pairs=params(), method=st.sampled_from(["GET", "POST"]),
       path=st.sampled_from(["/SendMMS", "/mms/v1/http/send"]))
def test_sendmms_query(server: FuzzFake, pairs: list, method: str, path: str) -> None:
    call(server, method, path + "?" + urlencode(pairs))


@given(pairs=params(), mms_zip=zips, how=st.sampled_from(["form", "raw", "urlencoded"]),
       filename=st.sampled_from(["mms.zip", "MMS.ZIP", "other.zip"]) | header_text)
def test_sendmms_uploads(server: FuzzFake, pairs: list, mms_zip: bytes, how: str,
                         filename: str) -> None:
    if how == "form":
        call(server, "POST", "/SendMMS", data=pairs,
             files={"mms.zip": (filename, mms_zip, "application/zip")})
    elif how == "raw":
        call(server, "POST", "/SendMMS?" + urlencode(pairs), data=mms_zip,
             headers={"Content-Type": "application/zip"})
    else:
        call(server, "POST", "/SendMMS", data=urlencode(pairs).encode())


FORM = (b'--b\r\nContent-Disposition: form-data; name="user"\r\n\r\nacme\r\n'
        b'--b\r\nContent-Disposition: form-data; name="pass"\r\n\r\ns3cret\r\n'
        b'--b\r\nContent-Disposition: form-data; name="to"\r\n\r\n447700900123\r\n'
        b'--b\r\nContent-Disposition: form-data; name="from"\r\n\r\n88600\r\n'
        b'--b\r\nContent-Disposition: form-data; name="mms.zip"; '
        b'filename="mms.zip"\r\nContent-Type: application/zip\r\n\r\n'
        + VALID_ZIP + b"\r\n--b--\r\n")
# found: a form cut off inside its file part; werkzeug's parser left a SpooledTemporaryFile
# unclosed (a ResourceWarning when collected); fakemms.app.FakeMmsRequest keeps uploads in memory
CUT_FORM = FORM[:FORM.index(b"PK") + 40]


@given(body=mutated(FORM, 6),
       content_type=st.sampled_from(["multipart/form-data; boundary=b",
                                     "multipart/form-data; boundary=b; charset=klingon",
                                     "multipart/form-data", "multipart/mixed; boundary=b"]))
@example(body=CUT_FORM, content_type="multipart/form-data; boundary=b")
def test_sendmms_mutated_forms(server: FuzzFake, body: bytes, content_type: str) -> None:
    call(server, "POST", "/SendMMS", data=body, headers={"Content-Type": content_type})


def test_a_form_cut_inside_its_file_part_leaves_no_file_open() -> None:
    """The request class the app parses forms with, on CUT_FORM: nothing left to collect."""
    found: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, found.append
    try:
        env = EnvironBuilder(method="POST", data=CUT_FORM,
                             content_type="multipart/form-data; boundary=b").get_environ()
        req = FakeMmsApp.request_class(env)
        assert req.values.get("user") is None  # werkzeug drops a form it cannot finish
        req.close()
        del req
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert not found, found


@given(query=st.lists(st.tuples(st.sampled_from(["user", "pass", "id"]) | odd_text,
                                st.sampled_from(["acme", "s3cret", "latest", "1"]) | odd_text),
                      max_size=5),
       path=st.sampled_from(legacy.RETRIEVE_PATHS))
def test_retrieve(server: FuzzFake, query: list, path: str) -> None:
    r = call(server, "GET", path + "?" + urlencode(query))
    assert r.status_code != 200  # this server has no MO to retrieve
