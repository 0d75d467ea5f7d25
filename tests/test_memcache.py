"""memcached:// and memcachier:// against real memcached servers."""

from __future__ import annotations

import contextlib
import datetime
import inspect
import math
import multiprocessing
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest

import cacheops
from cacheops.testing.contract import BackendContract, MakeBackend
from cacheops.testing.memcached import MemcachedCluster, MemcachedServer
from cacheops.testing.net import free_port
from cacheops.testing.plugin import AUTH_PASSWORD, AUTH_USER

MEMCACHED_DIFFERENCES = {
    "test_counter_can_go_negative": "memcached counters are unsigned 64-bit; decr stops at 0",
}


class TestMemcachedContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcached_url: str) -> MakeBackend:
        return lambda **options: cacheops.connect(memcached_url, **options)


class TestMemcachierContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcachier_url: str) -> MakeBackend:
        return lambda **options: cacheops.connect(memcachier_url, **options)


class TestClusterContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcached_cluster_url: str) -> MakeBackend:
        return lambda **options: cacheops.connect(memcached_cluster_url, **options)


# -- login -------------------------------------------------------------------------------


def test_wrong_password_raises_authentication_error_without_the_password(
    memcached_auth_server: MemcachedServer,
) -> None:
    password = quote(f"{AUTH_USER} wrong-pa55word", safe="")
    url = f"memcachier://{AUTH_USER}:{password}@{memcached_auth_server.server}"
    cache = cacheops.connect(url)
    with pytest.raises(cacheops.AuthenticationError) as info:
        cache.get("k")
    text = f"{info.value} {info.value!r} {info.value.args} {cache!r}"
    assert "wrong-pa55word" not in text
    assert "authentication failure" in text
    assert info.value.server == memcached_auth_server.server


def test_no_credentials_on_a_server_that_needs_them(memcached_auth_server: MemcachedServer) -> None:
    cache = cacheops.connect(f"memcached://{memcached_auth_server.server}")
    with pytest.raises(cacheops.AuthenticationError, match="requires a login"):
        cache.get("k")


def test_login_sends_the_username_as_the_key_and_the_password_as_the_data(
    memcached_server: MemcachedServer,
) -> None:
    # A plain memcached stores MemCachier's login like any other set: the byte-level proof
    # of the command's shape is what lands under the username.
    password = "p@ss w0rd é"
    url = f"memcachier://login-user:{quote(password, safe='')}@{memcached_server.server}"
    cacheops.connect(url).put("other", "x")
    raw = cacheops.connect(memcached_server.url, serializer="json")
    assert raw.get("login-user") == password.encode()
    assert raw.get_item("login-user") == (password.encode(), 0)


