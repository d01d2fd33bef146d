"""Control API: accounts and their limits at run time (as in the configuration file)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from fakemms import errors
from fakemms.backend import backend
from fakemms.config import account_problems
from fakemms.control.openapi import operation, query
from fakemms.control.operation import JSON
from fakemms.control.validate import refuse
from fakemms.models import Account

# Passwords (the account's and its callback credentials) answer masked unless asked for;
# with an admin token set, only a request carrying it gets this far (control/auth.py).
REVEAL = query("reveal", "`passwords`: show the account's passwords and callback "
               "credentials (masked as ******** otherwise)", enum=["passwords"])


def shown(account: Account, query: dict[str, Any]) -> dict[str, Any]:
    return account.to_dict(secrets=query.get("reveal") == "passwords")

MERGE_PATCH = "application/merge-patch+json"


class Conflict(errors.ControlError):
    http_status = 409
    description = "Conflict"


def _existing(username: str) -> Account:
    account = backend().store.account(username)
    if account is None:
        raise errors.NotFound(f"no account {username!r}")
    return account


def _same_username(body: dict[str, Any], username: str) -> None:
    given = body.get("username", username)
    if given != username:
        raise refuse(f"username: {given!r} differs from the path's {username!r} (delete the "
                     f"account and create one to rename it)")


@operation("GET", "/api/accounts", answer="AccountList", params=[REVEAL])
def list_accounts(query: dict[str, Any]) -> Response:
    """Accounts and their limits (passwords masked unless `?reveal=passwords`)"""
    return jsonify({"accounts": [shown(a, query) for a in backend().store.accounts()]})


@operation("GET", "/api/accounts/<username>", answer="Account", params=[REVEAL])
def get_account(username: str, query: dict[str, Any]) -> Response:
    """One account (passwords masked unless `?reveal=passwords`)"""
    return jsonify(shown(_existing(username), query))


@operation("POST", "/api/accounts", body="AccountSettings", answer="Account", status=201,
           errors=(409,), params=[REVEAL])
def create_account(body: dict[str, Any], query: dict[str, Any]) -> tuple[Response, int]:
    """Create an account

    409 when the username is taken (PATCH or PUT it instead).
    """
    if backend().store.account(body["username"]):
        raise Conflict(f"account {body['username']!r} exists; PATCH or PUT it")
    return jsonify(shown(backend().accounts.upsert(body), query)), 201


@operation("PATCH", "/api/accounts/<username>", body="AccountPatchIn", answer="Account",
           body_types=(MERGE_PATCH, JSON), params=[REVEAL])
def update_account(username: str, body: dict[str, Any], query: dict[str, Any]) -> Response:
    """Change some settings: a JSON Merge Patch (RFC 7396)

    Nested objects merge (`{"mo": {"url": ...}}` keeps the MO credentials; `{"mt_configs":
    {"cfg2": {...}}}` adds a configuration), null removes a setting (`{"tps": null}`: no
    limit; `{"mt_configs": {"cfg2": null}}`: that configuration). The result must be a valid
    account; nothing changes otherwise.
    """
    _same_username(body, username)
    _existing(username)
    return jsonify(shown(backend().accounts.upsert(body, username), query))


@operation("PUT", "/api/accounts/<username>", body="AccountReplaceIn", answer="Account",
           params=[REVEAL])
def replace_account(username: str, body: dict[str, Any], query: dict[str, Any]) -> Response:
    """Replace an account, or create it

    An existing account is deleted first, with its messages, callbacks and pending jobs.
    """
    _same_username(body, username)
    data = {**body, "username": username}
    problems = account_problems(data)
    if problems:
        raise refuse(*problems)  # before anything is deleted
    if backend().store.account(username):
        backend().accounts.delete(username)
    return jsonify(shown(backend().accounts.upsert(data), query))


@operation("DELETE", "/api/accounts/<username>", answer="AccountDeleted")
def delete_account(username: str) -> Response:
    """Remove an account, its messages, callbacks and pending jobs"""
    backend().accounts.delete(username)
    return jsonify({"deleted": username})
