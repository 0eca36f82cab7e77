"""The per-client token buckets, on a pinned clock: each limit on both sides of its edge."""

from __future__ import annotations

import pytest

from funnel.platform.client_limits import ClientLimiter, Limit, client_address

# 60 a minute (one a second) after a burst of 3.
LIMIT = Limit(per_minute=60, burst=3)
IP = "198.51.100.23"


def test_a_client_gets_its_burst_at_once_and_not_one_more():
    limiter = ClientLimiter()
    # Given a new client, at one instant
    answers = [limiter.take("events", IP, LIMIT, now=1000.0) for _ in range(4)]
    # Then the burst is admitted, and the next is told to come back in a second
    assert answers == [0, 0, 0, 1]


@pytest.mark.parametrize(("waited", "admitted"), [(0.999, False), (1.0, True)])
def test_a_request_comes_back_as_the_rate_refills_the_bucket(waited, admitted):
    limiter = ClientLimiter()
    for _ in range(3):
        assert limiter.take("events", IP, LIMIT, now=1000.0) == 0
    assert limiter.take("events", IP, LIMIT, now=1000.0 + waited) == (0 if admitted else 1)


def test_retry_after_is_the_whole_seconds_until_a_request_is_free():
    # Given 6 a minute (one every 10 s) and a bucket emptied
    limiter = ClientLimiter()
    slow = Limit(per_minute=6, burst=1)
    assert limiter.take("leads", IP, slow, now=0.0) == 0
    # Then it is told 10 s, then 7 s after 3 s, then 1 s after 9.5 s, and admitted at 10 s
    assert limiter.take("leads", IP, slow, now=0.0) == 10
    assert limiter.take("leads", IP, slow, now=3.0) == 7
    assert limiter.take("leads", IP, slow, now=9.5) == 1
    assert limiter.take("leads", IP, slow, now=10.0) == 0


def test_a_refused_request_takes_nothing_so_waiting_always_works():
    limiter = ClientLimiter()
    for _ in range(3):
        limiter.take("events", IP, LIMIT, now=0.0)
    # When the client keeps asking while refused
    for _ in range(50):
        assert limiter.take("events", IP, LIMIT, now=0.5) == 1
    # Then it is admitted as soon as the rate allows
    assert limiter.take("events", IP, LIMIT, now=1.0) == 0


def test_the_bucket_holds_no_more_than_the_burst_however_long_the_client_was_away():
    limiter = ClientLimiter()
    limiter.take("events", IP, LIMIT, now=0.0)
    answers = [limiter.take("events", IP, LIMIT, now=86_400.0) for _ in range(4)]
    assert answers == [0, 0, 0, 1]


def test_clients_and_groups_have_buckets_of_their_own():
    limiter = ClientLimiter()
    for _ in range(3):
        limiter.take("events", IP, LIMIT, now=0.0)
    assert limiter.take("events", IP, LIMIT, now=0.0) == 1
    assert limiter.take("events", "198.51.100.24", LIMIT, now=0.0) == 0
    assert limiter.take("leads", IP, LIMIT, now=0.0) == 0


def test_an_ipv6_client_is_its_64():
    limiter = ClientLimiter()
    for suffix in ("1", "2", "3"):
        assert limiter.take("events", f"2001:db8:1:2::{suffix}", LIMIT, now=0.0) == 0
    # Another address of the same /64 is the same client; another /64 is not
    assert limiter.take("events", "2001:db8:1:2:ffff::9", LIMIT, now=0.0) == 1
    assert limiter.take("events", "2001:db8:1:3::1", LIMIT, now=0.0) == 0
    assert client_address("2001:DB8:1:2:aaaa:bbbb:cccc:dddd") == client_address("2001:db8:1:2::")
    assert client_address("2001:db8:1:3::") != client_address("2001:db8:1:2::")
    assert client_address("198.51.100.23") == b"198.51.100.23"
    assert client_address("not:an:address") == b"not:an:address"
    assert client_address(None) == b""


def test_a_clock_that_steps_back_refills_nothing():
    limiter = ClientLimiter()
    for _ in range(3):
        limiter.take("events", IP, LIMIT, now=100.0)
    assert limiter.take("events", IP, LIMIT, now=50.0) == 1
    assert limiter.take("events", IP, LIMIT, now=51.0) == 0


@pytest.mark.parametrize(("clients", "kept"), [(100, 100), (101, 100)])
def test_at_most_max_clients_buckets_are_kept_the_least_recent_dropped(clients, kept):
    limiter = ClientLimiter(max_clients=100)
    limiter.take("events", "192.0.2.1", LIMIT, now=0.0)
    limiter.take("events", "192.0.2.1", LIMIT, now=0.0)
    limiter.take("events", "192.0.2.1", LIMIT, now=0.0)
    for n in range(clients - 1):
        limiter.take("events", f"10.0.{n // 256}.{n % 256}", LIMIT, now=0.0)
    assert len(limiter) == kept
    # The first client was dropped only when the 101st came: it starts again full
    expected = 0 if clients > 100 else 1
    assert limiter.take("events", "192.0.2.1", LIMIT, now=0.0) == expected


def test_the_key_is_a_hash_that_never_holds_the_address():
    limiter = ClientLimiter(key=b"k" * 32)
    key = limiter.client_key("events", IP)
    assert len(key) == 16
    assert IP.encode() not in key
    assert ClientLimiter(key=b"j" * 32).client_key("events", IP) != key
    assert key == ClientLimiter(key=b"k" * 32).client_key("events", IP)
