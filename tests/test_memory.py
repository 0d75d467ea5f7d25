"""memory:// against the conformance suite, plus what only an in-process store shows."""

from __future__ import annotations

import itertools
import os
import signal
import threading
import time
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


def _store_is_consistent(cache: MemoryBackend) -> bool:
    store = cache._store
    return store.bytes == sum(e.size for e in store.entries.values())


def _child_uses(cache: MemoryBackend) -> int:
    """Fork a child that writes and reads ``cache``; its exit code, or -1 if it hung."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            cache.put("child", "ok")
            if cache.get("child") == "ok" and _store_is_consistent(cache):
                code = 0
        finally:
            os._exit(code)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return -1


def test_a_fork_while_another_thread_holds_the_lock_does_not_hang_the_child() -> None:
    cache = make()
    cache.put("parent", "before fork")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        with cache._store.lock:  # as a thread in the middle of a write would
            held.set()
            release.wait(0.3)

    thread = threading.Thread(target=hold)
    thread.start()
    held.wait()
    try:
        assert _child_uses(cache) == 0
    finally:
        release.set()
        thread.join()
    assert cache.get("parent") == "before fork"
    assert cache.get("child") is None  # the store is the process's own


def test_forks_while_threads_hammer_the_store_never_hang_a_child() -> None:
    cache = make(max_items=50)
    stop = threading.Event()

    def hammer(n: int) -> None:
        i = 0
        while not stop.is_set():
            cache.put(f"k{(n * 7 + i) % 120}", b"v" * (i % 13))
            cache.get(f"k{i % 120}")
            cache.increment(f"c{n}")
            i += 1

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(2)]
    for t in threads:
        t.start()
    try:
        codes = [_child_uses(cache) for _ in range(10)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert codes == [0] * 10


def test_increment_counts_as_a_use_for_lru() -> None:
    # As Django's LocMemCache: a counter in use is not the next to be evicted.
    cache = make(max_items=3)
    cache.put_many({"a": 1, "b": 2, "c": 3})
    assert cache.increment("a") == 2
    cache.put("d", 4)
    assert cache.get_many(["a", "b", "c", "d"]) == {"a": 2, "c": 3, "d": 4}


def test_increment_of_digits_past_pythons_int_limit_is_not_numeric() -> None:
    cache = make()
    cache.put("n", "7" * 5000)
    with pytest.raises(cacheops.NotNumeric):
        cache.increment("n")
    assert cache.get("n") == "7" * 5000
