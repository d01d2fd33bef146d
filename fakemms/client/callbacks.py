"""The callback operations of ``Client``: the callbacks the fake sent (delivery reports and
MO notifications) with every attempt, and the remote-content fetches it made."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fakemms.client.errors import UNSET
from fakemms.client.models import Callback


class Callbacks:
    """``/_fakemms/api/callbacks`` and ``/_fakemms/api/fetches``: what the fake sent out."""

    if TYPE_CHECKING:  # what the operations use of ``Client``
        def _json(self, method: str, path: str, **kw: Any) -> Any: ...

        def _account(self, account: Any) -> str | None: ...

    def list_callbacks(self, *, message_id: str | None = None, kind: str | None = None,
                       state: str | None = None, account: Any = UNSET) -> list[Callback]:
        """Callbacks and their attempts, newest first. ``kind`` report|mo; ``state`` pending,
        in-flight, retrying, delivered or failed."""
        data = self._json("GET", "/_fakemms/api/callbacks", params={
            "message_id": message_id, "kind": kind, "state": state,
            "account": self._account(account)})
        return [Callback.from_dict(c) for c in data["callbacks"]]

    def get_callback(self, callback_id: str) -> Callback:
        """One callback by id, with every attempt the fake made."""
        return Callback.from_dict(self._json("GET", f"/_fakemms/api/callbacks/{callback_id}"))

    def message_callbacks(self, message_id: str) -> list[Callback]:
        """A message's callbacks (its delivery reports, or the MO notification)."""
        data = self._json("GET", f"/_fakemms/api/messages/{message_id}/callbacks")
        return [Callback.from_dict(c) for c in data["callbacks"]]

    def list_fetches(self) -> list[dict[str, Any]]:
        """Every remote-content fetch the fake made (URL, status, headers, size, cached,
        error), newest first."""
        return self._json("GET", "/_fakemms/api/fetches")["fetches"]
