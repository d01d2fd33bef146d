"""The README's Python examples run as written: ``# test_*.py`` and ``# conftest.py`` blocks
as a pytest session (pytester, in a subprocess), ``# script: NAME.py`` blocks as scripts
against a real server ($FAKEMMS_URL)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fakemms.app import create_app
from fakemms.server import ServerThread

pytest_plugins = ["pytester"]

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCK = re.compile(r"```python\n# (script: )?(\S+\.py)\n(.*?)```", re.S)


def blocks() -> list[tuple[bool, str, str]]:
    """(is a script, file name, code) of each named Python block."""
    return [(bool(m.group(1)), m.group(2), m.group(3))
            for m in BLOCK.finditer(README.read_text(encoding="utf-8"))]


def test_readme_has_the_examples():
    names = [name for _, name, _ in blocks()]
    assert names == ["conftest.py", "test_example.py", "client_example.py"]


def test_readme_pytest_examples_pass(pytester: pytest.Pytester, monkeypatch):
    monkeypatch.delenv("FAKEMMS_URL", raising=False)
    pytester.makeini("[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider\n")
    tests = 0
    for is_script, name, code in blocks():
        if not is_script:
            pytester.path.joinpath(name).write_text(code, encoding="utf-8")
            tests += len(re.findall(r"^def test_", code, re.M))
    result = pytester.runpytest_subprocess("-v", timeout=60)
    result.assert_outcomes(passed=tests)
    assert tests == 3


def test_readme_client_script_runs(tmp_path):
    ((_, name, code),) = [b for b in blocks() if b[0]]
    script = tmp_path / name
    script.write_text(code, encoding="utf-8")
    server = ServerThread(create_app({})).start()
    try:
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                              timeout=30, env={**os.environ, "FAKEMMS_URL": server.url})
    finally:
        server.stop()
    assert done.returncode == 0, done.stderr
    assert done.stdout == "10310871000 Expired 6\n"
