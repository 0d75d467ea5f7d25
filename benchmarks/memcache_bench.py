"""cacheops on memcached against a bare pymemcache Client, on the same local server.

    python benchmarks/memcache_bench.py [--rounds 15] [--ops 2000] [--rtt-ms 1]

Both sides wait for the server's reply to a set (pymemcache's default is noreply, which
does not; cacheops never fire-and-forgets a write), both use TCP_NODELAY and the same socket
timeouts. The loopback round trip is a few microseconds of real work but, on a VM, a wake-up
of another vCPU when client and server sit on different ones: pin the run to one core for
stable figures (``taskset -c 0 python benchmarks/memcache_bench.py``). Targets (issue 3):
single get/put within 1.10x of the bare client; get_many of 100 keys at least 20x faster
than 100 single gets. The get_many comparison is made twice: on raw loopback, where a round
trip costs little next to pymemcache's parsing of 100 replies, and through a relay adding
``--rtt-ms`` of round trip (a cache across a network, as MemCachier is).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pymemcache.client.base import Client

import cacheops
from benchmarks.common import DelayProxy, get_many_speedup, interleaved, report
from cacheops.testing.memcached import MemcachedServer


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rtt-ms", type=float, default=1.0)
    args = parser.parse_args(argv)
    value = "v" * 100
    results = {}
    with MemcachedServer() as server:
        # The same timeouts as cacheops' defaults: a client without them can hang forever,
        # and a socket with a timeout costs a poll() per receive.
        bare = Client(
            server.address,
            no_delay=True,
            default_noreply=False,
            connect_timeout=2.0,
            timeout=2.0,
        )
        cache = cacheops.connect(server.url)
        bare.set("bare", value)
        cache.put("ops", value)

        samples = interleaved(
            {
                "pymemcache Client.get": lambda: bare.get("bare"),
                "cacheops get": lambda: cache.get("ops"),
            },
            rounds=args.rounds,
            ops=args.ops,
        )
        results["get"] = report("single get", samples, "pymemcache Client.get")["cacheops get"]

        samples = interleaved(
            {
                "pymemcache Client.set": lambda: bare.set("bare", value),
                "cacheops put": lambda: cache.put("ops", value),
            },
            rounds=args.rounds,
            ops=args.ops,
        )
        results["put"] = report("single put", samples, "pymemcache Client.set")["cacheops put"]

        results["get_many_speedup"] = get_many_speedup(
            cache,
            value,
            label="100 keys, raw loopback",
            rounds=args.rounds,
            ops=max(1, args.ops // 50),
        )
        proxy = DelayProxy(server.address, args.rtt_ms / 1000)
        try:
            remote = cacheops.connect(f"memcached://127.0.0.1:{proxy.port}")
            results["get_many_speedup_rtt"] = get_many_speedup(
                remote,
                value,
                label=f"100 keys, {args.rtt_ms:g} ms round trip",
                rounds=max(3, args.rounds // 5),
                ops=2,
            )
        finally:
            proxy.close()
    print(
        f"\nsummary: get {results['get']:.2f}x, put {results['put']:.2f}x bare pymemcache "
        f"(target <= 1.10x); get_many(100) {results['get_many_speedup']:.1f}x faster than 100 "
        f"gets on raw loopback, {results['get_many_speedup_rtt']:.1f}x with {args.rtt_ms:g} ms "
        "round trip (target >= 20x)"
    )
    return results


if __name__ == "__main__":
    main()
