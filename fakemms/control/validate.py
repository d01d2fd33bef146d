"""Requests checked against the OpenAPI document's own schemas before a view runs.

A refusal is a ConfigError whose problems name each field (``parts[0].content_type: ...``
for the body, ``?limit: ...`` for a query parameter); the blueprint renders it as a 400 JSON
error, and the view, which would change state, never runs. Validators are compiled once, on
first use.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from flask import request
from werkzeug.exceptions import UnsupportedMediaType

from fakemms import nesting
from fakemms.config import format_error
from fakemms.control.schemas import MAX_SECONDS, SCHEMAS
from fakemms.errors import ConfigError
from fakemms.scenario import parse_duration

if TYPE_CHECKING:
    from jsonschema import Draft202012Validator

    from fakemms.control.operation import Operation

_INTEGER = re.compile(r"^[+-]?\d+$")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml")
# PyYAML parses in pure Python (~1 s a MiB): a scenario is a few KiB, so a YAML body past this
# is refused before it can hold a worker thread for a minute (JSON has the C parser)
MAX_YAML_BYTES = 1024 * 1024


def _validator(op: Operation, key: str, schema: dict[str, Any]) -> Draft202012Validator:
    """The operation's validator for its body or one parameter, compiled on first use."""
    validator = op.validators.get(key)
    if validator is None:  # two threads may both compile it: harmless
        from jsonschema import Draft202012Validator  # slow to import: first request pays

        validator = Draft202012Validator({**schema, "components": {"schemas": SCHEMAS}})
        op.validators[key] = validator
    return validator


def _errors(validator: Draft202012Validator, data: Any) -> list[Any]:
    return sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])


def refuse(*found: str) -> ConfigError:
    return ConfigError("request", list(found))


def query_args(op: Operation) -> dict[str, Any]:
    """The operation's query parameters, integers as int; unknown parameters are ignored."""
    args: dict[str, Any] = {}
    found: list[str] = []
    for name, schema in op.query.items():
        if name not in request.args:
            continue
        value: Any = request.args[name]
        if schema.get("type") == "integer" and _INTEGER.match(value):
            value = int(value)
        found += [f"?{name}: {e.message}"
                  for e in _errors(_validator(op, "?" + name, schema), value)]
        args[name] = value
    if found:
        raise refuse(*found)
    return args


def request_body(op: Operation) -> Any:
    """The body, parsed by its Content-Type (JSON, or YAML where the operation takes it) and
    valid under the operation's schema. An empty body is an empty object (or, when the body
    is optional, None)."""
    raw = request.get_data()
    mimetype = (request.mimetype or "").lower()
    if not raw.strip():
        if not op.body_required:
            return None
        data: Any = {}
    elif _is_json(mimetype) and any(_is_json(t) for t in op.body_types):
        if mimetype not in op.body_types and mimetype != "application/json":
            raise _unsupported(op)
        data = _json(raw)
    elif any(t in _YAML_TYPES for t in op.body_types):
        data = _yaml(raw)  # YAML (a superset of JSON) whatever else the body says it is
    else:
        raise _unsupported(op)
    assert op.body is not None
    found = _errors(_validator(op, "body", op.body), data)
    if found:
        raise refuse(*[format_error(e) for e in found])
    return data


def _is_json(mimetype: str) -> bool:
    return mimetype == "application/json" or mimetype.endswith("+json")


def _unsupported(op: Operation) -> UnsupportedMediaType:
    return UnsupportedMediaType(f"send the body as {' or '.join(op.body_types)} (with that "
                                f"Content-Type)")


def _json(raw: bytes) -> Any:
    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(raw, parse_constant=no_constant)
    except RecursionError:
        raise refuse(_TOO_DEEP) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise refuse(f"(top level): invalid JSON: {exc}") from None
    return _bounded(value)


_TOO_DEEP = f"(top level): nested more than {nesting.MAX_DEPTH} levels deep"


def _bounded(value: Any) -> Any:
    found = nesting.problem(value)
    if found:
        raise refuse(f"(top level): {found}")
    return value


def _yaml(raw: bytes) -> Any:
    if len(raw) > MAX_YAML_BYTES:
        raise refuse(f"(top level): a YAML body of {len(raw)} bytes, over {MAX_YAML_BYTES}; "
                     f"send it as JSON (application/json)")
    import yaml  # loaded on first YAML body

    try:
        value = yaml.safe_load(raw)
    except RecursionError:
        raise refuse(_TOO_DEEP) from None
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or exc
        raise refuse(f"(top level): invalid YAML: {problem}") from None
    return _bounded(value)


def duration(value: Any, field: str) -> float:
    """Seconds from a body's duration (already valid under the Duration schema, which
    bounds numbers; strings are bounded here)."""
    try:
        seconds = parse_duration(value)
    except ValueError as exc:
        raise refuse(f"{field}: {exc}") from None
    if seconds > MAX_SECONDS:
        raise refuse(f"{field}: {value!r} is longer than 10 years")
    return seconds
