"""A SendMMS request as the legacy gateway takes it, before the message is accepted: its
mms.zip, uploaded or fetched from ``url=`` within the zip caps, and its MT configuration
(provider-notes.md, docs/legacy.md)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fakemms.models import Account, Part
from fakemms.protocols.legacy import codec as legacy
from fakemms.protocols.mm7.submission import mt_config_for_vasid

if TYPE_CHECKING:
    from fakemms.remote_content import RemoteFetcher


def zip_limits(config: Mapping[str, Any]) -> dict[str, Any]:
    """``read_zip``'s caps for a legacy mms.zip, uploaded or fetched (docs/legacy.md)."""
    caps = config["content"]
    return {"max_total_bytes": config["legacy"]["max_zip_bytes"],
            "max_entries": caps["max_zip_entries"],
            "max_entry_bytes": caps["max_entry_bytes"], "max_ratio": caps["max_ratio"]}


def mt_config(account: Account, subaccount: str | None) -> str:
    """The MT configuration a SendMMS goes through: its ``subaccount`` when the account has
    one of that name, else the account's first."""
    if subaccount is not None and subaccount in account.mt_configs:
        return subaccount
    return mt_config_for_vasid(account, None)


def parts(req: legacy.SendMmsRequest, fetcher: RemoteFetcher,
          zip_limits: Mapping[str, Any]) -> list[Part]:
    """A SendMMS request's parts: its mms.zip, or the zip at its ``url=`` (fetched with the
    remote-content rules, read with ``zip_limits``: ``read_zip``'s keywords); an empty zip is
    refused."""
    parts = req.parts
    if req.url:
        fetched = fetcher.fetch(req.url)
        if not fetched.ok:
            raise legacy.InvalidParameter(f"url: {fetched.error}")
        parts = legacy.read_zip(fetched.data, **zip_limits)
    if not parts:
        raise legacy.NoMmsContent("the zip holds no files")
    return parts
