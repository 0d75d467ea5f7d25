"""CacheopsCache under Django's request cycle: cache_page, sessions, async views, and
connections that outlive requests (but not the threads that made them)."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest
from django.core.cache import caches
from django.http import HttpResponse
from django.test import AsyncClient, Client, RequestFactory
from django.test.utils import override_settings
from django.utils.cache import get_cache_key
from djcacheops_support import BACKEND, cache_settings

from cacheops.testing.memcached import MemcachedServer
from cacheops.testing.net import free_port, wait_for_port


def test_cache_page_serves_the_cached_response(django_caches: Any) -> None:
    client = Client()
    first = client.get("/cached/")
    assert first.status_code == 200
    assert client.get("/cached/").content == first.content
    assert "max-age=60" in first["Cache-Control"]
    # The page is in this cache, under the key Django's cache middleware computes.
    key = get_cache_key(RequestFactory().get("/cached/"), cache=django_caches["default"])
    assert key is not None
    stored = django_caches["default"].get(key)
    assert isinstance(stored, HttpResponse)
    assert stored.content == first.content
    django_caches["default"].clear()
    assert client.get("/cached/").content != first.content


def test_cache_sessions_live_in_the_cache(django_caches: Any) -> None:
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cache"):
        client = Client()
        assert [client.get("/counter/").content for _ in range(3)] == [b"1", b"2", b"3"]
        session_key = client.cookies["sessionid"].value
        stored = django_caches["default"].get("django.contrib.sessions.cache" + session_key)
        assert stored == {"visits": 3}
        django_caches["default"].clear()  # the cache is the only copy: the session is gone
        assert client.get("/counter/").content == b"1"
        assert client.cookies["sessionid"].value != session_key


def test_cached_db_sessions_survive_a_flushed_cache(django_caches: Any, database: None) -> None:
    with override_settings(SESSION_ENGINE="django.contrib.sessions.backends.cached_db"):
        client = Client()
        assert [client.get("/counter/").content for _ in range(2)] == [b"1", b"2"]
        session_key = client.cookies["sessionid"].value
        cache_key = "django.contrib.sessions.cached_db" + session_key
        assert django_caches["default"].get(cache_key) == {"visits": 2}
        django_caches["default"].clear()
        assert client.get("/counter/").content == b"3"  # read back from the database
        assert client.cookies["sessionid"].value == session_key
        assert django_caches["default"].get(cache_key) == {"visits": 3}


def test_async_view(django_caches: Any) -> None:
    async def visits() -> list[bytes]:
        client = AsyncClient()
        return [(await client.get("/async/")).content for _ in range(3)]

    assert asyncio.run(visits()) == [b"1", b"2", b"3"]
    assert django_caches["default"].get("async-visits") == 3


def test_async_view_under_an_asgi_server(django_caches: Any) -> None:
    """uvicorn serves Django's ASGI application on loopback; concurrent requests each
    count once (aincr is the server's atomic increment, awaited on the event loop)."""
    uvicorn = pytest.importorskip("uvicorn")
    httpx = pytest.importorskip("httpx")
    from django.core.asgi import get_asgi_application

    port = free_port()
    config = uvicorn.Config(get_asgi_application(), host="127.0.0.1", port=port, lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        assert wait_for_port("127.0.0.1", port)

        async def visits() -> list[str]:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                replies = await asyncio.gather(*(client.get("/async/") for _ in range(20)))
            return [reply.text for reply in replies]

        assert sorted(asyncio.run(visits()), key=int) == [str(n) for n in range(1, 21)]
    finally:
        server.should_exit = True
        thread.join(10)
    assert django_caches["default"].get("async-visits") == 20


def test_memory_is_one_store_per_process_like_locmem() -> None:
    """LOCATION "memory://": every thread's cache object, and every alias with the same
    OPTIONS, see one store, as LocMemCache's do; other OPTIONS make another store."""
    base = {"BACKEND": BACKEND, "LOCATION": "memory://"}
    settings = {
        "default": base,
        "other_prefix": {**base, "KEY_PREFIX": "other"},
        "signed": {**base, "OPTIONS": {"secret": "s" * 32}},
    }
    with override_settings(CACHES=settings):
        caches["default"].clear()
        caches["default"].set("k", "from main")
        seen = {}

        def read() -> None:
            seen["value"] = caches["default"].get("k")
            caches["other_prefix"].set("k", "from thread")

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()
        assert seen["value"] == "from main"
        assert caches["other_prefix"].get("k") == "from thread"
        assert caches["default"].backend.get("other:1:k") == "from thread"
        assert caches["signed"].get("k") is None  # a separate store


# -- connections (memcached counts them for us) ------------------------------------------


@pytest.fixture
def memcachier_caches(memcachier_url: str) -> Any:
    with override_settings(CACHES=cache_settings(memcachier_url)):
        yield caches


def _connections(server: MemcachedServer) -> tuple[int, int]:
    stats = server.stats()
    return int(stats["curr_connections"]), int(stats["total_connections"])


def test_requests_reuse_one_connection(
    memcachier_caches: Any, memcached_auth_server: MemcachedServer
) -> None:
    """Django closes caches after every request; the connection stays open for the next."""
    client = Client()
    client.get("/plain/")  # this thread's connection, opened once
    _, opened_before = _connections(memcached_auth_server)
    assert [client.get("/plain/").content for _ in range(20)] == [
        str(n).encode() for n in range(2, 22)
    ]
    _, opened_after = _connections(memcached_auth_server)
    # The only new connection is the one the second stats call itself made.
    assert opened_after - opened_before == 1


def test_a_thread_per_request_leaves_no_connection_open(
    memcachier_caches: Any, memcached_auth_server: MemcachedServer
) -> None:
    """Django's runserver serves each request on a new thread: each thread's connection
    must close with its thread, not pile up until the server refuses new ones."""
    Client().get("/plain/")
    baseline, _ = _connections(memcached_auth_server)
    for _ in range(25):
        thread = threading.Thread(target=Client().get, args=("/plain/",))
        thread.start()
        thread.join()
    assert memcachier_caches["default"].get("plain") == 26
    deadline = time.monotonic() + 5
    while (now := _connections(memcached_auth_server)[0]) > baseline:
        assert time.monotonic() < deadline, f"{now - baseline} connections left open"
        time.sleep(0.05)
