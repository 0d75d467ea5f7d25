"""flask_cacheops: the extension, its decorators and its CLI, on every backend."""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import re
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from counting import Calls
from flask import Flask, Response, abort, request, session

import cacheops
from cacheops.cli import EXIT_CODES
from cacheops.testing.net import free_port
from flask_cacheops import DEFAULT, Cacheops, CacheopsState
from flask_cacheops import keys as flask_keys


@pytest.fixture
def no_cache_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    """Nothing in the environment names a cache: connect() falls back to memory://."""
    for name in list(os.environ):
        if name.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def make_app(ext: Cacheops | None = None, **config: Any) -> tuple[Flask, Cacheops]:
    app = Flask(f"test_{uuid.uuid4().hex[:8]}")
    app.config.update(TESTING=True, SECRET_KEY="test-secret", **config)
    ext = ext or Cacheops()
    ext.init_app(app)
    return app, ext


# -- cached views ---------------------------------------------------------------------


def test_a_cached_view_is_computed_once(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/page/<name>")
    @ext.cached(ttl=60)
    def page(name: str) -> Any:
        return {"name": name, "call": calls()}, 200, {"X-Computed": "yes"}

    client = app.test_client()
    first = client.get("/page/a")
    second = client.get("/page/a")
    assert first.status_code == second.status_code == 200
    assert first.json == second.json == {"name": "a", "call": 1}
    assert second.headers["X-Computed"] == "yes"
    assert second.headers["Content-Type"] == "application/json"
    assert client.get("/page/b").json == {"name": "b", "call": 2}
    assert calls.count == 2


def test_a_hit_restores_status_headers_and_body_exactly(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    body = bytes(range(256)) * 4  # every byte value, newlines included

    @app.get("/blob")
    @ext.cached()
    def blob() -> Response:
        response = Response(body, status="200 FINE", content_type="application/x-thing")
        response.headers.add("X-Multi", "one")
        response.headers.add("X-Multi", "two")
        response.headers["X-Unicode"] = "caf\u00e9"
        response.headers["ETag"] = '"v1"'
        return response

    client = app.test_client()
    miss, hit = client.get("/blob"), client.get("/blob")
    assert hit.status == miss.status == "200 FINE"
    assert hit.data == miss.data == body
    assert list(hit.headers.items()) == list(miss.headers.items())
    assert hit.headers.getlist("X-Multi") == ["one", "two"]


def test_unless_bypasses_the_cache(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()
    bypass = {"on": True}

    @app.get("/maybe")
    @ext.cached(unless=lambda: bypass["on"])
    def maybe() -> str:
        return f"call {calls()}"

    client = app.test_client()
    assert client.get("/maybe").text == "call 1"
    assert client.get("/maybe").text == "call 2"  # neither read nor stored
    bypass["on"] = False
    assert client.get("/maybe").text == "call 3"
    assert client.get("/maybe").text == "call 3"
    bypass["on"] = True
    assert client.get("/maybe").text == "call 4"  # bypass ignores the stored page too


@pytest.mark.parametrize(
    "status, extra",
    [
        (404, {}),
        (500, {}),
        (201, {}),
        (206, {"Content-Range": "bytes 0-3/10"}),
        (302, {"Location": "/elsewhere"}),
    ],
)
def test_responses_other_than_200_are_not_cached(
    any_cache_url: str, status: int, extra: dict[str, str]
) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/status")
    @ext.cached()
    def status_view() -> Any:
        return f"call {calls()}", status, extra

    client = app.test_client()
    assert client.get("/status").status_code == status
    assert client.get("/status").status_code == status
    assert calls.count == 2


def test_an_aborted_view_is_not_cached() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @app.get("/gone")
    @ext.cached()
    def gone() -> str:
        calls()
        abort(410)

    client = app.test_client()
    assert client.get("/gone").status_code == client.get("/gone").status_code == 410
    assert calls.count == 2


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda r: r.set_cookie("who", "alice"), id="set-cookie"),
        pytest.param(lambda r: r.headers.add("Vary", "Accept-Language"), id="vary"),
        pytest.param(lambda r: setattr(r.cache_control, "private", True), id="private"),
        pytest.param(lambda r: setattr(r.cache_control, "no_store", True), id="no-store"),
    ],
)
def test_responses_for_one_visitor_are_not_cached(make: Callable[[Response], None]) -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @app.get("/mine")
    @ext.cached()
    def mine() -> Response:
        response = Response(f"call {calls()}")
        make(response)
        return response

    client = app.test_client()
    client.get("/mine")
    assert client.get("/mine").text == "call 2"


