"""memory:// against the conformance suite, plus what only an in-process store shows."""

from __future__ import annotations

import itertools
import threading
from typing import Any

import pytest

import cacheops
from cacheops.backends.memory import MemoryBackend
from cacheops.testing.contract import BackendContract, MakeBackend

_names = itertools.count()


class TestMemoryContract(BackendContract):
    shared_across_processes = False

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        # One named store per test, so every backend the factory makes shares it.
        name = f"contract-{next(_names)}"
        return lambda **options: cacheops.connect(f"memory://{name}", **options)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(**options: Any) -> MemoryBackend:
    return MemoryBackend(**options)


def test_expiry_follows_the_clock() -> None:
    clock = Clock()
    cache = make(clock=clock)
    cache.put("k", "v", ttl=10)
    clock.now += 9.9
    assert cache.get("k") == "v"
    clock.now += 0.2
    assert cache.get("k") is None
    assert cache.admin.stats().items == 0


def test_lru_evicts_the_least_recently_used_item_by_count() -> None:
    cache = make(max_items=3)
    cache.put_many({"a": 1, "b": 2, "c": 3})
    cache.get("a")  # a is now the most recently used
    cache.put("d", 4)
    assert cache.get_many(["a", "b", "c", "d"]) == {"a": 1, "c": 3, "d": 4}
    assert cache.admin.stats().evictions == 1


def test_lru_evicts_by_bytes() -> None:
    cache = make(max_bytes=100)
    cache.put("a", b"x" * 60)
    cache.put("b", b"y" * 60)
    assert cache.get("a") is None
    assert cache.get("b") == b"y" * 60
    stats = cache.admin.stats()
    assert (stats.bytes, stats.limit, stats.evictions) == (60, 100, 1)


def test_stats_count_hits_misses_items_and_bytes() -> None:
    cache = make()
    cache.put("k", "vvvv")
    cache.get("k")
    cache.get("k")
    cache.get("nope")
    stats = cache.admin.stats()
    assert (stats.hits, stats.misses, stats.items, stats.bytes) == (2, 1, 1, 4)
    assert stats.hit_rate == pytest.approx(2 / 3)
    assert stats.as_dict()["servers"]["memory://"]["hits"] == 2


def test_named_stores_are_shared_and_unnamed_ones_private() -> None:
    cacheops.connect("memory://shared-test").put("k", 1)
    assert cacheops.connect("memory://shared-test").get("k") == 1
    private = cacheops.connect("memory://")
    private.put("k", 2)
    assert cacheops.connect("memory://").get("k") is None


def test_limits_come_from_the_url() -> None:
    cache = cacheops.connect("memory://?max_items=2&max_bytes=none")
    assert isinstance(cache, MemoryBackend)
    info = cache.admin.info()
    assert (info["max_items"], info["max_bytes"]) == (2, None)


def test_zero_limits_are_refused() -> None:
    with pytest.raises(cacheops.ConfigurationError, match="max_items"):
        make(max_items=0)


def test_many_threads_writing_and_evicting_keep_the_byte_count_exact() -> None:
    cache = make(max_items=50)

    def work(n: int) -> None:
        for i in range(300):
            cache.put(f"k{(n * 7 + i) % 120}", b"v" * (i % 13))
            cache.get(f"k{i % 120}")
            cache.increment(f"c{n % 3}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    store = cache._store
    assert len(store.entries) <= 50
    assert store.bytes == sum(len(e.item[0]) for e in store.entries.values())
