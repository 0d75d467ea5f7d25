"""1,000 concurrent gets on one event loop: cacheops' async memcached backend against
Django's ``aget`` (``sync_to_async`` over PyMemcacheCache), aiomcache and emcache.

    python benchmarks/aio_bench.py [--rounds 15] [--concurrency 1000] [--connections 16]

Each round runs ``--concurrency`` gets of one 100-byte value as tasks gathered on one loop,
for each contender in turn (alternating order), against one local memcached without
authentication (aiomcache and emcache have none), the benchmark and memcached on one CPU
(``common.one_cpu``). Every pooled client may open ``--connections`` connections.
Targets (issue 14): at least 5x faster than Django's ``aget``; within 1.2x of the fastest
peer.
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

Get = Callable[[], Awaitable[object]]


async def _batch_ms(get: Get, concurrency: int) -> float:
    """Milliseconds for ``concurrency`` concurrent calls of ``get``."""
    started = time.perf_counter()
    await asyncio.gather(*(get() for _ in range(concurrency)))
    return (time.perf_counter() - started) * 1e3


async def _race(contenders: dict[str, Get], rounds: int, concurrency: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm up: connections opened, pools filled
        await _batch_ms(contenders[name], concurrency)
    for round_number in range(rounds):
        for name in names if round_number % 2 == 0 else names[::-1]:
            samples[name].append(await _batch_ms(contenders[name], concurrency))
    return {name: statistics.median(values) for name, values in samples.items()}


async def _run(server: MemcachedServer, args: argparse.Namespace) -> dict[str, float]:
    value = "v" * 100
    ours = connect_async(server.url, pool_size=args.connections)
    await ours.put("ours", value)
    from django.core.cache import caches

    django_cache = caches["default"]
    django_cache.set("theirs", value)
    contenders: dict[str, Get] = {
        "cacheops async get": lambda: ours.get("ours"),
        "Django aget (sync_to_async)": lambda: django_cache.aget("theirs"),
    }
    closers = [ours.aclose]
    try:
        import aiomcache

        aio = aiomcache.Client(server.host, server.port, pool_size=args.connections)
        await aio.set(b"aio", value.encode())
        contenders["aiomcache get"] = lambda: aio.get(b"aio")
        closers.append(aio.close)
        import emcache

        em = await emcache.create_client(
            [emcache.MemcachedHostAddress(server.host, server.port)],
            max_connections=args.connections,
        )
        await em.set(b"em", value.encode())
        contenders["emcache get"] = lambda: em.get(b"em")
        closers.append(em.close)
    except ImportError:
        print("aiomcache or emcache is not installed (pip install -e '.[bench]'): skipped")
    for name, get in contenders.items():
        found = await get()
        assert found is not None and value in str(getattr(found, "value", found)), name
    try:
        return await _race(contenders, args.rounds, args.concurrency)
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
        medians = asyncio.run(_run(server, args))
    ours = medians["cacheops async get"]
    print(f"\n{args.concurrency} concurrent gets on one loop, one CPU (median of {args.rounds})")
    for name, ms in medians.items():
        print(f"  {name:<30} {ms:9.2f} ms   {ms / ours:6.2f}x cacheops")
    django_ratio = medians["Django aget (sync_to_async)"] / ours
    fastest = min(ms for name, ms in medians.items() if not name.startswith("Django"))
    print(
        f"\nsummary: cacheops async get {django_ratio:.2f}x faster than Django's aget "
        f"(target >= 5x); {ours / fastest:.2f}x the fastest async client (target <= 1.2x)"
    )
    return {"vs_django": django_ratio, "vs_fastest": ours / fastest}


if __name__ == "__main__":
    main()
