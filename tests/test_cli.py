"""The ``fakemms`` command, run as a subprocess: check, serve (good and bad configs), readyz."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import yaml
from conftest import om_body

GOOD = """\
accounts:
  - username: cli-user
    password: cli-pass
    allowed_ips: [127.0.0.0/8, "::1"]
    mt_configs:
      cfg9: {dlr_url: null, region: UK}
clock: virtual
seed: 7
"""

BAD = """\
accounts:
  - username: acme
    password: 5
    tps: -1
    allowed_ips: [999.1.1.1/8]
clock: sundial
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FAKEMMS_")}
    env.update(extra)
    return env


def fakemms(*args: str, env: dict[str, str] | None = None, timeout: float = 20
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "fakemms", *args], capture_output=True,
                          text=True, timeout=timeout, env=env or clean_env(),
                          stdin=subprocess.DEVNULL)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    out = {}
    for name, text in {"good.yaml": GOOD, "bad.yaml": BAD, "broken.yaml": "accounts: [\n",
                       "list.yaml": "- 1\n- 2\n"}.items():
        out[name] = tmp_path / name
        out[name].write_text(text, encoding="utf-8")
    out["missing.yaml"] = tmp_path / "missing.yaml"
    return out


# --- check ---------------------------------------------------------------------------------------
def test_check_good_file_exits_zero(files):
    r = fakemms("check", str(files["good.yaml"]))
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == f"{files['good.yaml']}: ok"


def test_check_prints_each_error_with_its_path_and_exits_non_zero(files):
    r = fakemms("check", str(files["good.yaml"]), str(files["bad.yaml"]))
    assert r.returncode != 0
    assert f"{files['good.yaml']}: ok" in r.stdout
    lines = r.stderr.strip().splitlines()
    bad = str(files["bad.yaml"])
    assert lines == [
        f"{bad}: accounts[0].password: (hidden) is not of type 'string' (quote it)",
        f"{bad}: accounts[0].tps: -1 is less than the minimum of 0",
        f"{bad}: clock: 'sundial' is not one of ['real', 'virtual']",
        f"{bad}: accounts[0].allowed_ips[0]: '999.1.1.1/8' is not an IP or CIDR",
    ], r.stderr
    assert "Traceback" not in r.stderr


def test_check_semantic_errors_name_their_path(tmp_path):
    path = tmp_path / "ips.yaml"
    path.write_text("accounts:\n  - {username: a, password: b, allowed_ips: [999.1.1.1/8]}\n"
                    "trusted_proxies: [gateway]\n")
    r = fakemms("check", str(path))
    assert r.returncode != 0
    assert f"{path}: accounts[0].allowed_ips[0]: '999.1.1.1/8' is not an IP or CIDR" in r.stderr
    assert f"{path}: trusted_proxies[0]: 'gateway' is not an IP or CIDR" in r.stderr


@pytest.mark.parametrize("name, fragment", [
    ("broken.yaml", "invalid YAML"),
    ("list.yaml", "must be a mapping"),
    ("missing.yaml", "cannot read"),
])
def test_check_unreadable_files(files, name, fragment):
    r = fakemms("check", str(files[name]))
    assert r.returncode != 0
    assert str(files[name]) in r.stderr and fragment in r.stderr
    assert "Traceback" not in r.stderr


# --- serve refuses bad configuration -------------------------------------------------------------
@pytest.mark.parametrize("name, fragment", [
    ("bad.yaml", "accounts[0].tps: -1 is less than the minimum of 0"),
    ("broken.yaml", "invalid YAML"),
    ("missing.yaml", "cannot read"),
])
def test_serve_with_a_bad_config_names_the_path_without_a_traceback(files, name, fragment):
    r = fakemms("serve", "--config", str(files[name]), "--port", "0")
    assert r.returncode != 0
    assert f"{files[name]}: " in r.stderr and fragment in r.stderr, r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    assert "listening" not in r.stdout


def test_serve_with_a_bad_config_from_the_environment(files):
    r = fakemms("serve", "--port", "0", env=clean_env(FAKEMMS_CONFIG=str(files["bad.yaml"])))
    assert r.returncode != 0 and str(files["bad.yaml"]) in r.stderr
    r = fakemms("serve", env=clean_env(FAKEMMS_PORT="eighty"))
    assert r.returncode != 0 and "FAKEMMS_PORT" in r.stderr
    assert "Traceback" not in r.stderr


def test_serve_on_a_port_in_use_fails_clearly():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        r = fakemms("serve", "--port", str(port))
    assert r.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}: " in r.stderr  # the host, never None
    assert "in use" in r.stderr and "Traceback" not in r.stderr


