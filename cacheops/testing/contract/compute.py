"""get_or_compute and memoize: one computation per expiry, stale serving, fail-safe,
xfetch, and leases left by a crashed holder."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from ...backend import Backend
from ...errors import ConfigurationError, InvalidTTL
from ...stampede import lease_key
from .base import ContractBase


class ComputeContract(ContractBase):
    """get_or_compute and memoize, written once on the contract methods."""

    def test_get_or_compute_runs_one_computation_for_many_threads(self, backend: Backend) -> None:
        calls: list[int] = []
        lock = threading.Lock()

        def compute() -> dict[str, int]:
            with lock:
                calls.append(1)
            time.sleep(0.3)
            return {"n": len(calls)}

        results: list[Any] = []
        start = threading.Barrier(12)

        def call() -> None:
            start.wait()
            results.append(backend.get_or_compute("hot", compute, 60))

        workers = [threading.Thread(target=call) for _ in range(12)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(calls) == 1
        assert results == [{"n": 1}] * 12
        assert backend.stampede.computations == 1
        assert 1 <= backend.stampede.lease_waits <= 11  # the others waited or came late

    @pytest.mark.parametrize("value", ["text", b"\x00bytes", 42, 1.5, None, [1, {"a": True}]])
    def test_get_or_compute_envelope_is_invisible_to_plain_reads(
        self, backend: Backend, value: Any
    ) -> None:
        assert backend.get_or_compute("k", lambda: value, 60) == value
        for got in (backend.get("k", "<missing>"), backend.get_many(["k"])["k"]):
            assert got == value and type(got) is type(value)
        found = backend.gets("k")
        assert found is not None and found[0] == value
        assert backend.get_or_compute("k", lambda: "recomputed", 60) == value
        backend.put("k", "plain")  # a plain value under the key is served as it is
        assert backend.get_or_compute("k", lambda: "recomputed", 60) == "plain"

    def test_get_or_compute_serves_stale_while_one_caller_recomputes(
        self, backend: Backend
    ) -> None:
        backend.get_or_compute("k", lambda: "old", 0.5, grace=60)
        time.sleep(0.7)
        computing, finish = threading.Event(), threading.Event()

        def slow() -> str:
            computing.set()
            finish.wait(10)
            return "new"

        recomputed: list[str] = []
        holder = threading.Thread(
            target=lambda: recomputed.append(backend.get_or_compute("k", slow, 60, grace=60))
        )
        holder.start()
        assert computing.wait(10)
        started = time.monotonic()
        assert backend.get_or_compute("k", lambda: "not me", 60, grace=60) == "old"
        assert time.monotonic() - started < 0.5  # served at once, not after the recompute
        assert backend.stampede.stale_served == 1
        finish.set()
        holder.join()
        assert recomputed == ["new"]
        assert backend.get("k") == "new"
        assert backend.get_or_compute("k", lambda: "not me", 60, grace=60) == "new"

    def test_get_or_compute_serves_stale_when_compute_raises_under_fail_safe(
        self, backend: Backend, caplog: pytest.LogCaptureFixture
    ) -> None:
        backend.get_or_compute("k", lambda: "last good", 0.5, grace=60, fail_safe=True)
        time.sleep(0.7)

        def broken() -> str:
            raise RuntimeError("database down")

        with pytest.raises(RuntimeError, match="database down"):
            backend.get_or_compute("k", broken, 0.5, grace=60)
        with caplog.at_level("WARNING", logger="cacheops"):
            assert backend.get_or_compute("k", broken, 0.5, grace=60, fail_safe=True) == "last good"
        assert "serving its last value" in caplog.text and "database down" in caplog.text
        assert backend.stampede.fail_safe_served == 1
        assert backend.stampede.compute_errors == 2
        # The lease was released: the next caller computes at once.
        assert backend.get_or_compute("k", lambda: "fixed", 0.5, grace=60) == "fixed"

    def test_get_or_compute_waits_out_the_lease_of_a_crashed_holder(self, backend: Backend) -> None:
        # A holder that died before computing: its lease stays until its own ttl.
        assert backend.add(lease_key(backend, "k"), "crashed holder", ttl=2)
        started = time.monotonic()
        assert backend.get_or_compute("k", lambda: "computed", 60, lock_ttl=5) == "computed"
        assert 0.9 <= time.monotonic() - started < 5
        assert backend.stampede.lease_waits == 1
        assert backend.get(lease_key(backend, "k")) is None  # released after the computation

    def test_get_or_compute_recomputes_early_with_xfetch(self, backend: Backend) -> None:
        def compute() -> str:
            time.sleep(0.02)  # delta: what makes an early recompute worth it
            return "v"

        backend.get_or_compute("eager", compute, 60, beta=1e12)
        backend.get_or_compute("eager", compute, 60, beta=1e12)
        assert backend.stampede.early_recomputes == 1
        backend.get_or_compute("never", compute, 60, beta=0)
        backend.get_or_compute("never", compute, 60, beta=0)
        assert backend.stampede.early_recomputes == 1
        assert backend.stampede.computations == 3

    def test_get_or_compute_with_ttl_zero_stores_nothing(self, backend: Backend) -> None:
        assert backend.get_or_compute("k", lambda: "v", 0) == "v"
        assert backend.get("k") is None

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"grace": -1}, InvalidTTL),
            ({"lock_ttl": 0}, InvalidTTL),
            ({"wait": float("nan")}, InvalidTTL),
            ({"beta": -1.0}, ConfigurationError),
            ({"fail_safe": "yes"}, ConfigurationError),
        ],
    )
    def test_get_or_compute_refuses_bad_options(
        self, backend: Backend, options: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            backend.get_or_compute("k", lambda: "v", 60, **options)
        with pytest.raises(InvalidTTL):
            backend.get_or_compute("k", lambda: "v", float("inf"))
        assert backend.get("k") is None

    def test_memoize_keys_results_by_bound_arguments(self, backend: Backend) -> None:
        calls: list[tuple[Any, ...]] = []

        @backend.memoize(60)
        def add(a: Any, b: int = 2) -> Any:
            calls.append((a, b))
            return [a, b]

        assert add(1) == add(1, 2) == add(a=1, b=2) == [1, 2]
        assert add("1") == ["1", 2]
        assert calls == [(1, 2), ("1", 2)]
        with pytest.raises(TypeError):
            add(1, 2, 3)  # type: ignore[call-arg]


__all__ = ["ComputeContract"]
