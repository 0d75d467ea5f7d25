"""The shared HTTP layer, over real loopback HTTP against the local IronCache server.

A second, tiny server in this file records request headers and echoes them back, for what
the IronCache server does not show (User-Agent, the Authorization header's exact form).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar

import pytest

import cacheops
from cacheops.admin.memcachier import MemCachierAPI
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    PermissionDenied,
    UnknownOutcome,
    ValueTooLarge,
)
from cacheops.http import HTTPClient, HTTPOptions, Reply, quote_segment
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.net import free_port

if TYPE_CHECKING:
    from cacheops.testing.memcachier_api import MemCachierAPIServer

ITEM = "caches/c/items/k"


@pytest.fixture
def server(ironcache_server: IronCacheServer, ironcache_url: str) -> IronCacheServer:
    return ironcache_server  # emptied and fault-free by ironcache_url


def make_client(server: IronCacheServer, error_hook: Any = None, **options: Any) -> HTTPClient:
    options.setdefault("backoff_factor", 0.01)
    return HTTPClient(
        f"{server.base_url}/projects/{server.project_id}",
        backend="test",
        auth=lambda: f"OAuth {server.token}",
        options=HTTPOptions(**options),
        error_hook=error_hook,
    )


@pytest.fixture
def client(server: IronCacheServer) -> Iterator[HTTPClient]:
    c = make_client(server)
    yield c
    c.close()


def methods(server: IronCacheServer) -> list[tuple[str, int | None]]:
    return [(r.method, r.status) for r in server.requests]


# -- paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "encoded"),
    [
        ("plain-key_1.~", "plain-key_1.~"),
        ("a b", "a%20b"),
        ("a+b", "a%2Bb"),
        ("a/b", "a%2Fb"),
        ("?q=1#f", "%3Fq%3D1%23f"),
        ("100%", "100%25"),
        ("naïve", "na%C3%AFve"),
        (".", "%2E"),
        ("..", "%2E%2E"),
        ("...", "..."),
        ("../x", "..%2Fx"),
    ],
)
def test_quote_segment(text: str, encoded: str) -> None:
    assert quote_segment(text) == encoded


def test_the_path_is_sent_exactly_as_encoded(client: HTTPClient, server: IronCacheServer) -> None:
    # requests on its own would turn %2E%2E back into ".." and then drop the segment.
    for key in ("..", ".", "a b", "a+b"):
        client.request("PUT", f"caches/c/items/{quote_segment(key)}", json={"value": key})
        sent = server.requests[-1]
        assert sent.path == f"/1/projects/{server.project_id}/caches/c/items/{quote_segment(key)}"
        assert sent.key == key
    assert server.items("c") == {k: k for k in ("..", ".", "a b", "a+b")}


# -- replies -------------------------------------------------------------------------------


def test_a_2xx_reply_is_returned_with_exact_big_integers(
    client: HTTPClient, server: IronCacheServer
) -> None:
    assert client.request("PUT", ITEM, json={"value": 1}).status == 200
    reply = client.request("GET", ITEM)
    assert isinstance(reply, Reply) and reply.ok
    cas = reply.data["cas"]
    assert type(cas) is int and cas > 2**53 and float(cas) != cas


def test_an_allowed_status_is_returned_not_raised(client: HTTPClient) -> None:
    reply = client.request("GET", ITEM, allow=(404,))
    assert (reply.status, reply.message) == (404, "Cache not found.")
    with pytest.raises(CacheError) as info:
        client.request("GET", ITEM)
    assert (info.value.status, info.value.server_message) == (404, "Cache not found.")


def test_the_error_hook_decides_first(server: IronCacheServer) -> None:
    def hook(reply: Reply, method: str, path: str) -> CacheError | None:
        return PermissionDenied(f"hooked {method} {path} {reply.status}")

    client = make_client(server, error_hook=hook)
    with pytest.raises(PermissionDenied, match="hooked GET caches/c/items/k 404"):
        client.request("GET", ITEM, allow=(404,))


@pytest.mark.parametrize(
    ("status", "error"),
    [(401, AuthenticationError), (403, PermissionDenied), (413, ValueTooLarge), (400, CacheError)],
)
def test_error_statuses_map_to_the_error_tree_with_the_server_message(
    client: HTTPClient, server: IronCacheServer, status: int, error: type[CacheError]
) -> None:
    server.faults.fail_next(1, status)
    with pytest.raises(error) as info:
        client.request("GET", ITEM)
    exc = info.value
    assert type(exc) is error
    assert exc.status == status
    assert exc.server == f"127.0.0.1:{server.port}"
    assert exc.backend == "test"
    assert exc.server_message is not None and "injected fault" in exc.server_message
    assert len(server.requests) == 1  # not retried


def test_the_servers_own_too_large_answer_is_value_too_large(server: IronCacheServer) -> None:
    client = make_client(server, max_body_size=None)
    with pytest.raises(ValueTooLarge) as info:
        client.request("PUT", ITEM, json={"value": "x" * 1_100_000})
    assert info.value.status == 400
    assert "too large" in (info.value.server_message or "")


def test_max_body_size_refuses_before_sending(server: IronCacheServer) -> None:
    client = make_client(server, max_body_size=100)
    with pytest.raises(ValueTooLarge, match="100"):
        client.request("PUT", ITEM, json={"value": "x" * 100})
    assert server.requests == []


def test_a_500_is_unavailable_for_an_idempotent_request_and_unknown_for_a_post(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.fail_next(1, 500)
    with pytest.raises(BackendUnavailable) as info:
        client.request("GET", ITEM)
    assert type(info.value) is BackendUnavailable and info.value.status == 500
    server.faults.fail_next(1, 500)
    with pytest.raises(UnknownOutcome):
        client.request("POST", f"{ITEM}/increment", json={"amount": 1})
    assert methods(server) == [("GET", 500), ("POST", 500)]  # 500 is never retried


# -- retries -------------------------------------------------------------------------------


def test_503s_are_retried_then_succeed(client: HTTPClient, server: IronCacheServer) -> None:
    server.faults.fail_next(2, 503)
    assert client.request("PUT", ITEM, json={"value": 1}).ok
    assert methods(server) == [("PUT", 503), ("PUT", 503), ("PUT", 200)]


def test_a_503_post_is_retried_since_it_was_not_applied(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.fail_next(2, 503)
    reply = client.request("POST", f"{ITEM}/increment", json={"amount": 5})
    assert reply.data["value"] == 5
    assert server.items("c") == {"k": 5}
    assert methods(server) == [("POST", 503), ("POST", 503), ("POST", 201)]


def test_retries_are_bounded_by_count(server: IronCacheServer) -> None:
    client = make_client(server, retries=2)
    server.faults.fail_next(10, 503)
    with pytest.raises(BackendUnavailable) as info:
        client.request("GET", ITEM)
    assert info.value.status == 503
    assert "injected fault" in (info.value.server_message or "")
    assert len(server.requests) == 3
    server.reset()
    server.faults.fail_next(1, 503)
    with pytest.raises(BackendUnavailable):
        make_client(server, retries=0).request("GET", ITEM)
    assert len(server.requests) == 1


def test_retries_are_bounded_by_time(server: IronCacheServer) -> None:
    # Eight retries would wait 0.02 * (1 + 2 + ... + 128) = 5.1 s; the deadline cuts that.
    client = make_client(server, retries=8, retry_deadline=0.4, backoff_factor=0.02)
    server.faults.fail_next(100, 503)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        client.request("GET", ITEM)
    elapsed = time.monotonic() - start
    assert 0.2 < elapsed < 1.2
    assert 3 <= len(server.requests) < 9
    assert info.value.status == 503


def test_retry_after_is_honoured(client: HTTPClient, server: IronCacheServer) -> None:
    server.faults.fail_next(1, 503, retry_after=1)
    start = time.monotonic()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert 1.0 <= time.monotonic() - start < 1.8  # not the 0.01 s backoff
    assert len(server.requests) == 2


def test_a_retry_after_date_is_honoured(client: HTTPClient, server: IronCacheServer) -> None:
    # HTTP-dates have whole seconds: two seconds ahead is a wait of more than one.
    later = datetime.now(timezone.utc) + timedelta(seconds=2)
    server.faults.fail_next(1, 503, retry_after=later)
    start = time.monotonic()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert 1.0 <= time.monotonic() - start < 2.5
    server.reset()
    # A date already past asks for no wait: the backoff (0.01 s here) applies.
    server.faults.fail_next(2, 503, retry_after=datetime(1994, 11, 6, tzinfo=timezone.utc))
    start = time.monotonic()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert time.monotonic() - start < 0.5
    assert len(server.requests) == 3


def test_a_retry_after_past_the_deadline_fails_at_once(server: IronCacheServer) -> None:
    client = make_client(server, retry_deadline=2.0)
    server.faults.fail_next(1, 503, retry_after=30)
    start = time.monotonic()
    with pytest.raises(BackendUnavailable):
        client.request("GET", ITEM)
    assert time.monotonic() - start < 1.0
    assert len(server.requests) == 1


def test_the_client_backs_off_with_jitter_from_the_first_retry(server: IronCacheServer) -> None:
    # Two retries at a factor of 0.2 wait 0.2 + 0.4 s, plus up to 0.2 s of jitter each.
    client = make_client(server, retries=2, backoff_factor=0.2)
    server.faults.fail_next(2, 503)
    start = time.monotonic()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert 0.6 <= time.monotonic() - start < 1.4


def test_a_dropped_get_is_resent(client: HTTPClient, server: IronCacheServer) -> None:
    server.faults.drop_before(1)
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert [r.fault for r in server.requests] == ["drop_before", None]


def test_a_post_whose_reply_was_lost_is_never_resent(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.drop_after_apply(1, methods=("POST",))
    with pytest.raises(UnknownOutcome) as info:
        client.request("POST", f"{ITEM}/increment", json={"amount": 1})
    assert isinstance(info.value, BackendUnavailable)
    assert server.items("c") == {"k": 1}
    assert len(server.requests) == 1


def test_idempotent_can_be_overridden_both_ways(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.drop_after_apply(1, methods=("PUT",))
    with pytest.raises(UnknownOutcome):
        client.request("PUT", ITEM, json={"value": 1, "add": True}, idempotent=False)
    assert len(server.requests) == 1
    server.clear_requests()
    server.faults.drop_after_apply(1, methods=("POST",))
    assert client.request("POST", "caches/c/clear", idempotent=True).ok
    assert [r.fault for r in server.requests] == ["drop_after_apply", None]


def test_a_read_timeout_on_a_post_is_unknown_and_on_a_get_is_retried(
    server: IronCacheServer,
) -> None:
    # No breaker: the first timeout would make the GET fail fast, untried.
    client = make_client(server, timeout=0.15, retries=2, breaker_window=0)
    server.faults.latency = 0.4
    with pytest.raises(UnknownOutcome, match="no reply"):
        client.request("POST", f"{ITEM}/increment", json={"amount": 1})
    time.sleep(0.5)
    assert [r.method for r in server.requests] == ["POST"]
    server.clear_requests()
    with pytest.raises(BackendUnavailable) as info:
        client.request("GET", ITEM)
    assert type(info.value) is BackendUnavailable
    assert "no reply" in str(info.value) and "0.15 s" in str(info.value)
    server.faults.latency = 0
    time.sleep(0.5)
    assert [r.method for r in server.requests] == ["GET"] * 3


def test_a_refused_connection_is_retried_and_unavailable_even_for_a_post() -> None:
    port = free_port()
    client = HTTPClient(
        f"http://127.0.0.1:{port}/1", backend="test", options=HTTPOptions(retries=2)
    )
    start = time.monotonic()
    with pytest.raises(BackendUnavailable) as info:
        client.request("POST", "x", json={"amount": 1})
    elapsed = time.monotonic() - start
    # Refused means never sent: not UnknownOutcome, and retried after 0.1 + 0.2 s.
    assert type(info.value) is BackendUnavailable
    assert f"cannot connect to 127.0.0.1:{port}" in str(info.value)
    assert 0.3 <= elapsed < 2.0


# -- the session ---------------------------------------------------------------------------


def test_the_pool_serves_threaded_workers_without_discarding_connections(
    server: IronCacheServer, caplog: pytest.LogCaptureFixture
) -> None:
    def hammer(client: HTTPClient) -> None:
        def work() -> None:
            for _ in range(15):
                client.request("GET", ITEM, allow=(404,))

        threads = [threading.Thread(target=work) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    full = "Connection pool is full"
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        hammer(make_client(server, pool_size=8))
    assert not [r for r in caplog.records if full in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="urllib3"):
        hammer(make_client(server, pool_size=1))
    assert [r for r in caplog.records if full in r.getMessage()]


def test_close_then_reuse_reconnects(client: HTTPClient) -> None:
    first = client.session()
    client.close()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert client.session() is not first


def test_a_forked_child_builds_its_own_session(client: HTTPClient) -> None:
    client.request("PUT", ITEM, json={"value": "parent"})
    parent_session = client.session()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            own = client.session()
            reply = client.request("GET", ITEM)
            if own is not parent_session and reply.data["value"] == "parent":
                code = 0
        finally:
            os._exit(code)
    os.close(write)
    os.close(read)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.session() is parent_session
    assert client.request("GET", ITEM).data["value"] == "parent"


def test_the_token_goes_only_in_the_authorization_header(
    client: HTTPClient, server: IronCacheServer
) -> None:
    client.request("PUT", ITEM, json={"value": 1})
    client.request("GET", "caches", params={"page": 0})
    assert [r.auth for r in server.requests] == ["header", "header"]
    assert all(server.token not in r.path and "oauth" not in r.path for r in server.requests)
    assert server.token not in repr(client)


def test_bad_construction_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        HTTPClient("ftp://example.com/1", backend="test")
    with pytest.raises(ConfigurationError):
        HTTPClient("https://user:secret@example.com/1", backend="test")
    with pytest.raises(ConfigurationError, match="allow_insecure_http"):
        HTTPClient("http://example.com/1", backend="test")
    insecure = HTTPOptions(allow_insecure_http=True)
    assert HTTPClient("http://example.com/1", backend="test", options=insecure).server == (
        "example.com:80"
    )
    assert HTTPClient("https://example.com/1", backend="test").server == "example.com:443"


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("timeout", 0),
        ("timeout", -1.0),
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", "5"),
        ("timeout", True),
        ("connect_timeout", 0.0),
        ("connect_timeout", float("nan")),
        ("retry_deadline", -0.5),
        ("retry_deadline", float("nan")),
        ("backoff_factor", -0.1),
        ("retries", -1),
        ("retries", 1.5),
        ("retries", True),
        ("pool_size", 0),
        ("max_body_size", 0),
        ("allow_insecure_http", "yes"),
    ],
)
def test_bad_options_are_a_configuration_error_naming_the_option(option: str, value: Any) -> None:
    with pytest.raises(ConfigurationError, match=f"option {option} must be"):
        HTTPOptions(**{option: value})


def test_options_are_a_frozen_value_with_seconds_as_floats() -> None:
    options = HTTPOptions(timeout=3, retry_deadline=0, retries=0, max_body_size=10)
    assert (options.timeout, options.retry_deadline) == (3.0, 0.0)
    assert type(options.timeout) is float
    assert options == HTTPOptions(timeout=3.0, retry_deadline=0.0, retries=0, max_body_size=10)
    with pytest.raises(AttributeError):
        options.timeout = 1.0  # type: ignore[misc]


# -- headers, seen by a recording server ---------------------------------------------------


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: ClassVar[list[dict[str, str]]] = []

    def _answer(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.rfile.read(length)
        headers = dict(self.headers.items())
        type(self).seen.append({"path": self.path, **headers})
        # Echo the Authorization header back in an error, as a careless server might.
        data = json.dumps({"msg": f"echo {headers.get('Authorization')}"}).encode()
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = _answer

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[str]:
    _Recorder.seen = []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/1"
    httpd.shutdown()
    httpd.server_close()


def test_headers_name_the_library_and_carry_the_token_only_there(recorder: str) -> None:
    token = "s3cret-token-value"
    client = HTTPClient(recorder, backend="test", auth=lambda: f"OAuth {token}")
    with pytest.raises(CacheError) as info:
        client.request("PUT", "items/a%20b", json={"value": "ü"})
    seen = _Recorder.seen[-1]
    assert seen["User-Agent"].startswith(f"cacheops/{cacheops.__version__} ")
    assert seen["Authorization"] == f"OAuth {token}"
    assert seen["Content-Type"] == "application/json"
    assert seen["Accept"] == "application/json"
    assert seen["path"] == "/1/items/a%20b"
    # The server echoed the token: it is scrubbed from the error.
    assert token not in str(info.value) and token not in repr(info.value.args)
    assert info.value.server_message == "echo OAuth ***"


def test_proxy_settings_come_from_the_environment_when_the_session_is_built(
    client: HTTPClient, server: IronCacheServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{free_port()}")
    # No breaker: the dead proxy would keep the next request failing fast, untried.
    client = make_client(server, breaker_window=0)
    with pytest.raises(BackendUnavailable, match="through the proxy"):
        client.request("GET", ITEM, allow=(404,))
    monkeypatch.delenv("HTTP_PROXY")
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        client.request("GET", ITEM, allow=(404,))  # the same session keeps its settings
    assert server.requests == []
    client.close()
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert len(server.requests) == 1


# -- replies that break after their status line ---------------------------------------------


def test_a_get_whose_body_was_cut_is_resent(client: HTTPClient, server: IronCacheServer) -> None:
    client.request("PUT", ITEM, json={"value": "whole"})
    server.clear_requests()
    server.faults.cut_reply(1, methods=("GET",))
    assert client.request("GET", ITEM).data["value"] == "whole"
    assert [(r.method, r.fault) for r in server.requests] == [("GET", "cut_reply"), ("GET", None)]


def test_a_body_that_keeps_being_cut_is_unavailable_within_the_retries(
    server: IronCacheServer,
) -> None:
    client = make_client(server, retries=2)
    server.faults.cut_reply(10)
    with pytest.raises(BackendUnavailable) as info:
        client.request("GET", ITEM, allow=(404,))
    assert type(info.value) is BackendUnavailable
    assert "was cut off" in str(info.value)
    assert len(server.requests) == 3  # the first attempt and two retries, no more


def test_body_retries_and_503_retries_share_one_budget(server: IronCacheServer) -> None:
    client = make_client(server, retries=3)
    server.faults.fail_next(2, 503)
    server.faults.cut_reply(10)
    with pytest.raises(BackendUnavailable):
        client.request("GET", ITEM, allow=(404,))
    assert len(server.requests) == 4


def test_a_post_whose_body_was_cut_is_unknown_and_applied_once(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.cut_reply(1, methods=("POST",))
    with pytest.raises(UnknownOutcome, match="cut off") as info:
        client.request("POST", f"{ITEM}/increment", json={"amount": 1})
    assert "may have been applied" in str(info.value)
    assert server.items("c") == {"k": 1}
    assert len(server.requests) == 1


def test_a_reply_cut_inside_its_headers_is_not_an_empty_success(
    client: HTTPClient, server: IronCacheServer
) -> None:
    server.faults.cut_reply(1, at="headers", methods=("POST",))
    with pytest.raises(UnknownOutcome, match="gave no length"):
        client.request("POST", f"{ITEM}/increment", json={"amount": 2})
    assert server.items("c") == {"k": 2}
    server.faults.cut_reply(1, at="headers", methods=("GET",))
    assert client.request("GET", ITEM).data["value"] == 2  # resent, not taken as empty
    assert [r.fault for r in server.requests] == ["cut_reply", "cut_reply", None]


def test_a_body_that_stalls_past_the_read_timeout(server: IronCacheServer) -> None:
    client = make_client(server, timeout=0.2)
    client.request("PUT", ITEM, json={"value": 7})
    server.faults.cut_reply(1, stall=2.0, methods=("GET",))
    start = time.monotonic()
    assert client.request("GET", ITEM).data["value"] == 7
    assert time.monotonic() - start < 1.5
    server.faults.cut_reply(1, stall=2.0, methods=("POST",))
    with pytest.raises(UnknownOutcome, match=r"within 0\.2 s"):
        client.request("POST", f"{ITEM}/increment", json={"amount": 1})
    assert server.items("c") == {"k": 8}


# -- no credential behind an error ---------------------------------------------------------


def reachable(exc: BaseException) -> list[BaseException]:
    """``exc`` and every exception its ``__cause__`` / ``__context__`` chains reach."""
    seen: list[BaseException] = []
    todo = [exc]
    while todo:
        current = todo.pop()
        if any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [e for e in (current.__cause__, current.__context__) if e is not None]
    return seen


def test_no_error_chain_reaches_the_request_or_its_credential(server: IronCacheServer) -> None:
    token = server.token
    # No breaker: each case must reach the server, after the outages before it.
    client = make_client(server, retries=1, timeout=0.2, breaker_window=0)
    faults = server.faults
    cases: list[tuple[str, Any, type[CacheError]]] = [
        ("dropped before", lambda: faults.drop_before(5), BackendUnavailable),
        ("dropped after", lambda: faults.drop_after_apply(1, ("POST",)), UnknownOutcome),
        ("cut body", lambda: faults.cut_reply(5), BackendUnavailable),
        ("cut headers", lambda: faults.cut_reply(5, at="headers"), BackendUnavailable),
        ("stalled body", lambda: faults.cut_reply(5, stall=0.5), BackendUnavailable),
        ("read timeout", lambda: setattr(faults, "latency", 0.5), BackendUnavailable),
        ("503s", lambda: faults.fail_next(5, 503), BackendUnavailable),
        ("401", lambda: faults.fail_next(1, 401), AuthenticationError),
    ]
    for name, inject, expected in cases:
        server.reset()
        inject()
        method = "POST" if expected is UnknownOutcome else "GET"
        with pytest.raises(expected) as info:
            client.request(method, f"{ITEM}/increment" if method == "POST" else ITEM)
        server.faults.clear()
        chain = reachable(info.value)
        assert len(chain) == 1, (name, chain)  # nothing behind our error at all
        assert token not in repr(vars(info.value)) and token not in str(info.value), name
    refused = HTTPClient(
        f"http://127.0.0.1:{free_port()}/1", backend="t", auth=lambda: f"OAuth {token}"
    )
    for _ in range(2):  # the second fails fast, its breaker open
        with pytest.raises(BackendUnavailable) as info:
            refused.request("GET", "x")
        assert reachable(info.value) == [info.value]
    assert "circuit breaker is open" in str(info.value)


def test_a_backend_error_reaches_no_request_either(server: IronCacheServer) -> None:
    backend = cacheops.connect(server.url("c"), retries=0)
    server.faults.cut_reply(1)
    with pytest.raises(BackendUnavailable) as info:
        backend.get("k")
    assert reachable(info.value) == [info.value]
    server.faults.cut_reply(1)
    with pytest.raises(UnknownOutcome) as unknown:
        backend.increment("k")
    assert reachable(unknown.value) == [unknown.value]


def test_a_memcachier_api_error_reaches_no_request_or_password(
    memcachier_api: MemCachierAPIServer,
) -> None:
    username, password = memcachier_api.primary_credentials
    api = MemCachierAPI(
        username, password, cache_id=memcachier_api.cache_id, base_url=memcachier_api.base_url
    )
    for inject, expected in (
        (lambda: memcachier_api.faults.drop_before(10), BackendUnavailable),
        (lambda: memcachier_api.faults.cut_reply(10), BackendUnavailable),
        (lambda: memcachier_api.faults.drop_after_apply(1, ("POST",)), UnknownOutcome),
    ):
        memcachier_api.faults.clear()
        inject()
        with api, pytest.raises(expected) as info:
            api.watch_prefix("p") if expected is UnknownOutcome else api.info()
        assert reachable(info.value) == [info.value]
        assert password.split()[-1] not in repr(vars(info.value)) + str(info.value)


# -- redaction of the server's words -------------------------------------------------------


def test_a_token_that_is_a_plain_word_leaves_the_servers_words_alone(
    server: IronCacheServer,
) -> None:
    # The server's 401 message ends in the word "invalid", which is this (wrong) token.
    client = HTTPClient(
        f"{server.base_url}/projects/{server.project_id}",
        backend="t",
        auth=lambda: "OAuth invalid",
    )
    with pytest.raises(AuthenticationError) as info:
        client.request("GET", ITEM)
    assert info.value.server_message == (
        "Unauthorized: the OAuth token is either not provided or invalid."
    )


# -- the circuit breaker -------------------------------------------------------------------


def breaker_client(url: str, token: str = "t", **options: Any) -> HTTPClient:
    options.setdefault("retries", 2)  # waits 0.1-0.2 then 0.2-0.4 s
    return HTTPClient(
        url, backend="test", auth=lambda: f"OAuth {token}", options=HTTPOptions(**options)
    )


def timed(call: Any) -> tuple[float, BaseException | None]:
    start = time.monotonic()
    try:
        call()
    except BackendUnavailable as exc:
        return time.monotonic() - start, exc
    return time.monotonic() - start, None


def test_a_stopped_service_fails_fast_then_one_probe_per_window_until_it_is_back() -> None:
    server = IronCacheServer().start()
    port, root = server.port, f"{server.base_url}/projects/{server.project_id}"
    client = breaker_client(root, server.token, breaker_window=0.6)
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    server.stop()
    paid, first = timed(lambda: client.request("GET", ITEM, allow=(404,)))
    assert paid >= 0.3 and "cannot connect" in str(first)  # the retries, once
    fast = [timed(lambda: client.request("POST", ITEM, json={})) for _ in range(20)]
    assert max(t for t, _ in fast) < 0.1 and sum(t for t, _ in fast) < 0.3
    for _, error in fast:  # nothing was sent, so never UnknownOutcome
        assert type(error) is BackendUnavailable and error.server == f"127.0.0.1:{port}"
    assert "circuit breaker is open" in str(fast[0][1])
    assert "breaker_window (0.6 s)" in str(fast[0][1])
    time.sleep(0.6)
    paid, probe = timed(lambda: client.request("GET", ITEM, allow=(404,)))
    assert paid >= 0.3 and "cannot connect" in str(probe)  # the probe failed: open again
    assert "circuit breaker is open" in str(timed(lambda: client.request("GET", ITEM))[1])
    time.sleep(0.6)
    with IronCacheServer(port=port) as back:
        back.faults.latency = 0.4
        # One request probes (slowly); the requests made meanwhile fail fast.
        probing_result: list[Any] = []
        probing = threading.Thread(
            target=lambda: probing_result.append(client.request("GET", ITEM, allow=(404,)))
        )
        probing.start()
        time.sleep(0.1)
        during = [timed(lambda: client.request("GET", ITEM, allow=(404,))) for _ in range(5)]
        assert all(t < 0.1 and e is not None for t, e in during)
        probing.join()
        assert [r.status for r in probing_result] == [404]
        assert len(back.requests) == 1  # exactly one probe went through
        back.faults.latency = 0
        assert client.request("GET", ITEM, allow=(404,)).status == 404  # closed
        assert len(back.requests) == 2


def test_503s_after_all_retries_open_the_breaker(server: IronCacheServer) -> None:
    client = make_client(server, retries=1)
    server.faults.fail_next(2, 503)
    with pytest.raises(BackendUnavailable, match="stayed unavailable"):
        client.request("GET", ITEM)
    with pytest.raises(BackendUnavailable, match="circuit breaker is open"):
        client.request("GET", ITEM)
    assert len(server.requests) == 2


@pytest.mark.parametrize("answer", [(404, 1), (401, 1), (403, 1), (500, 1), (429, 3)], ids=str)
def test_the_service_answering_never_opens_the_breaker(
    server: IronCacheServer, answer: tuple[int, int]
) -> None:
    # A 4xx, a single 500, even 429s after every retry: the service is there.
    status, times = answer
    client = make_client(server, retries=2)
    server.faults.fail_next(times, status)
    with pytest.raises(CacheError):
        client.request("GET", ITEM)
    assert client.request("GET", ITEM, allow=(404,)).status == 404
    assert len(server.requests) == times + 1


def test_on_error_miss_misses_fast_while_the_breaker_is_open() -> None:
    url = f"ironcache+http://p:t@127.0.0.1:{free_port()}/c?breaker_window=5"
    cache = cacheops.connect(url, on_error="miss", retries=2)
    paid, _ = timed(lambda: cache.get("k"))
    assert paid >= 0.3
    start = time.monotonic()
    assert [cache.get("k", "fallback") for _ in range(20)] == ["fallback"] * 20
    assert time.monotonic() - start < 0.3


def test_breaker_window_0_turns_it_off_and_bad_values_are_refused() -> None:
    client = breaker_client(f"http://127.0.0.1:{free_port()}/1", breaker_window=0, retries=0)
    for _ in range(3):
        with pytest.raises(BackendUnavailable, match="cannot connect"):
            client.request("GET", "x")
    for bad in (-1, "1", float("inf"), True):
        with pytest.raises(ConfigurationError, match="breaker_window"):
            HTTPOptions(breaker_window=bad)
    with pytest.raises(ConfigurationError, match="breaker_window"):
        cacheops.connect("ironcache+http://p:t@127.0.0.1:1/c?breaker_window=soon")
    assert HTTPOptions().breaker_window == 1.0  # memcached's default


def test_the_memcachier_api_client_takes_breaker_window() -> None:
    api = MemCachierAPI(
        "u", "p", cache_id=1, base_url=f"http://127.0.0.1:{free_port()}", breaker_window=5
    )
    with pytest.raises(BackendUnavailable, match="cannot connect"):
        api.info()
    with pytest.raises(BackendUnavailable, match=r"breaker_window \(5 s\)"):
        api.info()


def test_a_forked_child_starts_with_the_breaker_closed() -> None:
    client = breaker_client(f"http://127.0.0.1:{free_port()}/1", retries=0, breaker_window=60)
    with pytest.raises(BackendUnavailable):
        client.request("GET", "x")
    assert client.breaker.is_open
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the child
        code = 1
        try:
            closed = not client.breaker.is_open
            try:
                client.request("GET", "x")
            except BackendUnavailable as exc:
                code = 0 if closed and "cannot connect" in str(exc) else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert client.breaker.is_open  # the parent's is its own
