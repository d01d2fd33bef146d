"""Property-based fuzzing of the configuration loader (``fakemms.config``) and the scenario
loader (``fakemms.scenario``): any YAML, any bytes, any FAKEMMS_* value yields a loaded
configuration (and an app that starts and stops) or a ``ConfigError`` whose problems say
what is wrong, never another exception."""

from __future__ import annotations

import copy
import tempfile
from pathlib import Path
from typing import Any

import yaml
from fuzzing import json_values, mutated, odd_text
from hypothesis import example, given
from hypothesis import strategies as st

from fakemms.app import create_app
from fakemms.config import DEFAULTS, ENV_VARS, SCHEMA, load_config
from fakemms.errors import ConfigError
from fakemms.scenario.loader import load_scenario, scenario_from_text

ROOT = Path(__file__).parent.parent
EXAMPLE = (ROOT / "examples" / "config.yaml").read_bytes()
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
# YAML's own hazards: tags, aliases (self-reference, billion laughs), deep nesting, odd scalars
YAML_SNIPPETS = [
    "!!python/object/apply:os.system [echo hi]", "&a [*a]", "a: &a {b: *a}", "!!binary AAAA",
    "seed: .nan", "seed: .inf", "port: 0x10", "accounts: 2020-01-01", "? [a]\n: b",
    "[" * 500 + "]" * 500, "{a: " * 500 + "1" + "}" * 500, "%YAML 1.1\n---\na: 1\n...\n---\n",
    "\t- a", "a: 'unterminated", "\ufeffseed: 1", "seed: 1\nseed: 2", "<<: {seed: 1}",
    "accounts: &x [{username: a, password: b, mt_configs: {c: {}}}]\nscenarios: *x",
]
yaml_texts = st.sampled_from(YAML_SNIPPETS) | odd_text


@st.composite
def config_documents(draw: st.DrawFn) -> dict[str, Any]:
    """The embedded defaults with some settings dropped or replaced, at any depth."""
    doc = copy.deepcopy({k: v for k, v in DEFAULTS.items() if k in SCHEMA["properties"]})
    for _ in range(draw(st.integers(1, 4))):
        node: Any = doc
        while isinstance(node, dict | list) and node and draw(st.booleans()):
            key = draw(st.sampled_from(sorted(node, key=str) if isinstance(node, dict)
                                       else range(len(node))))
            if not isinstance(node[key], dict | list) or not node[key]:
                break
            node = node[key]
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node, key=str)))
            if draw(st.booleans()):
                node[key] = draw(json_values)
            else:
                del node[key]
        elif isinstance(node, list) and node:
            node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return doc


def dump(value: Any) -> bytes:
    return yaml.safe_dump(value, allow_unicode=True).encode("utf-8", "surrogatepass")


def load_file(data: bytes, env: dict[str, str] | None = None) -> None:
    """Load ``data`` as a configuration file; when it loads, the app must start and stop."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "config.yaml"
        path.write_bytes(data)
        try:
            config = load_config(path, env=env or {})
            app = create_app(config)
        except ConfigError as exc:
            assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)
            return
        app.close()


@given(config_documents().map(dump))
def test_config_documents(data: bytes) -> None:
    load_file(data)


@given(mutated(EXAMPLE, 6))
def test_config_mutated_example(data: bytes) -> None:
    load_file(data)


@given(yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")) | st.binary(max_size=100))
@example(b"[" * 500 + b"]" * 500)  # found: RecursionError (a traceback from fakemms check)
@example(b"\xff")  # found: UnicodeDecodeError, not "not UTF-8"
def test_config_any_text(data: bytes) -> None:
    load_file(data)


@given(st.dictionaries(st.sampled_from(sorted(ENV_VARS)), odd_text.filter(
    lambda s: "\x00" not in s), max_size=3))
def test_config_environment(env: dict[str, str]) -> None:
    env.pop("FAKEMMS_CONFIG", None)
    load_file(b"", env)


# --- scenarios ------------------------------------------------------------------------------
def load_scenario_text(data: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scenario.yaml"
        path.write_bytes(data)
        for load in (lambda: load_scenario(path),
                     lambda: scenario_from_text(data.decode("utf-8", "replace"))):
            try:
                load()
            except ConfigError as exc:
                assert exc.problems and all(isinstance(p, str) and p for p in exc.problems)


@given(st.sampled_from(SCENARIOS).flatmap(lambda p: mutated(p.read_bytes(), 6)))
def test_scenario_mutated_library(data: bytes) -> None:
    load_scenario_text(data)


@st.composite
def scenario_documents(draw: st.DrawFn) -> bytes:
    """A library scenario with one value replaced, at any depth."""
    doc = yaml.safe_load(draw(st.sampled_from(SCENARIOS)).read_text())
    node: Any = doc
    while True:
        keys = sorted(node, key=str) if isinstance(node, dict) else list(range(len(node)))
        if not keys:
            break
        key = draw(st.sampled_from(keys))
        if isinstance(node[key], dict | list) and node[key] and draw(st.booleans()):
            node = node[key]
            continue
        node[key] = draw(json_values | st.sampled_from(["10x", "-1s", "1e999", "/[/", "ms"]))
        break
    return dump(doc)


@given(scenario_documents())
def test_scenario_documents(data: bytes) -> None:
    load_scenario_text(data)


@given(yaml_texts.map(lambda t: t.encode("utf-8", "surrogatepass")) | st.binary(max_size=100))
@example(b"[" * 500 + b"]" * 500)  # found: RecursionError
@example(b"\xff")
def test_scenario_any_text(data: bytes) -> None:
    load_scenario_text(data)


def test_a_scenario_file_whose_mo_script_names_no_account_refuses_the_config(tmp_path):
    """The control API refuses such a scenario (test_fuzz_control.py); a config file's
    scenarios are held to the same rule rather than failing with a traceback when due."""
    (tmp_path / "ghost.yaml").write_text("name: ghost\nmo:\n  - account: ghost\n    at: 1s\n")
    (tmp_path / "config.yaml").write_text("scenarios: [ghost.yaml]\n")
    try:
        create_app(load_config(tmp_path / "config.yaml", env={})).close()
    except ConfigError as exc:
        assert exc.problems == ["mo[0].account: no account 'ghost'"]
        assert exc.source.endswith("ghost.yaml")
    else:
        raise AssertionError("the config loaded")
