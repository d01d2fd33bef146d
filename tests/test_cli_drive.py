"""The CLI commands that drive a running server (mo, report, messages, clock): run as a
subprocess, as a person would, against a real fake on 127.0.0.1; every run bounded in time."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys

import pytest
from conftest import ACCOUNT, PNG_1PX, om_body

from fakemms.cli import main
from fakemms.client import Client
from fakemms.testing.receiver import AppReceiver


def fakemms(*args: str, url: str | None = None, timeout: float = 20
            ) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "FAKEMMS_URL"}
    if url:
        env["FAKEMMS_URL"] = url
    return subprocess.run([sys.executable, "-m", "fakemms", *args], capture_output=True,
                          text=True, timeout=timeout, env=env)


@pytest.fixture
def served(make_fake):
    """A fake (account acme, MOs to a receiver) and a client on it."""
    with AppReceiver() as receiver:
        acc = {**ACCOUNT, "mo": {"url": receiver.mo_url}}
        fake = make_fake({"accounts": [acc]})
        with Client(fake.url) as client:
            yield fake, client, receiver


def test_help_on_every_command(capsys):
    for argv in (["mo"], ["report"], ["messages"], ["clock"], ["clock", "advance"]):
        with pytest.raises(SystemExit) as info:
            main([*argv, "--help"])
        assert info.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith(f"usage: fakemms {' '.join(argv)}") and "--url URL" in out
    with pytest.raises(SystemExit):
        main(["report", "123"])  # --status is required
    assert "the following arguments are required: --status" in capsys.readouterr().err


def test_mo_with_text_and_image(served, tmp_path):
    fake, client, receiver = served
    image = tmp_path / "cat.png"
    image.write_bytes(PNG_1PX)
    done = fakemms("mo", "--to", "88600", "--from", "12015550123", "--text", "hello",
                   "--image", str(image), "--subject", "Hi", "--url", fake.url)
    assert done.returncode == 0, done.stderr
    first, second = done.stdout.splitlines()
    match = re.fullmatch(r"MO (\d{15}) from 12015550123 to 88600 \(account acme, 2 part\(s\)\)",
                         first)
    assert match and re.fullmatch(r"  callback cb-\d+ to the account's MO URL", second)
    message = client.get_message(match.group(1))
    assert message.subject == "Hi" and client.get_part(message.id, 1) == PNG_1PX
    assert [p.content_type for p in message.parts][1] == "image/png"
    assert receiver.wait_for(1)[0].kind == "mo"


def test_report_messages_and_clock(served):
    fake, client, _ = served
    assert fakemms("clock", "mode", "virtual", "--url", fake.url).returncode == 0
    mt = str(fake.send(om_body()).json()["mtId"])  # its default report waits for an advance
    done = fakemms("report", mt, "--status", "Expired", url=fake.url)  # URL from $FAKEMMS_URL
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        f"report Expired (outcomeId 6) for {mt}",
        "  no callback: the MT configuration has no dlr_url"]
    assert client.get_message(mt).status == "Expired"

    listed = fakemms("messages", "--url", fake.url)
    assert listed.returncode == 0
    assert re.fullmatch(rf"{mt}  MT openmarket acme +88600 -> 12515550130  Expired\n",
                        listed.stdout)
    as_json = json.loads(fakemms("messages", "--json", "--direction", "mt",
                                 "--url", fake.url).stdout)
    assert [m["id"] for m in as_json] == [mt]

    fake.send(om_body())
    advanced = fakemms("clock", "--url", fake.url, "advance", "1h")
    assert advanced.returncode == 0, advanced.stderr
    assert re.fullmatch(r"clock \S+ \(virtual\)\n  2 job\(s\) fired\n", advanced.stdout)
    shown = fakemms("clock", "show", "--url", fake.url).stdout
    assert "(virtual)" in shown and "0 job(s) pending" in shown
    assert fakemms("clock", "resume", "--url", fake.url).stdout.startswith("clock ")
    assert client.get_clock().mode == "real"


def test_messages_follow_prints_what_happens(served):
    fake, client, _ = served
    mt = str(fake.send(om_body()).json()["mtId"])
    env = {k: v for k, v in os.environ.items() if k != "FAKEMMS_URL"}
    proc = subprocess.Popen([sys.executable, "-m", "fakemms", "messages", "--follow",
                             "--follow-for", "8", "--url", fake.url], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline()  # the list is printed: from here on, events follow
        assert first.startswith(f"{mt}  MT openmarket acme"), first
        client.inject_mo(source="12015550999", text="late")
        lines = []
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if re.fullmatch(r"  callback cb-\d+ \(mo for \d+\): success, HTTP 200 -> delivered",
                            lines[-1]):
                break
        assert any(re.fullmatch(r"\d{15}  MO openmarket acme +12015550999 -> 88600  received.*",
                                x) for x in lines), lines
        assert lines and "delivered" in lines[-1], lines
    finally:
        proc.kill()
        proc.communicate(timeout=10)


def test_clear_one_line_errors():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))  # held bound and not listening: refused, and nobody reuses it
        url = f"http://127.0.0.1:{s.getsockname()[1]}"
        for argv in (["mo", "--text", "x"], ["report", "1", "--status", "Expired"],
                     ["messages"], ["clock", "advance", "1h"]):
            done = fakemms(*argv, url=url)
            assert done.returncode == 1
            assert done.stderr == f"fakemms is not reachable at {url} (connection refused)\n"


def test_server_refusals_are_one_line(served, tmp_path):
    fake, _, _ = served
    done = fakemms("report", "123", "--status", "Expired", "--url", fake.url)
    assert (done.returncode, done.stderr) == (
        1, "fakemms: POST /_fakemms/api/messages/123/reports: HTTP 404: "
           "no message with id '123'\n")
    done = fakemms("mo", "--image", str(tmp_path / "missing.png"), "--url", fake.url)
    assert done.returncode == 1
    assert done.stderr == f"fakemms: cannot read {tmp_path / 'missing.png'}: " \
                          f"No such file or directory\n"


def test_report_latest_means_the_newest_mt_even_after_an_mo(served):
    fake, client, _ = served
    assert fakemms("report", "latest", "--status", "Expired", "--url", fake.url).stderr == \
        "fakemms: no MT message yet to report on\n"
    mt = str(fake.send(om_body()).json()["mtId"])
    client.inject_mo(text="after the MT")
    done = fakemms("report", "latest", "--status", "Expired", "--url", fake.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == f"report Expired (outcomeId 6) for {mt}"
