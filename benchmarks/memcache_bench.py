"""cacheops on memcached against a bare pymemcache Client, on the same local server.

    python benchmarks/memcache_bench.py [--rounds 21] [--ops 2000] [--rtt-ms 1]

Targets (issue 3): single get and put within 1.10x of the bare client; get_many of 100 keys
at least 20x faster than 100 single gets.

Single calls are timed with the benchmark and its memcached on one CPU (see
``common.one_cpu``): both sides wait for the reply to a set (pymemcache's default is noreply,
which does not; cacheops never fire-and-forgets a write), both use TCP_NODELAY and the same
socket timeouts. get_many is timed three ways, since its gain is the round trips it saves
and so depends on what a round trip costs: client and server on one CPU (a few µs: the
worst case for get_many), on separate CPUs (as on separate machines), and through a relay
adding ``--rtt-ms`` of round trip (a cache across a network, as MemCachier is).
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pymemcache.client.base import Client

import cacheops
from benchmarks.common import DelayProxy, get_many_speedup, interleaved, one_cpu, report
from cacheops.testing.memcached import MemcachedServer


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--ops", type=int, default=2000)
    parser.add_argument("--rtt-ms", type=float, default=1.0)
    args = parser.parse_args(argv)
    value = "v" * 100
    results = {}
    with one_cpu(), MemcachedServer() as server:
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
        single = {
            "get": {
                "pymemcache Client.get": lambda: bare.get("bare"),
                "cacheops get": lambda: cache.get("ops"),
            },
            "put": {
                "pymemcache Client.set": lambda: bare.set("bare", value),
                "cacheops put": lambda: cache.put("ops", value),
            },
        }
        for name, contenders in single.items():
            baseline, ours = contenders
            samples = interleaved(contenders, rounds=args.rounds, ops=args.ops)
            results[name] = report(f"single {name}, one CPU", samples, baseline)[ours]
        results["get_many one CPU"] = get_many_speedup(
            cache, value, label="100 keys, one CPU", rounds=args.rounds, ops=max(1, args.ops // 50)
        )
    with MemcachedServer() as server:
        cache = cacheops.connect(server.url)
        results["get_many two CPUs"] = get_many_speedup(
            cache, value, label="100 keys, two CPUs", rounds=args.rounds, ops=max(1, args.ops // 50)
        )
        proxy = DelayProxy(server.address, args.rtt_ms / 1000)
        try:
            remote = cacheops.connect(f"memcached://127.0.0.1:{proxy.port}")
            results["get_many rtt"] = get_many_speedup(
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
        "(target <= 1.10x); get_many(100) faster than 100 gets by "
        f"{results['get_many two CPUs']:.1f}x on loopback across CPUs, "
        f"{results['get_many rtt']:.1f}x with {args.rtt_ms:g} ms round trip, "
        f"{results['get_many one CPU']:.1f}x with client and server on one CPU (target >= 20x)"
    )
    return results


if __name__ == "__main__":
    main()
