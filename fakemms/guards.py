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
        refused = self.store.quotas.reserve(
            account.username, _periods(now), max_per_day=account.max_per_day,
            max_per_month=account.max_per_month, prepaid_credit=account.prepaid_credit,
            tps=None if account.tps is None else float(account.tps), now=now)
        if refused == "tps":
            limit = f"tps {account.tps:g}/s for account {account.username}"
            if self.clock.paused:
                limit += "; the clock is paused (virtual): tokens refill only when it advances"
            raise TpsExceeded(limit)
        if refused is not None:  # the detail is MM7's Details: 4007 alone does not say which
            raise _REFUSALS[refused](_limit_detail(refused, account))

    def release(self, account: Account) -> None:
        """Give back what ``admit`` reserved: the request was refused after all."""
        self.store.quotas.release(account.username, _periods(self.clock.now()))


_REFUSALS = {"day": DailyLimitExceeded, "month": MonthlyLimitExceeded,
             "credit": PrepaidCreditExceeded}


def _limit_detail(refused: str, account: Account) -> str:
    limit = {"day": f"max_per_day {account.max_per_day}",
             "month": f"max_per_month {account.max_per_month}",
             "credit": f"prepaid_credit {account.prepaid_credit}"}[refused]
    return f"{limit} for account {account.username}"


def _periods(now: float) -> tuple[str, str]:
    return _periods_of_day(int(now // 86400))


@lru_cache(maxsize=64)
def _periods_of_day(day: int) -> tuple[str, str]:
    # one datetime per UTC day, not per message (a send asks for it on the hot path)
    d = datetime.fromtimestamp(day * 86400, UTC)
    return f"day:{d:%Y-%m-%d}", f"month:{d:%Y-%m}"
