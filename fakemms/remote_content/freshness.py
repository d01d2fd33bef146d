"""Freshness of fetched remote content, as a shared cache judges it (RFC 9111): the rules,
with no I/O (openmarket-mms-send.txt, "Content Caching": the provider heeds Cache-Control
and Expires). The choices where the document is silent are listed in ``fetch.py``."""

from __future__ import annotations

from email.utils import parsedate_to_datetime


def lifetime(headers: dict[str, str], fetched_at: float, default_ttl: float) -> float | None:
    """Seconds the answer with these headers stays fresh; None when it must not be
    reused (no-store, no-cache, or already stale)."""
    h = {k.lower(): v for k, v in headers.items()}
    directives = parse_cache_control(h.get("cache-control", ""))
    if "no-store" in directives or "no-cache" in directives:
        return None
    if "cache-control" not in h and "no-cache" in h.get("pragma", "").lower():
        return None
    seconds: float | None = None
    for name in ("s-maxage", "max-age"):  # s-maxage first: the provider is a shared cache
        if name in directives:
            value = directives[name] or ""
            seconds = float(value) if value.isdigit() else 0.0
            break
    if seconds is None and "expires" in h:
        expires = _http_date(h["expires"])
        date = _http_date(h.get("date", ""))
        if expires is None:
            seconds = 0.0  # an invalid Expires (e.g. "0") means already expired
        else:
            seconds = expires - (date if date is not None else fetched_at)
    if seconds is None:
        seconds = default_ttl
    age = h.get("age", "").strip()
    seconds -= float(age) if age.isdigit() else 0.0
    return seconds if seconds > 0 else None


def parse_cache_control(value: str) -> dict[str, str | None]:
    """``max-age=60, no-cache`` -> {"max-age": "60", "no-cache": None}; names lower case."""
    out: dict[str, str | None] = {}
    for item in value.split(","):
        name, sep, arg = item.strip().partition("=")
        name = name.strip().lower()
        if name:
            out.setdefault(name, arg.strip().strip('"') if sep else None)
    return out


def _http_date(value: str) -> float | None:
    try:
        return parsedate_to_datetime(value.strip()).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
