"""The admin token closes exactly the control API and the UI: every /_fakemms/api route
(enumerated from the app's own url_map, so a new route cannot escape) answers 401 without it
or with a wrong one; health and the provider's endpoints answer as they do without a token;
the client, the CLI and the plugin pass it; no secret reaches a log line."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable

import pytest
import requests
from conftest import ACCOUNT, Fake, om_body

from fakemms.client import Client, FakeMmsClientError
from fakemms.config import load_config
from fakemms.errors import ConfigError

TOKEN = "tok-3f9a1c77e2b54d0c"
WRONG = "tok-wrong-0000"
API = "/_fakemms/api"
BEARER = {"Authorization": f"Bearer {TOKEN}"}
_SAMPLE = {"int": "0", "default": "x"}

pytest_plugins = ["pytester"]


@pytest.fixture
def closed(make_fake: Callable[..., Fake]) -> Fake:
    return make_fake({"admin_token": TOKEN})


def api_routes(fake: Fake) -> list[tuple[str, str]]:
    """(method, path) of every rule under /_fakemms/api, path parameters filled in."""
    out = []
    for rule in fake.app.url_map.iter_rules():
        if not rule.rule.startswith(API):
            continue
        path = re.sub(r"<(?:(\w+)(?:\([^)]*\))?:)?\w+>",
                      lambda m: _SAMPLE.get(m.group(1) or "default", "x"), rule.rule)
        out += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return out


def call(fake: Fake, method: str, path: str, headers: dict[str, str] | None = None
         ) -> requests.Response:
    r = fake.http.request(method, fake.url + path, headers=headers, json={}, timeout=10,
                          stream=True)
    if r.headers.get("Content-Type", "").startswith("text/event-stream"):
        r.close()  # the event stream answered, and would stay open
    else:
        r.content  # noqa: B018  (read whole)
    return r


def test_the_routes_walked_are_every_operation_of_the_document(closed: Fake) -> None:
    walked = {(m.lower(), re.sub(r"/(x|0)(?=/|$)", "/{}", p)) for m, p in api_routes(closed)}
    doc = closed.get(API + "/openapi.json", headers=BEARER).json()
    documented = {(method, re.sub(r"\{[^}]+\}", "{}", path)) for path, ops in doc["paths"].items()
                  for method in ops if path.startswith(API)}
    assert walked == documented  # the walk below covers every operation, and only them
    assert len(walked) >= 25


def test_every_control_route_needs_the_token(closed: Fake) -> None:
    routes = api_routes(closed)
    for method, path in routes:
        for headers in (None, {"Authorization": f"Bearer {WRONG}"},
                        {"Authorization": "Basic YWNtZTpzM2NyZXQ="}, {"Authorization": "Bearer"}):
            r = call(closed, method, path, headers)
            assert r.status_code == 401, (method, path, headers, r.status_code)
            assert r.headers["WWW-Authenticate"].startswith('Bearer realm="fakemms"')
            error = r.json()["error"]
            assert error["code"] == 401 and "Bearer" in error["description"], error
            assert TOKEN not in r.text and WRONG not in r.text
        wrong = call(closed, method, path, {"Authorization": f"Bearer {WRONG}"})
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
        assert "wrong" in wrong.json()["error"]["description"]
    for method, path in routes:  # the right token: past the guard (404s for the sample ids)
        r = call(closed, method, path, {"authorization": f"bearer {TOKEN}"})
        assert r.status_code not in (401, 403), (method, path, r.status_code, r.text)
    # an unrouted path under the API is closed too, and says nothing more
    assert closed.get(API + "/no-such-thing").status_code == 401
    assert closed.get(API + "/no-such-thing", headers=BEARER).status_code == 404


def test_health_and_the_provider_endpoints_answer_as_without_a_token(
        make_fake: Callable[..., Fake]) -> None:
    closed, open_ = make_fake({"admin_token": TOKEN}), make_fake()
    legacy = "/mms/v1/http/retrieve?user=acme&pass=nope&id=1"
    for fake in (closed, open_):
        for headers in ({}, BEARER, {"Authorization": f"Bearer {WRONG}"}):
            health = fake.get("/_fakemms/health", headers=headers)
            assert health.status_code == 200 and health.json()["status"] == "ok"
    for headers in ({}, BEARER):
        answers = []
        for fake in (closed, open_):
            sent = fake.send(om_body(), headers=headers)
            unauthenticated = fake.send(om_body(), auth=None, headers=headers)
            mm7 = fake.post("/mm7", data=b"<not-soap/>", headers={
                "Content-Type": "text/xml", **headers}, auth=("acme", "s3cret"))
            retrieve = fake.get(legacy, headers=headers)
            answers.append((sent.status_code, unauthenticated.status_code,
                            unauthenticated.json()["error"]["code"], mm7.status_code,
                            retrieve.status_code, retrieve.text))
        assert answers[0] == answers[1], answers
        assert answers[0][0] == 202 and answers[0][1] >= 400


def test_the_ui_asks_for_the_token_once_and_its_cookie_passes_only_same_origin_changes(
        closed: Fake) -> None:
    page = closed.get("/")
    assert page.status_code == 401 and 'name="token"' in page.text
    assert "No messages yet" not in page.text
    assert closed.get("/_fakemms/ui/controls").status_code == 401
    assert closed.get("/_fakemms/ui/static/ui.css").status_code == 200  # the form's style
    wrong = closed.post("/_fakemms/ui/login", data={"token": WRONG, "next": "/"},
                        allow_redirects=False)
    assert wrong.status_code == 401 and "wrong" in wrong.text and not closed.http.cookies
    right = closed.post("/_fakemms/ui/login", data={"token": TOKEN, "next": "//evil.test/"},
                        allow_redirects=False)
    assert right.status_code == 303 and right.headers["Location"] == "/"  # only local paths
    cookie = right.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert closed.get("/").status_code == 200
    assert closed.get("/_fakemms/ui/controls").status_code == 200
    assert closed.get(API + "/messages").status_code == 200  # reads, and the event stream
    events = closed.http.get(closed.url + API + "/events", stream=True, timeout=10)
    assert events.status_code == 200
    events.close()
    # a change with the cookie alone: what another site's form could send; refused
    assert closed.post(API + "/reset").status_code == 401
    assert closed.post(API + "/reset", headers={"X-Fakemms-UI": "1"}).status_code == 200
    out = closed.post("/_fakemms/ui/logout", allow_redirects=False)
    assert out.status_code == 303 and not closed.http.cookies
    assert closed.get("/").status_code == 401


@pytest.mark.parametrize("next_path", ["/\t/evil.example", "/\n/x",
                                       "/\r\n/x", "/\\evil.example", "/ /evil.example",
                                       "https://evil.example/", "/\x7f/x"])
def test_login_goes_back_only_to_a_path_on_this_server(closed: Fake, next_path: str) -> None:
    """``next=/%09/evil.example`` redirected to ``//evil.example`` (browsers drop the tab) and
    ``next=/\n/x`` was a 500: anything but a plain local path goes to the index."""
    page = closed.get("/_fakemms/ui/login", params={"next": next_path})
    assert page.status_code == 200 and "evil" not in page.text
    right = closed.post("/_fakemms/ui/login", data={"token": TOKEN, "next": next_path},
                        allow_redirects=False)
    assert right.status_code == 303 and right.headers["Location"] == "/", right.text
    # as the issue sent it: percent-encoded in the login page's URL
    page = closed.get("/_fakemms/ui/login?next=/%09/evil.example")
    assert page.status_code == 200 and "evil" not in page.text


def test_without_a_token_the_ui_and_api_are_open(fake: Fake) -> None:
    assert fake.get("/").status_code == 200
    assert fake.post(API + "/reset").status_code == 200
    assert fake.get("/_fakemms/ui/login", allow_redirects=False).status_code == 302


def test_passwords_are_revealed_only_on_request_with_the_token(
        make_fake: Callable[..., Fake]) -> None:
    acc = {**ACCOUNT, "mo": {"url": "http://127.0.0.1:9/mo", "username": "u",
                             "password": "mo-secret"}}
    closed = make_fake({"admin_token": TOKEN, "accounts": [acc]})
    for path in ("/accounts", "/accounts/acme", "/dump"):
        assert closed.get(API + path + "?reveal=passwords").status_code == 401
        masked = closed.get(API + path, headers=BEARER).text
        assert "s3cret" not in masked and "mo-secret" not in masked and "********" in masked
        shown = closed.get(API + path + "?reveal=passwords", headers=BEARER).text
        assert "s3cret" in shown and "mo-secret" in shown
    closed.post("/_fakemms/ui/login", data={"token": TOKEN})
    controls = closed.get("/_fakemms/ui/controls").text
    assert "s3cret" not in controls and "mo-secret" not in controls


def test_the_client_sends_the_token_from_its_argument_or_the_environment(
        closed: Fake, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAKEMMS_ADMIN_TOKEN", raising=False)
    with Client(closed.url) as anonymous:
        assert anonymous.health()["status"] == "ok"  # health needs none
        with pytest.raises(FakeMmsClientError) as refused:
            anonymous.list_messages()
        assert refused.value.status == 401 and "Bearer" in str(refused.value)
    with Client(closed.url, admin_token=TOKEN) as client:
        assert client.credentials == ("acme", "s3cret")  # revealed: it has the token
        assert client.list_messages() == []
        assert "tok-" not in repr(client)
    monkeypatch.setenv("FAKEMMS_ADMIN_TOKEN", TOKEN)
    with Client(closed.url) as client:
        sent = closed.send(om_body())
        assert sent.status_code == 202
        # the event stream too: wait_for_* opens it with the token
        assert client.wait_for_message(id=str(sent.json()["mtId"]), timeout=5).direction == "mt"
        namespaced = client.for_account("acme")
        assert namespaced.get_account("acme").password == "********"


def fakemms_cli(*args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    if token:
        env["FAKEMMS_ADMIN_TOKEN"] = token
    return subprocess.run([sys.executable, "-m", "fakemms", *args], capture_output=True,
                          text=True, timeout=30, env=env, stdin=subprocess.DEVNULL)


def test_the_cli_passes_the_token_from_the_environment(closed: Fake) -> None:
    assert closed.send(om_body()).status_code == 202
    ok = fakemms_cli("messages", "--url", closed.url, token=TOKEN)
    assert ok.returncode == 0 and "12515550130" in ok.stdout, ok.stderr
    for token in (None, WRONG):
        refused = fakemms_cli("messages", "--url", closed.url, token=token)
        assert refused.returncode == 1 and "HTTP 401" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1 and WRONG not in refused.stderr
    assert fakemms_cli("readyz", "--url", closed.url, token=None).returncode == 0


def test_the_plugin_uses_the_token_of_its_in_process_server_and_of_the_environment(
        pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, closed: Fake) -> None:
    for name in ("FAKEMMS_URL", "FAKEMMS_ADMIN_TOKEN", "PYTEST_XDIST_WORKER",
                 "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider\n")
    pytester.makepyfile(test_closed=f'''
        import pytest, requests

        @pytest.fixture(scope="session")
        def fakemms_config():
            return {{"admin_token": "{TOKEN}", "accounts": [{{"username": "acme",
                     "password": "s3cret", "mt_configs": {{"config1": {{}}}}}}]}}

        @pytest.mark.fakemms(clock="virtual")
        def test_in_process(fakemms):
            assert fakemms.credentials == ("acme", "s3cret")
            assert fakemms.get_clock().mode == "virtual"
            assert requests.get(fakemms.url + "/_fakemms/api/messages").status_code == 401
    ''')
    result = pytester.runpytest_subprocess("-p", "no:randomly", timeout=60)
    result.assert_outcomes(passed=1)
    pytester.makepyfile(test_closed='''
        def test_shared(fakemms):
            assert fakemms.account.startswith("pytest-")
            assert fakemms.list_messages() == []
    ''')
    monkeypatch.setenv("FAKEMMS_URL", closed.url)
    monkeypatch.setenv("FAKEMMS_ADMIN_TOKEN", TOKEN)
    pytester.runpytest_subprocess("-p", "no:randomly", timeout=60).assert_outcomes(passed=1)
    monkeypatch.delenv("FAKEMMS_ADMIN_TOKEN")
    refused = pytester.runpytest_subprocess("-p", "no:randomly", timeout=60)
    refused.assert_outcomes(errors=1)
    assert "HTTP 401" in refused.stdout.str()


def test_the_config_takes_the_token_from_the_file_or_the_environment(tmp_path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(f"admin_token: {TOKEN}\n")
    assert load_config(path, env={})["admin_token"] == TOKEN
    config = load_config(path, env={"FAKEMMS_ADMIN_TOKEN": "from-env"})
    assert config["admin_token"] == "from-env"
    assert config.origins["admin_token"] == "env FAKEMMS_ADMIN_TOKEN"
    assert load_config(env={})["admin_token"] is None
    for bad in ("admin_token: ''\n", "admin_token: 918273645\n", "admin_token: a 918273645\n",
                "admin_token: é918273645\n"):
        path.write_text(bad)
        with pytest.raises(ConfigError) as refused:
            load_config(path, env={})
        assert refused.value.problems[0].startswith("admin_token:")
        assert "918273645" not in str(refused.value.problems)


def test_no_secret_reaches_the_log(tmp_path) -> None:
    """``fakemms serve`` with a token and an account password from the environment, asked
    with right and wrong tokens, Basic credentials and the legacy ``pass`` parameter: its
    whole output (banner, settings, access log, errors) names none of them."""
    secrets_ = {"token": "adm-7c1e5b9d", "wrong": "adm-wrong-4411", "password": "pw-92ab47"}
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    env.update(FAKEMMS_ADMIN_TOKEN=secrets_["token"], FAKEMMS_ACCOUNT_USERNAME="acme",
               FAKEMMS_ACCOUNT_PASSWORD=secrets_["password"])
    out = tmp_path / "out.log"
    with out.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", "--port", "0"],
                                stdout=sink, stderr=subprocess.STDOUT, env=env, text=True,
                                stdin=subprocess.DEVNULL)
        try:
            url = _served_url(out, proc)
            http = requests.Session()
            bearer = {"Authorization": f"Bearer {secrets_['token']}"}
            assert http.get(url + API + "/accounts?reveal=passwords", headers=bearer,
                            timeout=5).status_code == 200
            assert http.get(url + API + "/dump", timeout=5, headers={
                "Authorization": f"Bearer {secrets_['wrong']}"}).status_code == 401
            assert http.post(url + "/mms/v2/send", data=om_body(), timeout=5,
                             auth=("acme", secrets_["password"]), headers={
                                 "Content-Type": "multipart/mixed; boundary=mimeboundary"}
                             ).status_code == 202
            http.get(f"{url}/mms/v1/http/retrieve?user=acme&pass={secrets_['password']}&id=1",
                     timeout=5)
            http.post(url + "/_fakemms/ui/login", data={"token": secrets_["wrong"]}, timeout=5)
            http.post(url + "/_fakemms/ui/login", data={"token": secrets_["token"]}, timeout=5)
            assert http.get(url + "/", timeout=5).status_code == 200
            _wait_for(out, "GET / HTTP/1.1")  # the access log has caught up
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    log = out.read_text()
    assert "config admin_token = (hidden) from env FAKEMMS_ADMIN_TOKEN" in log
    assert "control API and UI closed" in log
    assert "pass=(redacted)" in log and "POST /_fakemms/ui/login" in log
    for name, secret in secrets_.items():
        assert secret not in log, f"the {name} is in the log"


def _served_url(out, proc: subprocess.Popen) -> str:
    return re.search(r"listening on (http://\S+)", _wait_for(out, "listening on", proc)).group(1)


def _wait_for(out, text: str, proc: subprocess.Popen | None = None) -> str:
    """The log so far, once it holds ``text`` (the server writes it; polled, bounded)."""
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        log = out.read_text()
        if text in log:
            return log
        assert proc is None or proc.poll() is None, log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} never logged:\n{out.read_text()}")


def test_captured_requests_redact_bearer_and_cookie_headers(closed: Fake) -> None:
    r = closed.send(om_body(), headers={"Proxy-Authorization": f"Bearer {TOKEN}",
                                        "Cookie": f"fakemms_session={WRONG}"})
    assert r.status_code == 202, r.text
    page = closed.get(f"/_fakemms/ui/messages/{r.json()['mtId']}", headers=BEARER)  # the UI
    # takes the Bearer header too
    assert page.status_code == 200 and "Proxy-Authorization: (redacted)" in page.text
    assert "Authorization: (redacted)" in page.text
    assert TOKEN not in page.text and WRONG not in page.text and "s3cret" not in page.text


def test_the_document_declares_the_bearer_scheme(closed: Fake) -> None:
    doc = closed.get(API + "/openapi.json", headers=BEARER).json()
    scheme = doc["components"]["securitySchemes"]["adminToken"]
    assert (scheme["type"], scheme["scheme"]) == ("http", "bearer")
    assert "only when" in scheme["description"]
    assert doc["security"] == [{"adminToken": []}, {}]
    for path, ops in doc["paths"].items():
        for op in ops.values():
            if path.startswith(API):
                assert "401" in op["responses"], (path, op["operationId"])
            else:
                assert op["security"] == [] and "401" not in op["responses"]
