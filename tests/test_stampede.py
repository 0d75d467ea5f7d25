"""get_or_compute across processes and through outages, on a real memcached and the local
IronCache server (the conformance suite pins the single-process behaviour on every backend).

Processes are forked; each counts its computations with the cache's own atomic increment,
so the count is the one the server saw.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

import cacheops
from cacheops.backends.ironcache import MARKER
from cacheops.serializers import FLAG_ENVELOPE
from cacheops.stampede import lease_key
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.memcached import MemcachedServer

FORK = multiprocessing.get_context("fork")


@pytest.fixture(params=["memcached", "ironcache"])
def shared_url(request: pytest.FixtureRequest) -> str:
    """An empty cache that other processes see: a real memcached, the local IronCache."""
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


def _hammer(url: str, start: Any, results: Any) -> None:  # pragma: no cover - in a child
    backend = cacheops.connect(url)

    def compute() -> str:
        backend.increment("computations")
        time.sleep(0.5)
        return f"computed by {os.getpid()}"

    start.wait()
    results.put(backend.get_or_compute("hot", compute, 60))


def test_one_computation_for_many_processes(shared_url: str) -> None:
    processes = 6
    start, results = FORK.Barrier(processes), FORK.Queue()
    children = [
        FORK.Process(target=_hammer, args=(shared_url, start, results)) for _ in range(processes)
    ]
    for child in children:
        child.start()
    values = [results.get(timeout=30) for _ in children]
    for child in children:
        child.join(10)
        assert child.exitcode == 0
    assert cacheops.connect(shared_url).get("computations") == 1
    assert len(set(values)) == 1 and values[0].startswith("computed by ")


def _die_holding_the_lease(url: str, computing: Any) -> None:  # pragma: no cover - child
    def compute() -> str:
        computing.set()
        time.sleep(3600)
        return "never"

    cacheops.connect(url).get_or_compute("k", compute, 60, lock_ttl=2)


def test_a_killed_lease_holder_is_recomputed_after_the_lease_ttl(shared_url: str) -> None:
    computing = FORK.Event()
    child = FORK.Process(target=_die_holding_the_lease, args=(shared_url, computing))
    child.start()
    assert computing.wait(30)
    assert child.pid is not None
    os.kill(child.pid, signal.SIGKILL)
    child.join(10)
    killed = time.monotonic()
    backend = cacheops.connect(shared_url)
    assert backend.get(lease_key(backend, "k")) is not None  # the dead holder's lease
    assert backend.get_or_compute("k", lambda: "recovered", 60) == "recovered"
    # memcached expires to the whole second: the 2 s lease is gone 1 to 2 s after it was taken.
    assert 0.5 <= time.monotonic() - killed < 5
    assert backend.stampede.lease_waits == 1 and backend.stampede.computations == 1


# -- outages -------------------------------------------------------------------------------


@pytest.fixture
def own_memcached() -> Iterator[MemcachedServer]:
    """A memcached of this test's own, to kill."""
    with MemcachedServer() as server:
        yield server


def _broken() -> str:
    raise AssertionError("compute must not run while a last value can be served")


def test_memcached_down_serves_the_last_value_under_fail_safe(
    own_memcached: MemcachedServer, caplog: pytest.LogCaptureFixture
) -> None:
    backend = cacheops.connect(own_memcached.url, connect_timeout=0.5, timeout=0.5)
    assert backend.get_or_compute("k", lambda: {"v": 1}, 0.5, grace=60, fail_safe=True) == {"v": 1}
    own_memcached.kill()
    with caplog.at_level("WARNING", logger="cacheops"):
        got = backend.get_or_compute("k", _broken, 0.5, grace=60, fail_safe=True)
    assert got == {"v": 1}
    assert "cache unavailable, serving the last value of 'k'" in caplog.text
    assert backend.stampede.fail_safe_served == 1
    time.sleep(0.6)  # past its ttl, within its grace: still served
    assert backend.get_or_compute("k", _broken, 0.5, grace=60, fail_safe=True) == {"v": 1}
    caplog.clear()
    with caplog.at_level("WARNING", logger="cacheops"):
        for _ in range(20):
            assert backend.get_or_compute("k", _broken, 0.5, grace=60, fail_safe=True) == {"v": 1}
    # One line per key per WARN_INTERVAL, not one per call; the counter counts every call.
    assert "serving the last value" not in caplog.text
    assert backend.stampede.fail_safe_served == 22
    with pytest.raises(cacheops.BackendUnavailable):
        backend.get_or_compute("k", _broken, 0.5, grace=60)
    with pytest.raises(cacheops.BackendUnavailable):  # nothing remembered for this key
        backend.get_or_compute("other", lambda: "x", 0.5, grace=60, fail_safe=True)
    missing = cacheops.connect(own_memcached.url, on_error="miss", connect_timeout=0.5)
    assert missing.get_or_compute("k", lambda: "computed", 0.5) == "computed"