def test_every_pooled_thread_connection_logs_in(
    memcached_auth_server: MemcachedServer, memcachier_url: str
) -> None:
    before = int(memcached_auth_server.stats()["auth_cmds"])
    cache = cacheops.connect(memcachier_url)
    threads = [threading.Thread(target=cache.put, args=(f"k{i}", i)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get_many([f"k{i}" for i in range(4)]) == {f"k{i}": i for i in range(4)}
    # four worker threads plus this one, each on its own logged-in connection (the stats
    # call itself logs in once more)
    assert int(memcached_auth_server.stats()["auth_cmds"]) - before >= 5


def test_a_thread_that_ends_closes_its_connection(
    memcached_server: MemcachedServer, memcached_url: str
) -> None:
    """A thread per task (Django's runserver: a thread per request) must not leave one open
    connection behind per thread."""
    cache = cacheops.connect(memcached_url)
    cache.put("k", 1)  # this thread's connection, kept
    baseline = int(memcached_server.stats()["curr_connections"])
    for _ in range(30):
        thread = threading.Thread(target=cache.get, args=("k",))
        thread.start()
        thread.join()
    deadline = time.monotonic() + 5
    while (now := int(memcached_server.stats()["curr_connections"])) > baseline:
        assert time.monotonic() < deadline, f"{now - baseline} connections left open"
        time.sleep(0.05)
    assert cache.get("k") == 1  # the long-lived thread's connection still works


# -- failures ----------------------------------------------------------------------------


def test_server_restarted_mid_use_logs_in_again_and_works() -> None:
    with MemcachedServer(users={"restart": "pa55"}) as server:
        cache = cacheops.connect(server.memcachier_url("restart"), stale_after=0)
        cache.put("k", "before")
        server.restart()
        assert cache.get("k") is None  # the restarted server is empty
        cache.put("k", "after")  # a write: must not fall into the dead socket
        assert cache.get("k") == "after"


def test_dead_server_fails_fast_or_misses_per_on_error() -> None:
    port = free_port()
    cache = cacheops.connect(f"memcached://127.0.0.1:{port}", connect_timeout=0.5)
    started = time.monotonic()
    with pytest.raises(cacheops.BackendUnavailable):
        cache.get("k")
    with pytest.raises(cacheops.BackendUnavailable):
        cache.put("k", "v")
    assert time.monotonic() - started < 1
    lenient = cacheops.connect(f"memcached://127.0.0.1:{port}?on_error=miss")
    assert lenient.get("k", "default") == "default"
    assert lenient.add("k", "v") is False
    assert lenient.get_many(["a", "b"]) == {}
    with pytest.raises(cacheops.BackendUnavailable):
        lenient.increment("n")


def test_a_node_of_three_killed_and_restarted() -> None:
    with MemcachedCluster(3) as cluster:
        cache = cacheops.connect(cluster.url, retry_attempts=0, dead_timeout=0.5)
        keys = [f"key{i}" for i in range(60)]
        cache.put_many({k: k for k in keys})
        victim = cluster.servers[0]
        on_victim = {k for k in keys if _holder(cluster, k) is victim}
        assert on_victim and len(on_victim) < len(keys)
        victim.kill()
        others = [k for k in keys if k not in on_victim]
        assert cache.get_many(others) == {k: k for k in others}
        for key in others:
            assert cache.get(key) == key
        outcomes = set()
        for key in on_victim:
            try:
                outcomes.add(cache.get(key))
            except cacheops.BackendUnavailable:
                outcomes.add("raised")
        # the first call to reach the dead node raises; after that the node is out of
        # the ring and its keys miss (they now map to the other nodes)
        assert outcomes <= {"raised", None} and "raised" in outcomes
        victim.restart()
        time.sleep(0.7)
        key = next(iter(on_victim))
        cache.get("key0")  # lets the client notice dead_timeout has passed
        cache.put(key, "back")
        assert victim.flush_all() is None and cache.get(key) is None  # stored on the victim again


def test_get_many_across_a_cluster_with_a_dead_node_loses_only_that_nodes_keys() -> None:
    with MemcachedCluster(3) as cluster:
        strict = cacheops.connect(cluster.url, retry_attempts=5, breaker_window=60)
        lenient = cacheops.connect(
            cluster.url, on_error="miss", retry_attempts=5, breaker_window=60
        )
        keys = [f"key{i}" for i in range(60)]
        strict.put_many({k: k for k in keys})
        victim = cluster.servers[1]
        on_victim = {k for k in keys if _holder(cluster, k) is victim}
        victim.kill()
        with pytest.raises(cacheops.BackendUnavailable):
            strict.get_many(keys)
        # the node is failing, not yet removed: its keys miss, every other key is found
        for _ in range(2):
            assert lenient.get_many(keys) == {k: k for k in keys if k not in on_victim}


def _holder(cluster: MemcachedCluster, key: str) -> MemcachedServer:
    for server in cluster.servers:
        probe = cacheops.connect(server.url)
        if probe.get(key) is not None:
            return server
    raise AssertionError(f"{key} is on no server")


def test_keys_that_would_inject_commands_never_reach_the_server(
    memcached_server: MemcachedServer, memcached_url: str
) -> None:
    cache = cacheops.connect(memcached_url)
    cache.put("kept", 1)
    before = memcached_server.stats()
    for key in ("a\r\nflush_all", "a flush_all", "x\nset y 0 0 1"):
        with pytest.raises(cacheops.InvalidKey):
            cache.put(key, "v")
        with pytest.raises(cacheops.InvalidKey):
            cache.get(key)
    after = memcached_server.stats()
    for counter in ("cmd_get", "cmd_set", "cmd_flush"):
        assert after[counter] == before[counter], counter
    assert cache.get("kept") == 1


def test_value_over_the_server_item_size_is_value_too_large() -> None:
    with MemcachedServer(max_item_size="1m") as server:
        cache = cacheops.connect(server.url, item_size=None)  # no client-side check
        cache.put("big", b"kept")
        with pytest.raises(cacheops.ValueTooLarge) as info:
            cache.put("big", b"x" * (2 * 1024 * 1024))
        assert "too large" in (info.value.server_message or "")
        # memcached itself drops the old item when it refuses a set, so no stale value is
        # left behind; the client-side check (item_size) refuses before that happens.
        assert cache.get("big") is None


#: What memcached 1.6 (64-bit) counts in an item besides key and value, measured: a value
#: of item size - key - 59 bytes is stored, one byte more refused; 4 more with flags.
ITEM_OVERHEAD = 59


@pytest.mark.parametrize("item_size", [None, "2m"])
@pytest.mark.parametrize(
    ("key", "make", "flags"),
    [("k", lambda n: b"x" * n, 0), ("k" * 200, lambda n: "y" * n, 4)],
    ids=["bytes-short-key", "str-long-key"],
)
def test_the_largest_item_the_server_takes_is_stored_and_a_byte_more_never_sent(
    item_size: str | None, key: str, make: Callable[[int], object], flags: int
) -> None:
    """The limit is the server's exact one: the largest value for the key round-trips, one
    byte more is refused before anything is sent (so the old value stays), and the server
    itself refuses that size (the check is not merely conservative)."""
    from pymemcache.client.base import Client
    from pymemcache.exceptions import MemcacheServerError

    size = 2 * 1024 * 1024 if item_size else 1024 * 1024
    with MemcachedServer(max_item_size=item_size) as server:
        options = {"item_size": size} if item_size else {}
        cache = cacheops.connect(server.url, **options)
        largest = size - ITEM_OVERHEAD - len(key) - flags
        cache.put(key, make(largest))
        assert cache.get(key) == make(largest)
        sets = server.stats()["cmd_set"]
        too_big = make(largest + 1)
        for write in (
            lambda: cache.put(key, too_big),
            lambda: cache.add(key, too_big),
            lambda: cache.replace(key, too_big),
            lambda: cache.put_many({"other": 1, key: too_big}),
        ):
            with pytest.raises(cacheops.ValueTooLarge, match=str(largest)):
                write()
        assert server.stats()["cmd_set"] == sets  # nothing reached the server
        assert cache.get(key) == make(largest)  # the previous value is intact
        assert cache.get("other") is None
        raw = Client(server.address, default_noreply=False)
        payload = too_big if isinstance(too_big, bytes) else str(too_big).encode()
        with pytest.raises(MemcacheServerError, match="too large"):
            raw.set(key, payload, flags=flags and 16)
        raw.close()


def test_max_value_size_defaults_to_the_largest_value_any_key_can_have() -> None:
    assert cacheops.connect("memcached://h").max_value_size == 1024 * 1024 - ITEM_OVERHEAD - 1
    two = cacheops.connect("memcached://h?item_size=2097152")
    assert two.max_value_size == 2 * 1024 * 1024 - ITEM_OVERHEAD - 1
    assert cacheops.connect("memcached://h?item_size=none").max_value_size is None
    assert cacheops.connect("memcached://h", max_value_size=1000).max_value_size == 1000
    with pytest.raises(cacheops.ConfigurationError, match="item_size"):
        cacheops.connect("memcached://h?item_size=10")


def test_increments_from_several_processes_are_exact(memcachier_url: str) -> None:
    cache = cacheops.connect(memcachier_url)
    cache.increment("shared", 0)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_bump, args=(cache, 100)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert cache.get("shared") == 400


def _bump(cache: cacheops.Backend, times: int) -> None:
    for _ in range(times):
        cache.increment("shared")


def test_racing_defaults_lose_no_count(memcached_url: str) -> None:
    cache = cacheops.connect(memcached_url)
    barrier = threading.Barrier(8)

    def start() -> None:
        barrier.wait()
        cache.increment("fresh", 1, default=100)

    threads = [threading.Thread(target=start) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("fresh") == 108


def test_long_ttls_become_absolute_times(memcached_url: str) -> None:
    cache = cacheops.connect(memcached_url)
    cache.put("month", "v", ttl=40 * 24 * 3600)
    assert cache.get("month") == "v"


YEAR = 365 * 24 * 3600


@pytest.mark.parametrize("ttl", [20 * YEAR, 1e300, datetime.timedelta(days=50 * 365)])
def test_a_ttl_past_2038_is_refused_never_reported_stored(
    memcached_server: MemcachedServer, memcached_url: str, ttl: Any
) -> None:
    """memcached takes a ttl over 30 days as a 32-bit Unix time: a later one wraps to the
    past and the server answers STORED for an item that is gone."""
    cache = cacheops.connect(memcached_url)
    cache.put("k", "kept")
    sets = memcached_server.stats()["cmd_set"]
    for write in (
        lambda: cache.add("new", "v", ttl=ttl),
        lambda: cache.put("k", "v", ttl=ttl),
        lambda: cache.put_many({"k": "v"}, ttl=ttl),
        lambda: cache.touch("k", ttl),
    ):
        with pytest.raises(cacheops.InvalidTTL, match="2038"):
            write()
    assert memcached_server.stats()["cmd_set"] == sets
    assert cache.get_many(["k", "new"]) == {"k": "kept"}
    # what a framework adapter sends instead: the longest ttl the server can store
    capped = cache.capped_ttl(ttl.total_seconds() if isinstance(ttl, datetime.timedelta) else ttl)
    assert 10 * YEAR < capped < 12 * YEAR
    assert cache.add("new", "v", ttl=capped) is True
    assert cache.get("new") == "v"
    assert cache.add("five-years", "v", ttl=5 * YEAR) is True
    assert cache.get("five-years") == "v"


# -- a write whose reply is lost -----------------------------------------------------------


class SwallowingServer:
    """A TCP peer that reads one command and hangs up without answering.

    This is a fake, on purpose: no real memcached can be made to apply a write and then
    drop the connection on cue, and that moment is what the test is about."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                if data:
                    self.received.append(data)

    def close(self) -> None:
        self.sock.close()


@pytest.mark.parametrize(
    ("write", "command"),
    [
        (lambda cache: cache.increment("counter"), b"incr"),
        (lambda cache: cache.put("k", "v"), b"set"),
        (lambda cache: cache.add("k", "v"), b"add"),
        (lambda cache: cache.replace("k", "v"), b"replace"),
    ],
    ids=["increment", "put", "add", "replace"],
)
def test_a_write_whose_reply_is_lost_raises_unknown_outcome_and_is_not_resent(
    write: Callable[[cacheops.Backend], object], command: bytes
) -> None:
    peer = SwallowingServer()
    try:
        cache = cacheops.connect(f"memcached://127.0.0.1:{peer.port}")
        with pytest.raises(cacheops.UnknownOutcome) as info:
            write(cache)
        assert isinstance(info.value, cacheops.BackendUnavailable)
        time.sleep(0.1)
        assert [d.split(b" ")[0] for d in peer.received] == [command]
    finally:
        peer.close()


def test_a_read_whose_reply_is_lost_is_retried_once_then_unavailable() -> None:
    peer = SwallowingServer()
    try:
        cache = cacheops.connect(f"memcached://127.0.0.1:{peer.port}")
        with pytest.raises(cacheops.BackendUnavailable) as info:
            cache.get_many(["a", "b"])
        assert not isinstance(info.value, cacheops.UnknownOutcome)
        time.sleep(0.1)
        assert peer.received == [b"get a b\r\n"] * 2
    finally:
        peer.close()


# -- admin ---------------------------------------------------------------------------------


def test_admin_reports_each_server_and_the_aggregate(memcached_cluster_url: str) -> None:
    cache = cacheops.connect(memcached_cluster_url)
    cache.put_many({f"k{i}": i for i in range(30)})
    cache.get_many([f"k{i}" for i in range(40)])
    stats = cache.admin.stats()
    assert len(stats.servers) == 3
    # Expired items (leases other tests released) count until memcached reclaims them.
    assert stats.items is not None and stats.items >= 30
    assert stats.items == sum(int(s.raw["curr_items"]) for s in stats.servers)
    assert stats.limit == 3 * 64 * 1024 * 1024
    assert stats.hits is not None and stats.hits >= 30
    cache.admin.reset_stats()  # type: ignore[attr-defined]
    assert cache.admin.stats().hits == 0
    cache.admin.flush()
    assert cache.get_many([f"k{i}" for i in range(30)]) == {}
    info = cache.admin.info()
    assert all(s["version"].startswith("1.") for s in info["servers"].values())


def test_repr_and_info_never_show_the_password(memcachier_url: str) -> None:
    cache = cacheops.connect(memcachier_url)
    cache.put("k", 1)
    shown = f"{cache!r} {cache.location} {cache.admin.info()}"
    assert AUTH_PASSWORD not in shown
    assert AUTH_USER in shown


# -- TLS -------------------------------------------------------------------------------------


def tls_server_args(tmp_path: Path) -> tuple[list[str], Path]:
    """memcached's TLS arguments for a fresh self-signed certificate, and the certificate."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return ["-Z", "-o", f"ssl_chain_cert={cert},ssl_key={key}"], cert


def test_tls(tmp_path: Path) -> None:
    args, cert = tls_server_args(tmp_path)
    with MemcachedServer(extra_args=args) as server:
        context = ssl.create_default_context(cafile=str(cert))
        cache = cacheops.connect(server.url, tls=context)
        cache.put("secure", "yes")
        assert cache.get("secure") == "yes"
        many = {f"tls:{i}": bytes([i]) * 300_000 for i in range(3)}
        cache.put_many(many)
        assert cache.get_many([*many, "secure"]) == {**many, "secure": "yes"}
        untrusted = cacheops.connect(server.url, tls=True, connect_timeout=1)
        with pytest.raises(cacheops.BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
            untrusted.get("secure")


def test_values_interoperate_with_pymemcache_default_serde(
    memcached_server: MemcachedServer, memcached_url: str
) -> None:
    from pymemcache.client.base import Client
    from pymemcache.serde import pickle_serde

    theirs = Client(memcached_server.address, serde=pickle_serde, default_noreply=False)
    ours = cacheops.connect(memcached_url, serializer="pickle")
    values = {"s": "text é", "b": b"\x00raw", "i": 42, "t": (1, "two")}
    for key, value in values.items():
        theirs.set(f"theirs:{key}", value)
        ours.put(f"ours:{key}", value)
    assert ours.get_many([f"theirs:{k}" for k in values]) == {
        f"theirs:{k}": v for k, v in values.items()
    }
    assert theirs.get_many([f"ours:{k}" for k in values]) == {
        f"ours:{k}": v for k, v in values.items()
    }
    assert ours.increment("theirs:i") == 43
    assert theirs.get("theirs:i") == 43


def test_cluster_node_restarted_mid_use_takes_writes_again() -> None:
    with MemcachedCluster(2) as cluster:
        cache = cacheops.connect(cluster.url, stale_after=0)
        keys = [f"k{i}" for i in range(20)]
        cache.put_many({k: 1 for k in keys})
        for server in cluster.servers:
            server.restart()
        for key in keys:
            cache.put(key, 2)  # writes: no UnknownOutcome from a dead socket
        assert cache.get_many(keys) == {k: 2 for k in keys}


# -- options, counters, auth and close() refused with their own errors ---------------------


@pytest.mark.parametrize(
    "url",
    [
        "memcached://127.0.0.1:1",
        "memcachier://u:p@127.0.0.1:1",
        "ironcache+http://p:t@127.0.0.1:1/c",
    ],
)
@pytest.mark.parametrize(
    "option",
    [
        {"timeout": -1},
        {"timeout": math.nan},
        {"timeout": "nan"},
        {"connect_timeout": 0},
        {"connect_timeout": "0"},
    ],
    ids=repr,
)
def test_a_timeout_that_cannot_work_is_refused_at_connect(url: str, option: dict[str, Any]) -> None:
    with pytest.raises(cacheops.ConfigurationError, match=next(iter(option))):
        cacheops.connect(url, **option)


def test_an_infinite_timeout_is_refused_at_connect(memcached_url: str) -> None:
    cacheops.connect(memcached_url).put("k", 1)  # not a problem of the server
    # socket.settimeout(inf) raises OverflowError: refused here rather than at first use
    with pytest.raises(cacheops.ConfigurationError, match="timeout"):
        cacheops.connect(memcached_url, timeout=math.inf).get("k")


@pytest.mark.parametrize(
    "option",
    [
        {"stale_after": -1},
        {"breaker_window": math.nan},
        {"dead_timeout": -5},
        {"retry_attempts": -1},
    ],
    ids=repr,
)
def test_cluster_and_staleness_options_are_checked_at_connect(option: dict[str, Any]) -> None:
    with pytest.raises(cacheops.ConfigurationError, match=next(iter(option))):
        cacheops.connect("memcached://a:1,b:2", **option)


def test_counter_arguments_outside_unsigned_64_bit_are_not_numeric_and_never_sent(
    memcached_server: MemcachedServer, memcached_url: str
) -> None:
    cache = cacheops.connect(memcached_url)
    cache.put("n", 5)
    before = memcached_server.stats()
    for call in (
        lambda: cache.increment("n", 2**64),
        lambda: cache.decrement("n", 2**64),
        lambda: cache.increment("n", -(2**64)),
        lambda: cache.increment("fresh", 1, default=2**64 - 1),
        lambda: cache.increment("fresh", default=2**64),
    ):
        with pytest.raises(cacheops.NotNumeric, match="unsigned 64-bit"):
            call()
    after = memcached_server.stats()
    for counter in ("incr_hits", "incr_misses", "decr_hits", "decr_misses", "cmd_set"):
        assert after[counter] == before[counter], counter
    assert cache.get_many(["n", "fresh"]) == {"n": 5}
    # the ends of the range still work
    assert cache.increment("n", 2**64 - 1 - 5) == 2**64 - 1
    assert cache.decrement("n", 2**64 - 1) == 0
    assert cache.increment("fresh", 1, default=2**64 - 2) == 2**64 - 1


@pytest.mark.parametrize(
    ("name", "write"),
    [
        ("put", lambda cache: cache.put("k", "v")),
        ("put of a value with a space", lambda cache: cache.put("k", "a b")),
        ("put_many", lambda cache: cache.put_many({"k": 1})),
        ("add", lambda cache: cache.add("k", "v")),
        ("increment", lambda cache: cache.increment("k")),
        ("delete", lambda cache: cache.delete("k")),
    ],
)
def test_memcached_url_on_a_server_that_needs_a_login_is_authentication_error(
    memcached_auth_server: MemcachedServer, name: str, write: Callable[[cacheops.Backend], object]
) -> None:
    # memcached reads a set before login as a login: its reply is about the token format
    cache = cacheops.connect(f"memcached://{memcached_auth_server.server}")
    with pytest.raises(cacheops.AuthenticationError, match="memcachier://USER:PASSWORD@"):
        write(cache)


@pytest.mark.parametrize("servers", [1, 2])
def test_close_while_other_threads_are_mid_call_says_so(servers: int) -> None:
    """Each call either works or fails with BackendUnavailable saying close() cut it off
    (UnknownOutcome for a write, which may have applied); afterwards the backend reconnects."""
    with MemcachedCluster(servers) as cluster:
        cache = cacheops.connect(cluster.url)
        stop = threading.Event()
        errors: list[Exception] = []
        done = [0]

        def work(i: int) -> None:
            while not stop.is_set():
                try:
                    cache.put(f"k{i}", "v" * 1000)
                    cache.get(f"k{i}")
                    cache.get_many([f"k{i}", "x", "y"])
                    cache.increment(f"n{i}")
                    done[0] += 1
                except Exception as exc:  # collected, checked below
                    errors.append(exc)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for _ in range(60):
            time.sleep(0.005)
            cache.close()
        stop.set()
        for t in threads:
            t.join()
        assert errors, "no call was ever cut off: the test did not test anything"
        for exc in errors:
            assert isinstance(exc, cacheops.BackendUnavailable), repr(exc)
            assert "close() was called" in str(exc), repr(exc)
        assert done[0] > 0
        cache.put("after", 1)
        assert cache.get("after") == 1


# -- pymemcache: public API, one pinned hook ----------------------------------------------------


def test_keys_are_on_the_node_pymemcache_hashclient_puts_them(
    memcached_cluster: MemcachedCluster, memcached_cluster_url: str
) -> None:
    """The ring is cacheops' own (over pymemcache's public RendezvousHash); placement must
    stay HashClient's, so a deploy mixing the two finds every key."""
    from pymemcache.client.hash import HashClient

    theirs = HashClient([s.address for s in memcached_cluster.servers], default_noreply=False)
    keys = [f"placed:{i}" for i in range(90)]
    for key in keys:
        theirs.set(key, key.encode())
    theirs.close()
    ours = cacheops.connect(memcached_cluster_url)
    assert ours.get_many(keys) == {k: k.encode() for k in keys}
    for key in keys[:30]:
        assert ours.get(key) == key.encode()
    # and the keys were spread over every node
    assert {_holder(memcached_cluster, k).port for k in keys} == {
        s.port for s in memcached_cluster.servers
    }


def test_the_one_private_pymemcache_hook_is_still_there_and_called_on_connect(
    memcached_server: MemcachedServer,
) -> None:
    """MemCachier's login rides on ``Client._connect`` (pymemcache has no public hook);
    pyproject bounds pymemcache below 5, and this pins the hook's shape and use."""
    from pymemcache.client.base import Client

    assert list(inspect.signature(Client._connect).parameters) == ["self"]
    calls: list[object] = []

    class Probe(Client):  # type: ignore[misc]
        def _connect(self) -> None:
            calls.append(self)
            super()._connect()

    probe = Probe(memcached_server.address, default_noreply=False)
    assert probe.version()
    assert probe.version()
    assert len(calls) == 1  # once per connection...
    probe.close()
    assert probe.version()
    assert len(calls) == 2  # ...and again on reconnecting
    probe.close()


# -- the circuit breaker: one timeout per window, not per call -------------------------------


@contextlib.contextmanager
def _hung(server: MemcachedServer) -> Iterator[None]:
    """The real server frozen with SIGSTOP: the kernel still accepts connections into its
    backlog and takes the bytes sent, but nothing answers, so every call waits out its
    read timeout: a hung node, for as long as the block lasts."""
    assert server.pid is not None
    os.kill(server.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(server.pid, signal.SIGCONT)


def _timed(call: Callable[[], object]) -> tuple[float, object]:
    """How long ``call()`` took, and what it returned or raised."""
    started = time.monotonic()
    try:
        outcome: object = call()
    except cacheops.BackendUnavailable as exc:
        outcome = exc
    return time.monotonic() - started, outcome


def _fails_fast(outcome: object, server: str) -> bool:
    return (
        isinstance(outcome, cacheops.BackendUnavailable)
        and "circuit breaker is open" in str(outcome)
        and outcome.server == server
    )


@pytest.fixture
def own_memcached() -> Iterator[MemcachedServer]:
    """A memcached of the test's own, to freeze: nothing another test did can reach it."""
    with MemcachedServer() as server:
        yield server


def test_a_hung_server_costs_one_timeout_per_breaker_window(
    own_memcached: MemcachedServer,
) -> None:
    memcached_server = own_memcached
    url = f"{memcached_server.url}?timeout=0.5&breaker_window=1.5"
    strict, lenient = cacheops.connect(url), cacheops.connect(url, on_error="miss")
    strict.put("k", "v")
    assert lenient.get("k") == "v"
    with _hung(memcached_server):
        started = time.monotonic()
        first, *rest = [_timed(lambda: strict.get("k")) for _ in range(20)]
        misses = [_timed(lambda: lenient.get("k", "default")) for _ in range(20)]
        assert time.monotonic() - started < 1.5  # two timeouts, not forty
        assert first[0] >= 0.5 and isinstance(first[1], cacheops.BackendUnavailable), first
        assert not _fails_fast(first[1], memcached_server.server)
        assert all(_fails_fast(o, memcached_server.server) and t < 0.1 for t, o in rest)
        assert [o for _, o in misses] == ["default"] * 20
        time.sleep(1.5)
        # one probe after the window: it pays the timeout, the next call fails fast again
        probe, after = _timed(lambda: strict.get("k")), _timed(lambda: strict.get("k"))
        assert probe[0] >= 0.5 and not _fails_fast(probe[1], memcached_server.server)
        assert after[0] < 0.1 and _fails_fast(after[1], memcached_server.server)
    time.sleep(1.5)
    assert strict.get("k") == "v"  # the probe, answered: closed
    assert [strict.get("k") for _ in range(5)] == ["v"] * 5


def test_a_hung_cluster_node_costs_one_timeout_across_threads() -> None:
    with MemcachedCluster(3) as cluster:
        cache = cacheops.connect(cluster.url, timeout=0.5, breaker_window=2, retry_attempts=5)
        keys = [f"key{i}" for i in range(30)]
        cache.put_many({k: k for k in keys})
        victim = cluster.servers[0]
        mine = next(k for k in keys if _holder(cluster, k) is victim)
        others = [k for k in keys if _holder(cluster, k) is not victim]

        def from_threads(key: str, n: int = 20) -> list[tuple[float, object]]:
            barrier = threading.Barrier(n)
            results: list[tuple[float, object]] = []

            def call() -> None:
                barrier.wait()
                results.append(_timed(lambda: cache.get(key)))

            threads = [threading.Thread(target=call) for _ in range(n)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            return results

        with _hung(victim):
            assert _timed(lambda: cache.get(mine))[0] >= 0.5  # the failure that opens it
            # every thread, its own connections included, fails fast within the window
            calls = from_threads(mine)
            assert all(_fails_fast(o, victim.server) and t < 0.2 for t, o in calls), calls
            healthy = [_timed(partial(cache.get, k)) for k in others]  # unaffected
            assert [o for _, o in healthy] == others and all(t < 0.2 for t, _ in healthy)
            time.sleep(2)
            # after the window, one of twenty concurrent calls probes; the rest fail fast
            calls = from_threads(mine)
            slow = [o for t, o in calls if t >= 0.4]
            assert len(slow) == 1 and not _fails_fast(slow[0], victim.server), calls
            assert sum(_fails_fast(o, victim.server) for _, o in calls) == 19
        time.sleep(2)
        assert cache.get(mine) == mine  # the next probe is answered: closed
        assert {o for _, o in from_threads(mine)} == {mine}


def test_a_killed_cluster_node_is_probed_and_closes_when_back() -> None:
    with MemcachedCluster(3) as cluster:
        cache = cacheops.connect(cluster.url, breaker_window=0.5, retry_attempts=5)
        lenient = cacheops.connect(cluster.url, breaker_window=0.5, on_error="miss")
        keys = [f"key{i}" for i in range(30)]
        cache.put_many({k: k for k in keys})
        victim = cluster.servers[2]
        mine = next(k for k in keys if _holder(cluster, k) is victim)
        victim.kill()
        with pytest.raises(cacheops.BackendUnavailable, match="cannot connect"):
            cache.get(mine)
        assert lenient.get(mine, "default") == "default"
        elsewhere: list[object] = []  # another thread, with its own connections
        worker = threading.Thread(
            target=lambda: elsewhere.extend(
                [_timed(lambda: cache.get(mine))[1], lenient.get(mine, "d")]
            )
        )
        worker.start()
        worker.join()
        assert _fails_fast(elsewhere[0], victim.server) and elsewhere[1] == "d"
        assert _fails_fast(_timed(lambda: cache.put(mine, "back"))[1], victim.server)
        victim.restart()
        time.sleep(0.5)
        cache.put(mine, "back")  # the probe
        assert cache.get(mine) == "back" and lenient.get(mine) == "back"
        assert victim.stats()["curr_items"] == "1"  # on the node itself, back in the ring


def test_breaker_window_zero_never_fails_fast() -> None:
    cache = cacheops.connect(f"memcached://127.0.0.1:{free_port()}", breaker_window=0)
    for _ in range(3):
        with pytest.raises(cacheops.BackendUnavailable, match="cannot connect"):
            cache.get("k")
