"""CacheopsCache keeps Django's cache semantics, on every backend.

Each behaviour here is one Django's own cache suite pins for its backends (learned from
``tests/cache/tests.py`` in Django's repository, written anew): timeouts, keys, versions,
counters, the many-key calls, errors and the async API.
"""

from __future__ import annotations

import asyncio
import datetime
import pickle
import threading
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from django.core.cache import InvalidCacheKey
from django.core.cache.backends.base import BaseCache

import cacheops
from django_cacheops import CacheopsCache

KEY_CHARS_MSG = "Cache key contains characters that will cause errors if used with memcached: %r"
KEY_LENGTH_MSG = "Cache key will cause errors if used with memcached: %r (longer than 250)"


class Unpicklable:
    def __getstate__(self) -> Any:
        raise pickle.PickleError("not today")


def a_function() -> int:
    return 42


class Point:
    def __init__(self, x: int, y: int) -> None:
        self.x, self.y = x, y

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Point) and (self.x, self.y) == (other.x, other.y)


# -- the basics ------------------------------------------------------------------------


def test_is_a_django_cache(cache: BaseCache) -> None:
    assert isinstance(cache, CacheopsCache)
    assert isinstance(cache, BaseCache)


def test_set_get_and_default(cache: BaseCache) -> None:
    cache.set("key", "value")
    assert cache.get("key") == "value"
    assert cache.get("missing") is None
    assert cache.get("missing", "bang!") == "bang!"
    cache.set("none", None)
    assert cache.get("none", default="default") is None


def test_add_only_when_absent(cache: BaseCache) -> None:
    assert cache.add("addkey", "value") is True
    assert cache.add("addkey", "newvalue") is False
    assert cache.get("addkey") == "value"


def test_data_types_round_trip(cache: BaseCache) -> None:
    values = {
        "string": "this is a string",
        "unicode": "Iñtërnâtiônàlizætiøn",
        "int": 42,
        "big": 2**70,
        "negative": -3,
        "float": 1.5,
        "bool": True,
        "list": [1, 2, 3],
        "tuple": (1, 2, 3),
        "set": {1, 2},
        "dict": {"A": 1, 2: "B"},
        "function": a_function,
        "class": Point,
        "object": Point(1, 2),
        "datetime": datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc),
        "binary": zlib.compress(b"value_to_be_compressed"),
    }
    for key, value in values.items():
        cache.set(key, value)
    for key, value in values.items():
        got = cache.get(key)
        assert got == value and type(got) is type(value), key
    assert zlib.decompress(cache.get("binary")) == b"value_to_be_compressed"


def test_unicode_keys_work(cache: BaseCache) -> None:
    stuff = {"ascii": "a", "Iñtërnâtiônàlizætiøn": "b", "ключ": {"x": 1}, "鍵": 3}
    for key, value in stuff.items():
        cache.set(key, value)
        assert cache.get(key) == value
        assert cache.delete(key) is True
        assert cache.add(key, value) is True
        assert cache.get(key) == value
    cache.delete_many(list(stuff))
    assert cache.set_many(stuff) == []
    assert cache.get_many(list(stuff)) == stuff


def test_delete_returns_whether_something_was_there(cache: BaseCache) -> None:
    cache.set_many({"key1": "spam", "key2": "eggs"})
    assert cache.delete("key1") is True
    assert cache.get("key1") is None
    assert cache.get("key2") == "eggs"
    assert cache.delete("key1") is False
    assert cache.delete("never-there") is False


def test_has_key_and_in(cache: BaseCache) -> None:
    cache.set("hello", "goodbye")
    cache.set("null", None)
    assert cache.has_key("hello") is True
    assert cache.has_key("goodbye") is False
    assert cache.has_key("null") is True
    assert "hello" in cache
    assert "goodbye" not in cache


def test_clear_empties_the_cache(django_caches: Any) -> None:
    cache = django_caches["default"]
    cache.set_many({"key1": "spam", "key2": "eggs"})
    django_caches["v2"].set("key3", "ham")
    cache.clear()
    assert cache.get("key1") is None
    assert cache.get("key2") is None
    assert django_caches["v2"].get("key3") is None


