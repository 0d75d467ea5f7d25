"""cacheops on IronCache, async: 100 concurrent ``get`` on one event loop against the sync
``get_many`` of the same 100 keys.

    python benchmarks/aio_ironcache_bench.py [--rounds 9] [--ops 5] [--rtt-ms 5]

The local IronCache-compatible server runs in its own process (as in
``ironcache_bench.py``) and adds ``--rtt-ms`` to every request, a stand-in for the round
trip to the hosted service. Contenders, interleaved round by round on the same server:

- ``100 x async get, gathered``: ``asyncio.gather`` of 100 ``await cache.get(key)`` on a
  ``connect_async(...)`` backend (h11 on asyncio streams, pool of 16 connections);
- ``async get_many(100)``: the async backend's own fan-out (at most 16 at once);
- ``sync get_many(100)``: ``connect(...).get_many`` (requests, 16 worker threads);
- ``... pool_size=32``: the gathered gets again with twice the connections, what the
  async side could afford (a socket each, no thread), shown but not the default.

Both sides keep at most ``pool_size`` (16) requests in flight, so at a few ms per request
the figure compares how well each overlaps the waits. The CPU time of the benchmark's
process per batch is reported too. Target (issue 14): the gathered async gets at least as
fast as the sync get_many.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from collections.abc import Callable

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cacheops
from benchmarks.common import interleaved, report
from benchmarks.ironcache_bench import CACHE, VALUE, Endpoint, server_process
from cacheops.aio import AsyncBackend, connect_async

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
    wide = connect_async(url, pool_size=32)

    async def gathered(on: AsyncBackend = cache) -> list[object]:
        return await asyncio.gather(*(on.get(key) for key in KEYS))

    def check(found: object) -> object:
        assert found == [VALUE] * len(KEYS) or found == dict.fromkeys(KEYS, VALUE), found
        return found

    return {
        "100 x async get, gathered": lambda: check(loop.run_until_complete(gathered())),
        "async get_many(100)": lambda: check(loop.run_until_complete(cache.get_many(KEYS))),
        BASELINE: lambda: check(sync.get_many(KEYS)),
        "100 x async get, pool_size=32": lambda: check(loop.run_until_complete(gathered(wide))),
    }


def cpu_ms(call: Callable[[], object], ops: int) -> float:
    """This process's CPU time per call of ``call``, in ms, over ``ops`` calls."""
    start = time.process_time()
    for _ in range(ops):
        call()
    return (time.process_time() - start) / ops * 1e3


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ops", type=int, default=5, help="batches of 100 per round")
    parser.add_argument("--rtt-ms", type=float, default=5.0)
    args = parser.parse_args(argv)

    loop = asyncio.new_event_loop()
    try:
        with server_process(args.rtt_ms / 1000) as endpoint:
            calls = contenders(endpoint, loop)
            cpu = {name: cpu_ms(call, args.ops) for name, call in calls.items()}
            samples = interleaved(calls, rounds=args.rounds, ops=args.ops)
            label = f"100 keys, {args.rtt_ms:g} ms added per request (µs per batch of 100)"
            ratios = report(label, samples, BASELINE)
    finally:
        loop.close()

    print("\nCPU time of this process per batch of 100 (ms; the server runs in another):")
    for name, value in cpu.items():
        print(f"  {name:<42} {value:6.1f}")
    print("\nsummary (time over the sync get_many's; target: gathered async gets <= 1.00x):")
    for name, value in ratios.items():
        if name != BASELINE:
            print(f"  {name:<42} {value:6.2f}x")
    return ratios


if __name__ == "__main__":
    main()
