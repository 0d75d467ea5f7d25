"""ironcache:// on asyncio (h11 on asyncio streams) against the conformance suite and the
local IronCache server, over real loopback HTTP: faults come from the server's own fault
injection."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote

import pytest

import cacheops
from cacheops.aio import connect_async
from cacheops.aio.ironcache import AsyncIronCacheBackend
from cacheops.backends.ironcache import IronCacheBackend
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    UnknownOutcome,
)
from cacheops.http.aclient import AsyncHTTPClient
from cacheops.testing.aio import facade
from cacheops.testing.contract import BackendContract, MakeBackend
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.net import free_port

CACHE = "cache"  # the cache of the ironcache_url fixture
_T = TypeVar("_T")


class TestAsyncIronCacheContract(BackendContract):
    portable_keys_only = False
    expected_failures: ClassVar[Mapping[str, str]] = {
        "test_admin_stats_count_hits_misses_and_items": (
            "IronCache keeps no hit or miss counters: admin.stats() reports items only"
        ),
    }

    @pytest.fixture
    def make_backend(self, ironcache_url: str) -> MakeBackend:
        return lambda **options: facade(connect_async(ironcache_url, **options))


# -- fixtures and helpers ------------------------------------------------------------------


def run(coroutine: Coroutine[Any, Any, _T]) -> _T:
    return asyncio.run(coroutine)


@pytest.fixture
def server(ironcache_server: IronCacheServer, ironcache_url: str) -> IronCacheServer:
    return ironcache_server  # emptied and fault-free by ironcache_url


Make = Callable[..., AsyncIronCacheBackend]


@pytest.fixture
def make(ironcache_url: str) -> Iterator[Make]:
    def factory(url: str = ironcache_url, **options: Any) -> AsyncIronCacheBackend:
        options.setdefault("backoff_factor", 0.01)
        backend = connect_async(url, **options)
        assert isinstance(backend, AsyncIronCacheBackend)
        return backend

    yield factory


def increments(server: IronCacheServer) -> list[Any]:
    return [r for r in server.requests if r.path.endswith("/increment")]


def chain(exc: BaseException) -> Iterator[BaseException]:
    seen: BaseException | None = exc
    while seen is not None:
        yield seen
        seen = seen.__cause__ or seen.__context__


# -- the same requests, retries and outcomes as the sync backend -----------------------------


def test_retries_on_503_match_the_sync_client_request_for_request(
    make: Make, server: IronCacheServer, ironcache_url: str
) -> None:
    async def calls(backend: AsyncIronCacheBackend) -> None:
        server.faults.fail_next(3, 503)
        await backend.put("k", "v")
        server.faults.fail_next(2, 503)
        assert await backend.get("k") == "v"
        server.faults.fail_next(3, 503)
        assert await backend.increment("n", 4) == 4
        server.faults.fail_next(10, 503)
        with pytest.raises(BackendUnavailable):
            await backend.get("k")
        await backend.aclose()

    run(calls(make(retries=3)))
    seen_async = [(r.method, r.path, r.status) for r in server.requests]
    assert server.items(CACHE) == {"k": "v", "n": 4}  # the increment applied once

    server.reset()
    sync = cacheops.connect(ironcache_url, retries=3, backoff_factor=0.01)
    assert isinstance(sync, IronCacheBackend)
    server.faults.fail_next(3, 503)
    sync.put("k", "v")
    server.faults.fail_next(2, 503)
    assert sync.get("k") == "v"
    server.faults.fail_next(3, 503)
    assert sync.increment("n", 4) == 4
    server.faults.fail_next(10, 503)
    with pytest.raises(BackendUnavailable):
        sync.get("k")
    sync.close()
    assert [(r.method, r.path, r.status) for r in server.requests] == seen_async
    assert [s for m, _, s in seen_async if m == "GET"] == [503, 503, 200, 503, 503, 503, 503]


def test_an_increment_whose_reply_was_cut_is_unknown_and_applied_once(
    make: Make, server: IronCacheServer
) -> None:
    async def calls() -> None:
        backend = make(on_error="miss")  # an increment's outage raises even so
        server.faults.cut_reply(1, methods=("POST",))
        with pytest.raises(UnknownOutcome) as info:
            await backend.increment("n", 5)
        assert "cut" in str(info.value) or "closed" in str(info.value)
        server.faults.drop_after_apply(1, methods=("POST",))
        with pytest.raises(UnknownOutcome):
            await backend.increment("n", 5)
        assert await backend.increment("n") == 11  # and the backend carries on
        await backend.aclose()

    run(calls())
    assert server.items(CACHE) == {"n": 11}
    assert [r.fault for r in increments(server)] == ["cut_reply", "drop_after_apply", None]


def test_a_conditional_put_is_not_resent_but_a_plain_put_is(
    make: Make, server: IronCacheServer
) -> None:
    async def calls() -> None:
        backend = make()
        server.faults.drop_after_apply(1, methods=("PUT",))
        with pytest.raises(UnknownOutcome):
            await backend.add("added", "v")
        server.faults.drop_after_apply(1, methods=("PUT",))
        await backend.put("plain", "v")
        await backend.aclose()

    run(calls())
    puts = [(r.path.rsplit("/", 1)[-1], r.fault) for r in server.requests if r.method == "PUT"]
    assert puts == [("added", "drop_after_apply"), ("plain", "drop_after_apply"), ("plain", None)]
    assert server.items(CACHE) == {"added": "v", "plain": "v"}


def test_a_broken_reply_is_an_outage_that_on_error_miss_absorbs(
    make: Make, server: IronCacheServer
) -> None:
    async def calls() -> None:
        # No breaker: the stalled body's read timeout would keep later gets failing fast.
        strict = make(retries=1, timeout=0.2, breaker_window=0)
        lenient = make(retries=1, timeout=0.2, on_error="miss", breaker_window=0)
        await strict.put("k", "v")
        for at, stall in (("body", 0.0), ("headers", 0.0), ("body", 1.0)):
            server.faults.cut_reply(10, at=at, stall=stall, methods=("GET",))
            with pytest.raises(BackendUnavailable) as info:
                await strict.get("k")
            assert type(info.value) is BackendUnavailable
            assert await lenient.get("k", "fallback") == "fallback"
            assert await lenient.get_many(["k", "j"]) == {}
            server.faults.clear()
        assert await strict.get("k") == "v"
        await strict.aclose()
        await lenient.aclose()

    run(calls())


def test_a_dead_port_is_unavailable_and_an_increment_there_certainly_not_applied() -> None:
    port = free_port()

    async def calls() -> None:
        backend = connect_async(f"ironcache+http://p:t@127.0.0.1:{port}/c", backoff_factor=0.01)
        with pytest.raises(BackendUnavailable) as info:
            await backend.get("k")
        assert f"127.0.0.1:{port}" in str(info.value) and "cannot connect" in str(info.value)
        with pytest.raises(BackendUnavailable) as info:
            await backend.increment("k")
        assert type(info.value) is BackendUnavailable  # refused: certainly not applied
        await backend.aclose()

    start = time.monotonic()
    run(calls())
    assert time.monotonic() - start < 3.0


def test_the_token_is_in_no_error_message_or_chain(make: Make, server: IronCacheServer) -> None:
    url = (
        f"ironcache+http://{server.project_id}:{quote('wrong-secret-token')}"
        f"@127.0.0.1:{server.port}/{CACHE}"
    )
    dead = f"ironcache+http://p:{server.token}@127.0.0.1:{free_port()}/{CACHE}"

    async def errors() -> list[CacheError]:
        found: list[CacheError] = []
        for backend, call in (
            (make(url), "get"),
            (make(dead, retries=0), "get"),
            (make(timeout=0.1, retries=0), "increment"),
        ):
            if call == "increment":
                server.faults.latency = 0.3
            try:
                await getattr(backend, call)("k")
            except CacheError as exc:
                found.append(exc)
            server.faults.latency = 0
            await backend.aclose()
        return found

    found = run(errors())
    time.sleep(0.4)  # the server finishes the increment that timed out
    assert [type(e) for e in found] == [AuthenticationError, BackendUnavailable, UnknownOutcome]
    for error in found:
        for link in chain(error):
            # No transport exception (which could hold the request) in the chain.
            assert isinstance(link, CacheError), repr(link)
            for secret in ("wrong-secret-token", server.token):
                assert secret not in f"{link} {link!r} {vars(link)}"
    assert not [r.path for r in server.requests if "oauth" in r.path or server.token in r.path]


# -- concurrency -----------------------------------------------------------------------------


def test_get_many_and_delete_many_run_concurrently_with_a_bound(
    make: Make, server: IronCacheServer
) -> None:
    async def calls() -> tuple[float, float]:
        backend = make(max_concurrency=4)
        keys = [f"k{i}" for i in range(8)]
        assert await backend.put_many({key: key for key in keys}) == []
        server.faults.latency = 0.15
        start = time.monotonic()
        assert await backend.get_many(keys) == {key: key for key in keys}
        got = time.monotonic() - start
        start = time.monotonic()
        await backend.delete_many(keys)
        deleted = time.monotonic() - start
        server.faults.latency = 0
        await backend.aclose()
        return got, deleted

    for elapsed in run(calls()):
        # Two waves of four: well under the 1.2 s of eight in a row, never one wave of eight.
        assert 0.29 <= elapsed < 0.8
    assert server.items(CACHE) == {}


def test_a_task_cancelled_mid_reply_leaves_no_unread_reply_in_the_pool(
    make: Make, server: IronCacheServer
) -> None:
    async def calls() -> None:
        backend = make(pool_size=1)  # one connection: a dirty one would be reused at once
        await backend.put_many({"a": "A", "b": "B"})
        server.faults.cut_reply(1, at="body", stall=0.5, methods=("GET",))
        task = asyncio.ensure_future(backend.get("a"))
        await asyncio.sleep(0.2)  # the status line and half the body are in
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await backend.get("b") == "B"
        assert await backend.get_many(["a", "b"]) == {"a": "A", "b": "B"}
        await backend.aclose()

    run(calls())


def test_the_backend_works_on_one_loop_after_another(make: Make) -> None:
    backend = make()
    run(backend.put("k", "v"))
    assert run(backend.get("k")) == "v"  # a new loop: a new pool, not the old loop's


def test_connections_the_server_closed_while_idle_are_not_reused() -> None:
    async def calls() -> None:
        with IronCacheServer() as first:
            backend = connect_async(first.url(CACHE), backoff_factor=0.01)
            await backend.get_many([f"k{i}" for i in range(4)])  # a few pooled connections
            port = first.port
        with IronCacheServer(port=port) as second:  # a restart: the old sockets are closed
            await asyncio.sleep(0.05)  # the loop sees the closes, as it would while idle
            # An increment is never resent: on a stale connection it would be unknown.
            assert await backend.increment("n") == 1
            assert [r.fault for r in increments(second)] == [None]
            await backend.aclose()

    run(calls())


def test_https_verifies_the_certificate_and_trusts_ssl_cert_file(
    server: IronCacheServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """TLS in front of the local server: a relay on loopback with a throwaway certificate."""
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = str(tmp_path / "cert.pem"), str(tmp_path / "key.pem")
    options = "-x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
    subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
    subprocess.run(
        ["openssl", "req", *options.split(), "-keyout", key, "-out", cert, *subject],
        check=True,
        capture_output=True,
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)

    async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def relay(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", server.port)
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))

    async def calls() -> None:
        tls = await asyncio.start_server(relay, "127.0.0.1", 0, ssl=context)
        port = tls.sockets[0].getsockname()[1]
        url = f"ironcache://{server.project_id}:{server.token}@127.0.0.1:{port}/{CACHE}"
        with pytest.raises(BackendUnavailable, match="no valid certificate"):
            await connect_async(url).get("k")
        monkeypatch.setenv("SSL_CERT_FILE", cert)
        trusting = connect_async(url)
        await trusting.put("k", "v")
        assert await trusting.get("k") == "v"
        await trusting.aclose()
        tls.close()

    run(calls())
    assert server.items(CACHE) == {"k": "v"}


# -- configuration ---------------------------------------------------------------------------


def test_a_proxy_in_the_environment_is_refused_rather_than_bypassed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = "ironcache://p:secret-tok@cache-aws-us-east-1.iron.io/c"
    monkeypatch.setenv("HTTPS_PROXY", "http://user:proxy-pw@proxy.example:3128")
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    with pytest.raises(ConfigurationError, match="NO_PROXY") as info:
        connect_async(url)
    assert "proxy-pw" not in str(info.value) and "secret-tok" not in str(info.value)
    monkeypatch.setenv("NO_PROXY", "cache-aws-us-east-1.iron.io")
    assert isinstance(connect_async(url), AsyncIronCacheBackend)


def test_a_header_h11_refuses_is_a_configuration_error_without_the_token(
    server: IronCacheServer,
) -> None:
    # The backend refuses such a token itself; a supplier could still return one.
    client = AsyncHTTPClient(server.base_url, backend="x", auth=lambda: "OAuth bad\ntoken")

    with pytest.raises(ConfigurationError, match="header") as info:
        run(client.request("GET", "projects"))
    for link in chain(info.value):
        assert "bad\ntoken" not in f"{link} {link!r} {vars(link)}"
    assert not server.requests


def test_plain_http_is_refused_for_a_remote_host() -> None:
    with pytest.raises(ConfigurationError, match="allow_insecure_http") as info:
        connect_async("ironcache+http://p:secret-tok@example.com/c")
    assert "secret-tok" not in str(info.value)
    secure = connect_async("ironcache://p:secret-tok@cache-aws-us-east-1.iron.io/c")
    assert repr(secure).endswith("ironcache://p:***@cache-aws-us-east-1.iron.io:443/c>")


def test_without_h11_connect_async_names_the_extra_to_install(ironcache_url: str) -> None:
    code = (
        "import sys; sys.modules['h11'] = None\n"
        "from cacheops.aio import connect_async\n"
        "from cacheops.errors import ConfigurationError\n"
        "try:\n"
        f"    connect_async({ironcache_url!r})\n"
        "except ConfigurationError as exc:\n"
        "    print('refused:', exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "refused:" in done.stdout and "pip install 'cacheops[async]'" in done.stdout


# -- the circuit breaker, shared with the sync client ----------------------------------------


def test_a_stopped_service_fails_fast_then_one_probe_closes_the_breaker() -> None:
    server = IronCacheServer().start()
    port, url = server.port, server.url(CACHE)

    async def timed(call: Callable[[], Coroutine[Any, Any, Any]]) -> tuple[float, Any]:
        start = time.monotonic()
        try:
            result = await call()
        except BackendUnavailable as exc:
            result = exc
        return time.monotonic() - start, result

    async def calls() -> None:
        strict = connect_async(url, retries=2, breaker_window=0.6)
        lenient = connect_async(url, retries=2, breaker_window=0.6, on_error="miss")
        await strict.put("k", "v")
        server.stop()
        paid, first = await timed(lambda: strict.get("k"))
        assert paid >= 0.3 and "cannot connect" in str(first)
        fast = [await timed(lambda: strict.increment("n")) for _ in range(20)]
        assert max(t for t, _ in fast) < 0.1 and sum(t for t, _ in fast) < 0.3
        assert all(type(error) is BackendUnavailable for _, error in fast)  # never sent
        assert "circuit breaker is open" in str(fast[0][1])
        assert f"127.0.0.1:{port}" in str(fast[0][1]) and "(0.6 s)" in str(fast[0][1])
        paid, _ = await timed(lambda: lenient.get("k", "fallback"))
        assert paid >= 0.3  # its own breaker: this one paid the retries
        missed = [await timed(lambda: lenient.get("k", "fallback")) for _ in range(20)]
        assert [m for _, m in missed] == ["fallback"] * 20 and sum(t for t, _ in missed) < 0.3
        await asyncio.sleep(0.6)
        with IronCacheServer(port=port) as back:
            back.faults.latency = 0.3
            probe = asyncio.ensure_future(strict.get("k", "gone"))
            await asyncio.sleep(0.1)
            during = [await timed(lambda: strict.get("k")) for _ in range(5)]
            assert all(t < 0.1 and isinstance(e, BackendUnavailable) for t, e in during)
            assert await probe == "gone"  # a new, empty server answered the one probe
            assert len(back.requests) == 1
            back.faults.latency = 0
            await strict.put("k", "back")  # closed
            assert await strict.get("k") == "back"
        await strict.aclose()
        await lenient.aclose()

    run(calls())


def test_a_404_or_401_never_opens_the_async_breaker(make: Make, server: IronCacheServer) -> None:
    async def calls() -> None:
        backend = make(retries=2)
        assert await backend.get("k") is None  # the cache does not exist: a 404
        server.faults.fail_next(1, 401)
        with pytest.raises(AuthenticationError):
            await backend.get("k")
        await backend.put("k", "v")
        assert await backend.get("k") == "v"
        await backend.aclose()

    run(calls())
    assert [r.status for r in server.requests][-4:] == [404, 401, 200, 200]
