"""memcached:// and memcachier:// on asyncio, against real memcached servers: the
conformance suite through a sync facade, then what only an event loop can show."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
from test_memcache import MEMCACHED_DIFFERENCES, SwallowingServer

import cacheops
from benchmarks.common import DelayProxy
from cacheops.aio import connect_async
from cacheops.aio.memcache import AsyncMemcacheBackend
from cacheops.testing.aio import facade
from cacheops.testing.contract import BackendContract, MakeBackend
from cacheops.testing.memcached import MemcachedCluster, MemcachedServer
from cacheops.testing.net import free_port
from cacheops.testing.plugin import AUTH_PASSWORD, AUTH_USER


def _async_maker(url: str) -> MakeBackend:
    return lambda **options: facade(connect_async(url, **options))


class TestAsyncMemcachedContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcached_url: str) -> MakeBackend:
        return _async_maker(memcached_url)


class TestAsyncMemcachierContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcachier_url: str) -> MakeBackend:
        return _async_maker(memcachier_url)


class TestAsyncClusterContract(BackendContract):
    expected_failures: ClassVar = MEMCACHED_DIFFERENCES

    @pytest.fixture
    def make_backend(self, memcached_cluster_url: str) -> MakeBackend:
        return _async_maker(memcached_cluster_url)


def run(coroutine: Awaitable[Any]) -> Any:
    async def main() -> Any:
        return await coroutine

    return asyncio.run(main())


# -- the same cache as the sync side -----------------------------------------------------


def test_keys_written_by_the_sync_cluster_are_read_by_the_async_one(
    memcached_cluster: MemcachedCluster, memcached_cluster_url: str
) -> None:
    keys = [f"shared:{i}" for i in range(60)]
    cacheops.connect(memcached_cluster_url).put_many({k: k for k in keys})

    async def main() -> None:
        cache = connect_async(memcached_cluster_url)
        assert await cache.get_many(keys) == {k: k for k in keys}
        for key in keys[:10]:
            assert await cache.get(key) == key
        await cache.put("from-async", 1)
        await cache.aclose()

    asyncio.run(main())
    holders = [s for s in memcached_cluster.servers if cacheops.connect(s.url).get("from-async")]
    assert len(holders) == 1
    assert cacheops.connect(memcached_cluster_url).get("from-async") == 1


def test_option_checks_are_the_sync_backends(memcached_url: str) -> None:
    for options in ({"timeout": 0}, {"item_size": 10}, {"retry_attempts": -1}, {"pool_size": 0}):
        with pytest.raises(cacheops.ConfigurationError):
            connect_async(memcached_url, **options)
    cache = connect_async(f"{memcached_url}?pool_size=3&timeout=0.5")
    assert isinstance(cache, AsyncMemcacheBackend) and cache.pool_size == 3


def test_ttl_past_2038_and_counter_range_are_refused_before_sending(memcached_url: str) -> None:
    async def main() -> None:
        cache = connect_async(memcached_url)
        with pytest.raises(cacheops.InvalidTTL, match="2038"):
            await cache.put("k", 1, ttl=20 * 365 * 24 * 3600)
        with pytest.raises(cacheops.NotNumeric, match="unsigned 64-bit"):
            await cache.increment("n", 2**64)
        await cache.put("text", "abc")
        with pytest.raises(cacheops.NotNumeric):
            await cache.increment("text")
        await cache.aclose()

    asyncio.run(main())


# -- login ---------------------------------------------------------------------------------


def test_wrong_password_is_authentication_error_without_the_password(
    memcached_auth_server: MemcachedServer,
) -> None:
    password = quote(f"{AUTH_USER} wrong-pa55word", safe="")
    url = f"memcachier://{AUTH_USER}:{password}@{memcached_auth_server.server}"

    async def main() -> None:
        cache = connect_async(url)
        with pytest.raises(cacheops.AuthenticationError) as info:
            await cache.get("k")
        text = f"{info.value} {info.value!r} {info.value.args} {cache!r}"
        assert "wrong-pa55word" not in text and AUTH_PASSWORD not in text
        assert info.value.server == memcached_auth_server.server

    asyncio.run(main())


def test_every_new_connection_logs_in(
    memcached_auth_server: MemcachedServer, memcachier_url: str
) -> None:
    before = int(memcached_auth_server.stats()["auth_cmds"])

    async def main() -> None:
        cache = connect_async(memcachier_url, pool_size=4)
        # 20 concurrent calls on a pool of 4: four connections, each logged in once.
        await asyncio.gather(*(cache.put(f"k{i}", i) for i in range(20)))
        assert await cache.get_many([f"k{i}" for i in range(20)]) == {f"k{i}": i for i in range(20)}
        await cache.aclose()

    asyncio.run(main())
    # the stats call itself logs in once more
    assert int(memcached_auth_server.stats()["auth_cmds"]) - before == 5


# -- faults against real servers -------------------------------------------------------------


def test_server_restarted_mid_use_reconnects_and_logs_in_again() -> None:
    with MemcachedServer(users={"restart": "pa55"}) as server:

        async def main() -> None:
            cache = connect_async(server.memcachier_url("restart"))
            await cache.put("k", "before")
            server.restart()
            await asyncio.sleep(0.05)  # the loop sees the old connection closed
            # a write first: never into the dead connection (that would be UnknownOutcome),
            # on a new one that logged in (the server requires it)
            assert await cache.add("k", "after") is True  # the restarted server is empty
            assert await cache.get("k") == "after"
            await cache.aclose()

        asyncio.run(main())


def test_dead_server_fails_fast_or_misses_per_on_error() -> None:
    url = f"memcached://127.0.0.1:{free_port()}"

    async def main() -> None:
        strict = connect_async(url, connect_timeout=0.5)
        started = time.monotonic()
        with pytest.raises(cacheops.BackendUnavailable):
            await strict.get("k")
        with pytest.raises(cacheops.BackendUnavailable) as info:
            await strict.put("k", "v")
        assert not isinstance(info.value, cacheops.UnknownOutcome)  # nothing was sent
        assert time.monotonic() - started < 1
        lenient = connect_async(url, on_error="miss")
        assert await lenient.get("k", "default") == "default"
        assert await lenient.get_many(["a", "b"]) == {}
        with pytest.raises(cacheops.BackendUnavailable):
            await lenient.increment("n")

    asyncio.run(main())


def test_get_many_with_a_dead_node_loses_only_that_nodes_keys() -> None:
    with MemcachedCluster(3) as cluster:
        keys = [f"key{i}" for i in range(60)]
        cacheops.connect(cluster.url).put_many({k: k for k in keys})
        victim = cluster.servers[1]
        on_victim = {k for k in keys if cacheops.connect(victim.url).get(k) is not None}
        assert on_victim and len(on_victim) < len(keys)
        victim.kill()

        async def main() -> None:
            options = {"retry_attempts": 5, "breaker_window": 60}
            strict = connect_async(cluster.url, **options)
            lenient = connect_async(cluster.url, on_error="miss", **options)
            with pytest.raises(cacheops.BackendUnavailable):
                await strict.get_many(keys)
            for _ in range(2):
                assert await lenient.get_many(keys) == {k: k for k in keys if k not in on_victim}

        asyncio.run(main())


def test_get_many_asks_the_nodes_concurrently() -> None:
    delay = 0.2
    with MemcachedCluster(3) as cluster:
        proxies = [DelayProxy(s.address, delay) for s in cluster.servers]
        url = "memcached://" + ",".join(f"127.0.0.1:{p.port}" for p in proxies)
        keys = [f"key{i}" for i in range(30)]

        async def main() -> float:
            cache = connect_async(url)
            await cache.put_many({k: k for k in keys})
            assert len(cache._batches(keys)) == 3  # keys on every node
            started = time.monotonic()
            assert await cache.get_many(keys) == {k: k for k in keys}
            return time.monotonic() - started

        elapsed = run(main())
        for proxy in proxies:
            proxy.close()
    # one delayed round trip for all three nodes; one after the other would be three
    assert elapsed < 2 * delay


def test_a_task_cancelled_mid_reply_never_leaves_its_connection_in_the_pool(
    memcached_url: str,
) -> None:
    big = b"x" * 900_000

    async def main() -> None:
        cache = connect_async(memcached_url, pool_size=1)
        await cache.put("big", big)
        await cache.put("small", "right")
        for _ in range(5):
            task = asyncio.create_task(cache.get("big"))
            await asyncio.sleep(0)  # sent, and its reply only partly read
            await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the one pooled connection: had it been kept, this would read the rest of
            # the big value's reply
            assert await cache.get("small") == "right"
        assert await cache.get("big") == big
        await cache.aclose()

    asyncio.run(main())


def test_a_read_timeout_discards_the_connection(memcached_server: MemcachedServer) -> None:
    proxy = DelayProxy(memcached_server.address, 0.3)
    try:

        async def main() -> None:
            url = f"memcached://127.0.0.1:{proxy.port}"
            # breaker_window=0: no fail-fast after the first timeout, so the write is sent
            cache = connect_async(url, timeout=0.1, pool_size=1, breaker_window=0)
            with pytest.raises(cacheops.BackendUnavailable) as info:
                await cache.get("k")
            assert not isinstance(info.value, cacheops.UnknownOutcome)
            with pytest.raises(cacheops.UnknownOutcome):
                await cache.put("k", 1)

        asyncio.run(main())
    finally:
        proxy.close()


@pytest.mark.parametrize(
    ("write", "command"),
    [
        (lambda cache: cache.increment("counter"), b"incr"),
        (lambda cache: cache.put("k", "v"), b"set"),
        (lambda cache: cache.add("k", "v"), b"add"),
        (lambda cache: cache.delete("k"), b"delete"),
        (lambda cache: cache.put_many({"a": 1, "b": 2}), b"set"),
    ],
    ids=["increment", "put", "add", "delete", "put_many"],
)
def test_a_write_whose_reply_is_lost_is_unknown_outcome_and_never_resent(
    write: Callable[[Any], Awaitable[Any]], command: bytes
) -> None:
    peer = SwallowingServer()
    try:

        async def main() -> None:
            cache = connect_async(f"memcached://127.0.0.1:{peer.port}")
            with pytest.raises(cacheops.UnknownOutcome):
                await write(cache)

        asyncio.run(main())
        time.sleep(0.1)
        assert [d.split(b" ")[0] for d in peer.received] == [command]
    finally:
        peer.close()


def test_a_read_whose_reply_is_lost_is_retried_once_then_unavailable() -> None:
    peer = SwallowingServer()
    try:

        async def main() -> None:
            cache = connect_async(f"memcached://127.0.0.1:{peer.port}")
            with pytest.raises(cacheops.BackendUnavailable) as info:
                await cache.get_many(["a", "b"])
            assert not isinstance(info.value, cacheops.UnknownOutcome)

        asyncio.run(main())
        time.sleep(0.1)
        assert peer.received == [b"get a b\r\n"] * 2
    finally:
        peer.close()


# -- admin ---------------------------------------------------------------------------------


def test_admin_reports_each_server_and_flushes(memcached_cluster_url: str) -> None:
    async def main() -> None:
        cache = connect_async(memcached_cluster_url)
        await cache.put_many({f"k{i}": i for i in range(30)})
        stats = await cache.admin.stats()
        # flush_all leaves curr_items to be reclaimed lazily: earlier tests may count
        assert len(stats.servers) == 3 and stats.items is not None and stats.items >= 30
        info = await cache.admin.info()
        assert all(s["version"].startswith("1.") for s in info["servers"].values())
        await cache.admin.flush()
        assert await cache.get_many([f"k{i}" for i in range(30)]) == {}
        await cache.aclose()

    asyncio.run(main())


# -- concurrent gets: one batch per server and turn of the loop --------------------------------


def _delayed(server: MemcachedServer, delay: float, **options: Any) -> tuple[Any, DelayProxy]:
    proxy = DelayProxy(server.address, delay)
    return connect_async(f"memcached://127.0.0.1:{proxy.port}", **options), proxy


def test_concurrent_gets_to_one_server_share_one_round_trip(
    memcached_server: MemcachedServer,
) -> None:
    delay = 0.2
    keys = [f"shared-trip:{i}" for i in range(50)]
    cacheops.connect(memcached_server.url).put_many({k: k for k in keys})
    # one connection, each request held 0.2 s: a get each would take 50 x 0.2 s
    cache, proxy = _delayed(memcached_server, delay, pool_size=1)
    try:

        async def main() -> float:
            await cache.get("warm-up")  # the connection opened
            started = time.monotonic()
            assert await asyncio.gather(*(cache.get(k) for k in keys)) == keys
            return time.monotonic() - started

        assert run(main()) < 3 * delay
    finally:
        proxy.close()


@pytest.mark.parametrize("where", ["memcached_url", "memcachier_url", "memcached_cluster_url"])
def test_a_thousand_concurrent_gets_each_return_their_own_value(
    where: str, request: pytest.FixtureRequest
) -> None:
    url = request.getfixturevalue(where)
    # values holding the reply's own markers, long keys (batches cut by bytes as well as
    # keys), a key asked for twice in one batch, and keys that are missing
    stored = {
        f"own:{i}:" + "k" * (i % 3) * 100: b"\r\nEND\r\nVALUE x 0 1\r\n" * (i % 4) + b"%d" % i
        for i in range(0, 1000, 2)
    }
    asked = [f"own:{i}:" + "k" * (i % 3) * 100 for i in range(1000)] + ["own:0:"] * 3

    async def main() -> None:
        cache = connect_async(url)
        assert await cache.put_many(stored) == []
        found = await asyncio.gather(*(cache.get(k, "missing") for k in asked))
        assert found == [stored.get(k, "missing") for k in asked]
        await cache.aclose()

    run(main())


def test_a_caller_cancelled_while_waiting_leaves_the_batch_to_the_others(
    memcached_server: MemcachedServer,
) -> None:
    keys = [f"cancelled:{i}" for i in range(5)]
    cacheops.connect(memcached_server.url).put_many({k: k for k in keys})
    cache, proxy = _delayed(memcached_server, 0.2, pool_size=1)
    try:

        async def main() -> None:
            tasks = [asyncio.create_task(cache.get(k)) for k in keys]
            await asyncio.sleep(0.05)  # the batch is sent and waits for its reply
            tasks[2].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            assert isinstance(results[2], asyncio.CancelledError)
            assert [r for i, r in enumerate(results) if i != 2] == keys[:2] + keys[3:]
            # the one connection went back to the pool whole: its next reply is its own
            assert await cache.get(keys[2]) == keys[2]

        run(main())
    finally:
        proxy.close()


def test_a_failed_batch_raises_for_each_caller_its_own_error_or_misses() -> None:
    url = f"memcached://127.0.0.1:{free_port()}"

    async def main() -> None:
        strict = connect_async(url, connect_timeout=0.5)
        errors = await asyncio.gather(
            *(strict.get(f"k{i}") for i in range(20)), return_exceptions=True
        )
        assert all(type(e) is cacheops.BackendUnavailable for e in errors)
        assert len({id(e) for e in errors}) == 20  # one instance per caller
        assert all(str(e) == str(errors[0]) and e.__cause__ is not None for e in errors)
        lenient = connect_async(url, on_error="miss", connect_timeout=0.5)
        assert await asyncio.gather(*(lenient.get(f"k{i}", i) for i in range(20))) == list(
            range(20)
        )

    run(main())


def test_a_timeout_applies_to_the_batch_once(memcached_server: MemcachedServer) -> None:
    # breaker_window=0: every call reaches the slow server
    cache, proxy = _delayed(memcached_server, 0.5, timeout=0.1, pool_size=1, breaker_window=0)
    try:

        async def main() -> float:
            started = time.monotonic()
            errors = await asyncio.gather(
                *(cache.get(f"k{i}") for i in range(20)), return_exceptions=True
            )
            assert all(isinstance(e, cacheops.BackendUnavailable) for e in errors)
            assert not any(isinstance(e, cacheops.UnknownOutcome) for e in errors)
            return time.monotonic() - started

        # one read timeout for all 20, not 20 one after the other on the one connection
        assert run(main()) < 0.45
    finally:
        proxy.close()


def test_a_dead_nodes_batch_fails_only_its_own_callers() -> None:
    with MemcachedCluster(3) as cluster:
        keys = [f"key{i}" for i in range(60)]
        cacheops.connect(cluster.url).put_many({k: k for k in keys})
        victim = cluster.servers[1]
        on_victim = {k for k in keys if cacheops.connect(victim.url).get(k) is not None}
        victim.kill()

        async def main() -> None:
            cache = connect_async(cluster.url, retry_attempts=5, breaker_window=60)
            results = await asyncio.gather(*(cache.get(k) for k in keys), return_exceptions=True)
            for key, result in zip(keys, results, strict=True):
                if key in on_victim:
                    assert isinstance(result, cacheops.BackendUnavailable), key
                    assert victim.server in str(result)
                else:
                    assert result == key

        run(main())
