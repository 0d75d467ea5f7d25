"""flask_cacheops.flask_caching.CacheopsCache under Flask-Caching's own decorators."""

from __future__ import annotations

import dataclasses
import datetime
import uuid
from typing import Any

import pytest
from counting import Calls
from flask import Flask, request
from flask_caching import Cache

import cacheops
from cacheops.testing.net import free_port
from flask_cacheops.flask_caching import CacheopsCache

CACHE_TYPE = "flask_cacheops.flask_caching.CacheopsCache"


def make_app(**config: Any) -> tuple[Flask, Cache]:
    app = Flask(f"test_{uuid.uuid4().hex[:8]}")
    app.config.update(TESTING=True, CACHE_TYPE=CACHE_TYPE, **config)
    return app, Cache(app)


@dataclasses.dataclass(frozen=True)
class Point:
    x: int
    y: int


def test_flask_caching_builds_a_cacheops_backend(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url, CACHE_KEY_PREFIX="app1_")
    with app.app_context():
        backend = cache.cache
        assert isinstance(backend, CacheopsCache)
        assert backend.backend.key_prefix == "app1_"
        assert backend.backend.location.split("://")[0] == any_cache_url.split("://")[0]
        assert backend.default_timeout == 300
        assert backend.admin.info()["backend"]


