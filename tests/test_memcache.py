"""memcached:// and memcachier:// against real memcached servers."""

from __future__ import annotations

import multiprocessing
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ClassVar
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
    assert raw._get("login-user") == (password.encode(), 0)


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
        strict = cacheops.connect(cluster.url, retry_attempts=5, retry_timeout=60)
        lenient = cacheops.connect(cluster.url, on_error="miss", retry_attempts=5, retry_timeout=60)
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
        cache = cacheops.connect(server.url, max_value_size=None)
        cache.put("big", b"kept")
        with pytest.raises(cacheops.ValueTooLarge) as info:
            cache.put("big", b"x" * (2 * 1024 * 1024))
        assert "too large" in (info.value.server_message or "")
        # memcached itself drops the old item when it refuses a set, so no stale value is
        # left behind; the client-side check (max_value_size) refuses before that happens.
        assert cache.get("big") is None


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


# -- a write whose reply is lost -----------------------------------------------------------


class _SwallowingServer:
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
    peer = _SwallowingServer()
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
    peer = _SwallowingServer()
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
    assert stats.items == 30
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


def test_tls(tmp_path: Path) -> None:
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
    args = ["-Z", "-o", f"ssl_chain_cert={cert},ssl_key={key}"]
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
