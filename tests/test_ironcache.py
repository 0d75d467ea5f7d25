"""ironcache:// against the conformance suite and the local IronCache server, over real HTTP.

Nothing is mocked: every test talks HTTP to ``cacheops.testing.ironcache_server`` and checks
what the server received and holds (``server.requests``, ``server.items``).
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import quote

import pytest
import requests

import cacheops
from cacheops.admin.ironcache import CacheInfo, CacheSummary, IronCacheAdmin
from cacheops.backends.ironcache import MARKER, MAX_EXPIRES_IN, IronCacheBackend
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    KeyNotFound,
    NotNumeric,
    UnknownOutcome,
    ValueTooLarge,
)
from cacheops.http import quote_segment
from cacheops.testing.contract import (
    ADVERSARIAL_KEYS,
    NON_PORTABLE_KEYS,
    BackendContract,
    MakeBackend,
)
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.net import free_port

CACHE = "cache"  # the cache of the ironcache_url fixture


class TestIronCacheContract(BackendContract):
    portable_keys_only = False
    expected_failures: ClassVar[Mapping[str, str]] = {
        "test_admin_stats_count_hits_misses_and_items": (
            "IronCache keeps no hit or miss counters: admin.stats() reports items only"
        ),
    }

    @pytest.fixture
    def make_backend(self, ironcache_url: str) -> MakeBackend:
        return lambda **options: cacheops.connect(ironcache_url, **options)


# -- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def server(ironcache_server: IronCacheServer, ironcache_url: str) -> IronCacheServer:
    return ironcache_server  # emptied and fault-free by ironcache_url


Make = Callable[..., IronCacheBackend]


@pytest.fixture
def make(ironcache_url: str) -> Iterator[Make]:
    made: list[IronCacheBackend] = []

    def factory(url: str = ironcache_url, **options: Any) -> IronCacheBackend:
        options.setdefault("backoff_factor", 0.01)
        backend = cacheops.connect(url, **options)
        assert isinstance(backend, IronCacheBackend)
        made.append(backend)
        return backend

    yield factory
    for backend in made:
        backend.close()


@pytest.fixture
def backend(make: Make) -> IronCacheBackend:
    return make()


def url_for(
    server: IronCacheServer, *, project: str | None = None, token: str | None = None
) -> str:
    project = server.project_id if project is None else project
    token = server.token if token is None else token
    return f"ironcache+http://{project}:{quote(token, safe='')}@127.0.0.1:{server.port}/{CACHE}"


def raw_item(server: IronCacheServer, key: str, cache: str = CACHE) -> dict[str, Any]:
    """The item as any other IronCache client sees it, read with bare requests."""
    response = requests.get(
        f"{server.base_url}/projects/{server.project_id}/caches/{cache}/items/{quote_segment(key)}",
        headers={"Authorization": f"OAuth {server.token}"},
        timeout=5,
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data


def requests_to(server: IronCacheServer, method: str) -> list[Any]:
    return [r for r in server.requests if r.method == method]


# -- retries and outcomes ------------------------------------------------------------------


def test_a_503_burst_shorter_than_the_retry_budget_succeeds(
    make: Make, server: IronCacheServer
) -> None:
    backend = make(retries=3)
    server.faults.fail_next(3, 503)
    backend.put("k", "v")
    server.faults.fail_next(2, 503)
    assert backend.get("k") == "v"
    server.faults.fail_next(3, 503)
    assert backend.increment("n", 4) == 4
    assert server.items(CACHE) == {"k": "v", "n": 4}  # the increment applied once
    assert [r.status for r in requests_to(server, "POST")] == [503, 503, 503, 201]


def test_a_503_burst_longer_than_the_budget_fails_within_bounded_time(
    make: Make, server: IronCacheServer
) -> None:
    backend = make(retries=3, backoff_factor=0.05)
    server.faults.fail_next(100, 503)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        backend.get("k")
    elapsed = time.monotonic() - start
    # Waits of 0.05, 0.1 and 0.2 s, each plus up to 0.05 s of jitter.
    assert 0.35 <= elapsed < 1.5
    assert len(server.requests) == 4
    assert info.value.status == 503 and "injected fault" in (info.value.server_message or "")


def test_the_retry_deadline_bounds_a_generous_retry_count(
    make: Make, server: IronCacheServer
) -> None:
    # Ten retries would wait 0.02 * (1 + 2 + ... + 512) = 20 s; the deadline cuts that.
    backend = make(retries=10, retry_deadline=0.5, backoff_factor=0.02)
    server.faults.fail_next(100, 503)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable):
        backend.put("k", "v")
    assert time.monotonic() - start < 1.5
    assert len(server.requests) < 11


def test_retry_after_is_honoured(make: Make, server: IronCacheServer) -> None:
    backend = make(backoff_factor=0.001)
    server.faults.fail_next(1, 503, retry_after=1)
    start = time.monotonic()
    backend.put("k", "v")
    assert time.monotonic() - start >= 1.0
    assert [r.status for r in server.requests] == [503, 200]


def test_an_increment_dropped_after_the_server_applied_it_moves_the_counter_once(
    make: Make, server: IronCacheServer
) -> None:
    backend = make(on_error="miss")  # an increment's outage raises even so
    backend.put("n", 10)
    server.faults.drop_after_apply(1, methods=("POST",))
    with pytest.raises(UnknownOutcome) as info:
        backend.increment("n")
    assert isinstance(info.value, BackendUnavailable)
    assert server.items(CACHE) == {"n": 11}
    increments = [r for r in server.requests if r.path.endswith("/increment")]
    assert len(increments) == 1 and increments[0].fault == "drop_after_apply"
    assert backend.increment("n") == 12  # and the backend carries on


def test_an_increment_that_timed_out_is_not_resent(make: Make, server: IronCacheServer) -> None:
    backend = make(timeout=0.2)
    server.faults.latency = 0.5
    with pytest.raises(UnknownOutcome):
        backend.increment("n", 3)
    server.faults.latency = 0
    time.sleep(0.5)  # the server finishes the request it was sent
    assert server.items(CACHE) == {"n": 3}
    assert len([r for r in server.requests if r.path.endswith("/increment")]) == 1


def test_a_conditional_put_is_not_resent_but_a_plain_put_is(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    server.faults.drop_after_apply(1, methods=("PUT",))
    with pytest.raises(UnknownOutcome):
        backend.add("added", "v")  # a resend would answer False for a write that happened
    assert len(requests_to(server, "PUT")) == 1
    assert server.items(CACHE) == {"added": "v"}
    server.clear_requests()
    server.faults.drop_after_apply(1, methods=("PUT",))
    backend.put("plain", "v")
    assert [r.fault for r in requests_to(server, "PUT")] == ["drop_after_apply", None]


def test_a_dead_port_is_unavailable_fast() -> None:
    port = free_port()
    backend = cacheops.connect(f"ironcache+http://p:t@127.0.0.1:{port}/c")
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        backend.get("k")
    assert time.monotonic() - start < 2.0
    assert f"127.0.0.1:{port}" in str(info.value)
    with pytest.raises(BackendUnavailable) as info:
        backend.increment("k")
    assert type(info.value) is BackendUnavailable  # refused: certainly not applied


def test_on_error_miss_turns_an_outage_into_misses(make: Make, server: IronCacheServer) -> None:
    dead = make(f"ironcache+http://p:t@127.0.0.1:{free_port()}/c", on_error="miss", retries=0)
    assert dead.get("k", "fallback") == "fallback"
    assert dead.get_many(["a", "b"]) == {}
    assert dead.gets("k") is None
    assert dead.put("k", "v") is None
    assert dead.put_many({"a": 1}) == ["a"]
    assert dead.add("k", "v") is False
    assert dead.delete("k") is False
    assert dead.touch("k", 10) is False
    with pytest.raises(BackendUnavailable):
        dead.increment("k")
    # No breaker: the 503s would keep the next get failing fast for a window.
    live = make(on_error="miss", retries=1, breaker_window=0)
    live.put("k", "v")
    server.faults.fail_next(10, 503)
    assert live.get("k") is None
    server.faults.clear()
    assert live.get("k") == "v"


def test_a_broken_reply_is_an_outage_that_on_error_miss_absorbs(
    make: Make, server: IronCacheServer
) -> None:
    # No breaker: the stalled body's read timeout would keep later gets failing fast.
    options: dict[str, Any] = {"retries": 1, "timeout": 0.2, "breaker_window": 0}
    strict, lenient = make(**options), make(**options, on_error="miss")
    strict.put("k", "v")
    for at, stall in (("body", 0.0), ("headers", 0.0), ("body", 1.0)):
        server.faults.cut_reply(10, at=at, stall=stall, methods=("GET",))
        with pytest.raises(BackendUnavailable) as info:
            strict.get("k")
        assert type(info.value) is BackendUnavailable
        assert lenient.get("k", "fallback") == "fallback"
        assert lenient.get_many(["k"]) == {}
        server.faults.clear()
    assert strict.get("k") == "v"


def test_an_increment_whose_reply_was_cut_moves_the_counter_once(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    server.faults.cut_reply(1, methods=("POST",))
    with pytest.raises(UnknownOutcome):
        backend.increment("n", 5)
    assert server.items(CACHE) == {"n": 5}
    assert len([r for r in server.requests if r.path.endswith("/increment")]) == 1


def test_cacheops_flush_with_a_cut_reply_is_one_line_and_the_outage_exit_code(
    server: IronCacheServer,
) -> None:
    from cacheops.cli import EXIT_CODES

    server.faults.cut_reply(10, methods=("POST",))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CACHEOPS_", "IRON_"))}
    env["CACHEOPS_URL"] = server.url(CACHE) + "?retries=1&backoff_factor=0.01"
    result = subprocess.run(
        [sys.executable, "-m", "cacheops.cli", "flush"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == EXIT_CODES[BackendUnavailable], result.stderr
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert "cut off" in result.stderr and "Traceback" not in result.stderr
    assert server.token not in result.stderr + result.stdout
    assert [r.fault for r in server.requests] == ["cut_reply", "cut_reply"]


# -- keys ------------------------------------------------------------------------------------

EXTRA_KEYS = [
    "a b",
    " ",
    "a?b#c",
    "%2E%2E",
    "%25",
    "ü/..",
    "items/x",
    "x/../..",
    "caches",
    "\u2028line separator",
    "emoji 🔑",
    "é" * 250,
]


def test_adversarial_keys_land_on_distinct_items_and_nowhere_else(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    keys = list(dict.fromkeys(ADVERSARIAL_KEYS + NON_PORTABLE_KEYS + EXTRA_KEYS))
    expected = {key: i for i, key in enumerate(keys)}
    assert backend.put_many(expected) == []
    assert server.items(CACHE) == expected
    assert server.caches() == [CACHE]
    assert backend.get_many(keys) == expected
    prefix = f"/1/projects/{server.project_id}/caches/{CACHE}/items/"
    for request in server.requests:
        assert request.path == prefix + quote_segment(request.key or "")
        segment = request.path[len(prefix) :]
        assert re.fullmatch(r"[A-Za-z0-9_.~%-]+", segment) and segment not in (".", "..")
    assert sorted(r.key or "" for r in requests_to(server, "PUT")) == sorted(keys)
    backend.delete_many(["a/b", "..", "items"])
    assert set(expected) - set(server.items(CACHE)) == {"a/b", "..", "items"}
    assert backend.increment("a b") == expected["a b"] + 1
    assert server.items(CACHE)["a+b"] == expected["a+b"]


def test_key_rules(backend: IronCacheBackend, server: IronCacheServer) -> None:
    backend.put("é" * 250, 1)
    with pytest.raises(InvalidKey, match="251 characters"):
        backend.put("é" * 251, 1)
    for bad in ("next\u0085line", "lone\ud800surrogate", "bell\x07"):
        with pytest.raises(InvalidKey, match="control"):
            backend.get(bad)
    assert len(server.requests) == 1


# -- credentials ---------------------------------------------------------------------------


def test_a_wrong_token_raises_authentication_error_without_the_token(
    make: Make, server: IronCacheServer
) -> None:
    token = "wrong-token-8f3a9c1e77"
    backend = make(url_for(server, token=token))
    for call in (lambda: backend.get("k"), lambda: backend.put("k", 1), backend.clear):
        with pytest.raises(AuthenticationError) as info:
            call()
        exc = info.value
        assert exc.status == 401 and exc.server_message
        shown = [
            str(exc),
            repr(exc),
            repr(exc.args),
            repr(vars(exc)),
            "".join(traceback.format_exception(exc)),
        ]
        assert not [text for text in shown if token in text]
        assert token.encode() not in pickle.dumps(exc)
    assert token not in repr(backend) and token not in backend.location
    assert token not in repr(backend.admin.info())
    assert server.items(CACHE) == {}


def test_a_bad_project_id_is_an_authentication_error_not_a_miss(
    make: Make, server: IronCacheServer
) -> None:
    backend = make(url_for(server, project="000000000000000000000bad"))
    with pytest.raises(AuthenticationError, match="000000000000000000000bad") as info:
        backend.get("k")
    assert info.value.status == 404
    with pytest.raises(AuthenticationError):
        backend.delete("k")


def test_the_token_is_only_ever_sent_in_the_header(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put("k", "v")
    backend.get_many(["k", "j"])
    backend.increment("n")
    backend.touch("k", 10)
    backend.delete("k")
    backend.admin.list_caches()
    backend.admin.cache_info()
    backend.clear()
    assert len(server.requests) >= 9
    assert {r.auth for r in server.requests} == {"header"}
    assert not [r.path for r in server.requests if server.token in r.path or "oauth" in r.path]


# -- values --------------------------------------------------------------------------------


def test_str_and_int_are_native_values_other_clients_read(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put_many({"s": "hello ✓", "n": 42, "neg": -7, "huge": 2**70, "f": 1.5, "b": b"\xff"})
    assert raw_item(server, "s")["value"] == "hello ✓"
    assert raw_item(server, "n")["value"] == 42
    assert raw_item(server, "neg")["value"] == -7
    for key in ("huge", "f", "b"):
        assert raw_item(server, key)["value"].startswith(MARKER)
    assert raw_item(server, "b")["value"] == MARKER + "0:/w=="
    assert backend.get_many(["huge", "f", "b"]) == {"huge": 2**70, "f": 1.5, "b": b"\xff"}


def test_a_str_that_looks_like_the_marker_is_escaped(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    tricky = MARKER + "0:/w=="  # what bytes b"\xff" look like on the wire
    backend.put("tricky", tricky)
    assert raw_item(server, "tricky")["value"] != tricky
    assert backend.get("tricky") == tricky


def test_values_other_clients_wrote_are_read(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"OAuth {server.token}"
    items = f"{server.base_url}/projects/{server.project_id}/caches/{CACHE}/items"
    for key, value in (("text", "plain"), ("count", 17), ("odd", MARKER + "not ours")):
        session.put(f"{items}/{key}", json={"value": value}, timeout=5).raise_for_status()
    assert backend.get_many(["text", "count", "odd"]) == {
        "text": "plain",
        "count": 17,
        "odd": MARKER + "not ours",
    }
    assert backend.increment("count") == 18


def test_a_request_over_1_mb_is_refused_before_sending(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    with pytest.raises(ValueTooLarge):
        backend.put("k", "x" * 1_048_570)  # fits max_value_size; the JSON body does not
    with pytest.raises(ValueTooLarge):
        backend.put("k", b"x" * 800_000)  # base64 makes it 1,066,668 bytes
    assert server.requests == []
    backend.put("k", b"x" * 700_000)
    assert backend.get("k") == b"x" * 700_000
    assert backend.put_many({"small": 1, "big": "x" * 1_048_570}) == ["big"]
    assert backend.get_many(["small", "big"]) == {"small": 1}


def test_ttls_map_to_expires_in(backend: IronCacheBackend, server: IronCacheServer) -> None:
    with pytest.raises(InvalidTTL, match="maximum"):
        backend.put("k", "v", ttl=MAX_EXPIRES_IN + 1)
    assert server.requests == []
    for ttl, sent in ((MAX_EXPIRES_IN, MAX_EXPIRES_IN), (0.2, 1), (1.5, 2), (None, None)):
        backend.put("k", "v", ttl=ttl)
        assert json.loads(server.requests[-1].body).get("expires_in") == sent
    backend.put("k", "v", ttl=0)
    assert server.requests[-1].method == "DELETE"
    assert server.items(CACHE) == {}


def test_cas_tokens_stay_exact_beyond_2_53(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put("k", "v")
    found = backend.gets("k")
    assert found is not None
    token = found[1]
    assert token == raw_item(server, "k")["cas"] and token > 2**53 and float(token) != token
    assert backend.cas("k", "w", token) is True
    assert json.loads(server.requests[-1].body)["cas"] == token


def test_touch_keeps_the_value_and_sets_the_expiry(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put("k", "v", ttl=5)
    assert backend.touch("k", 3600) is True
    item = raw_item(server, "k")
    assert item["value"] == "v" and item["expires"] is not None
    assert backend.touch("k", None) is True
    assert raw_item(server, "k")["expires"] is None
    assert backend.touch("missing", 10) is False


# -- increment -----------------------------------------------------------------------------


def test_increment_with_default_zero_is_one_request(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    assert backend.increment("n", 7) == 7
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.requests] == [
        ("POST", "increment")
    ]


def test_increment_with_another_default_creates_the_key_at_default_plus_delta(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    assert backend.increment("n", 5, default=10) == 15
    assert server.items(CACHE) == {"n": 15}
    assert [r.method for r in server.requests] == ["GET", "PUT"]
    assert json.loads(server.requests[-1].body) == {"value": 15, "add": True}


def test_increment_with_a_default_of_an_existing_key_is_native_and_keeps_the_expiry(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put("n", 1, ttl=100)
    expires = raw_item(server, "n")["expires"]
    server.clear_requests()
    assert backend.increment("n", 2, default=None) == 3
    assert backend.increment("n", 2, default=7) == 5
    assert [(r.method, r.path.rsplit("/", 1)[-1]) for r in server.requests] == [
        ("GET", "n"),
        ("POST", "increment"),
        ("GET", "n"),
        ("POST", "increment"),
    ]
    assert raw_item(server, "n")["expires"] == expires


def test_increment_with_default_none_never_writes_a_missing_key(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    with pytest.raises(KeyNotFound):
        backend.increment("missing", default=None)
    assert [r.method for r in server.requests] == ["GET"]
    assert server.items(CACHE) == {}


def test_increment_of_a_non_number_is_not_numeric(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.put("s", "5")  # a string, even of digits, is not an IronCache number
    with pytest.raises(NotNumeric) as info:
        backend.increment("s")
    assert info.value.status == 400 and info.value.server_message
    with pytest.raises(NotNumeric):
        backend.increment("s", default=3)
    assert server.items(CACHE) == {"s": "5"}


def test_concurrent_increments_by_cas_are_exact(make: Make) -> None:
    backend = make()

    def work() -> None:
        for _ in range(10):
            backend.increment("n", 1, default=100)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert backend.get("n") == 140


# -- many ----------------------------------------------------------------------------------


def test_get_many_and_delete_many_run_concurrently_with_a_bound(
    make: Make, server: IronCacheServer
) -> None:
    backend = make(max_concurrency=4)
    keys = [f"k{i}" for i in range(8)]
    backend.put_many({key: key for key in keys})
    server.faults.latency = 0.15
    start = time.monotonic()
    assert backend.get_many(keys) == {key: key for key in keys}
    elapsed = time.monotonic() - start
    # Two waves of four: well under the 1.2 s of eight in a row, never one wave of eight.
    assert 0.29 <= elapsed < 0.8
    start = time.monotonic()
    backend.delete_many(keys)
    assert 0.29 <= time.monotonic() - start < 0.8
    server.faults.latency = 0
    assert server.items(CACHE) == {}


# -- configuration -------------------------------------------------------------------------


def test_plain_http_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http") as info:
        cacheops.connect("ironcache+http://p:secret-tok@example.com/c")
    assert "secret-tok" not in str(info.value)
    allowed = cacheops.connect("ironcache+http://p:secret-tok@example.com/c?allow_insecure_http=1")
    assert allowed.location == "ironcache+http://p:***@example.com:80/c"
    for host in ("localhost", "127.0.0.2", "[::1]"):
        assert cacheops.connect(f"ironcache+http://p:t@{host}:8080/c") is not None
    secure = cacheops.connect("ironcache://p:secret-tok@cache-aws-us-east-1.iron.io/c")
    assert secure.location == "ironcache://p:***@cache-aws-us-east-1.iron.io:443/c"


def test_options_come_from_the_query_string(ironcache_url: str) -> None:
    backend = cacheops.connect(
        ironcache_url + "?timeout=1.5&connect_timeout=0.5&retries=0&retry_deadline=2"
        "&pool_size=4&max_concurrency=2&api_version=1"
    )
    assert isinstance(backend, IronCacheBackend)
    options = backend.http.options
    assert (options.timeout, options.connect_timeout, options.retries) == (1.5, 0.5, 0)
    assert options.retry_deadline == 2.0
    assert (options.pool_size, backend.max_concurrency) == (4, 2)
    with pytest.raises(ConfigurationError, match="token"):
        cacheops.connect(ironcache_url + "?token=other")
    with pytest.raises(ConfigurationError, match="max_concurrency"):
        cacheops.connect(ironcache_url + "?max_concurrency=0")
    # The HTTP options are checked first, so a bad pool_size is named, not the concurrency
    # derived from it; a timeout must be finite.
    for query, name in (("pool_size=0", "pool_size"), ("timeout=inf", "timeout")):
        with pytest.raises(ConfigurationError, match=f"option {name} must be"):
            cacheops.connect(f"{ironcache_url}?{query}")
    # By default as many requests in flight as the pool keeps connections.
    pooled = cacheops.connect(ironcache_url + "?pool_size=5")
    assert isinstance(pooled, IronCacheBackend) and pooled.max_concurrency == 5


@pytest.fixture
def iron_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(os.environ):
        if name.startswith(("IRON_", "MEMCACHIER_")) or name == "CACHEOPS_URL":
            monkeypatch.delenv(name)
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(cwd)
    return cwd


def test_iron_environment_variables_configure_a_working_backend(
    iron_env: Path, monkeypatch: pytest.MonkeyPatch, server: IronCacheServer
) -> None:
    for name, value in {
        "IRON_TOKEN": server.token,
        "IRON_PROJECT_ID": server.project_id,
        "IRON_HOST": "127.0.0.1",
        "IRON_PORT": str(server.port),
        "IRON_PROTOCOL": "http",
        "IRON_CACHE_NAME": "from-env",
    }.items():
        monkeypatch.setenv(name, value)
    backend = cacheops.connect()
    assert isinstance(backend, IronCacheBackend)
    backend.put("k", "v")
    assert server.items("from-env") == {"k": "v"}


def test_iron_json_configures_a_working_backend_and_beats_the_environment(
    iron_env: Path, monkeypatch: pytest.MonkeyPatch, server: IronCacheServer
) -> None:
    monkeypatch.setenv("IRON_TOKEN", "stale-env-token")
    (iron_env / "iron.json").write_text(
        json.dumps(
            {
                "project_id": server.project_id,
                "token": server.token,
                "host": "127.0.0.1",
                "port": server.port,
                "protocol": "http",
                "iron_cache": {"cache_name": "from-json"},
            }
        )
    )
    backend = cacheops.connect()
    backend.put("k", 1)
    assert server.items("from-json") == {"k": 1}


# -- admin ---------------------------------------------------------------------------------


def test_admin_lists_every_page_of_caches(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    session = requests.Session()
    session.headers["Authorization"] = f"OAuth {server.token}"
    names = [f"c{i:03d}" for i in range(230)]
    for name in names:
        session.put(
            f"{server.base_url}/projects/{server.project_id}/caches/{name}/items/k",
            json={"value": 1},
            timeout=5,
        ).raise_for_status()
    server.clear_requests()
    caches = backend.admin.list_caches()
    assert caches == [CacheSummary(name, server.project_id) for name in names]
    assert [r.path.split("?")[1] for r in server.requests] == [
        "page=0&per_page=100",
        "page=1&per_page=100",
        "page=2&per_page=100",
    ]


def test_admin_cache_info_clear_delete_stats_and_info(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    admin = backend.admin
    assert isinstance(admin, IronCacheAdmin)
    assert admin.cache_info() is None
    assert admin.stats().items == 0
    backend.put_many({"a": 1, "b": 2, "c": 3})
    other = cacheops.connect(url_for(server).replace(f"/{CACHE}", "/other"))
    other.put("x", 1)
    assert admin.cache_info() == CacheInfo(CACHE, 3, {"size": 3})
    stats = admin.stats()
    assert (stats.items, stats.hits, stats.misses, stats.bytes) == (3, None, None, None)
    assert stats.servers[0].server == f"127.0.0.1:{server.port}"
    admin.clear("other")
    assert server.items("other") == {} and len(server.items(CACHE)) == 3
    assert admin.delete_cache("other") is True
    assert admin.delete_cache("other") is False
    assert server.caches() == [CACHE]
    admin.flush()
    assert server.items(CACHE) == {}
    info = admin.info()
    assert info["backend"] == "ironcache" and info["cache"] == CACHE
    assert server.token not in repr(info) and server.token not in repr(admin)


def test_clear_of_a_cache_never_written_is_fine(
    backend: IronCacheBackend, server: IronCacheServer
) -> None:
    backend.clear()
    assert [(r.method, r.status) for r in server.requests] == [("POST", 404)]


# -- lifecycle -----------------------------------------------------------------------------


def test_a_forked_child_uses_its_own_session_and_worker_threads(
    backend: IronCacheBackend,
) -> None:
    backend.put_many({"a": 1, "b": 2})
    assert backend.get_many(["a", "b"]) == {"a": 1, "b": 2}  # starts the worker threads
    parent_session = backend.http.session()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            dropped = backend.http._session is None and backend._executor is None
            if dropped and backend.get_many(["a", "b"]) == {"a": 1, "b": 2}:
                backend.put("child", 3)
                if backend.http.session() is not parent_session:
                    code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert backend.http.session() is parent_session
    assert backend.get_many(["a", "child"]) == {"a": 1, "child": 3}
