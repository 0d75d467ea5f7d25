"""1,000 concurrent gets on one event loop: cacheops' async memcached backend against
Django's ``aget`` (``sync_to_async`` over PyMemcacheCache), aiomcache and emcache.

    python benchmarks/aio_bench.py [--rounds 15] [--concurrency 1000] [--connections 16]

Each round runs ``--concurrency`` gets of 100-byte values as tasks gathered on one loop,
for each contender in turn (alternating order), against one local memcached without
authentication (aiomcache and emcache have none), the benchmark and memcached on one CPU
(``common.one_cpu``). Every pooled client may open ``--connections`` connections. Two
workloads: every task asks for a different key, then all ask for the same one (cacheops
sends a key asked for twice in one batch once, which flatters it there: the targets are
judged on distinct keys). Targets (issue 14): at least 5x faster than Django's ``aget``;
within 1.2x of the fastest peer.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from collections.abc import Awaitable, Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django
from django.conf import settings

from benchmarks.common import one_cpu
from cacheops.aio import connect_async
from cacheops.testing.memcached import MemcachedServer

Get = Callable[[int], Awaitable[object]]
"""``get(i)``: one contender's get of the ``i``-th key."""
WORKLOADS = {"distinct keys": lambda i: i, "one key": lambda i: 0}
VALUE = "v" * 100


async def _batch_ms(get: Get, concurrency: int, key: Callable[[int], int]) -> float:
    """Milliseconds for ``concurrency`` concurrent calls of ``get``."""
    started = time.perf_counter()
    found = await asyncio.gather(*(get(key(i)) for i in range(concurrency)))
    elapsed = (time.perf_counter() - started) * 1e3
    assert all(VALUE in str(getattr(f, "value", f)) for f in found)
    return elapsed


async def _race(
    contenders: dict[str, Get], rounds: int, concurrency: int, key: Callable[[int], int]
) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm up: connections opened, pools filled
        await _batch_ms(contenders[name], concurrency, key)
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else names[::-1]:
            samples[name].append(await _batch_ms(contenders[name], concurrency, key))
    return {name: statistics.median(values) for name, values in samples.items()}


async def _run(server: MemcachedServer, args: argparse.Namespace) -> dict[str, dict[str, float]]:
    keys = range(args.concurrency)
    ours = connect_async(server.url, pool_size=args.connections)
    await ours.put_many({f"ours{i}": VALUE for i in keys})
    from django.core.cache import caches

    django_cache = caches["default"]
    django_cache.set_many({f"theirs{i}": VALUE for i in keys})
    contenders: dict[str, Get] = {
        "cacheops async get": lambda i: ours.get(f"ours{i}"),
        "Django aget (sync_to_async)": lambda i: django_cache.aget(f"theirs{i}"),
    }
    closers = [ours.aclose]
    try:
        import aiomcache

        aio = aiomcache.Client(server.host, server.port, pool_size=args.connections)
        for i in keys:
            await aio.set(b"aio%d" % i, VALUE.encode())
        contenders["aiomcache get"] = lambda i: aio.get(b"aio%d" % i)
        closers.append(aio.close)
        import emcache

        em = await emcache.create_client(
            [emcache.MemcachedHostAddress(server.host, server.port)],
            max_connections=args.connections,
        )
        for i in keys:
            await em.set(b"em%d" % i, VALUE.encode())
        contenders["emcache get"] = lambda i: em.get(b"em%d" % i)
        closers.append(em.close)
    except ImportError:
        print("aiomcache or emcache is not installed (pip install -e '.[bench]'): skipped")
    try:
        return {
            workload: await _race(contenders, args.rounds, args.concurrency, key)
            for workload, key in WORKLOADS.items()
        }
    finally:
        for close in closers:
            await close()


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args(argv)
    with one_cpu(), MemcachedServer() as server:
        settings.configure(
            CACHES={
                "default": {
                    "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                    "LOCATION": server.server,
                    "OPTIONS": {"no_delay": True},
                }
            }
        )
        django.setup()
        by_workload = asyncio.run(_run(server, args))
    for workload, medians in by_workload.items():
        ours = medians["cacheops async get"]
        print(
            f"\n{args.concurrency} concurrent gets on one loop, {workload}, one CPU "
            f"(median of {args.rounds})"
        )
        for name, ms in medians.items():
            print(f"  {name:<30} {ms:9.2f} ms   {ms / ours:6.2f}x cacheops")
    medians = by_workload["distinct keys"]
    ours = medians["cacheops async get"]
    django_ratio = medians["Django aget (sync_to_async)"] / ours
    fastest = min(ms for name, ms in medians.items() if name != "cacheops async get")
    print(
        f"\nsummary (distinct keys): cacheops async get {django_ratio:.2f}x faster than "
        f"Django's aget (target >= 5x); {ours / fastest:.2f}x the fastest other client "
        "(target <= 1.2x)"
    )
    return {"vs_django": django_ratio, "vs_fastest": ours / fastest}


if __name__ == "__main__":
    main()
