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


_ERRORS = {400: "invalid parameters or body (the problems name each field)",
           401: "the admin token is missing or wrong (only when one is configured)",
           404: "not found", 409: "conflicts with the current state",
           415: "the body's Content-Type is not one this operation accepts"}
_PATH_PARAM = re.compile(r"<(?:([^:>]+):)?([^>]+)>")


@dataclass
class Operation:
    """One method on one path: what requests must be, and what the document says of it."""

    id: str  # the view's name
    method: str
    rule: str  # the Flask rule under /_fakemms: /api/messages/<id>
    doc: str  # the view's docstring: summary, blank line, description
    answers: dict[int, dict[str, Any] | str]  # status -> schema, name or response object
    params: list[dict[str, Any]] = field(default_factory=list)  # query parameters
    path_params: dict[str, str] = field(default_factory=dict)  # name -> description
    body: dict[str, Any] | None = None  # the request body's schema
    body_types: tuple[str, ...] = (JSON,)
    body_required: bool = True
    errors: tuple[int, ...] = ()  # error statuses beside those the shape implies
    validators: dict[str, Any] = field(default_factory=dict, repr=False)  # compiled lazily

    @property
    def path(self) -> str:
        """The document's path: /_fakemms/api/messages/{id}."""
        return PREFIX + _PATH_PARAM.sub(r"{\2}", self.rule)

    @property
    def query(self) -> dict[str, dict[str, Any]]:
        return {p["name"]: p["schema"] for p in self.params}

    def spec(self) -> dict[str, Any]:
        """The operation object of the OpenAPI document."""
        summary, _, description = self.doc.strip().partition("\n\n")
        out: dict[str, Any] = {"operationId": self.id, "summary": " ".join(summary.split())}
        if description.strip():
            out["description"] = " ".join(description.split())
        parameters = [{"name": name, "in": "path", "required": True,
                       "schema": {"type": "integer", "minimum": 0} if converter == "int"
                       else {"type": "string"},
                       **({"description": self.path_params[name]}
                          if name in self.path_params else {})}
                      for converter, name in _PATH_PARAM.findall(self.rule)]
        if parameters + self.params:
            out["parameters"] = parameters + self.params
        if self.body is not None:
            out["requestBody"] = {"required": self.body_required, "content": {
                t: {"schema": self.body} for t in self.body_types}}
        codes = set(self.errors)
        if self.rule.startswith("/api"):
            codes.add(401)  # with an admin token configured (control/auth.py)
        else:
            out["security"] = []  # health stays open
        codes |= {400} if self.params or self.body is not None else set()
        codes |= {404} if parameters else set()
        codes |= {415} if self.body is not None else set()
        out["responses"] = {str(code): _answer(schema) for code, schema in
                            {**self.answers, **{c: _error(c) for c in codes}}.items()}
        return out


OPERATIONS: dict[str, Operation] = {}


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema or {"type": "string"}, "description": description}


def json_answer(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def operation(method: str, rule: str, *, answer: dict[str, Any] | str, status: int = 200,
              answers: dict[int, Any] | None = None, body: dict[str, Any] | str | None = None,
              **more: Any) -> Callable[[Callable[..., Any]], Callable]:
    """Declare a control-API view: ``rule`` is the Flask rule under ``/_fakemms``; the
    view's name is the operationId and its docstring the summary (first paragraph) and
    description. ``answer``: the schema (or component name, or a whole response object) of
    the ``status`` answer; ``answers``: more statuses; ``more``: the other fields of
    :class:`Operation`. Query parameters come to the view as ``query`` (a dict, coerced to
    their schema's type), a body as ``body``: both validated already."""

    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        op = Operation(id=view.__name__, method=method.lower(), rule=rule,
                       doc=view.__doc__ or view.__name__,
                       answers={status: answer, **(answers or {})},
                       body=None if body is None else _schema(body), **more)
        if op.id in OPERATIONS:
            raise ValueError(f"operationId {op.id} declared twice")
        OPERATIONS[op.id] = op

        @functools.wraps(view)
        def checked(**path_values: Any) -> Response | tuple[Response, int]:
            kw: dict[str, Any] = dict(path_values)
            if op.params:
                kw["query"] = validate.query_args(op)
            if op.body is not None:
                kw["body"] = validate.request_body(op)
            return view(**kw)

        bp.add_url_rule(rule, endpoint=op.id, view_func=checked, methods=[method.upper()])
        return checked

    return register


def _schema(schema: dict[str, Any] | str) -> dict[str, Any]:
    return ref(schema) if isinstance(schema, str) else schema


def _error(status: int) -> dict[str, Any]:
    return json_answer(ref("Error"), _ERRORS[status])


def _answer(schema: dict[str, Any] | str) -> dict[str, Any]:
    """A response object: given whole (it has ``content``), or the JSON answer of a schema."""
    if isinstance(schema, dict) and "content" in schema:
        return schema
    return json_answer(_schema(schema))


def openapi_document() -> dict[str, Any]:
    import fakemms.control  # noqa: F401  (every resource module registers its operations)

    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS.values():
        paths.setdefault(op.path, {})[op.method] = op.spec()
    return {
        "openapi": "3.1.0",
        "info": {"title": "fakemms control API", "version": __version__, "description": (
            "Errors answer JSON: {\"error\": {\"code\", \"description\", \"problems\"}}. "
            "Request bodies are validated against the schemas below; nothing is changed "
            "when a request is refused.")},
        "paths": paths,
        # either: a Bearer token is needed only when the fake has one configured
        "security": [{"adminToken": []}, {}],
        "components": {"schemas": SCHEMAS, "securitySchemes": {"adminToken": {
            "type": "http", "scheme": "bearer", "description": (
                "Applies only when the fake is started with an admin token "
                "(FAKEMMS_ADMIN_TOKEN or admin_token): then every /_fakemms/api operation "
                "needs Authorization: Bearer TOKEN and answers 401 without it or with a "
                "wrong one. Without a token the API is open.")}}},
    }