def test_cached_view_is_computed_once(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/page")
    @cache.cached(timeout=60)
    def page() -> Any:
        return {"call": calls()}, 200, {"X-Computed": "yes"}

    @app.get("/search")
    @cache.cached(query_string=True)
    def search() -> str:
        return f"{request.args.get('q')} {calls()}"

    client = app.test_client()
    assert client.get("/page").json == client.get("/page").json == {"call": 1}
    assert client.get("/page").headers["X-Computed"] == "yes"
    assert client.get("/search?q=a&z=1").text == client.get("/search?z=1&q=a").text
    assert client.get("/search?q=b").text == "b 3"
    assert calls.count == 3


def test_cached_view_keys_with_spaces_and_unicode_are_hashed(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/<path:p>")
    @cache.cached()
    def page(p: str) -> str:
        return f"{p} {calls()}"

    client = app.test_client()
    for path in ["caf\u00e9 cr\u00e8me", "x" * 300]:
        assert client.get(f"/{path}").text == client.get(f"/{path}").text
    assert calls.count == 2


def test_memoize_distinguishes_arguments_and_pickles_any_result(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @cache.memoize(timeout=60)
    def locate(a: Any, b: int = 0) -> tuple[Point, int]:
        return Point(1, 2), calls()

    with app.app_context():
        first = locate(1)
        assert locate(1) == first == (Point(1, 2), 1)
        assert locate("1")[1] == 2
        assert locate(1, 5)[1] == 3
        assert locate(1) == first
        cache.delete_memoized(locate, 1)
        assert locate(1)[1] == 4
        assert locate("1")[1] == 2
        cache.delete_memoized(locate)
        assert locate("1")[1] == 5
        assert calls.count == 5


def test_memoize_caches_with_default_timeout_zero(any_cache_url: str) -> None:
    # Flask-Caching stores memoize's version keys with timeout 0: "never expire". A backend
    # that took 0 as cacheops' "expire at once" would never serve a memoized value.
    app, cache = make_app(CACHEOPS_URL=any_cache_url, CACHE_DEFAULT_TIMEOUT=0)
    calls = Calls()

    @cache.memoize()
    def f() -> int:
        return calls()

    with app.app_context():
        assert f() == f() == 1


def test_timeouts_follow_flask_cachings_rule() -> None:
    now = [1000.0]
    name = f"memory://timeouts-{uuid.uuid4().hex}"
    app, cache = make_app(
        CACHEOPS_URL=name, CACHE_DEFAULT_TIMEOUT=30, CACHE_OPTIONS={"clock": lambda: now[0]}
    )
    with app.app_context():
        cache.set("default", 1)
        cache.set("short", 1, timeout=5)
        cache.set("forever", 1, timeout=0)
        cache.set("expired", 1, timeout=-1)
        cache.add("added", 1)
        cache.set_many({"many": 1})
        assert not cache.has("expired")
        now[0] += 6
        assert cache.get("short") is None
        assert cache.get_many("default", "many", "added") == [1, 1, 1]
        now[0] += 30
        assert cache.get_many("default", "many", "added") == [None, None, None]
        now[0] += 10**8
        assert cache.get("forever") == 1


def test_default_timeout_zero_means_forever() -> None:
    now = [1000.0]
    app, cache = make_app(
        CACHEOPS_URL=f"memory://forever-{uuid.uuid4().hex}",
        CACHE_DEFAULT_TIMEOUT=0,
        CACHE_OPTIONS={"clock": lambda: now[0]},
    )
    with app.app_context():
        cache.set("k", "v")
        now[0] += 10**8
        assert cache.get("k") == "v"


def test_timeouts_on_servers(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url)
    with app.app_context():
        assert cache.set("forever", [1], timeout=0)
        assert cache.set("expired", [1], timeout=-1)
        assert cache.get("forever") == [1]
        assert cache.get("expired") is None


def test_huge_timeouts_are_shortened_to_the_backends_maximum(any_cache_url: str) -> None:
    """Flask-Caching's own ``test_huge_timeouts`` (30 days and a second, set then get), and
    a year through the decorators: on IronCache, whose maximum is 30 days, they are stored
    for 30 days rather than refused (which left nothing cached); elsewhere as given."""
    thirty_days = 30 * 24 * 3600
    app, cache = make_app(CACHEOPS_URL=any_cache_url, CACHE_DEFAULT_TIMEOUT=365 * 24 * 3600)
    calls = Calls()

    @app.get("/")
    @cache.cached()
    def index() -> str:
        return f"call {calls()}"

    with app.app_context():
        assert cache.set("foo", "bar", thirty_days + 1)
        assert cache.get("foo") == "bar"
        assert cache.add("added", 1, datetime.timedelta(days=400)) is True
        assert cache.set_many({"many": 2}, 400 * 24 * 3600) == ["many"]
        assert cache.get_many("added", "many") == [1, 2]
        backend = cache.cache.backend
        assert cache.cache._ttl(thirty_days + 1) == (backend.max_ttl or thirty_days + 1)
    client = app.test_client()
    assert client.get("/").text == client.get("/").text == "call 1"


def test_the_rest_of_the_api(any_cache_url: str) -> None:
    app, cache = make_app(CACHEOPS_URL=any_cache_url)
    with app.app_context():
        assert cache.set_many({"a": 1, "b": Point(0, 0)}) == ["a", "b"]
        assert cache.get_dict("a", "b", "c") == {"a": 1, "b": Point(0, 0), "c": None}
        assert cache.has("a") and not cache.has("c")
        assert cache.add("a", 2) is False
        assert cache.add("c", 3) is True
        assert cache.cache.inc("a") == 2
        assert cache.cache.inc("new", 5) == 5
        assert cache.cache.dec("a") == 1
        assert cache.delete("a") is True
        assert cache.delete("a") is False
        assert sorted(cache.delete_many("b", "c", "missing")) == ["b", "c", "missing"]
        cache.set("x", None)
        assert cache.has("x")  # None is a value
        assert cache.clear() is True
        assert not cache.has("x")


def test_the_key_prefix_is_cache_key_prefix(any_cache_url: str) -> None:
    app, cache = make_app(
        CACHEOPS_URL=any_cache_url,
        CACHE_KEY_PREFIX="mine_",
        CACHE_OPTIONS={"key_prefix": "ignored_"},
    )
    with app.app_context():
        cache.set("k", "v")
    raw = cacheops.connect(any_cache_url, serializer="pickle")
    assert raw.get("mine_k") == "v"
    assert raw.get("ignored_k") is None


def test_a_secret_signs_the_pickles(any_cache_url: str) -> None:
    secret = "x" * 32
    app, cache = make_app(CACHEOPS_URL=any_cache_url, CACHE_OPTIONS={"secret": secret})
    with app.app_context():
        cache.set("p", Point(1, 2))
        assert cache.get("p") == Point(1, 2)
    unsigned = cacheops.connect(any_cache_url, serializer="pickle", key_prefix="flask_cache_")
    with pytest.raises(cacheops.SerializationError, match="signed"):
        unsigned.get("p")
    # A pickle an attacker wrote without the secret is refused and read as a miss.
    unsigned.put("evil", Point(6, 6))
    with app.app_context():
        assert cache.get("evil") is None
        assert cache.get_many("evil", "p") == [None, Point(1, 2)]
        assert cache.has("evil")


def test_cache_args_may_hold_the_url() -> None:
    url = f"memory://args-{uuid.uuid4().hex}"
    app, cache = make_app(CACHE_ARGS=[url])
    with app.app_context():
        backend = cache.cache
        assert isinstance(backend, CacheopsCache)
        assert backend.backend.location == url


def test_without_a_url_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"memory://env-{uuid.uuid4().hex}"
    monkeypatch.setenv("CACHEOPS_URL", url)
    app, cache = make_app()
    with app.app_context():
        backend = cache.cache
        assert isinstance(backend, CacheopsCache)
        assert backend.backend.location == url


@pytest.mark.parametrize(
    "config, message",
    [
        ({"CACHEOPS_URL": "redis://h"}, "CacheopsCache: CACHEOPS_URL: unknown scheme"),
        ({"CACHE_ARGS": ["memory://", "x"]}, "CACHE_ARGS takes at most one item"),
        ({"CACHE_OPTIONS": {"colour": 1}}, "unknown option 'colour'"),
        ({"CACHEOPS_URL": "memcachier://u:hunter2@h:0"}, "port"),
    ],
)
def test_configuration_errors(config: dict[str, Any], message: str) -> None:
    with pytest.raises(cacheops.ConfigurationError, match=message) as info:
        make_app(**config)
    assert "hunter2" not in str(info.value)


def test_an_outage_is_a_miss_when_asked() -> None:
    url = f"memcached://127.0.0.1:{free_port()}"
    app, cache = make_app(CACHEOPS_URL=url, CACHE_OPTIONS={"on_error": "miss"})
    calls = Calls()

    @app.get("/")
    @cache.cached()
    def index() -> str:
        return f"call {calls()}"

    client = app.test_client()
    assert client.get("/").text == "call 1"
    assert client.get("/").text == "call 2"


def test_the_default_outage_is_logged_by_flask_caching_and_the_view_still_runs() -> None:
    url = f"memcached://127.0.0.1:{free_port()}"
    app, cache = make_app(CACHEOPS_URL=url)

    @app.get("/")
    @cache.cached()
    def index() -> str:
        return "served"

    assert app.test_client().get("/").text == "served"
    with app.app_context(), pytest.raises(cacheops.BackendUnavailable):
        cache.get("k")


def test_an_unreadable_value_is_a_miss(memcached_server: Any, memcached_url: str) -> None:
    """A broken pickle and bad UTF-8 another client left on a real memcached read as misses."""
    from pymemcache.client.base import Client

    from cacheops.serializers import FLAG_PICKLE, FLAG_STR

    app, cache = make_app(CACHEOPS_URL=memcached_url)
    other = Client(memcached_server.address)
    other.set("flask_cache_p", b"\x80\x05broken", flags=FLAG_PICKLE, noreply=False)
    other.set("flask_cache_s", b"\xff\xfe", flags=FLAG_STR, noreply=False)
    other.close()
    with app.app_context():
        cache.set("ok", 1)
        assert cache.get("p") is None
        assert cache.get_many("p", "s", "ok") == [None, None, 1]


def test_a_none_key_prefix_is_no_prefix(memcached_url: str) -> None:
    # cachelib's own tests build their caches with key_prefix=None.
    cache = CacheopsCache(memcached_url, key_prefix=None)
    assert cache.backend.key_prefix == ""
    cache.set("k", "v")
    assert cacheops.connect(memcached_url, serializer="pickle").get("k") == "v"
