"""The OpenAPI document describes every control route (it is the Python client's truth)."""

from __future__ import annotations

import re


def test_every_control_route_is_in_the_openapi_document(fake):
    doc = fake.get("/_fakemms/api/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    routes = set()
    for rule in fake.app.url_map.iter_rules():
        if not rule.rule.startswith("/_fakemms") or rule.endpoint.startswith("ui."):
            continue  # the web UI's pages are not API operations
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        path = path.replace("{message_id}", "{id}").replace("{index}", "{n}")
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((path, method))
    assert routes - documented == set()
    assert documented - routes == set()
    op_ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(op_ids) == len(set(op_ids))