def test_get_or_set(cache: BaseCache) -> None:
    assert cache.get_or_set("projector", 42) == 42
    assert cache.get("projector") == 42
    assert cache.get_or_set("projector", 7) == 42
    assert cache.get_or_set("null", None) is None
    assert cache.get("null", "default") is None  # None itself was stored
    calls = []

    def compute() -> str:
        calls.append(1)
        return "computed"

    assert cache.get_or_set("lazy", compute) == "computed"
    assert cache.get_or_set("lazy", compute) == "computed"
    assert calls == [1]
    assert cache.get_or_set("brian", 1979, version=2) == 1979
    assert cache.get("brian", version=1) is None
    with pytest.raises(TypeError):
        cache.get_or_set("brian")


# -- many keys -----------------------------------------------------------------------


def test_get_many(cache: BaseCache) -> None:
    cache.set_many({"a": "a", "b": "b", "c": "c", "d": "d"})
    assert cache.get_many(["a", "c", "d"]) == {"a": "a", "c": "c", "d": "d"}
    assert cache.get_many(["a", "b", "e"]) == {"a": "a", "b": "b"}
    assert cache.get_many(iter(["a", "b", "e"])) == {"a": "a", "b": "b"}
    assert cache.get_many([]) == {}
    cache.set_many({"x": None, "y": 1})
    assert cache.get_many(["x", "y"]) == {"x": None, "y": 1}


def test_set_many_returns_no_failed_keys_on_success(cache: BaseCache) -> None:
    assert cache.set_many({"key1": "spam", "key2": "eggs"}) == []
    assert cache.get("key1") == "spam"
    assert cache.get("key2") == "eggs"
    assert cache.set_many({}) == []


def test_set_many_returns_the_keys_it_could_not_store(cache: BaseCache) -> None:
    cache.set("big", "old value")
    too_large = b"x" * (2 * 1024 * 1024)
    failed = cache.set_many({"small": "fits", "big": too_large, "other": 1})
    assert failed == ["big"]
    assert cache.get("small") == "fits"
    assert cache.get("other") == 1
    # A failed write leaves no stale value behind.
    assert cache.get("big") is None


def test_set_that_fails_removes_the_old_value(cache: BaseCache) -> None:
    cache.set("small_value", "a")
    with pytest.raises(cacheops.ValueTooLarge):
        cache.set("small_value", "a" * (2 * 1024 * 1024))
    assert cache.get("small_value") is None


def test_delete_many(cache: BaseCache) -> None:
    cache.set_many({"key1": "spam", "key2": "eggs", "key3": "ham"})
    assert cache.delete_many(["key1", "key2", "never"]) is None
    assert cache.get("key1") is None
    assert cache.get("key2") is None
    assert cache.get("key3") == "ham"
    assert cache.delete_many([]) is None


# -- counters ------------------------------------------------------------------------


def test_incr_and_decr(cache: BaseCache) -> None:
    cache.set("answer", 41)
    assert cache.incr("answer") == 42
    assert cache.get("answer") == 42
    assert cache.incr("answer", 10) == 52
    assert cache.incr("answer", -10) == 42
    assert cache.decr("answer") == 41
    assert cache.decr("answer", 10) == 31
    assert cache.decr("answer", -11) == 42
    assert cache.get("answer") == 42


@pytest.mark.parametrize("call", ["incr", "decr"])
@pytest.mark.parametrize("delta", [1, -1])
def test_incr_decr_of_a_missing_key_raise_value_error(
    cache: BaseCache, call: str, delta: int
) -> None:
    with pytest.raises(ValueError, match="Key 'does_not_exist' not found"):
        getattr(cache, call)("does_not_exist", delta)
    assert cache.get("does_not_exist") is None  # not created either


def test_incr_of_a_value_that_is_not_a_number_raises_type_error(cache: BaseCache) -> None:
    cache.set("null", None)
    with pytest.raises(TypeError):
        cache.incr("null")
    with pytest.raises(TypeError):
        cache.decr("null")
    cache.set("text", "abc")
    with pytest.raises(TypeError):
        cache.incr("text")
    assert cache.get("null", "default") is None
    assert cache.get("text") == "abc"


def test_incr_is_atomic_across_threads(cache: Any, django_caches: Any) -> None:
    # IronCache has no "increment only if present", so Django's incr (which must not create
    # a missing key) is a gets/cas loop there, which gives up under heavy contention: keep
    # the contention it meets within what its retries absorb.
    threads, rounds = (4, 10) if cache.backend.scheme.startswith("ironcache") else (8, 50)
    cache.set("hits", 0)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            own = django_caches["default"]  # each thread gets its own cache object
            for _ in range(rounds):
                own.incr("hits")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    assert cache.get("hits") == threads * rounds


# -- timeouts ------------------------------------------------------------------------


