"""The account operations of ``Client``: list, read, create, change, replace and delete the
fake's accounts, and point an account's callbacks at the application."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fakemms.client.errors import UNSET
from fakemms.client.models import Account


class Accounts:
    """``/_fakemms/api/accounts``: each account's MT configurations, MO settings and limits."""

    if TYPE_CHECKING:  # what the operations use of ``Client``
        @property
        def username(self) -> str: ...

        def _json(self, method: str, path: str, **kw: Any) -> Any: ...

        def _account(self, account: Any) -> str | None: ...

    def list_accounts(self, *, reveal_passwords: bool = False) -> list[Account]:
        """Every account with its MT configurations, MO settings and limits (passwords
        masked as ``********`` unless ``reveal_passwords``)."""
        return [Account.from_dict(a) for a in self._json(
            "GET", "/_fakemms/api/accounts", params=reveal(reveal_passwords))["accounts"]]

    def get_account(self, username: str, *, reveal_passwords: bool = False) -> Account:
        """One account with its MT configurations, MO settings and limits (passwords
        masked as ``********`` unless ``reveal_passwords``)."""
        return Account.from_dict(self._json("GET", f"/_fakemms/api/accounts/{username}",
                                            params=reveal(reveal_passwords)))

    def create_account(self, account: Mapping[str, Any] | Account | None = None,
                       **settings: Any) -> Account:
        """Create an account (``username`` and ``password`` required; the rest as in the
        configuration file: ``mt_configs``, ``mo``, ``tps``, limits...)."""
        data = account.to_dict() if isinstance(account, Account) else dict(account or {})
        data.update(settings)
        return Account.from_dict(self._json("POST", "/_fakemms/api/accounts", json_body=data))

    def update_account(self, username: str, **changes: Any) -> Account:
        """Change some settings: a JSON Merge Patch (RFC 7396): nested objects merge
        (``mo={"url": ...}`` keeps the MO credentials), ``None`` removes a setting."""
        return Account.from_dict(self._json("PATCH", f"/_fakemms/api/accounts/{username}",
                                             json_body=changes))

    def replace_account(self, username: str, account: Mapping[str, Any] | Account) -> Account:
        """Replace an account whole (created when missing)."""
        data = account.to_dict() if isinstance(account, Account) else dict(account)
        return Account.from_dict(self._json("PUT", f"/_fakemms/api/accounts/{username}",
                                            json_body=data))

    def delete_account(self, username: str) -> None:
        """Delete an account: the fake forgets its pending reports, MOs and retries."""
        self._json("DELETE", f"/_fakemms/api/accounts/{username}")

    def configure_callbacks(self, *, dlr_url: Any = UNSET, mo_url: Any = UNSET,
                            dlr_protocol: str | None = None, mo_format: str | None = None,
                            mt_config: str | None = None, account: Any = UNSET) -> Account:
        """Point an account's delivery reports (every MT configuration, or ``mt_config``)
        and MOs at the application (or at the ``mms_app_receiver`` fixture)."""
        username = self._account(account) or self.username
        current = self.get_account(username, reveal_passwords=True)  # patched back whole
        changes: dict[str, Any] = {}
        if dlr_url is not UNSET or dlr_protocol:
            configs = {k: dict(v) for k, v in current.mt_configs.items()}
            if mt_config and mt_config not in configs:
                configs[mt_config] = {}
            for name, cfg in configs.items():
                if mt_config and name != mt_config:
                    continue
                if dlr_url is not UNSET:
                    cfg["dlr_url"] = dlr_url
                if dlr_protocol:
                    cfg["dlr_protocol"] = dlr_protocol
            changes["mt_configs"] = configs
        if mo_url is not UNSET or mo_format:
            mo = dict(current.mo or {})
            if mo_url is not UNSET:
                mo["url"] = mo_url
            if mo_format:
                mo["format"] = mo_format
            changes["mo"] = mo
        return self.update_account(username, **changes) if changes else current


def reveal(passwords: bool) -> dict[str, str] | None:
    """The query that asks for passwords unmasked (None: masked, the default)."""
    return {"reveal": "passwords"} if passwords else None
