"""The OpenAPI 3.1 document of the control API, built from the routes themselves.

Each view is declared with :func:`operation`: its method, path, parameters, request body and
answers. The decorator registers the Flask route and the document's operation together, and
checks every request against that same operation (query parameters and body) before the view
runs, so the document, the validation and the routes cannot drift apart. The document is the
Python client's source of truth too.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Response

from fakemms import __version__
from fakemms.control import validate
from fakemms.control.blueprint import bp
from fakemms.control.schemas import SCHEMAS, ref

PREFIX = "/_fakemms"
JSON = "application/json"


@dataclass
class Operation:
    """One method on one path: what the document says of it and what requests must be."""

    id: str
    method: str
    path: str  # OpenAPI form: /_fakemms/api/messages/{id}
    spec: dict[str, Any]
    query: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> schema
    body: dict[str, Any] | None = None  # the request body's schema
    body_types: tuple[str, ...] = ()
    body_required: bool = True
    validators: dict[str, Any] = field(default_factory=dict, repr=False)  # compiled lazily


OPERATIONS: dict[str, Operation] = {}


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema or {"type": "string"}, "description": description}


def json_answer(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


_ERRORS = {"400": "invalid parameters or body (the problems name each field)",
           "404": "not found", "409": "conflicts with the current state",
           "415": "the body's Content-Type is not one this operation accepts"}


def operation(method: str, rule: str, *, answer: dict[str, Any] | str,
              status: int = 200, answers: dict[str, Any] | None = None,
              params: list[dict[str, Any]] | tuple = (), path_params: dict[str, str] | None
              = None, body: dict[str, Any] | str | None = None,
              body_types: tuple[str, ...] = (JSON,), body_required: bool = True,
              errors: tuple[int, ...] = ()) -> Callable[[Callable[..., Any]], Callable]:
    """Declare a control-API view: ``rule`` is the Flask rule under ``/_fakemms``; the
    view's name is the operationId and its docstring the summary (first paragraph) and
    description. ``answer``: the schema (or component name, or a whole response object) of
    the ``status`` answer; ``answers``: more statuses. Query parameters come to the view as
    ``query`` (a dict, coerced to their schema's type), a body as ``body``: both validated
    already."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        path = PREFIX + re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule)
        spec = _spec(view, rule, answer, status, answers, list(params), path_params or {},
                     body, body_types, body_required, errors)
        op = Operation(
            id=view.__name__, method=method.lower(), path=path, spec=spec,
            query={p["name"]: p["schema"] for p in params if p["in"] == "query"},
            body=_schema(body) if body is not None else None, body_types=body_types,
            body_required=body_required)
        if op.id in OPERATIONS:
            raise ValueError(f"operationId {op.id} declared twice")
        OPERATIONS[op.id] = op

        @functools.wraps(view)
        def checked(**path_values: Any) -> Response | tuple[Response, int]:
            kw: dict[str, Any] = dict(path_values)
            if op.query:
                kw["query"] = validate.query_args(op)
            if op.body is not None:
                kw["body"] = validate.request_body(op)
            return view(**kw)

        bp.add_url_rule(rule, endpoint=op.id, view_func=checked, methods=[method.upper()])
        return checked

    return register


def _schema(schema: dict[str, Any] | str) -> dict[str, Any]:
    return ref(schema) if isinstance(schema, str) else schema


def _spec(view: Callable, rule: str, answer: dict[str, Any] | str, status: int,
          answers: dict[str, Any] | None, params: list[dict[str, Any]],
          path_params: dict[str, str], body: dict[str, Any] | str | None,
          body_types: tuple[str, ...], body_required: bool, errors: tuple[int, ...]
          ) -> dict[str, Any]:
    summary, _, description = (view.__doc__ or view.__name__).strip().partition("\n\n")
    spec: dict[str, Any] = {"operationId": view.__name__, "summary": " ".join(summary.split())}
    if description.strip():
        spec["description"] = " ".join(description.split())
    parameters = []
    for converter, name in re.findall(r"<(?:([^:>]+):)?([^>]+)>", rule):
        schema = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string"}
        parameters.append({"name": name, "in": "path", "required": True, "schema": schema,
                           **({"description": path_params[name]} if name in path_params
                              else {})})
    parameters += params
    if parameters:
        spec["parameters"] = parameters
    if body is not None:
        spec["requestBody"] = {"required": body_required, "content": {
            t: {"schema": _schema(body)} for t in body_types}}
    out = {str(code): _answer(schema) for code, schema in {status: answer, **(answers or {})
                                                            }.items()}
    codes = set(errors)
    if params or body is not None:
        codes.add(400)
    if "<" in rule:
        codes.add(404)
    if body is not None:
        codes.add(415)
    for code in sorted(codes):
        out[str(code)] = json_answer(ref("Error"), _ERRORS[str(code)])
    spec["responses"] = out
    return spec


def _answer(schema: dict[str, Any] | str) -> dict[str, Any]:
    """A response object: given whole (it has ``content``), or the JSON answer of a schema."""
    if isinstance(schema, dict) and "content" in schema:
        return schema
    return json_answer(_schema(schema))


def openapi_document() -> dict[str, Any]:
    import fakemms.control  # noqa: F401  (every resource module registers its operations)

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        paths.setdefault(op.path, {})[op.method] = op.spec
    return {
        "openapi": "3.1.0",
        "info": {"title": "fakemms control API", "version": __version__, "description": (
            "Errors answer JSON: {\"error\": {\"code\", \"description\", \"problems\"}}. "
            "Request bodies are validated against the schemas below; nothing is changed "
            "when a request is refused.")},
        "paths": paths,
        "components": {"schemas": SCHEMAS},
    }