def test_timeout_zero_and_negative_mean_do_not_cache(cache: BaseCache) -> None:
    cache.set("key1", "eggs", 0)
    assert cache.get("key1") is None
    cache.set("key2", "old")
    cache.set("key2", "new", -5)  # replaces, and expires at once
    assert cache.get("key2") is None
    assert cache.add("key3", "ham", 0) is True
    assert cache.get("key3") is None
    assert cache.set_many({"key4": "sausage", "key5": "lobster bisque"}, 0) == []
    assert cache.get_many(["key4", "key5"]) == {}
    cache.set("key6", "belgian fries", timeout=60)
    assert cache.touch("key6", timeout=0) is True
    assert cache.get("key6") is None


def test_float_and_long_timeouts(cache: BaseCache) -> None:
    cache.set("float", "spam", 100.2)
    assert cache.get("float") == "spam"
    thirty_days_and_a_second = 60 * 60 * 24 * 30 + 1
    cache.set("long", "eggs", thirty_days_and_a_second)
    assert cache.get("long") == "eggs"
    assert cache.add("long2", "ham", thirty_days_and_a_second) is True
    assert cache.get("long2") == "ham"
    cache.set_many({"long3": "sausage"}, 60 * 60 * 24 * 365)
    assert cache.get("long3") == "sausage"


def test_backend_timeout(django_caches: Any) -> None:
    cache = django_caches["default"]
    assert cache.default_timeout == 300
    assert cache.get_backend_timeout() == 300
    assert cache.get_backend_timeout(None) is None
    assert cache.get_backend_timeout(0) == 0
    assert cache.get_backend_timeout(-3) == 0
    assert cache.get_backend_timeout(1.5) == 1.5
    assert django_caches["forever"].get_backend_timeout() is None
    assert django_caches["short"].get_backend_timeout() == 1
    max_ttl = cache.backend.max_ttl
    if max_ttl is not None:  # a longer timeout is shortened to what the backend can store
        assert cache.get_backend_timeout(max_ttl * 10) == max_ttl


def test_expiry_follows_django_rules(django_caches: Any) -> None:
    """One wait covers them all: TIMEOUT, None, touch, set_many, and counters keeping
    their expiry. memcached counts whole seconds, so a 2 s ttl can end up to 1 s early."""
    cache, short, forever = (django_caches[a] for a in ("default", "short", "forever"))
    short.set("default-timeout", "gone soon")  # TIMEOUT=1
    short.set("no-timeout", "stays", timeout=None)
    assert short.add("added", "gone soon") is True
    forever.set("forever-default", "stays")  # TIMEOUT=None
    cache.set_many({"many1": "gone", "many2": "gone"}, 1)
    cache.set("touched", "stays", timeout=2)
    assert cache.touch("touched", timeout=60) is True
    cache.set("touched-forever", "stays", timeout=2)
    assert cache.touch("touched-forever", timeout=None) is True
    cache.set("untouched", "gone", timeout=2)
    assert cache.touch("nonexistent", timeout=60) is False
    # A counter keeps its expiry through incr: it is changed on the server, not re-set
    # with the default timeout (which would be 1 s on this alias).
    short.set("counter", 1, timeout=None)
    assert short.incr("counter") == 2
    short.set("acounter", 1, timeout=None)
    assert asyncio.run(short.aincr("acounter")) == 2

    time.sleep(2.6)

    assert short.get("default-timeout") is None
    assert short.has_key("added") is False
    assert cache.get_many(["many1", "many2"]) == {}
    assert cache.get("untouched") is None
    assert short.get("no-timeout") == "stays"
    assert forever.get("forever-default") == "stays"
    assert cache.get("touched") == "stays"
    assert cache.get("touched-forever") == "stays"
    assert short.get("counter") == 2
    assert short.get("acounter") == 2
    assert cache.add("untouched", "again") is True


# -- keys: prefix, version, key function, validation ---------------------------------------


def test_key_prefix_separates_caches_on_one_store(django_caches: Any) -> None:
    cache, prefixed = django_caches["default"], django_caches["prefix"]
    cache.set("somekey", "value")
    assert prefixed.has_key("somekey") is False
    prefixed.set("somekey", "value2")
    assert cache.get("somekey") == "value"
    assert prefixed.get("somekey") == "value2"
    assert prefixed.make_key("somekey") == "cacheprefix:1:somekey"
    # Same store: the prefixed key is visible under its full name.
    assert cache.backend is prefixed.backend


