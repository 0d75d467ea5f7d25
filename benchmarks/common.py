"""Timing helpers shared by the benchmarks: interleaved rounds, medians, ratios."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Mapping

from cacheops import Backend


def per_op_us(fn: Callable[[], object], ops: int) -> float:
    """Microseconds per call of ``fn``, over ``ops`` calls."""
    start = time.perf_counter()
    for _ in range(ops):
        fn()
    return (time.perf_counter() - start) / ops * 1e6


def interleaved(
    contenders: Mapping[str, Callable[[], object]], *, rounds: int, ops: int
) -> dict[str, float]:
    """Median µs/op of each contender, measured in alternating order round after round so
    that machine noise falls on all of them alike."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm up connections and caches
        per_op_us(contenders[name], max(1, ops // 10))
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(per_op_us(contenders[name], ops))
    return {name: statistics.median(values) for name, values in samples.items()}


def report(title: str, medians: Mapping[str, float], baseline: str) -> dict[str, float]:
    """Print medians and each contender's ratio to ``baseline`` (time over baseline time)."""
    print(f"\n{title}")
    base = medians[baseline]
    ratios = {}
    for name, value in medians.items():
        ratios[name] = value / base
        print(f"  {name:<38} {value:9.1f} µs/op   {ratios[name]:5.2f}x {baseline}")
    return ratios


def get_many_speedup(cache: Backend, value: object, *, label: str, rounds: int, ops: int) -> float:
    """How many times faster one ``get_many`` of 100 keys is than 100 single ``get``s."""
    keys = [f"many:{i}" for i in range(100)]
    cache.put_many({k: value for k in keys})

    def hundred_gets() -> None:
        for key in keys:
            cache.get(key)

    medians = interleaved(
        {
            "100 x cacheops get": hundred_gets,
            "cacheops get_many(100)": lambda: cache.get_many(keys),
        },
        rounds=rounds,
        ops=ops,
    )
    return report(label, medians, "cacheops get_many(100)")["100 x cacheops get"]