def test_ironcache_down_serves_the_stale_value_under_fail_safe(
    ironcache_server: IronCacheServer, ironcache_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    backend = cacheops.connect(ironcache_url, retries=1, backoff_factor=0.01)
    backend.get_or_compute("k", lambda: "last good", 0.5, grace=60, fail_safe=True)
    time.sleep(0.6)
    ironcache_server.faults.fail_next(1000, 503)
    with caplog.at_level("WARNING", logger="cacheops"):
        got = backend.get_or_compute("k", _broken, 0.5, grace=60, fail_safe=True)
    assert got == "last good"
    assert "cache unavailable, serving the last value of 'k'" in caplog.text
    assert "status=503" in caplog.text
    assert backend.stampede.fail_safe_served == 1
    with pytest.raises(cacheops.BackendUnavailable):
        backend.get_or_compute("k", _broken, 0.5, grace=60)


def test_an_envelope_on_ironcache_is_a_marked_string(
    ironcache_server: IronCacheServer, ironcache_url: str
) -> None:
    backend = cacheops.connect(ironcache_url)
    backend.get_or_compute("s", lambda: "text", 60)
    backend.get_or_compute("n", lambda: 7, 60)
    items = ironcache_server.items("cache")
    assert items["s"].startswith(f"{MARKER}{FLAG_ENVELOPE}:")
    assert items["n"].startswith(f"{MARKER}{FLAG_ENVELOPE}:")
    assert backend.get_many(["s", "n"]) == {"s": "text", "n": 7}


def test_a_stale_read_costs_no_wait_across_processes(shared_url: str) -> None:
    backend = cacheops.connect(shared_url)
    backend.get_or_compute("k", lambda: "old", 0.5, grace=60)
    time.sleep(0.6)
    computing = FORK.Event()
    child = FORK.Process(target=_recompute_slowly, args=(shared_url, computing))
    child.start()
    try:
        assert computing.wait(30)
        started = time.monotonic()
        assert backend.get_or_compute("k", _broken, 0.5, grace=60) == "old"
        assert time.monotonic() - started < 0.5
        assert backend.stampede.stale_served == 1
    finally:
        child.join(30)
    assert child.exitcode == 0
    assert backend.get("k") == "new"


def _recompute_slowly(url: str, computing: Any) -> None:  # pragma: no cover - in a child
    def compute() -> str:
        computing.set()
        time.sleep(1.5)
        return "new"

    cacheops.connect(url).get_or_compute("k", compute, 60, grace=60)


def test_early_recompute_starts_no_sooner_than_one_lead_before_expiry() -> None:
    """XFetch's lead grows with the read rate; capped at ``delta * beta`` a hot key is
    refreshed once per ttl. Uncapped, these 200 reads two leads before expiry would
    recompute about 27 times (each with probability e**-2)."""
    backend = cacheops.connect("memory://")

    def compute() -> str:
        time.sleep(0.1)  # delta of about 0.1 s; with beta=10 a lead of about 1 s
        return "v"

    backend.get_or_compute("hot", compute, 2, beta=10)
    for _ in range(200):
        assert backend.get_or_compute("hot", compute, 2, beta=10) == "v"
    assert backend.stampede.early_recomputes == 0
    time.sleep(1.95)  # inside the last lead: each read now recomputes with p near 1
    for _ in range(20):
        backend.get_or_compute("hot", compute, 2, beta=10)
    assert backend.stampede.early_recomputes >= 1
