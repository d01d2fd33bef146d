"""Guards without a server: IP allowlist (IPv4, IPv6), Basic auth, limits, TPS bucket."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest

from fakemms import errors
from fakemms.clock import Clock
from fakemms.guards import Guards, ip_in, parse_basic
from fakemms.models import Account
from fakemms.store import Store

# 2030-01-31 23:59:59 UTC: one second before both a new day and a new month
END_OF_JANUARY = datetime(2030, 1, 31, 23, 59, 59, tzinfo=UTC).timestamp()


def make(start: float = END_OF_JANUARY, trusted: list[str] | None = None, **account):
    clock = Clock("virtual", start=start)
    store = Store()
    acc = Account(username="acme", password="s3cret", **account)
    store.set_accounts([acc])
    return Guards(store, clock, trusted or []), acc, clock


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


# --- IP allowlist ----------------------------------------------------------------------------
@pytest.mark.parametrize("ip, networks, expected", [
    ("127.0.0.1", ["127.0.0.0/8"], True),
    ("127.0.0.1", ["10.0.0.0/8"], False),
    ("10.1.2.3", ["192.168.0.0/16", "10.0.0.0/8"], True),
    ("203.0.113.9", ["203.0.113.9"], True),
    ("203.0.113.10", ["203.0.113.9/32"], False),
    ("::1", ["::1/128"], True),
    ("::1", ["127.0.0.0/8"], False),
    ("2001:db8::42", ["2001:db8::/32"], True),
    ("2001:db9::42", ["2001:db8::/32"], False),
    ("2001:DB8:0:0:0:0:0:1", ["2001:db8::1"], True),
    ("fe80::1%eth0", ["fe80::/10"], True),
    ("::ffff:127.0.0.1", ["127.0.0.0/8"], True),  # IPv4-mapped, as dual-stack sockets report
    ("::ffff:10.0.0.1", ["127.0.0.0/8"], False),
    ("127.0.0.1", ["127.0.0.1/8"], True),  # host bits set: accepted (strict=False)
    ("not-an-ip", ["0.0.0.0/0"], False),
    ("", ["0.0.0.0/0", "::/0"], False),
    ("8.8.8.8", [], False),
    ("127.0.0.1", ["bogus", "127.0.0.0/8"], True),  # a bad entry matches nothing...
    ("127.0.0.1", ["bogus", "10.0.0.0/33"], False),  # ...and never raises (no 15000)
])
def test_ip_in(ip, networks, expected):
    assert ip_in(ip, networks) is expected


def test_allowlist_refuses_other_addresses_before_checking_the_password():
    guards, _, _ = make(allowed_ips=["10.0.0.0/8", "2001:db8::/32"])
    with pytest.raises(errors.IpNotAllowed) as info:
        guards.authenticate(("acme", "wrong"), "127.0.0.1")
    assert info.value.code == 15300 and info.value.http_status == 403
    assert guards.authenticate(("acme", "s3cret"), "10.9.9.9").username == "acme"
    assert guards.authenticate(("acme", "s3cret"), "2001:db8::7").username == "acme"
    with pytest.raises(errors.AuthenticationError):
        guards.authenticate(("acme", "wrong"), "10.9.9.9")


def test_empty_allowlist_means_any_address():
    guards, _, _ = make(allowed_ips=[])
    assert guards.authenticate(("acme", "s3cret"), "198.51.100.1").username == "acme"


def test_unknown_user_is_an_authentication_error_even_from_anywhere():
    guards, _, _ = make(allowed_ips=["10.0.0.0/8"])
    with pytest.raises(errors.AuthenticationError) as info:
        guards.authenticate(("nobody", "s3cret"), "127.0.0.1")
    assert info.value.code == 15206
    with pytest.raises(errors.AuthenticationError):
        guards.authenticate(None, "10.0.0.1")


@pytest.mark.parametrize("password", ["S3cret", "s3cret ", "", "s3cre", "s3cret\0"])
def test_passwords_are_exact_and_case_sensitive(password):
    guards, _, _ = make()
    with pytest.raises(errors.AuthenticationError):
        guards.authenticate(("acme", password), "127.0.0.1")


# --- X-Forwarded-For ---------------------------------------------------------------------------
def test_forwarded_for_is_ignored_without_trusted_proxies():
    guards, _, _ = make()
    assert guards.client_ip("127.0.0.1", "203.0.113.5") == "127.0.0.1"


def test_forwarded_for_is_ignored_from_an_untrusted_peer():
    guards, _, _ = make(trusted=["10.0.0.0/8"])
    assert guards.client_ip("127.0.0.1", "203.0.113.5") == "127.0.0.1"


def test_forwarded_for_is_honoured_from_a_trusted_peer():
    guards, _, _ = make(trusted=["127.0.0.1", "10.0.0.0/8", "fd00::/8"])
    assert guards.client_ip("127.0.0.1", "203.0.113.5") == "203.0.113.5"
    # the rightmost address that is not a trusted proxy: a client cannot spoof by prepending
    assert guards.client_ip("127.0.0.1", "6.6.6.6, 203.0.113.5, 10.0.0.2") == "203.0.113.5"
    assert guards.client_ip("127.0.0.1", "2001:db8::5, fd00::1") == "2001:db8::5"
    assert guards.client_ip("127.0.0.1", " , ") == "127.0.0.1"
    assert guards.client_ip("127.0.0.1", None) == "127.0.0.1"


# --- Basic auth header ---------------------------------------------------------------------------
def test_parse_basic():
    assert parse_basic(basic("acme", "s3cret")) == ("acme", "s3cret")
    assert parse_basic(basic("acme", "pa:ss")) == ("acme", "pa:ss")
    assert parse_basic("basic " + base64.b64encode(b"u:p").decode()) == ("u", "p")
    # the document's example header
    assert parse_basic("Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ== ") == ("Aladdin", "open sesame")
    assert parse_basic(basic("Ünïcode", "pässword")) == ("Ünïcode", "pässword")


@pytest.mark.parametrize("header", [
    None, "", "Basic", "Basic ", "Bearer abc", "Basic !!!not-base64",
    "Basic " + base64.b64encode(b"no-colon").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    "Basic Ã©Ã©",
])
def test_parse_basic_rejects(header):
    assert parse_basic(header) is None


# --- account state -------------------------------------------------------------------------------
def test_closed_account():
    guards, acc, _ = make(closed=True)
    with pytest.raises(errors.AccountClosed) as info:
        guards.admit(acc)
    assert info.value.code == 15305


def test_daily_limit_resets_at_utc_midnight_but_monthly_counts_on():
    guards, acc, clock = make(max_per_day=2, max_per_month=3)
    guards.admit(acc)
    guards.admit(acc)
    with pytest.raises(errors.DailyLimitExceeded) as info:
        guards.admit(acc)
    assert info.value.code == 15301
    clock.advance(0.5)  # still 23:59:59.5 on January 31st
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)
    clock.advance(0.5)  # February 1st, 00:00:00: a new day and a new month
    guards.admit(acc)
    guards.admit(acc)
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)


def test_monthly_limit():
    start = datetime(2030, 3, 10, 12, tzinfo=UTC).timestamp()
    guards, acc, clock = make(start=start, max_per_month=2)
    guards.admit(acc)
    clock.advance(86400)
    guards.admit(acc)
    clock.advance(86400)
    with pytest.raises(errors.MonthlyLimitExceeded) as info:
        guards.admit(acc)
    assert info.value.code == 15302
    clock.advance(86400 * 25)  # April 4th
    guards.admit(acc)


def test_prepaid_credit_never_refills():
    guards, acc, clock = make(prepaid_credit=1)
    guards.admit(acc)
    with pytest.raises(errors.PrepaidCreditExceeded) as info:
        guards.admit(acc)
    assert info.value.code == 15303
    clock.advance(86400 * 40)
    with pytest.raises(errors.PrepaidCreditExceeded):
        guards.admit(acc)


def test_release_gives_the_reservation_back():
    guards, acc, _ = make(max_per_day=1, prepaid_credit=1)
    guards.admit(acc)
    guards.release(acc)
    guards.admit(acc)
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)
    guards.release(acc)
    guards.release(acc)  # never below zero
    assert guards.store.dump()["credit_used"]["acme"] == 0


def test_account_checks_come_in_contract_order():
    guards, acc, _ = make(closed=True, max_per_day=0, prepaid_credit=0, tps=0)
    with pytest.raises(errors.AccountClosed):
        guards.admit(acc)
    acc.closed = False
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)
    acc.max_per_day = None
    with pytest.raises(errors.PrepaidCreditExceeded):
        guards.admit(acc)


# --- TPS -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("tps", [1, 2, 3, 7, 10, 11, 20, 29, 100])
def test_tps_bucket_empties_and_refills_exactly(tps):
    guards, acc, clock = make(tps=tps)
    for _ in range(tps):
        guards.admit(acc)
    with pytest.raises(errors.TpsExceeded) as info:
        guards.admit(acc)
    assert info.value.code == 15406 and info.value.http_status == 429 and info.value.retryable
    for _ in range(3):
        clock.advance(1 / tps)
        guards.admit(acc)
        with pytest.raises(errors.TpsExceeded):
            guards.admit(acc)
    clock.advance(3600)  # the bucket holds at most tps tokens
    for _ in range(tps):
        guards.admit(acc)
    with pytest.raises(errors.TpsExceeded):
        guards.admit(acc)


def test_fractional_tps_holds_one_token():
    guards, acc, clock = make(tps=0.5)
    guards.admit(acc)
    with pytest.raises(errors.TpsExceeded):
        guards.admit(acc)
    clock.advance(1.9)
    with pytest.raises(errors.TpsExceeded):
        guards.admit(acc)
    clock.advance(0.1)
    guards.admit(acc)


def test_tps_refusals_do_not_use_the_daily_allowance():
    guards, acc, clock = make(start=END_OF_JANUARY - 3600, tps=1, max_per_day=2)
    guards.admit(acc)
    for _ in range(5):
        with pytest.raises(errors.TpsExceeded):
            guards.admit(acc)
    clock.advance(1)
    guards.admit(acc)
    clock.advance(1)
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)


def test_buckets_are_per_account():
    clock = Clock("virtual", start=END_OF_JANUARY)
    store = Store()
    a = Account("a", "x", tps=1)
    b = Account("b", "y", tps=1)
    store.set_accounts([a, b])
    guards = Guards(store, clock)
    guards.admit(a)
    guards.admit(b)
    with pytest.raises(errors.TpsExceeded):
        guards.admit(a)


def test_limits_are_checked_before_tps():
    guards, acc, _ = make(tps=1, max_per_day=1)
    guards.admit(acc)
    with pytest.raises(errors.DailyLimitExceeded):
        guards.admit(acc)


def test_no_tps_means_unlimited():
    guards, acc, _ = make()
    for _ in range(1000):
        guards.admit(acc)
