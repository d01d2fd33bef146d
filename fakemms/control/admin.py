"""Control API: scenarios (load, add, replace, clear) and accounts (read and change limits)."""

from __future__ import annotations

from flask import Response, jsonify, request

from fakemms import errors
from fakemms.control.blueprint import backend, bp, json_body
from fakemms.scenario.loader import scenario_from_dict, scenario_from_text


def _scenarios_from_request() -> list:
    """A YAML or JSON body: one scenario, or a list of them."""
    text = request.get_data(as_text=True)
    if not text.strip():
        return []
    if (request.mimetype or "").endswith("json"):
        data = request.get_json(silent=True)
        items = data if isinstance(data, list) else [data]
        return [scenario_from_dict(d, "<request>") for d in items]
    return [scenario_from_text(text)]


@bp.get("/api/scenarios")
def list_scenarios() -> Response:
    return jsonify({"scenarios": [s.to_dict() for s in backend().engine.scenarios]})


@bp.put("/api/scenarios")
def replace_scenarios() -> Response:
    backend().set_scenarios(_scenarios_from_request())
    return list_scenarios()


@bp.post("/api/scenarios")
def add_scenario() -> tuple[Response, int]:
    for scenario in _scenarios_from_request():
        backend().add_scenario(scenario)
    return list_scenarios(), 201


@bp.delete("/api/scenarios")
def clear_scenarios() -> Response:
    backend().set_scenarios([])
    return list_scenarios()


@bp.delete("/api/scenarios/<name>")
def remove_scenario(name: str) -> Response:
    """Unload one scenario by name (MO scripts it already scheduled still run until a
    reset)."""
    be = backend()
    with be._lock:
        kept = [s for s in be.engine.scenarios if s.name != name]
        if len(kept) == len(be.engine.scenarios):
            raise errors.NotFound(f"no scenario {name!r}")
        be.engine.scenarios = kept
    return list_scenarios()


@bp.get("/api/accounts")
def list_accounts() -> Response:
    accounts = backend().store.accounts()
    return jsonify({"accounts": [a.to_dict() for a in accounts]})


@bp.get("/api/accounts/<username>")
def show_account(username: str) -> Response:
    account = backend().store.account(username)
    if account is None:
        raise errors.NotFound(f"no account {username!r}")
    return jsonify(account.to_dict())


@bp.post("/api/accounts")
def create_account() -> tuple[Response, int]:
    data = json_body()
    if backend().store.account(str(data.get("username", ""))):
        raise errors.ControlError(f"account {data['username']!r} exists; PATCH it")
    return jsonify(backend().upsert_account(data).to_dict()), 201


@bp.patch("/api/accounts/<username>")
def change_account(username: str) -> Response:
    if backend().store.account(username) is None:
        raise errors.NotFound(f"no account {username!r}")
    return jsonify(backend().upsert_account(json_body(), username).to_dict())


@bp.put("/api/accounts/<username>")
def replace_account(username: str) -> Response:
    data = {**json_body(), "username": username}
    if backend().store.account(username):
        backend().delete_account(username)
    return jsonify(backend().upsert_account(data).to_dict())


@bp.delete("/api/accounts/<username>")
def delete_account(username: str) -> Response:
    backend().delete_account(username)
    return jsonify({"deleted": username})