def test_versions(django_caches: Any) -> None:
    cache, v2 = django_caches["default"], django_caches["v2"]
    cache.set("answer1", 42)
    assert cache.get("answer1", version=1) == 42
    assert cache.get("answer1", version=2) is None
    assert v2.get("answer1") is None
    assert v2.get("answer1", version=1) == 42
    v2.set("answer2", 37)
    assert cache.get("answer2") is None
    assert cache.get("answer2", version=2) == 37
    assert cache.add("answer3", 1, version=2) is True
    assert v2.add("answer3", 2) is False
    assert v2.get("answer3") == 1
    cache.set("answer4", 37, version=1)
    cache.set("answer4", 42, version=2)
    assert v2.delete("answer4") is True
    assert cache.get("answer4") == 37
    assert cache.incr("answer4") == 38
    assert cache.has_key("answer4", version=2) is False
    cache.set_many({"ford": 37, "arthur": 42}, version=2)
    assert cache.get_many(["ford", "arthur"]) == {}
    assert v2.get_many(["ford", "arthur"]) == {"ford": 37, "arthur": 42}
    assert cache.get_many(["ford", "arthur"], version=2) == {"ford": 37, "arthur": 42}
    v2.delete_many(["ford"])
    assert cache.get_many(["ford", "arthur"], version=2) == {"arthur": 42}


def test_incr_and_decr_version(django_caches: Any) -> None:
    cache, v2 = django_caches["default"], django_caches["v2"]
    cache.set("answer", 42, version=2)
    assert cache.incr_version("answer", version=2) == 3
    assert cache.get("answer", version=2) is None
    assert cache.get("answer", version=3) == 42
    v2.set("answer2", 42)
    assert v2.incr_version("answer2") == 3
    assert v2.get("answer2") is None
    assert v2.get("answer2", version=3) == 42
    assert cache.decr_version("answer", version=3) == 2
    assert cache.get("answer", version=2) == 42
    assert cache.get("answer", version=3) is None
    with pytest.raises(ValueError):
        cache.incr_version("does_not_exist")
    with pytest.raises(ValueError):
        cache.decr_version("does_not_exist", version=2)
    cache.set("null", None)
    assert cache.incr_version("null") == 2
    assert cache.has_key("null", version=2) is True


def test_custom_key_functions(django_caches: Any) -> None:
    cache, custom, custom2 = (django_caches[a] for a in ("default", "custom_key", "custom_key2"))
    cache.set("answer1", 42)
    assert custom.get("answer1") is None
    assert custom2.get("answer1") is None
    custom.set("answer2", 42)
    assert cache.get("answer2") is None
    assert custom.get("answer2") == 42
    assert custom2.get("answer2") == 42  # the same function, named by its dotted path
    assert custom.make_key("answer2") == "CUSTOM--1-answer2"


def _operations(key: str) -> list[tuple[str, list[Any]]]:
    return [
        ("add", [key, 1]),
        ("get", [key]),
        ("set", [key, 1]),
        ("incr", [key]),
        ("decr", [key]),
        ("touch", [key]),
        ("delete", [key]),
        ("has_key", [key]),
        ("get_many", [[key, "b"]]),
        ("set_many", [{key: 1, "b": 2}]),
        ("delete_many", [[key, "b"]]),
    ]


@pytest.mark.parametrize(
    ("key", "template"),
    [
        ("key with spaces and 清", KEY_CHARS_MSG),
        ("tab\tkey", KEY_CHARS_MSG),
        ("nul\x00key", KEY_CHARS_MSG),
        ("a" * 248, KEY_LENGTH_MSG),  # 251 with ":1:"
        ("a" * 250 + "清", KEY_LENGTH_MSG),
    ],
)
def test_keys_memcached_cannot_carry_raise_invalid_cache_key(
    cache: BaseCache, key: str, template: str
) -> None:
    cache.set("b", "untouched")
    expected = template % cache.make_key(key)
    for operation, args in _operations(key):
        with pytest.raises(InvalidCacheKey) as raised:
            getattr(cache, operation)(*args)
        assert str(raised.value) == expected, operation
    # Nothing reached the cache: the valid key in the same call was left alone.
    assert cache.get("b") == "untouched"


def test_a_key_function_cannot_smuggle_a_bad_key(django_caches: Any) -> None:
    cache = django_caches["default"]
    cache.key_func = lambda key, prefix, version: key
    with pytest.raises(InvalidCacheKey):
        cache.set("a\r\nflush_all", 1)
    with pytest.raises(InvalidCacheKey):  # the empty key, refused by cacheops itself
        cache.set("", 1)