def test_serve_port_out_of_range():
    r = fakemms("serve", "--port", "70000")
    assert r.returncode != 0 and "Traceback" not in r.stderr
    assert "--port: port: 70000 is greater than the maximum of 65535" in r.stderr  # the flag


def test_errors_name_the_variable_that_set_the_value():
    r = fakemms("serve", "--port", "0", env=clean_env(FAKEMMS_CLOCK="virtaul"))
    assert r.returncode == 2
    assert "FAKEMMS_CLOCK: clock: 'virtaul' is not one of ['real', 'virtual']" in r.stderr
    assert "<defaults>" not in r.stderr


def test_version_and_help_read_as_plain_text():
    r = fakemms("--version")
    assert r.returncode == 0 and re.fullmatch(r"fakemms \d+\.\d+\.\d+\n", r.stdout)
    r = fakemms("--help")
    assert r.returncode == 0 and "``" not in r.stdout and "--version" in r.stdout


def test_check_hints_and_urls(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("accounts:\n  - username: a\n    password: 12345\n"
                      "    mt_configs: {c: {dlr_url: not a url}}\n"
                      "    mo: {url: 'ftp://x/mo'}\n")
    r = fakemms("check", str(config))
    assert r.returncode == 1
    # a password's value stays out of the message
    assert f"{config}: accounts[0].password: (hidden) is not of type 'string' (quote it)" \
        in r.stderr and "12345" not in r.stderr
    assert "accounts[0].mt_configs.c.dlr_url: 'not a url' is not an http:// or https:// URL" \
        in r.stderr
    assert "accounts[0].mo.url: 'ftp://x/mo' is not an http:// or https:// URL" in r.stderr


# --- serve starts and answers --------------------------------------------------------------------
class Served:
    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.output = ""

    def read_until(self, pattern: str, timeout: float = 10) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        assert self.proc.stdout is not None
        while time.monotonic() < deadline:
            found = re.search(pattern, self.output)
            if found:
                return found
            # os.read, not readline: a buffered reader would hide lines from select
            fd = self.proc.stdout.fileno()
            ready, _, _ = select.select([fd], [], [], 0.05)
            if ready:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                self.output += chunk.decode("utf-8", "replace")
        raise AssertionError(f"no {pattern!r} in output: {self.output!r}")


@pytest.fixture
def serve() -> Iterator:
    procs: list[subprocess.Popen[str]] = []

    def start(*args: str, env: dict[str, str] | None = None) -> Served:
        proc = subprocess.Popen([sys.executable, "-m", "fakemms", "serve", *args],
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                                env=env or clean_env(), stdin=subprocess.DEVNULL)
        procs.append(proc)
        return Served(proc)

    yield start
    for proc in procs:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # pragma: no cover - should not happen
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()


def wait_healthy(url: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            r = requests.get(url + "/_fakemms/health", timeout=1)
            if r.status_code == 200:
                return r.json()
        except requests.ConnectionError:
            pass
        time.sleep(0.02)
    raise AssertionError(f"{url} never became healthy")


def test_serve_on_a_free_port_becomes_healthy_and_stops(serve):
    port = free_port()
    served = serve("--port", str(port), "--quiet")
    started = time.monotonic()
    health = wait_healthy(f"http://127.0.0.1:{port}")
    assert health["status"] == "ok" and health["messages"] == 0
    assert time.monotonic() - started < 10
    # the banner: the embedded default account, its MT configuration and a curl to try
    served.read_until(r"curl .*/_fakemms/api/messages")
    assert f"fakemms listening on http://127.0.0.1:{port}" in served.output
    assert "account fakemms / password fakemms" in served.output
    assert "config1" in served.output
    r = requests.post(f"http://127.0.0.1:{port}/mms/v2/send", data=om_body(),
                      auth=("fakemms", "fakemms"), timeout=5,
                      headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"})
    assert r.status_code == 202, r.text
    served.proc.terminate()
    assert served.proc.wait(timeout=5) is not None
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/_fakemms/health", timeout=1)


def test_serve_port_zero_with_config_from_the_environment(serve, files):
    env = clean_env(FAKEMMS_CONFIG=str(files["good.yaml"]), FAKEMMS_STRICT_MIME="false")
    served = serve("--port", "0", "--quiet", env=env)
    url = served.read_until(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
    assert not url.endswith(":0")
    health = wait_healthy(url)
    assert health["clock"]["mode"] == "virtual" and health["seed"] == 7
    served.read_until(r"mt_configs: cfg9")
    assert "account cli-user / password (hidden)" in served.output  # only the default shows
    assert "cli-pass" not in served.output
    # FAKEMMS_STRICT_MIME=false reached the server: no blank lines is accepted
    body = om_body({"type": "MT", "source": "88600", "destination": "447700900123",
                    "mtConfig": "cfg9"}, blank_lines=False)
    r = requests.post(url + "/mms/v2/send", data=body, auth=("cli-user", "cli-pass"),
                      headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                      timeout=5)
    assert r.status_code == 202, r.text
    assert requests.post(url + "/mms/v2/send", data=body, auth=("fakemms", "fakemms"),
                         headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"},
                         timeout=5).json()["error"]["code"] == 15206


def test_readyz(serve):
    port = free_port()
    serve("--port", str(port), "--quiet")
    wait_healthy(f"http://127.0.0.1:{port}")
    r = fakemms("readyz", "--url", f"http://127.0.0.1:{port}")
    assert r.returncode == 0 and r.stdout.strip() == "ok"
    r = fakemms("readyz", "--url", f"http://127.0.0.1:{free_port()}", "--timeout", "1")
    assert r.returncode != 0 and "not reachable" in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_stops_on_a_signal_after_the_callback_in_flight(serve, tmp_path, receiver, sig):
    """docker stop sends SIGTERM: the attempt under way is let finish, then exit 0."""
    arrived = threading.Event()

    def slow(_item):
        arrived.set()
        time.sleep(1.0)
        return 200, b""

    receiver.answer = slow
    config = tmp_path / "fakemms.yaml"
    config.write_text(yaml.safe_dump({"accounts": [{
        "username": "acme", "password": "s3cret",
        "mt_configs": {"config1": {"dlr_url": receiver.url("/dlr")}}}],
        "default_report": {"status": "Retrieved", "after": 0}}))
    served = serve("--config", str(config), "--port", "0", "--quiet")
    url = served.read_until(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
    wait_healthy(url)
    r = requests.post(url + "/mms/v2/send", data=om_body(), auth=("acme", "s3cret"), timeout=5,
                      headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"})
    assert r.status_code == 202, r.text
    assert arrived.wait(10), "the report never reached the receiver"
    started = time.monotonic()
    served.proc.send_signal(sig)
    assert served.proc.wait(timeout=10) == 0
    took = time.monotonic() - started
    assert 0.5 < took < 8.0, took  # it waited for the attempt, within the 5 s bound (+ slack)
    assert len(receiver.wait_for(1)) == 1 and receiver.received[0].path == "/dlr"


def test_serve_warns_when_no_account_can_send(serve, tmp_path):
    for text, warning, no_curl in (
            ("accounts: []\n", "no accounts are configured", True),
            ("accounts: [{username: a, password: b}]\n", "no account has an MT configuration",
             True)):
        config = tmp_path / "c.yaml"
        config.write_text(text)
        served = serve("--config", str(config), "--port", "0", "--quiet")
        served.read_until(warning)
        served.read_until(r"config accounts = ")
        assert ("curl -s -u" not in served.output) is no_curl


def test_serve_on_sigterm_finishes_the_request_in_flight(serve, tmp_path):
    """A send whose answer is slow (a scenario's latency) still gets its 202 after SIGTERM."""
    config = tmp_path / "fakemms.yaml"
    config.write_text(yaml.safe_dump({"scenarios": ["slow.yaml"]}))
    (tmp_path / "slow.yaml").write_text(yaml.safe_dump({"name": "slow", "rules": [
        {"name": "all", "answer": {"latency": "1.5s"}}]}))
    served = serve("--config", str(config), "--port", "0", "--quiet")
    url = served.read_until(r"listening on (http://127\.0\.0\.1:\d+)").group(1)
    wait_healthy(url)
    answers: list[requests.Response] = []
    sender = threading.Thread(target=lambda: answers.append(requests.post(
        url + "/mms/v2/send", data=om_body(), auth=("fakemms", "fakemms"), timeout=10,
        headers={"Content-Type": "multipart/mixed; boundary=mimeboundary"})))
    sender.start()
    deadline = time.monotonic() + 10
    while requests.get(url + "/_fakemms/health", timeout=5).json()["messages"] == 0:
        assert time.monotonic() < deadline, "the send never arrived"
        time.sleep(0.02)
    served.proc.send_signal(signal.SIGTERM)  # the answer is still 1.5 s away
    assert served.proc.wait(timeout=10) == 0
    sender.join(10)
    assert [a.status_code for a in answers] == [202]
