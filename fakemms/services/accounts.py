"""Accounts changed at run time, validated as the config file's are; deleting one forgets
what is pending for it."""

from __future__ import annotations

from typing import Any

from fakemms import errors
from fakemms.config import ACCOUNT_SCHEMA, account_from_dict, account_problems, validate
from fakemms.errors import ConfigError
from fakemms.models import Account
from fakemms.services.core import Core


class AccountService:
    def __init__(self, core: Core) -> None:
        self.core = core

    def upsert(self, data: dict[str, Any], username: str | None = None) -> Account:
        """Create or change an account at run time (validated like the config file). ``data``
        is a JSON Merge Patch (RFC 7396) of the current account: nested objects merge, null
        removes a setting (back to its default)."""
        store = self.core.store
        current = store.account(username) if username else None
        merged = merge_patch(current.to_dict() if current else {}, data)
        if username:
            merged["username"] = username
        validate(merged, ACCOUNT_SCHEMA, "account")
        problems = account_problems(merged)
        if problems:
            raise ConfigError("account", problems)
        account = account_from_dict(merged)
        store.put_account(account)
        return account

    def delete(self, username: str) -> None:
        """Forget an account: its messages, callbacks and every pending report, MO, retry
        and job; attempts under way for it are fenced (neither retried nor recorded)."""
        core = self.core
        gone = core.store.remove_account(username)
        if gone is None:
            raise errors.NotFound(f"no account {username!r}")
        core.scheduler.cancel_account(username)
        core.scheduler.cancel_keys(gone, dropped=False)
        core.dispatcher.drop_cancelled()


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``target``."""
    if not isinstance(patch, dict):
        return patch
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = merge_patch(out.get(key), value)
    return out