def test_keys_the_backend_cannot_carry_are_stored_under_a_digest(django_caches: Any) -> None:
    """A key Django accepts but the backend cannot carry as is (here a C1 control
    character, refused by every backend) is stored under a stable digest by default."""
    cache = django_caches["default"]
    cache.set("c1\x85control", "value")
    assert cache.get("c1\x85control") == "value"
    stored = cache.backend.make_key(":1:c1\x85control")
    assert stored.startswith("#h/")
    assert cache.backend.get(stored) == "value"
    assert cache.delete("c1\x85control") is True
    assert cache.backend.get(stored) is None


def test_strict_key_policy_raises_invalid_cache_key(django_caches: Any) -> None:
    strict = django_caches["strict"]
    strict.set("ascii", 1)
    assert strict.get("ascii") == 1
    for operation, args in _operations("c1\x85control"):
        with pytest.raises(InvalidCacheKey, match="key_policy='hash'"):
            getattr(strict, operation)(*args)


# -- pickling and signing ---------------------------------------------------------------


def test_unpicklable_values_raise_the_pickling_error(cache: BaseCache) -> None:
    with pytest.raises(pickle.PickleError):
        cache.set("unpicklable", Unpicklable())
    with pytest.raises(pickle.PickleError):
        cache.add("unpicklable", Unpicklable())
    with pytest.raises(pickle.PickleError):
        cache.set_many({"unpicklable": Unpicklable()})
    assert cache.get("unpicklable") is None


class Evil:
    """A value whose unpickling runs code: what an attacker with write access could store."""

    def __reduce__(self) -> Any:
        return (exec, ("import builtins; builtins.cacheops_pwned = True",))


def test_a_signed_cache_never_loads_a_pickle_it_did_not_sign(django_caches: Any) -> None:
    import builtins

    unsigned, signed = django_caches["default"], django_caches["signed"]
    signed.set("point", Point(1, 2))
    assert signed.get("point") == Point(1, 2)
    assert signed.get_many(["point"]) == {"point": Point(1, 2)}
    # Unsigned caches cannot read signed pickles (nor be fooled by them).
    assert unsigned.get("point", "miss") == "miss"

    unsigned.set("evil", Evil())  # the attacker's write, with no secret
    unsigned.set("fine", "plain text")
    try:
        assert signed.get("evil", "miss") == "miss"
        assert signed.has_key("evil") is False
        assert signed.get_many(["evil", "fine", "point"]) == {
            "fine": "plain text",
            "point": Point(1, 2),
        }
        assert not hasattr(builtins, "cacheops_pwned")
        # What the signature prevents: an unsigned reader runs the attacker's code.
        unsigned.get("evil")
        assert getattr(builtins, "cacheops_pwned", False) is True
    finally:
        if hasattr(builtins, "cacheops_pwned"):
            del builtins.cacheops_pwned
    signed.set("evil", "overwritten")
    assert signed.get("evil") == "overwritten"


# -- sharing, async, close ---------------------------------------------------------------


def test_one_backend_per_process_for_the_same_settings(django_caches: Any) -> None:
    main = django_caches["default"]
    seen: dict[str, Any] = {}

    def in_thread() -> None:
        own = django_caches["default"]
        seen["cache"] = own
        seen["value"] = own.get("shared")
        own.set("from-thread", "hello")

    main.set("shared", "across threads")
    thread = threading.Thread(target=in_thread)
    thread.start()
    thread.join()
    assert seen["cache"] is not main  # Django's per-thread cache objects ...
    assert seen["cache"].backend is main.backend  # ... share one backend
    assert seen["value"] == "across threads"
    assert main.get("from-thread") == "hello"
    assert django_caches["signed"].backend is not main.backend  # other OPTIONS, other backend


