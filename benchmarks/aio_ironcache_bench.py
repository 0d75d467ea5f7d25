"""cacheops on IronCache, async: 100 concurrent ``get`` on one event loop against the sync
``get_many`` of the same 100 keys.

    python benchmarks/aio_ironcache_bench.py [--rounds 9] [--ops 5] [--rtt-ms 5]

The local IronCache-compatible server runs in its own process (as in
``ironcache_bench.py``) and adds ``--rtt-ms`` to every request, a stand-in for the round
trip to the hosted service. Contenders, interleaved round by round on the same server:

- ``100 x async get, gathered``: ``asyncio.gather`` of 100 ``await cache.get(key)`` on an
  ``connect_async(...)`` backend (httpx, pool of 16 connections);
- ``async get_many(100)``: the async backend's own fan-out (at most 16 at once);
- ``sync get_many(100)``: ``connect(...).get_many`` (requests, 16 worker threads).

Both sides keep at most ``pool_size`` (16) requests in flight, so at a few ms per request
the figure compares how well each overlaps the waits. Target (issue 14): the gathered async
gets at least as fast as the sync get_many.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cacheops
from benchmarks.common import interleaved, report
from benchmarks.ironcache_bench import CACHE, VALUE, Endpoint, server_process
from cacheops.aio import connect_async

KEYS = [f"aio:{i}" for i in range(100)]
BASELINE = "sync get_many(100)"


def contenders(
    endpoint: Endpoint, loop: asyncio.AbstractEventLoop
) -> dict[str, Callable[[], object]]:
    url = (
        f"ironcache+http://{endpoint.project_id}:{endpoint.token}@127.0.0.1:{endpoint.port}/{CACHE}"
    )
    sync = cacheops.connect(url)
    assert sync.put_many(dict.fromkeys(KEYS, VALUE)) == []
    cache = connect_async(url)

    async def gathered() -> list[object]:
        return await asyncio.gather(*(cache.get(key) for key in KEYS))

    def check(found: object) -> object:
        assert found == [VALUE] * len(KEYS) or found == dict.fromkeys(KEYS, VALUE), found
        return found

    return {
        "100 x async get, gathered": lambda: check(loop.run_until_complete(gathered())),
        "async get_many(100)": lambda: check(loop.run_until_complete(cache.get_many(KEYS))),
        BASELINE: lambda: check(sync.get_many(KEYS)),
    }


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ops", type=int, default=5, help="batches of 100 per round")
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    args = parser.parse_args(argv)

    loop = asyncio.new_event_loop()
    try:
        with server_process(args.rtt_ms / 1000) as endpoint:
            samples = interleaved(contenders(endpoint, loop), rounds=args.rounds, ops=args.ops)
            label = f"100 keys, {args.rtt_ms:g} ms added per request (µs per batch of 100)"
            ratios = report(label, samples, BASELINE)
    finally:
        loop.close()

    print("\nsummary (time over the sync get_many's; target: gathered async gets <= 1.00x):")
    for name, value in ratios.items():
        if name != BASELINE:
            print(f"  {name:<36} {value:6.2f}x")
    return ratios


if __name__ == "__main__":
    main()
