"""Django's cache API: CacheopsCache against Django's own PyMemcacheCache, one memcached.

    python benchmarks/django_bench.py [--rounds 15] [--ops 2000]

Both caches are configured side by side in one Django settings (same KEY_PREFIX and
VERSION) on a local memcached started here, and are timed in interleaved rounds through
``caches[alias].get`` / ``.set`` with a small dict (pickled by both), the benchmark and its
memcached on one CPU (see ``common.one_cpu``). Target (issue 6): CacheopsCache no slower
than PyMemcacheCache, ratio at most 1.05.
"""

from __future__ import annotations

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import django
from django.conf import settings

from benchmarks.common import interleaved, one_cpu, report
from cacheops.testing.memcached import MemcachedServer

PYMEMCACHE = "PyMemcacheCache.{}"
CACHEOPS = "CacheopsCache.{}"


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--ops", type=int, default=2000)
    args = parser.parse_args(argv)
    value = {"user": 42, "name": "Ada Lovelace", "tags": ["a", "b", "c"], "score": 0.5}
    results = {}
    with one_cpu(), MemcachedServer() as server:
        common = {"KEY_PREFIX": "bench", "VERSION": 1, "TIMEOUT": 300}
        settings.configure(
            CACHES={
                "default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"},
                "pymemcache": {
                    "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
                    "LOCATION": server.server,
                    "OPTIONS": {"no_delay": True},
                    **common,
                },
                "cacheops": {
                    "BACKEND": "django_cacheops.CacheopsCache",
                    "LOCATION": server.url,
                    **common,
                },
            }
        )
        django.setup()
        from django.core.cache import caches

        theirs, ours = caches["pymemcache"], caches["cacheops"]
        theirs.set("theirs", value)
        ours.set("ours", value)
        assert theirs.get("ours") == ours.get("theirs") == value  # the same data, both ways

        for operation, contenders in (
            ("get", {"theirs": lambda: theirs.get("theirs"), "ours": lambda: ours.get("ours")}),
            (
                "set",
                {
                    "theirs": lambda: theirs.set("theirs", value),
                    "ours": lambda: ours.set("ours", value),
                },
            ),
        ):
            samples = interleaved(
                {
                    PYMEMCACHE.format(operation): contenders["theirs"],
                    CACHEOPS.format(operation): contenders["ours"],
                },
                rounds=args.rounds,
                ops=args.ops,
            )
            ratios = report(
                f"Django cache.{operation}()", samples, baseline=PYMEMCACHE.format(operation)
            )
            results[operation] = ratios[CACHEOPS.format(operation)]
    print(
        f"\nsummary: get {results['get']:.2f}x, set {results['set']:.2f}x Django's "
        "PyMemcacheCache (target <= 1.05x)"
    )
    return results


if __name__ == "__main__":
    main()