def test_async_api(django_caches: Any) -> None:
    cache, v2 = django_caches["default"], django_caches["v2"]

    async def scenario() -> None:
        assert await cache.aadd("a", 1) is True
        assert await cache.aadd("a", 2) is False
        assert await cache.aget("a") == 1
        assert await cache.aget("missing", "default") == "default"
        await cache.aset("b", [1, 2])
        assert await cache.ahas_key("b") is True
        assert await cache.ahas_key("missing") is False
        assert await cache.atouch("b", 60) is True
        assert await cache.atouch("missing", 60) is False
        assert await cache.aset_many({"c": 3, "d": 4}) == []
        assert await cache.aget_many(iter(["a", "c", "d", "missing"])) == {"a": 1, "c": 3, "d": 4}
        assert await cache.aincr("c", 10) == 13
        assert await cache.adecr("d") == 3
        with pytest.raises(ValueError):
            await cache.aincr("missing")
        assert await cache.aget_or_set("e", lambda: "computed") == "computed"
        assert await cache.aincr_version("e") == 2
        assert await v2.aget("e") == "computed"
        assert await cache.adecr_version("e", version=2) == 1
        assert await cache.adelete("e") is True
        assert await cache.adelete("e") is False
        await cache.adelete_many(["a", "b"])
        assert await cache.aget_many(["a", "b", "c"]) == {"c": 13}
        with pytest.raises(InvalidCacheKey):
            await cache.aget("bad key")
        # Calls at once run side by side on the thread-safe backend, and stay atomic (24:
        # fewer than the attempts of IronCache's cas loop, so every contender gets through).
        results = await asyncio.gather(*(cache.aincr("c") for _ in range(24)))
        assert sorted(results) == list(range(14, 38))
        await cache.aclear()
        assert await cache.aget("c") is None
        await cache.aclose()

    asyncio.run(scenario())


def test_async_methods_are_native() -> None:
    """BaseCache's aget_many is one thread hop per key and its aincr a get then a set;
    CacheopsCache overrides every async method with one on the native async backend."""
    names = [n for n in vars(BaseCache) if n.startswith("a") and n[1:] in vars(BaseCache)]
    # Left to BaseCache, built from the overridden aget, aadd, aset and adelete: aget_or_set
    # (which runs a callable default on the event loop's thread, as Django documents) and
    # aincr_version/adecr_version.
    for inherited in ("aget_or_set", "aincr_version", "adecr_version"):
        names.remove(inherited)
    assert len(names) >= 13
    for name in names:
        assert name in vars(CacheopsCache), name


class _NoThreads(ThreadPoolExecutor):
    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a thread hop")


def test_async_methods_never_hop_to_a_thread() -> None:
    cache = CacheopsCache("memory://no-hop", {})

    async def scenario() -> None:
        asyncio.get_running_loop().set_default_executor(_NoThreads())
        await cache.aset("k", 1)
        assert await cache.aadd("k", 2) is False
        assert await cache.aincr("k", 2) == 3
        assert await cache.aget_many(["k", "x"]) == {"k": 3}
        assert await cache.aset_many({"a": 1}) == []
        assert await cache.aget_or_set("g", lambda: "made") == "made"
        assert await cache.aincr_version("g") == 2
        assert await cache.ahas_key("g", version=2) is True
        assert await cache.atouch("g", 10, version=2) is True
        await cache.adelete_many(["a"])
        assert await cache.adelete("k") is True
        await cache.aclear()
        assert await cache.aget("g", version=2) is None

    asyncio.run(scenario())


def test_close_keeps_the_cache_usable(cache: BaseCache) -> None:
    cache.set("key", "value")
    cache.close()
    assert cache.get("key") == "value"


# -- configuration errors -----------------------------------------------------------------


def test_bad_settings_are_improperly_configured_without_the_password() -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured) as raised:
        CacheopsCache("memcachier://user:hunter2-secret@", {})
    assert "hunter2" not in str(raised.value)
    with pytest.raises(ImproperlyConfigured, match="unknown option 'MAX_ENTRIES'"):
        CacheopsCache("memory://", {"OPTIONS": {"MAX_ENTRIES": 10}})
    with pytest.raises(ImproperlyConfigured, match="at least 16 bytes"):
        CacheopsCache("memory://", {"OPTIONS": {"secret": "short"}})


