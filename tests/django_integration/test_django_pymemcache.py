"""Switching from Django's PyMemcacheCache to CacheopsCache keeps the cache warm.

Both backends are configured side by side on one real memcached, with the same KEY_PREFIX
and VERSION: every key and value written by one is read by the other, in both directions.
"""

from __future__ import annotations

import datetime
import decimal
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import caches
from django.test.utils import override_settings
from djcacheops_support import BACKEND, SECRET
from pymemcache.client.base import Client

from cacheops.testing.memcached import MemcachedServer

PYMEMCACHE = "django.core.cache.backends.memcached.PyMemcacheCache"

VALUES: dict[str, Any] = {
    "str": "text",
    "unicode": "Iñtërnâtiônàlizætiøn",
    "empty": "",
    "bytes": b"\x00\x01binary",
    "int": 42,
    "negative": -7,
    "big": 2**80,
    "float": 2.5,
    "bool": True,
    "none": None,
    "list": [1, "two", 3.0],
    "tuple": (1, 2),
    "dict": {"a": 1, 2: "b"},
    "set": {1, 2, 3},
    "decimal": decimal.Decimal("1.10"),
    "datetime": datetime.datetime(2024, 5, 6, 7, 8, 9, tzinfo=datetime.timezone.utc),
}


@pytest.fixture
def side_by_side(memcached_server: MemcachedServer, memcached_url: str) -> Iterator[Any]:
    common = {"KEY_PREFIX": "site", "VERSION": 3}
    settings = {
        "django": {"BACKEND": PYMEMCACHE, "LOCATION": memcached_server.server, **common},
        "cacheops": {"BACKEND": BACKEND, "LOCATION": memcached_url, **common},
        "signed": {
            "BACKEND": BACKEND,
            "LOCATION": memcached_url,
            "OPTIONS": {"secret": SECRET},
            **common,
        },
    }
    with override_settings(CACHES=settings):
        yield caches
        caches["django"].close()


@pytest.mark.parametrize("name", list(VALUES))
def test_values_written_by_either_are_read_by_the_other(side_by_side: Any, name: str) -> None:
    django, ours = side_by_side["django"], side_by_side["cacheops"]
    value = VALUES[name]
    django.set(f"from-django-{name}", value)
    ours.set(f"from-cacheops-{name}", value)
    for got in (ours.get(f"from-django-{name}", "miss"), django.get(f"from-cacheops-{name}")):
        assert got == value
        assert type(got) is type(value)


def test_the_keys_are_the_same(side_by_side: Any, memcached_server: MemcachedServer) -> None:
    django, ours = side_by_side["django"], side_by_side["cacheops"]
    assert ours.make_key("page") == django.make_key("page") == "site:3:page"
    ours.set("page", "cached")
    raw = Client(memcached_server.address, default_noreply=False)
    try:
        assert raw.get("site:3:page") == (b"cached")
    finally:
        raw.close()


def test_many_keys_and_deletes_cross_over(side_by_side: Any) -> None:
    django, ours = side_by_side["django"], side_by_side["cacheops"]
    assert django.set_many({"a": 1, "b": "two"}) == []
    assert ours.get_many(["a", "b", "c"]) == {"a": 1, "b": "two"}
    assert ours.set_many({"c": [3], "d": 4.0}) == []
    assert django.get_many(["a", "c", "d"]) == {"a": 1, "c": [3], "d": 4.0}
    assert ours.delete("a") is True
    assert django.get("a") is None
    assert django.delete("c") is True
    assert ours.has_key("c") is False
    ours.delete_many(["b", "d"])
    assert django.get_many(["b", "d"]) == {}


def test_add_and_counters_cross_over(side_by_side: Any) -> None:
    django, ours = side_by_side["django"], side_by_side["cacheops"]
    django.set("hits", 10)
    assert ours.add("hits", 0) is False
    assert ours.incr("hits", 5) == 15
    assert django.incr("hits") == 16
    assert ours.decr("hits", 6) == 10
    assert django.get("hits") == 10
    assert ours.add("fresh", 1) is True
    assert django.add("fresh", 2) is False
    assert django.get("fresh") == 1


def test_timeouts_mean_the_same(side_by_side: Any) -> None:
    django, ours = side_by_side["django"], side_by_side["cacheops"]
    django.set("k", "v")
    ours.set("k", "gone", timeout=0)  # "do not cache" removes what was there, on both
    assert django.get("k") is None
    ours.set("long", "kept", timeout=60 * 60 * 24 * 60)  # over 30 days: an absolute time
    assert django.get("long") == "kept"
    assert django.touch("long", None) is True
    assert ours.get("long") == "kept"


def test_a_signed_cache_reads_shared_types_and_refuses_foreign_pickles(side_by_side: Any) -> None:
    """With a secret, str, bytes and int stay shared (they are never pickled); pickles that
    PyMemcacheCache wrote, unsigned, are misses rather than code to run."""
    django, signed = side_by_side["django"], side_by_side["signed"]
    django.set_many({"s": "text", "b": b"raw", "i": 3, "obj": {"a": 1}})
    assert signed.get_many(["s", "b", "i", "obj"]) == {"s": "text", "b": b"raw", "i": 3}
    assert signed.get("obj", "miss") == "miss"
    signed.set("obj", {"a": 2})  # the app recomputes and stores a signed value
    assert signed.get("obj") == {"a": 2}
