"""The message operations of ``Client``: list and read messages and their parts, inject an MO
as a handset would, and send a delivery report for an MT."""

from __future__ import annotations

import base64
import mimetypes
import os
from collections.abc import Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fakemms.client.clock import seconds
from fakemms.client.errors import UNSET, FakeMmsClientError
from fakemms.client.models import Message, MessageSummary, Report

if TYPE_CHECKING:
    import requests


class Messages:
    """``/_fakemms/api/messages`` and ``/_fakemms/api/mo``: MTs, MOs and their reports."""

    if TYPE_CHECKING:  # what the operations use of ``Client``
        account: str | None

        @property
        def username(self) -> str: ...

        def _request(self, method: str, path: str, **kw: Any) -> requests.Response: ...

        def _json(self, method: str, path: str, **kw: Any) -> Any: ...

        def _account(self, account: Any) -> str | None: ...

    def list_messages(self, *, direction: str | None = None, account: Any = UNSET,
                      number: str | None = None, status: str | None = None,
                      interface: str | None = None, limit: int | None = None
                      ) -> list[MessageSummary]:
        """Messages, newest first. ``direction`` mt|mo; ``number``: source or destination;
        ``status``: accepted, Retrieved, Expired, received...; ``interface``: openmarket,
        mm7 or legacy."""
        data = self._json("GET", "/_fakemms/api/messages", params={
            "direction": direction, "account": self._account(account), "number": number,
            "status": status, "interface": interface, "limit": limit})
        return [MessageSummary.from_dict(m) for m in data["messages"]]

    def get_message(self, message_id: str = "latest") -> Message:
        """One message (``latest``: the newest; in the client's account when it has one)."""
        if message_id == "latest" and self.account:
            newest = self.list_messages(limit=1)
            if not newest:
                raise FakeMmsClientError(f"no message in account {self.account!r} yet",
                                         status=404)
            message_id = newest[0].id
        return Message.from_dict(self._json("GET", f"/_fakemms/api/messages/{message_id}"))

    def get_part(self, message_id: str, index: int) -> bytes:
        """The raw bytes of a message's part ``index`` (0-based)."""
        return self._request("GET", f"/_fakemms/api/messages/{message_id}/parts/{index}"
                             ).content

    def inject_mo(self, destination: str = "88600", *, source: str | None = None,
                  subject: str | None = None, text: str | None = None,
                  files: Sequence[str | os.PathLike] = (),
                  parts: Sequence[Mapping[str, Any]] | None = None, account: Any = UNSET,
                  ccs: Sequence[str] | None = None, bccs: Sequence[str] | None = None,
                  mobile_operator_id: int | None = None, user_agent: str | None = None,
                  ua_prof: str | None = None, format: str | None = None, sms: bool = False
                  ) -> Message:
        """A handset sends an MO to ``destination`` (the application's short code); the fake
        stores it and sends it to the account's MO URL. Content: ``text`` (a text/plain part),
        ``files`` (their type guessed from the name), and/or ``parts`` (dicts with
        ``content_type`` and ``text``, ``base64``, ``data`` bytes or ``generate: True``).
        Nothing given: generated text. ``account``: the client's, else the server's first.
        ``format`` (http, legacy-get, legacy-post, mm7-x.y.z) instead of the account's
        ``mo.format``; ``sms``: a legacy SMS MO (type 6)."""
        body: dict[str, Any] = {
            "account": self._account(account) or self.username, "destination": destination,
            "source": source, "subject": subject, "ccs": list(ccs) if ccs else None,
            "bccs": list(bccs) if bccs else None, "mobile_operator_id": mobile_operator_id,
            "user_agent": user_agent, "ua_prof": ua_prof, "format": format,
            "type": "sms" if sms else None,
        }
        out_parts = _mo_parts(text, files, parts)
        if out_parts:
            body["parts"] = out_parts
        body = {k: v for k, v in body.items() if v is not None}
        answer = self._json("POST", "/_fakemms/api/mo", json_body=body)
        return self.get_message(str(answer["id"]))

    def send_report(self, message_id: str, status: str, *, outcome_id: int | None = None,
                    description: str | None = None, user_agent: str | None = None,
                    after: float | str | timedelta | None = None) -> Report:
        """A delivery report for an MT now (or ``after`` a duration on the fake's clock):
        Retrieved, Expired, Rejected, Deferred, ... The DLR callback follows."""
        body = {"status": status, "outcome_id": outcome_id, "description": description,
                "user_agent": user_agent, "after": None if after is None else seconds(after)}
        data = self._json("POST", f"/_fakemms/api/messages/{message_id}/reports",
                          json_body={k: v for k, v in body.items() if v is not None})
        return Report.from_dict(data, data.get("message_id"))


def _mo_parts(text: str | None, files: Sequence[str | os.PathLike],
              parts: Sequence[Mapping[str, Any]] | None) -> list[dict[str, Any]]:
    """An MO's parts for the API: the text, then the files, then the parts as given (their
    ``data`` bytes in base64)."""
    out_parts: list[dict[str, Any]] = []
    if text is not None:
        out_parts.append({"content_type": "text/plain; charset=utf-8",
                          "content_id": "text.txt", "text": text})
    for f in files:
        path = Path(f)
        ctype = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        out_parts.append({"content_type": ctype, "content_id": path.name,
                          "base64": base64.b64encode(path.read_bytes()).decode("ascii")})
    for p in parts or ():
        item = dict(p)
        if "data" in item:
            item["base64"] = base64.b64encode(bytes(item.pop("data"))).decode("ascii")
        out_parts.append(item)
    return out_parts
