"""One operation of the control API: what requests must be, and what the OpenAPI document
says of it (``openapi.operation`` declares them, ``validate`` checks requests against them)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fakemms.control.schemas import ref

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


def json_answer(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def schema_of(schema: dict[str, Any] | str) -> dict[str, Any]:
    return ref(schema) if isinstance(schema, str) else schema


def _error(status: int) -> dict[str, Any]:
    return json_answer(ref("Error"), _ERRORS[status])


def _answer(schema: dict[str, Any] | str) -> dict[str, Any]:
    """A response object: given whole (it has ``content``), or the JSON answer of a schema."""
    if isinstance(schema, dict) and "content" in schema:
        return schema
    return json_answer(schema_of(schema))
