"""Startup stays cheap: what the pytest plugin and a config-less app import, and the
empty-config shortcut in schema validation agreeing with jsonschema."""

from __future__ import annotations

import subprocess
import sys

import pytest
from jsonschema import Draft202012Validator

from fakemms.config import ACCOUNT_SCHEMA, SCHEMA, schema_problems
from fakemms.scenario.schema import SCHEMA as SCENARIO_SCHEMA

HEAVY = ("yaml", "jsonschema", "faker", "PIL", "hypothesis", "flask", "requests")


def _loaded(code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         timeout=60, check=True)
    return out.stdout.split()


def test_the_plugin_module_imports_nothing_heavy() -> None:
    # loaded in every pytest session where fakemms is installed
    assert _loaded("import fakemms.pytest_plugin") == []


def test_a_config_less_app_loads_neither_yaml_nor_jsonschema_nor_faker() -> None:
    loaded = _loaded("from fakemms.app import create_app\ncreate_app({})")
    assert "flask" in loaded
    assert not {"yaml", "jsonschema", "faker", "PIL", "hypothesis"} & set(loaded)


@pytest.mark.parametrize("schema", [SCHEMA, ACCOUNT_SCHEMA, SCENARIO_SCHEMA],
                         ids=["config", "account", "scenario"])
def test_the_empty_mapping_shortcut_agrees_with_jsonschema(schema: dict) -> None:
    expected = [e.message for e in Draft202012Validator(schema).iter_errors({})]
    assert bool(schema_problems({}, schema)) == bool(expected)


def test_a_schema_requiring_a_key_still_rejects_an_empty_mapping() -> None:
    schema = {"type": "object", "required": ["name"]}
    assert schema_problems({}, schema) == ["(top level): 'name' is a required property"]
