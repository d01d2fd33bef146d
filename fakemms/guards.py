"""Guards shared by every interface, in CONTRACT order: IP allowlist, Basic auth, account state
(closed, daily, monthly, prepaid credit), then the TPS token bucket."""

from __future__ import annotations

import base64
import hmac
import ipaddress
from collections.abc import Iterable
from datetime import UTC, datetime
from functools import lru_cache

from fakemms.clock import Clock
from fakemms.errors import (
    AccountClosed,
    AuthenticationError,
    DailyLimitExceeded,
    IpNotAllowed,
    MonthlyLimitExceeded,
    PrepaidCreditExceeded,
    TpsExceeded,
)
from fakemms.models import Account
from fakemms.store import Store


@lru_cache(maxsize=1024)
def _network(spec: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    # Config files are checked at load, but accounts changed at run time may still carry a
    # bad entry: it matches nothing rather than turning every request into a 15000.
    try:
        return ipaddress.ip_network(spec, strict=False)
    except (ValueError, TypeError):
        return None


def ip_in(ip: str, networks: Iterable[str]) -> bool:
    try:
        addr = ipaddress.ip_address(ip.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped:
        addr = addr.ipv4_mapped
    nets = (_network(n) for n in networks)
    return any(net is not None and net.version == addr.version and addr in net for net in nets)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


class Guards:
    def __init__(self, store: Store, clock: Clock, trusted_proxies: Iterable[str] = ()) -> None:
        self.store = store
        self.clock = clock
        self.trusted_proxies = list(trusted_proxies)

    def client_ip(self, remote_addr: str | None, forwarded_for: str | None) -> str:
        """The caller's address; X-Forwarded-For counts only via a trusted proxy."""
        ip = remote_addr or ""
        if forwarded_for and self.trusted_proxies and ip_in(ip, self.trusted_proxies):
            hops = [h.strip() for h in forwarded_for.split(",") if h.strip()]
            for hop in reversed(hops):
                ip = hop
                if not ip_in(hop, self.trusted_proxies):
                    break
        return ip

    def authenticate(self, credentials: tuple[str, str] | None, ip: str) -> Account:
        """IP allowlist, then the password (constant-time). Unknown users fail as bad passwords."""
        user, password = credentials or ("", "")
        account = self.store.account(user)
        if account is not None and account.allowed_ips and not ip_in(ip, account.allowed_ips):
            raise IpNotAllowed(f"{ip} is not in the allowlist of {user}")
        expected = account.password if account is not None else "\0invalid"
        ok = hmac.compare_digest(password.encode("utf-8"), expected.encode("utf-8"))
        if account is None or not ok:
            raise AuthenticationError()
        return account

    def admit(self, account: Account) -> None:
        """Account state and TPS; reserves one message of each limit (``release`` gives it back)."""
        if account.closed:
            raise AccountClosed()
        now = self.clock.now()
        day, month = _periods(now)
        with self.store.lock:
            usage = self.store.usage.setdefault(account.username, {})
            if account.max_per_day is not None and usage.get(day, 0) >= account.max_per_day:
                raise DailyLimitExceeded()
            if account.max_per_month is not None and usage.get(month, 0) >= account.max_per_month:
                raise MonthlyLimitExceeded()
            used = self.store.credit_used.get(account.username, 0)
            if account.prepaid_credit is not None and used >= account.prepaid_credit:
                raise PrepaidCreditExceeded()
            self._take_token(account, now)
            usage[day] = usage.get(day, 0) + 1
            usage[month] = usage.get(month, 0) + 1
            self.store.credit_used[account.username] = used + 1

    def release(self, account: Account) -> None:
        """Give back what ``admit`` reserved: the request was refused after all."""
        day, month = _periods(self.clock.now())
        with self.store.lock:
            usage = self.store.usage.setdefault(account.username, {})
            for key in (day, month):
                if usage.get(key, 0) > 0:
                    usage[key] -= 1
            used = self.store.credit_used.get(account.username, 0)
            if used > 0:
                self.store.credit_used[account.username] = used - 1

    def _take_token(self, account: Account, now: float) -> None:
        """Token bucket: capacity max(tps, 1), refilled at tps tokens a second of clock time."""
        if account.tps is None:
            return
        rate = float(account.tps)
        capacity = max(rate, 1.0)
        tokens, stamp = self.store.buckets.get(account.username, (capacity, now))
        tokens = min(capacity, tokens + max(0.0, now - stamp) * rate)
        # A virtual clock near 1.7e9 s moves in steps of ~2.4e-7 s, so advancing by exactly
        # 1/tps may refill 0.9999998 tokens; a microsecond of refill is close enough to whole.
        if tokens < 1.0 - rate * 1e-6:
            self.store.buckets[account.username] = (tokens, now)
            raise TpsExceeded()
        self.store.buckets[account.username] = (tokens - 1.0, now)


def _periods(now: float) -> tuple[str, str]:
    d = datetime.fromtimestamp(now, UTC)
    return f"day:{d:%Y-%m-%d}", f"month:{d:%Y-%m}"