def test_location_omitted_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CACHEOPS_URL", "memory://from-the-environment")
    for name in ("MEMCACHIER_SERVERS", "IRON_TOKEN", "IRON_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    cache = CacheopsCache("", {})
    assert cache.backend.location == "memory://from-the-environment"
    assert CacheopsCache("", {}).backend is cache.backend
    cache.set("k", "v")
    assert cacheops.connect("memory://from-the-environment").get(":1:k") == "v"
    monkeypatch.setenv("CACHEOPS_URL", "memory://elsewhere")
    assert CacheopsCache("", {}).backend.location == "memory://elsewhere"


# -- LOCATION: secrets out of settings, host lists ------------------------------------------

SIGNING_SECRET = "signing-secret-0123456789abcdef"


def _safe_settings(caches_setting: dict[str, Any]) -> str:
    """What Django's debug page and admin error e-mails print of the settings."""
    from django.test.utils import override_settings
    from django.views.debug import SafeExceptionReporterFilter

    with override_settings(CACHES=caches_setting):
        return repr(SafeExceptionReporterFilter().get_safe_settings())


@pytest.fixture
def memcachier_environment(
    memcached_auth_server: Any, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, str]:
    """Heroku's MemCachier config vars pointing at the real authenticated memcached."""
    from cacheops.testing.plugin import AUTH_USER

    memcached_auth_server.flush_all()
    username, password = memcached_auth_server.memcachier_credentials(AUTH_USER)
    for name in ("CACHEOPS_URL", "IRON_TOKEN", "IRON_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MEMCACHIER_SERVERS", memcached_auth_server.server)
    monkeypatch.setenv("MEMCACHIER_USERNAME", username)
    monkeypatch.setenv("MEMCACHIER_PASSWORD", password)
    return username, password


def test_the_documented_heroku_settings_keep_the_password_out_of_error_reports(
    memcachier_environment: tuple[str, str], memcached_auth_server: Any
) -> None:
    """docs/django.md's Heroku settings: no LOCATION, the MemCachier config vars are read,
    and what Django prints of the settings on its debug page and in admin e-mails holds
    neither the password nor the signing secret."""
    _, password = memcachier_environment
    documented = {
        "default": {
            "BACKEND": "django_cacheops.CacheopsCache",
            "OPTIONS": {"secret": SIGNING_SECRET},
        }
    }
    cache = CacheopsCache("", documented["default"])
    assert cache.backend.location.startswith("memcachier://")
    cache.set("heroku", {"logged": "in"})
    assert cache.get("heroku") == {"logged": "in"}
    assert int(memcached_auth_server.stats()["auth_cmds"]) > 0
    shown = _safe_settings(documented)
    assert "django_cacheops.CacheopsCache" in shown
    assert password not in shown and SIGNING_SECRET not in shown


def test_location_may_name_an_environment_variable(
    memcachier_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``"LOCATION": "env:NAME"`` reads the URL from NAME, so it is never in settings."""
    from django.core.exceptions import ImproperlyConfigured

    from cacheops.testing.plugin import AUTH_PASSWORD

    monkeypatch.setenv("SESSIONS_CACHE_URL", memcachier_url)
    setting = {"BACKEND": "django_cacheops.CacheopsCache", "LOCATION": "env:SESSIONS_CACHE_URL"}
    cache = CacheopsCache(setting["LOCATION"], setting)
    cache.set("k", "v")
    assert cacheops.connect(memcachier_url).get(":1:k") == "v"
    assert AUTH_PASSWORD not in _safe_settings({"default": setting})
    # Why: a password written into LOCATION is printed as it is (the key is not secret-looking).
    assert AUTH_PASSWORD in _safe_settings({"default": {**setting, "LOCATION": memcachier_url}})

    monkeypatch.delenv("SESSIONS_CACHE_URL")
    with pytest.raises(ImproperlyConfigured, match="SESSIONS_CACHE_URL, which is not set"):
        CacheopsCache("env:SESSIONS_CACHE_URL", {})
    monkeypatch.setenv("SESSIONS_CACHE_URL", "redis://user:hunter2@h")
    with pytest.raises(ImproperlyConfigured, match="SESSIONS_CACHE_URL: unknown scheme") as bad:
        CacheopsCache("env:SESSIONS_CACHE_URL", {})
    assert "hunter2" not in str(bad.value)


@pytest.mark.parametrize("shape", [list, tuple])
def test_a_list_location_is_a_memcached_cluster(memcached_cluster: Any, shape: type) -> None:
    """Django's usual multi-server LOCATION, ``["host1:11211", "host2:11211"]``."""
    for server in memcached_cluster.servers:
        server.flush_all()
    hosts = shape(server.server for server in memcached_cluster.servers)
    cache = CacheopsCache(hosts, {})
    assert cache.backend.location == "memcached://" + ",".join(hosts)
    cache.set_many({f"k{i}": i for i in range(30)})
    assert cache.get_many([f"k{i}" for i in range(30)]) == {f"k{i}": i for i in range(30)}
    items = [int(server.stats()["curr_items"]) for server in memcached_cluster.servers]
    assert sum(items) == 30 and all(items)  # spread over every server


@pytest.mark.parametrize(
    "location, message",
    [
        (["memcached://a:11211", "memcached://b:11211"], "memcached://host1:11211,host2:11211"),
        (["user:hunter2@a:11211"], "memcached://host1:11211,host2:11211"),
        (["a:11211", 11211], "memcached://host1:11211,host2:11211"),
        ([], "memcached://host1:11211,host2:11211"),
        (["a:0"], "port"),
        ("127.0.0.1:11211;127.0.0.2:11211", "memcached://host1:11211,host2:11211"),
        ({"host": "a"}, "memcached://host1:11211,host2:11211"),
    ],
)
def test_a_bad_location_shape_is_improperly_configured(location: Any, message: str) -> None:
    from django.core.exceptions import ImproperlyConfigured

    with pytest.raises(ImproperlyConfigured, match=message) as raised:
        CacheopsCache(location, {})
    assert "hunter2" not in str(raised.value)


def test_an_unreadable_value_is_a_miss(memcached_server: Any, memcached_url: str) -> None:
    """Bytes another client left on a real memcached (a non-number under the int flag, bad
    UTF-8, broken JSON) read as misses, so one bad write is recomputed, not a 500."""
    from django.core.cache import caches
    from django.test.utils import override_settings
    from djcacheops_support import cache_settings
    from pymemcache.client.base import Client

    from cacheops.serializers import FLAG_INT, FLAG_JSON, FLAG_STR

    other = Client(memcached_server.address)
    for name, flags, payload in [
        ("i", FLAG_INT, b"abc"),
        ("s", FLAG_STR, b"\xff"),
        ("j", FLAG_JSON, b"{"),
    ]:
        other.set(f":1:{name}", payload, flags=flags, noreply=False)
    other.close()
    with override_settings(CACHES=cache_settings(memcached_url)):
        cache = caches["default"]
        cache.set("ok", "fine")
        assert cache.get("i", "miss") == "miss"
        assert cache.get_many(["i", "s", "j", "ok"]) == {"ok": "fine"}
        assert cache.has_key("j") is False
        assert cache.get_or_set("s", "recomputed") == "recomputed"
        cache.set("s", "rewritten")  # what the view's next write does
        assert cache.get("s") == "rewritten"


# -- get_or_compute: get_or_set with stampede protection -----------------------------------


def test_get_or_compute_runs_compute_once_for_many_threads(cache: BaseCache) -> None:
    assert isinstance(cache, CacheopsCache)
    calls: list[int] = []
    start = threading.Barrier(8)

    def compute() -> list[int]:
        calls.append(1)
        time.sleep(0.3)
        return [len(calls)]

    results: list[Any] = []

    def worker() -> None:
        start.wait()
        results.append(cache.get_or_compute("hot", compute, 60))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[1]] * 8
    assert len(calls) == 1
    assert cache.get("hot") == [1]  # Django's own get sees the value
    assert cache.get("hot", version=2) is None


def test_get_or_compute_follows_djangos_timeouts(cache: BaseCache) -> None:
    assert isinstance(cache, CacheopsCache)
    calls: list[int] = []

    def compute() -> int:
        calls.append(1)
        return len(calls)

    assert cache.get_or_compute("never", compute, timeout=0) == 1  # 0: do not cache
    assert cache.get_or_compute("never", compute, timeout=0) == 2
    assert cache.get("never") is None
    assert cache.get_or_compute("forever", compute, timeout=None) == 3
    assert cache.get_or_compute("forever", compute, timeout=None) == 3
    with pytest.raises(InvalidCacheKey):
        cache.get_or_compute("bad key", compute)


def test_get_or_compute_serves_the_stale_value_under_fail_safe(
    cache: BaseCache, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(cache, CacheopsCache)
    cache.get_or_compute("k", lambda: "last good", 0.3, grace=60, fail_safe=True)
    time.sleep(0.5)

    def broken() -> str:
        raise RuntimeError("database down")

    with caplog.at_level("WARNING", logger="cacheops"):
        assert cache.get_or_compute("k", broken, 0.3, grace=60, fail_safe=True) == "last good"
    assert "database down" in caplog.text
    with pytest.raises(RuntimeError):
        cache.get_or_compute("k", broken, 0.3, grace=60)


def test_aget_or_compute(cache: BaseCache) -> None:
    assert isinstance(cache, CacheopsCache)

    async def main() -> None:
        assert await cache.aget_or_compute("a", lambda: "computed", 60, grace=5) == "computed"
        assert await cache.aget_or_compute("a", lambda: "again", 60) == "computed"

    asyncio.run(main())
