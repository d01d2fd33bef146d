"""The OpenAPI 3.1 document of the control API, built from the routes themselves.

Each view is declared with :func:`operation`: its method, path, parameters, request body and
answers. The decorator registers the Flask route and the document's operation together, and
checks every request against that same operation (query parameters and body) before the view
runs, so the document, the validation and the routes cannot drift apart. The document is the
Python client's source of truth too.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from flask import Response

from fakemms.control import validate
from fakemms.control.blueprint import bp
from fakemms.control.operation import Operation, schema_of
from fakemms.control.schemas import SCHEMAS
from fakemms.version import __version__

OPERATIONS: dict[str, Operation] = {}


def query(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False,
            "schema": schema or {"type": "string"}, "description": description}


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
                       body=None if body is None else schema_of(body), **more)
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


def openapi_document() -> dict[str, Any]:
    """The document of every operation registered (``fakemms.control`` imports them all)."""
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
