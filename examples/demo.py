"""A worker that caches what it computes: the job cacheops exists for.

Run it with no configuration and the same worker code runs on an in-process memory://
cache, on a local IronCache-compatible server over real HTTP and, when the memcached binary
is installed, on a local memcached that requires MemCachier's login (each started and
stopped here). Set CACHEOPS_URL (or MEMCACHIER_*, or IRON_*)
and it runs on that cache instead.

    python examples/demo.py
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from urllib.parse import quote

import cacheops
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.memcached import MemcachedServer, find_memcached
from cacheops.testing.memcachier_api import MemCachierAPIServer


def expensive_report(customer_id: int) -> dict[str, object]:
    """Stands in for a slow query or an API call."""
    time.sleep(0.05)
    digest = hashlib.sha256(str(customer_id).encode()).hexdigest()
    return {"customer": customer_id, "score": int(digest[:6], 16) % 1000, "tags": ["demo"]}


def report(cache: cacheops.Backend, customer_id: int) -> tuple[dict[str, object], bool]:
    """The cache-aside pattern: read, compute on a miss, store with a ttl."""
    key = f"report:{customer_id}"
    cached = cache.get(key)
    if cached is not None:
        return cached, True
    value = expensive_report(customer_id)
    cache.put(key, value, ttl=300)
    return value, False


def run(cache: cacheops.Backend, label: str) -> None:
    print(f"\n== {label}: {cache!r}")
    cache.clear()
    for round_number in (1, 2):
        started = time.perf_counter()
        hits = 0
        for customer in range(1, 11):
            _, hit = report(cache, customer)
            hits += hit
        elapsed = (time.perf_counter() - started) * 1000
        print(
            f"round {round_number}: 10 reports, {hits} from cache, {10 - hits} computed, "
            f"{elapsed:.0f} ms"
        )
    jobs = cache.increment("jobs:done", 10)
    print(f"jobs done (atomic counter): {jobs}")
    stats = cache.admin.stats()
    rate = f"{stats.hit_rate:.0%}" if stats.hit_rate is not None else "n/a"

    def show(value: int | None) -> str:
        return "n/a" if value is None else str(value)

    print(
        f"stats: hits={show(stats.hits)} misses={show(stats.misses)} hit rate={rate} "
        f"items={show(stats.items)} bytes={show(stats.bytes)}"
    )
    cache.admin.flush()  # what `cacheops flush` does on every deploy
    print(f"flushed through the admin: report:1 is now {cache.get('report:1')!r}")


def main() -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    configured = any(
        os.environ.get(name) for name in ("CACHEOPS_URL", "MEMCACHIER_SERVERS", "IRON_TOKEN")
    )
    if configured:
        run(cacheops.connect(), "the configured cache")
        return
    run(cacheops.connect("memory://demo"), "in-process memory cache (no configuration)")
    with IronCacheServer() as iron:
        run(cacheops.connect(iron.url("demo")), "local IronCache-compatible server (REST)")
    if find_memcached() is None:
        print("\n(memcached is not installed: apt-get install -y memcached to see it run there)")
        return
    with (
        MemcachedServer(users={"demo": "demo-password"}) as server,
        MemCachierAPIServer(server) as analytics,
    ):
        # memcachier:// with MemCachier's login; its admin uses the (local) analytics API.
        url = f"{server.memcachier_url('demo')}?api_url={quote(analytics.base_url, safe='')}"
        run(cacheops.connect(url), "local memcached with MemCachier's login and analytics API")


if __name__ == "__main__":
    main()