def test_a_streamed_response_is_not_cached() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @app.get("/stream")
    @ext.cached()
    def stream() -> Response:
        n = calls()
        return Response(iter([b"call ", str(n).encode()]))

    client = app.test_client()
    assert client.get("/stream").text == "call 1"
    assert client.get("/stream").text == "call 2"


def test_only_get_and_head_use_the_cache() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @app.route("/form", methods=["GET", "POST"])
    @ext.cached()
    def form() -> str:
        return f"{request.method} {calls()}"

    client = app.test_client()
    assert client.post("/form").text == "POST 1"
    assert client.get("/form").text == "GET 2"
    assert client.post("/form").text == "POST 3"  # never served from the cache
    assert client.get("/form").text == "GET 2"
    head = client.head("/form")
    assert head.status_code == 200 and head.data == b""
    assert head.headers["Content-Length"] == str(len("GET 2"))


def test_the_query_string_is_ignored_unless_asked_for(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/plain")
    @ext.cached()
    def plain() -> str:
        return f"{sorted(request.args.items(multi=True))} {calls()}"

    @app.get("/search")
    @ext.cached(query_string=True)
    def search() -> str:
        return f"{request.args.getlist('t')} {calls()}"

    client = app.test_client()
    assert client.get("/plain?a=1").text == "[('a', '1')] 1"
    assert client.get("/plain?a=2").text == "[('a', '1')] 1"

    first = client.get("/search?q=x&t=1&t=2").text
    assert client.get("/search?t=1&q=x&t=2").text == first  # sorted by name
    assert client.get("/search?t=2&t=1&q=x").text != first  # repeated names keep order
    assert client.get("/search?q=y&t=1&t=2").text != first


def test_view_keys_are_readable_and_fit_every_backend(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/<path:anything>")
    @ext.cached(query_string=True)
    def anything(anything: str) -> str:
        return f"{anything} {calls()}"

    client = app.test_client()
    for path in ["caf\u00e9 au lait", "a" * 400, "100%25/x?y=%20z", "tab\there"]:
        first = client.get(f"/{path}").text
        assert client.get(f"/{path}").text == first
    assert calls.count == 4
    with app.test_request_context():
        backend = ext.backend
        assert flask_keys.view_key(backend, "view", "/caf\u00e9 x", [("b", "1"), ("a", "2")]) == (
            "view:/caf%C3%A9%20x?a=2&b=1"
        )
        long_key = flask_keys.view_key(backend, "view", "/" + "a" * 400)
        assert long_key.startswith("view:#") and len(long_key) < 100


def test_ttl_and_the_default_ttl() -> None:
    now = [1000.0]
    app, ext = make_app(
        CACHEOPS_URL="memory://",
        CACHEOPS_DEFAULT_TTL=30,
        CACHEOPS_OPTIONS={"clock": lambda: now[0]},
    )
    calls = Calls()

    @app.get("/default")
    @ext.cached()
    def default() -> str:
        return f"default {calls()}"

    @app.get("/short")
    @ext.cached(ttl=5)
    def short() -> str:
        return f"short {calls()}"

    @app.get("/forever")
    @ext.cached(ttl=None)
    def forever() -> str:
        return f"forever {calls()}"

    @app.get("/never")
    @ext.cached(ttl=0)
    def never() -> str:
        return f"never {calls()}"

    client = app.test_client()
    pages = {p: client.get(p).text for p in ("/default", "/short", "/forever", "/never")}
    now[0] += 6
    assert client.get("/short").text != pages["/short"]
    assert client.get("/default").text == pages["/default"]
    assert client.get("/never").text != pages["/never"]
    now[0] += 30
    assert client.get("/default").text != pages["/default"]
    now[0] += 10**7
    assert client.get("/forever").text == pages["/forever"]


def test_an_async_view_is_cached() -> None:
    pytest.importorskip("asgiref")  # Flask runs async views through it
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @app.get("/async")
    @ext.cached()
    async def page() -> str:
        return f"call {calls()}"

    client = app.test_client()
    assert client.get("/async").text == client.get("/async").text == "call 1"


def test_an_async_view_uses_memoize_and_cached_together() -> None:
    pytest.importorskip("asgiref")  # Flask runs async views through it
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @ext.memoize()
    def lookup(name: str) -> str:
        return f"{name} {calls()}"

    @app.get("/hello/<name>")
    @ext.cached()
    async def hello(name: str) -> str:
        return lookup(name)

    client = app.test_client()
    assert client.get("/hello/ada").text == client.get("/hello/ada").text == "ada 1"
    assert client.get("/hello/bob").text == "bob 2"
    with app.app_context():
        assert lookup("bob") == "bob 2"  # the memoized result, shared with the view


def test_cached_outside_a_request_is_a_clear_error() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")

    @ext.cached()
    def not_a_view() -> str:
        return "x"

    with app.app_context(), pytest.raises(RuntimeError, match="use @memoize"):
        not_a_view()


def test_concurrent_requests_are_safe(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @app.get("/busy/<int:n>")
    @ext.cached()
    def busy(n: int) -> str:
        return f"{n}:{calls()}"

    results: list[tuple[int, str]] = []
    errors: list[BaseException] = []

    def worker(n: int) -> None:
        client = app.test_client()
        try:
            for _ in range(5):
                response = client.get(f"/busy/{n % 3}")
                results.append((n % 3, response.text))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 40
    for n, text in results:
        assert text.startswith(f"{n}:")
    # Each page is stored once it is computed; later loads all agree with the cache.
    client = app.test_client()
    final = {n: client.get(f"/busy/{n}").text for n in range(3)}
    assert all(client.get(f"/busy/{n}").text == final[n] for n in range(3))


# -- memoize ----------------------------------------------------------------------------


class Colour(enum.Enum):
    RED = 1


@dataclasses.dataclass(frozen=True)
class Account:
    id: int

    def __cache_key__(self) -> int:
        return self.id


def test_memoize_keys_distinguish_arguments_and_types(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @ext.memoize()
    def lookup(a: Any, b: Any = 2, *rest: Any, **extra: Any) -> list[Any]:
        return [repr(a), calls()]

    with app.app_context():
        first = lookup(1)
        assert lookup(1) == first
        assert lookup(a=1) == first  # bound to the same call
        assert lookup(1, 2) == first  # the default made explicit
        distinct = [
            lookup("1"),
            lookup(1.0),
            lookup(True),
            lookup(1, 3),
            lookup(1, 2, 3),
            lookup(1, x=1),
            lookup((1,)),
            lookup([1]),
            lookup({"a": 1}),
            lookup(frozenset({1})),
            lookup(Colour.RED),
            lookup(b"1"),
            lookup(None),
            lookup(Account(1)),
        ]
        assert calls.count == 15
        assert len({tuple(r) for r in distinct}) == len(distinct)
        assert lookup(Account(1)) == distinct[-1]  # __cache_key__: equal accounts, one key
        assert lookup({"a": 1}) == distinct[8]
        assert calls.count == 15


def test_memoize_caches_none_and_falsy_results(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @ext.memoize()
    def nothing(kind: str) -> Any:
        calls()
        return {"none": None, "zero": 0, "empty": "", "false": False}[kind]

    with app.app_context():
        for kind in ("none", "zero", "empty", "false"):
            assert nothing(kind) == nothing(kind)
    assert calls.count == 4


def test_memoize_keys_are_stable_across_processes() -> None:
    arguments = [("a", frozenset({"x", "y", "z", "w"})), ("b", {"k": {1, 2, 3}, "j": (1.5, None)})]
    here = flask_keys.arguments_digest(arguments)
    code = (
        "from flask_cacheops.keys import arguments_digest;"
        "print(arguments_digest([('a', frozenset({'x','y','z','w'})),"
        "('b', {'k': {1,2,3}, 'j': (1.5, None)})]))"
    )
    for seed in ("1", "2", "3"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == here


def test_memoize_keys_have_the_documented_shape() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")

    @ext.memoize()
    def f(a: int) -> int:
        return a

    @ext.memoize(name="reports.total")
    def g(a: int) -> int:
        return a

    with app.app_context():
        key = ext.memoize_key(f, 1)
        head, version, digest = key.rsplit(":", 2)
        assert head == f"memo:{__name__}.test_memoize_keys_have_the_documented_shape.<locals>.f"
        assert version.isdigit() and len(digest) == 32
        assert ext.memoize_key(g, 1).startswith("memo:reports.total:")
        assert ext.memoize_key(f, a=1) == key


def test_memoize_refuses_arguments_without_a_stable_key() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")

    class Opaque:
        pass

    @ext.memoize()
    def f(thing: Any) -> int:
        return 1

    with app.app_context(), pytest.raises(TypeError, match="__cache_key__"):
        f(Opaque())


def test_memoize_ignore_leaves_arguments_out_of_the_key() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    class Repository:
        @ext.memoize(ignore=("self", "log"))
        def find(self, id: int, log: Any = None) -> list[int]:
            return [id, calls()]

    with app.app_context():
        assert Repository().find(1, log=object()) == Repository().find(1) == [1, 1]
        ext.delete_memoized(Repository.find, Repository(), 1)
        assert Repository().find(1) == [1, 2]

    with pytest.raises(TypeError, match="does not take"):
        ext.memoize(ignore=("nope",))(lambda a: a)


def test_memoize_wrong_arguments_raise_pythons_own_error() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")

    @ext.memoize()
    def f(a: int) -> int:
        return a

    with app.app_context(), pytest.raises(TypeError, match="unexpected keyword argument"):
        f(b=1)  # type: ignore[call-arg]


def test_memoize_results_go_through_the_serializer(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)

    @ext.memoize()
    def pair() -> tuple[int, int]:
        return (1, 2)

    with app.app_context(), pytest.raises(cacheops.SerializationError, match="pickle"):
        pair()

    app, ext = make_app(
        CACHEOPS_URL=any_cache_url,
        CACHEOPS_OPTIONS={"serializer": "pickle", "secret": "s" * 32},
        CACHEOPS_KEY_PREFIX="pickled:",
    )

    @ext.memoize()
    def pickled() -> tuple[int, Account]:
        return (1, Account(7))

    with app.app_context():
        assert pickled() == pickled() == (1, Account(7))


def test_memoize_unless_and_rejections() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @ext.memoize(unless=lambda: True)
    def f() -> int:
        return calls()

    with app.app_context():
        assert (f(), f()) == (1, 2)

    async def coroutine() -> None:
        pass

    with pytest.raises(TypeError, match="coroutines"):
        ext.memoize()(coroutine)

    def generator() -> Iterator[int]:
        yield 1

    with pytest.raises(TypeError, match="generator"):
        ext.memoize()(generator)


def test_delete_memoized_one_call_or_every_call(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()

    @ext.memoize(ttl=60)
    def square(n: int) -> list[int]:
        return [n * n, calls()]

    with app.app_context():
        one, two = square(1), square(2)
        ext.delete_memoized(square, 1)
        assert square(1) == [1, 3]
        assert square(2) == two
        ext.delete_memoized(square, n=2)  # keyword or positional: one call
        assert square(2) == [4, 4]

        version_key = flask_keys.version_key(
            flask_keys.memo_head(ext.backend, ext._memoized(square).name)
        )
        before = ext.backend.get(version_key)
        ext.delete_memoized(square)
        assert ext.backend.get(version_key) == before + 1  # one atomic increment
        assert square(1) == [1, 5]
        assert square(2) == [4, 6]
        assert square(1) == [1, 5]
        assert one == [1, 1]

    with pytest.raises(TypeError, match="not a function decorated with @memoize"):
        ext.delete_memoized(lambda: None)


def test_an_evicted_version_counter_does_not_revive_old_results() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    calls = Calls()

    @ext.memoize()
    def f() -> int:
        return calls()

    with app.app_context():
        assert f() == 1
        ext.delete_memoized(f)
        assert f() == 2
        head = flask_keys.memo_head(ext.backend, ext._memoized(f).name)
        ext.backend.delete(flask_keys.version_key(head))  # as an LRU eviction would
        assert f() == 3


def test_memoize_needs_an_app_context() -> None:
    _, ext = make_app(CACHEOPS_URL="memory://")

    @ext.memoize()
    def f() -> int:
        return 1

    with pytest.raises(RuntimeError, match="application context"):
        f()


# -- apps, configuration ----------------------------------------------------------------


def test_two_apps_do_not_share_a_cache_by_accident(no_cache_environment: None) -> None:
    ext = Cacheops()
    first, _ = make_app(ext)
    second, _ = make_app(ext)
    calls = Calls()

    for app in (first, second):

        @app.get("/")
        @ext.cached()
        def index() -> str:
            return f"call {calls()}"

    assert first.test_client().get("/").text == "call 1"
    assert second.test_client().get("/").text == "call 2"
    assert first.test_client().get("/").text == "call 1"
    with first.app_context():
        first_backend = ext.backend
        ext.backend.put("k", "first")
    with second.app_context():
        assert ext.backend is not first_backend
        assert ext.backend.get("k") is None
    assert isinstance(first.extensions["cacheops"], CacheopsState)


def test_apps_on_one_server_are_kept_apart_by_their_prefixes(any_cache_url: str) -> None:
    ext = Cacheops()
    first, _ = make_app(ext, CACHEOPS_URL=any_cache_url, CACHEOPS_KEY_PREFIX="one:")
    second, _ = make_app(ext, CACHEOPS_URL=any_cache_url, CACHEOPS_KEY_PREFIX="two:")
    calls = Calls()

    @ext.memoize()
    def f() -> int:
        return calls()

    with first.app_context():
        assert f() == 1
    with second.app_context():
        assert f() == 2
    with first.app_context():
        assert f() == 1
        assert ext.backend.key_prefix == "one:"


def test_named_caches(any_cache_url: str) -> None:
    app, ext = make_app(
        CACHEOPS_URL="memory://",
        CACHEOPS_CACHES={
            "pages": {"url": any_cache_url, "key_prefix": "pages:", "default_ttl": None},
            "scratch": {"url": "memory://", "options": {"max_items": 10}},
        },
    )
    calls = Calls()

    @app.get("/")
    @ext.cached(cache="pages")
    def index() -> str:
        return f"call {calls()}"

    @ext.memoize(cache="scratch")
    def f() -> int:
        return calls()

    client = app.test_client()
    assert client.get("/").text == client.get("/").text == "call 1"
    with app.app_context():
        assert f() == f() == 2
        assert ext.cache("pages").key_prefix == "pages:"
        assert ext.cache("pages").get("view:/") is not None
        assert ext.backend.get("view:/") is None
        state = app.extensions["cacheops"]
        assert list(state) == ["default", "pages", "scratch"]
        assert state["pages"].default_ttl is None
        assert state["scratch"].default_ttl == 300
        with pytest.raises(cacheops.ConfigurationError, match="no cache named 'nope'"):
            ext.cache("nope")


def test_a_named_cache_without_a_url_is_where_the_default_cache_is(any_cache_url: str) -> None:
    app, ext = make_app(
        CACHEOPS_URL=any_cache_url,
        CACHEOPS_CACHES={"pages": {"key_prefix": "pages:", "options": {"serializer": "pickle"}}},
    )
    with app.app_context():
        ext.cache("pages").put("k", ("tuple",))
        with pytest.raises(cacheops.SerializationError, match="pickle"):
            ext.backend.get("pages:k")  # the same place; the default cache reads JSON only
        assert ext.backend.key_prefix == ""
        assert ext.cache("pages").get("k") == ("tuple",)


def test_the_default_cache_can_be_an_entry_of_cacheops_caches() -> None:
    app, ext = make_app(CACHEOPS_CACHES={"default": {"url": "memory://", "key_prefix": "d:"}})
    with app.app_context():
        assert ext.backend.key_prefix == "d:"
        assert ext.admin.info()["backend"] == "memory"


def test_environment_configuration(monkeypatch: pytest.MonkeyPatch, any_cache_url: str) -> None:
    monkeypatch.setenv("CACHEOPS_URL", any_cache_url)
    app, ext = make_app()
    with app.app_context():
        assert ext.backend.location.split("://")[0] == any_cache_url.split("://")[0]


@pytest.mark.parametrize(
    "config, message",
    [
        ({"CACHEOPS_URL": "redis://x"}, "cache 'default': CACHEOPS_URL: unknown scheme 'redis'"),
        ({"CACHEOPS_URL": 42}, "CACHEOPS_URL must be a cacheops URL"),
        ({"CACHEOPS_OPTIONS": ["x"]}, "CACHEOPS_OPTIONS must be a dict"),
        ({"CACHEOPS_OPTIONS": {"colour": "red"}}, "unknown option 'colour'"),
        ({"CACHEOPS_OPTIONS": {"serializer": "xml"}}, "unknown serializer 'xml'"),
        ({"CACHEOPS_DEFAULT_TTL": "soon"}, "CACHEOPS_DEFAULT_TTL must be a number of seconds"),
        ({"CACHEOPS_DEFAULT_TTL": float("inf")}, "CACHEOPS_DEFAULT_TTL must be"),
        ({"CACHEOPS_KEY_PREFIX": 1}, "CACHEOPS_KEY_PREFIX must be a str"),
        ({"CACHEOPS_KEY_PREFIX": "has space"}, "key_prefix 'has space' is not a valid key"),
        (
            {"CACHEOPS_KEY_PREFIX": "a", "CACHEOPS_OPTIONS": {"key_prefix": "b"}},
            "the key prefix is set twice",
        ),
        ({"CACHEOPS_CACHES": ["x"]}, "CACHEOPS_CACHES must be a dict"),
        ({"CACHEOPS_CACHES": {"x": "memory://"}}, r"CACHEOPS_CACHES\['x'\] must be a dict"),
        ({"CACHEOPS_CACHES": {"x": {"ttl": 1}}}, "unknown setting"),
        ({"CACHEOPS_CACHES": {"": {}}}, "names are non-empty str"),
        (
            {"CACHEOPS_CACHES": {"x": {"url": "memcached://"}}},
            r"cache 'x': CACHEOPS_CACHES\['x'\]\['url'\]: memcached:// URL needs at least one host",
        ),
        (
            {"CACHEOPS_URL": "memory://", "CACHEOPS_CACHES": {"default": {}}},
            "the default cache is configured twice",
        ),
    ],
)
def test_configuration_errors_are_clear(config: dict[str, Any], message: str) -> None:
    with pytest.raises(cacheops.ConfigurationError, match=message):
        make_app(**config)


def test_configuration_errors_never_show_the_password() -> None:
    url = "memcachier://user:hunter2-pa55@host:99999"
    with pytest.raises(cacheops.ConfigurationError) as info:
        make_app(CACHEOPS_URL=url)
    assert "hunter2" not in str(info.value)
    assert "port" in str(info.value)


def test_init_app_builds_backends_without_the_network() -> None:
    url = f"memcachier://user:pw@127.0.0.1:{free_port()}"  # nothing listens there
    app, ext = make_app(CACHEOPS_URL=url)

    @app.get("/")
    @ext.cached()
    def index() -> str:
        return "hello"

    with app.app_context(), pytest.raises(cacheops.BackendUnavailable):
        ext.backend.get("k")

    app, ext = make_app(CACHEOPS_URL=url, CACHEOPS_OPTIONS={"on_error": "miss"})

    @app.get("/")
    @ext.cached()
    def index_on_miss() -> str:
        return "still served"

    assert app.test_client().get("/").text == "still served"


def test_misuse_is_a_clear_error() -> None:
    app, ext = make_app(CACHEOPS_URL="memory://")
    with pytest.raises(RuntimeError, match="already initialised"):
        ext.init_app(app)
    with pytest.raises(RuntimeError, match="application context"):
        ext.backend  # noqa: B018
    with app.app_context():
        assert Cacheops().backend is ext.backend  # the caches are the app's
    bare = Flask("bare")
    with bare.app_context(), pytest.raises(RuntimeError, match="not initialised"):
        ext.backend  # noqa: B018


def test_the_default_ttl_marker_is_public() -> None:
    app, _ = make_app(CACHEOPS_URL="memory://")
    with app.app_context():
        assert app.extensions["cacheops"]["default"].ttl(DEFAULT) == 300
        assert app.extensions["cacheops"]["default"].ttl(None) is None


def test_a_view_that_reads_the_session_is_the_apps_business() -> None:
    # The key is the path: what varies by visitor is kept out with `unless`.
    app, ext = make_app(CACHEOPS_URL="memory://")

    @app.get("/hello")
    @ext.cached(unless=lambda: "user" in session)
    def hello() -> str:
        return f"hello {session.get('user', 'stranger')}"

    client = app.test_client()
    assert client.get("/hello").text == "hello stranger"
    with client.session_transaction() as s:
        s["user"] = "alice"
    assert client.get("/hello").text == "hello alice"


# -- the CLI ----------------------------------------------------------------------------


def test_cli_stats_table_and_json(any_cache_url: str) -> None:
    app, ext = make_app(
        CACHEOPS_URL=any_cache_url, CACHEOPS_CACHES={"scratch": {"url": "memory://"}}
    )
    with app.app_context():
        ext.backend.put("k", "v")
        ext.backend.get("k")
        ext.backend.get("missing")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["cacheops", "stats"])
    assert result.exit_code == 0, result.output
    default, scratch = (
        dict(line.split(None, 1) for line in block.splitlines())
        for block in result.stdout.strip().split("\n\n")
    )
    assert (default["cache"], scratch["cache"]) == ("default", "scratch")
    if any_cache_url.startswith("memory"):  # servers count every test's lookups
        assert default["hit_rate"] == "50.0%"
    elif any_cache_url.startswith("memcachier"):
        assert re.fullmatch(r"\d+\.\d%", default["hit_rate"])

    for args in (
        ["stats", "--json", "--cache", "default"],
        ["--json", "stats", "--cache", "default"],
    ):
        result = runner.invoke(args=["cacheops", *args])
        assert result.exit_code == 0, result.output
        (line,) = result.stdout.splitlines()  # one JSON object per cache
        document = json.loads(line)
        assert document["cache"] == "default"
        assert document["location"].startswith(any_cache_url.split("://")[0])
        assert {"hits", "misses", "hit_rate", "items", "servers"} <= set(document)
        if any_cache_url.startswith("memory"):
            assert document["hit_rate"] == 0.5
        assert "s3cr3t" not in result.stdout


def test_cli_flush(any_cache_url: str) -> None:
    app, ext = make_app(
        CACHEOPS_URL=any_cache_url, CACHEOPS_CACHES={"scratch": {"url": "memory://"}}
    )
    with app.app_context():
        ext.backend.put("k", "v")
        ext.cache("scratch").put("k", "v")
    runner = app.test_cli_runner()

    result = runner.invoke(args=["cacheops", "flush"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("flushed default (")
    with app.app_context():
        assert ext.backend.get("k") is None
        assert ext.cache("scratch").get("k") == "v"

    result = runner.invoke(args=["cacheops", "flush", "--all", "--json"])
    assert result.exit_code == 0, result.output
    flushed = [json.loads(line) for line in result.stdout.splitlines()]
    assert [entry["cache"] for entry in flushed] == ["default", "scratch"]
    assert all(entry["flushed"] for entry in flushed)
    with app.app_context():
        assert ext.cache("scratch").get("k") is None


def test_cli_errors_are_one_line_without_secrets() -> None:
    url = f"memcachier://user:hunter2-pa55@127.0.0.1:{free_port()}"
    app, _ = make_app(CACHEOPS_URL=url)
    runner = app.test_cli_runner()
    for args in (["cacheops", "flush"], ["cacheops", "stats"], ["cacheops", "stats", "--json"]):
        result = runner.invoke(args=args)
        assert result.exit_code == EXIT_CODES[cacheops.BackendUnavailable], result.output
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
        assert "cache 'default'" in lines[0]
        assert "hunter2" not in result.stderr
        assert "Traceback" not in result.output

    result = runner.invoke(args=["cacheops", "flush", "--cache", "nope"])
    assert result.exit_code == 2
    assert result.stderr == "Error: no cache named 'nope'; configured: default\n"


def test_cli_refused_credentials_have_their_own_exit_code(memcachier_url: str) -> None:
    wrong = memcachier_url.replace("@", "-wrong@", 1)
    app, _ = make_app(CACHEOPS_URL=wrong)
    result = app.test_cli_runner().invoke(args=["cacheops", "stats"])
    # MemCachier's analytics API (v1 /login) answers 403 to a wrong password, as to a
    # credential without the API capability; the message names both.
    assert result.exit_code == EXIT_CODES[cacheops.PermissionDenied], result.output
    assert "password is wrong" in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "s3cr3t" not in result.stderr


def test_an_unreadable_cached_value_is_a_miss(memcached_server: Any, memcached_url: str) -> None:
    """Bytes another client left under a view's and a memoized function's keys (bad JSON
    on a real memcached) are recomputed and overwritten, not a 500 on every request."""
    from pymemcache.client.base import Client

    from cacheops.serializers import FLAG_JSON

    app, ext = make_app(CACHEOPS_URL=memcached_url)
    calls = Calls()

    @app.route("/page")
    @ext.cached()
    def page() -> str:
        calls()
        return "fresh"

    @ext.memoize()
    def double(x: int) -> int:
        calls()
        return 2 * x

    with app.app_context():
        view_key = flask_keys.view_key(ext.backend, "view", "/page")
        memo_key = ext.memoize_key(double, 4)
    other = Client(memcached_server.address)
    for key in (view_key, memo_key):
        other.set(key, b'{"broken', flags=FLAG_JSON, noreply=False)
    other.close()
    client = app.test_client()
    assert client.get("/page").get_data(as_text=True) == "fresh"
    assert client.get("/page").get_data(as_text=True) == "fresh"
    with app.app_context():
        assert double(4) == 8
        assert double(4) == 8
    assert calls.count == 2  # each recomputed once, then served from the cache


def test_cli_configuration_errors_are_one_line_and_exit_3(tmp_path: Any) -> None:
    """The app itself fails to load (init_app refuses its CACHEOPS_URL): still one line."""
    (tmp_path / "badapp.py").write_text(
        "from flask import Flask\n"
        "from flask_cacheops import Cacheops\n"
        "app = Flask(__name__)\n"
        "app.config['CACHEOPS_URL'] = 'memcachier://user:hunter2-pa55@host:notaport'\n"
        "Cacheops(app)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEOPS_", "MEMCACHIER_"))}
    for command in (["flush"], ["stats", "--json"]):
        result = subprocess.run(
            [sys.executable, "-m", "flask", "--app", "badapp", "cacheops", *command],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
        )
        assert result.returncode == EXIT_CODES[cacheops.ConfigurationError], result.stderr
        assert result.stdout == ""
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("Error: ConfigurationError: "), lines
        assert "port" in lines[0] and "hunter2" not in result.stderr


def test_cli_refuses_a_cache_nothing_configures(
    no_cache_environment: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without configuration the backend is this process's own empty memory://: flushing it
    would report success and flush nothing."""
    monkeypatch.setenv("MEMCACHIER_SERVER", "127.0.0.1:11211")  # misspelt
    app, _ = make_app()
    runner = app.test_cli_runner()
    for args in (["cacheops", "flush"], ["cacheops", "stats"]):
        result = runner.invoke(args=args)
        assert result.exit_code == EXIT_CODES[cacheops.ConfigurationError], result.output
        assert result.stdout == ""
        assert "did you mean MEMCACHIER_SERVERS?" in result.stderr
    monkeypatch.setenv("CACHEOPS_URL", "memory://")  # asked for explicitly: fine
    app, _ = make_app()
    assert app.test_cli_runner().invoke(args=["cacheops", "flush"]).exit_code == 0


# -- stampede protection -------------------------------------------------------------------


def test_a_cached_view_runs_once_for_concurrent_requests(any_cache_url: str) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    calls = Calls()
    start = threading.Barrier(8)

    @app.get("/slow")
    @ext.cached(ttl=60, lock_ttl=10)
    def slow() -> str:
        count = calls()
        threading.Event().wait(0.3)
        return f"computed {count}"

    texts: list[str] = []

    def worker() -> None:
        client = app.test_client()
        start.wait()
        texts.append(client.get("/slow").text)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert texts == ["computed 1"] * 8
    assert calls.count == 1


def test_memoize_serves_the_last_result_when_the_function_fails_under_fail_safe(
    any_cache_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    app, ext = make_app(CACHEOPS_URL=any_cache_url)
    failing = threading.Event()

    def rate(currency: str) -> float:
        if failing.is_set():
            raise ConnectionError("rates service down")
        return 1.25

    safe = ext.memoize(ttl=0.3, grace=60, fail_safe=True, name="safe")(rate)
    strict = ext.memoize(ttl=0.3, grace=60, name="strict")(rate)
    with app.app_context():
        assert safe("EUR") == strict("EUR") == 1.25
        threading.Event().wait(0.5)  # past the ttl, within the grace
        failing.set()
        with caplog.at_level("WARNING", logger="cacheops"):
            assert safe("EUR") == 1.25
        assert "rates service down" in caplog.text
        with pytest.raises(ConnectionError):
            strict("EUR")
        assert ext.backend.stampede.fail_safe_served == 1


def test_decorator_stampede_options_are_checked_when_decorating() -> None:
    _, ext = make_app(CACHEOPS_URL="memory://")
    with pytest.raises(cacheops.InvalidTTL, match="grace"):
        ext.cached(grace=-1)
    with pytest.raises(cacheops.ConfigurationError, match="beta"):
        ext.memoize(beta=-1)
