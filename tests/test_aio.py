"""The async side: the conformance suite on async memory:// through the sync facade, and
what only asyncio shows (no thread hop, one store for sync and async, cancellation)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest

import cacheops
from cacheops.aio.memory import AsyncMemoryBackend
from cacheops.testing.aio import facade
from cacheops.testing.contract import BackendContract, MakeBackend

_names = itertools.count()


class TestAsyncMemoryContract(BackendContract):
    shared_across_processes = False

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        name = f"aio-contract-{next(_names)}"
        return lambda **options: facade(cacheops.connect_async(f"memory://{name}", **options))


class _NoThreads(ThreadPoolExecutor):
    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        raise AssertionError("a thread hop")


def test_async_memory_never_hops_to_a_thread() -> None:
    async def main() -> None:
        asyncio.get_running_loop().set_default_executor(_NoThreads())
        cache = cacheops.connect_async("memory://")
        await cache.put_many({"a": 1, "b": 2})
        assert await cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
        assert await cache.increment("n", 5) == 5
        assert (await cache.admin.stats()).items == 3
        with pytest.raises(AssertionError, match="thread hop"):  # the guard itself works
            await asyncio.to_thread(print)

    asyncio.run(main())


def test_sync_and_async_share_a_named_store_and_the_rules() -> None:
    name = f"shared-{next(_names)}"
    sync = cacheops.connect(f"memory://{name}", key_prefix="app:")
    cache = cacheops.connect_async(f"memory://{name}", key_prefix="app:")
    assert isinstance(cache, AsyncMemoryBackend) and repr(cache) == repr(sync).replace(
        "MemoryBackend", "AsyncMemoryBackend"
    )

    async def main() -> None:
        sync.put("k", {"from": "sync"})
        assert await cache.get("k") == {"from": "sync"}
        await cache.put("j", [1, "two"], ttl=60)
        with pytest.raises(cacheops.InvalidKey) as exc:
            await cache.get("has space")
        assert str(exc.value) == _error(lambda: sync.get("has space"))
        with pytest.raises(cacheops.InvalidTTL):
            await cache.put("k", 1, ttl=float("nan"))

    asyncio.run(main())
    assert sync.get("j") == [1, "two"]
    assert cacheops.connect(f"memory://{name}").get("app:j") == [1, "two"]


def _error(call: Callable[[], object]) -> str:
    try:
        call()
    except cacheops.CacheError as exc:
        return str(exc)
    raise AssertionError("no error")


def test_connect_async_reads_the_environment_and_checks_options(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CACHEOPS_URL", "memory://from-env?max_items=2")
    cache = cacheops.connect_async()
    assert isinstance(cache, AsyncMemoryBackend)
    assert cache.location == "memory://from-env" and cache.store.max_items == 2
    with pytest.raises(cacheops.ConfigurationError, match="unknown option 'nope'"):
        cacheops.connect_async("memory://", nope=1)


def test_get_or_compute_runs_one_computation_for_many_tasks() -> None:
    calls = []

    async def compute() -> int:
        calls.append(1)
        await asyncio.sleep(0.05)
        return 42

    async def main() -> list[int]:
        cache = cacheops.connect_async("memory://")
        return await asyncio.gather(*(cache.get_or_compute("k", compute, 60) for _ in range(20)))

    assert asyncio.run(main()) == [42] * 20
    assert calls == [1]


def test_a_cancelled_computation_releases_its_lease() -> None:
    async def main() -> None:
        cache = cacheops.connect_async("memory://")
        started = asyncio.Event()

        async def forever() -> str:
            started.set()
            await asyncio.sleep(3600)
            return "never"

        task = asyncio.create_task(cache.get_or_compute("k", forever, 60, lock_ttl=30))
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The lease is gone: the next caller computes at once instead of waiting 30 s.
        value = await asyncio.wait_for(cache.get_or_compute("k", lambda: "now", 60), 2)
        assert value == "now"

    asyncio.run(main())


def test_async_memoize_shares_keys_with_the_sync_memoize() -> None:
    name = f"memo-{next(_names)}"
    sync = cacheops.connect(f"memory://{name}")
    cache = cacheops.connect_async(f"memory://{name}")
    calls: list[int] = []

    @cache.memoize(60, name="square")
    async def square(x: int) -> int:
        calls.append(x)
        return x * x

    @sync.memoize(60, name="square")
    def square_sync(x: int) -> int:
        raise AssertionError("the async call's result should be found")

    async def main() -> None:
        assert await square(3) == await square(x=3) == 9
        with pytest.raises(TypeError):
            await square(1, 2)  # type: ignore[call-arg]

    asyncio.run(main())
    assert calls == [3]
    assert square_sync(3) == 9


def test_the_sync_memoize_still_refuses_coroutines() -> None:
    async def coro() -> None: ...

    with pytest.raises(TypeError, match="connect_async"):
        cacheops.connect("memory://").memoize(60)(coro)


def test_async_with_closes() -> None:
    async def main() -> None:
        async with cacheops.connect_async("memory://") as cache:
            await cache.put("k", "v")
            assert await cache.admin.info() == {**(await cache.admin.info())}
        assert await cache.get("k") == "v"  # reconnects lazily, as the sync side does

    asyncio.run(main())
