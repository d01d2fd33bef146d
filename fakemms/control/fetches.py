"""Control API: the remote-content fetches the fake made for MTs that link their content."""

from __future__ import annotations

from flask import Response, jsonify

from fakemms.backend import backend
from fakemms.control.openapi import operation


@operation("GET", "/api/fetches", answer="FetchList")
def list_fetches() -> Response:
    """Every remote-content fetch (URL, status, headers, size, cached, error), newest first"""
    fetches = backend().store.fetch_dicts()
    return jsonify({"count": len(fetches), "fetches": fetches})
