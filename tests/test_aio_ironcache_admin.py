"""The async IronCache admin against the local IronCache server over real loopback HTTP:
every method of the sync admin, with the same requests, records and errors."""

from __future__ import annotations

import asyncio
import inspect
from typing import Any
from urllib.parse import quote

import pytest
import requests

import cacheops
from cacheops.admin.ironcache import CacheInfo, CacheSummary, IronCacheAdmin
from cacheops.aio import connect_async
from cacheops.aio.ironcache import AsyncIronCacheAdmin, AsyncIronCacheBackend
from cacheops.errors import AuthenticationError
from cacheops.testing.ironcache_server import IronCacheServer

CACHE = "cache"  # the cache of the ironcache_url fixture


@pytest.fixture
def server(ironcache_server: IronCacheServer, ironcache_url: str) -> IronCacheServer:
    return ironcache_server  # emptied and fault-free by ironcache_url


def connect(url: str) -> AsyncIronCacheBackend:
    backend = connect_async(url, backoff_factor=0.01)
    assert isinstance(backend, AsyncIronCacheBackend)
    return backend


def admin_of(backend: AsyncIronCacheBackend) -> AsyncIronCacheAdmin:
    admin = backend.admin
    assert isinstance(admin, AsyncIronCacheAdmin)
    return admin


def fill_caches(server: IronCacheServer, names: list[str]) -> None:
    """Create the caches as any other IronCache client would, with bare requests."""
    with requests.Session() as session:
        session.headers["Authorization"] = f"OAuth {server.token}"
        for name in names:
            session.put(
                f"{server.base_url}/projects/{server.project_id}/caches/{name}/items/k",
                json={"value": 1},
                timeout=5,
            ).raise_for_status()


def test_the_async_admin_has_every_method_of_the_sync_one_with_the_same_arguments() -> None:
    public = {
        name: inspect.signature(member)
        for name, member in inspect.getmembers(IronCacheAdmin, inspect.isfunction)
        if not name.startswith("_")
    }
    assert "list_caches" in public and "delete_cache" in public
    for name, signature in public.items():
        method = getattr(AsyncIronCacheAdmin, "aclose" if name == "close" else name, None)
        assert inspect.iscoroutinefunction(method), name
        assert inspect.signature(method) == signature, name


def test_list_caches_follows_every_page_with_the_sync_admins_requests(
    server: IronCacheServer, ironcache_url: str
) -> None:
    names = [f"c{i:03d}" for i in range(230)]
    fill_caches(server, names)
    server.clear_requests()

    async def listed() -> list[CacheSummary]:
        async with connect(ironcache_url) as backend:
            return await admin_of(backend).list_caches()

    caches = asyncio.run(listed())
    assert caches == [CacheSummary(name, server.project_id) for name in names]
    seen_async = [(r.method, r.path, r.status) for r in server.requests]
    assert [path.split("?")[1] for _, path, _ in seen_async] == [
        "page=0&per_page=100",
        "page=1&per_page=100",
        "page=2&per_page=100",
    ]

    server.clear_requests()
    with cacheops.connect(ironcache_url) as sync:
        assert sync.admin.list_caches() == caches
    assert [(r.method, r.path, r.status) for r in server.requests] == seen_async


def test_cache_info_clear_delete_stats_and_info(
    server: IronCacheServer, ironcache_url: str
) -> None:
    async def calls() -> None:
        async with (
            connect(ironcache_url) as backend,
            connect(ironcache_url.replace(f"/{CACHE}", "/other")) as other,
        ):
            admin = admin_of(backend)
            assert await admin.cache_info() is None
            assert (await admin.stats()).items == 0
            await backend.put_many({"a": 1, "b": 2, "c": 3})
            await other.put("x", 1)
            assert await admin.cache_info() == CacheInfo(CACHE, 3, {"size": 3})
            assert await admin.cache_info("other") == CacheInfo("other", 1, {"size": 1})
            stats = await admin.stats()
            assert (stats.items, stats.hits, stats.misses, stats.bytes) == (3, None, None, None)
            assert stats.servers[0].server == f"127.0.0.1:{server.port}"
            await admin.clear("other")
            assert server.items("other") == {} and len(server.items(CACHE)) == 3
            assert await admin.delete_cache("other") is True
            assert await admin.delete_cache("other") is False
            assert server.caches() == [CACHE]
            await admin.clear()
            assert server.items(CACHE) == {}
            info = await admin.info()
            assert info["backend"] == "ironcache" and info["cache"] == CACHE
            assert server.token not in repr(info) and server.token not in repr(admin)

    asyncio.run(calls())


def test_a_bad_project_id_is_an_authentication_error_on_every_endpoint(
    server: IronCacheServer,
) -> None:
    token = quote(server.token, safe="")
    url = f"ironcache+http://nope:{token}@127.0.0.1:{server.port}/{CACHE}"

    async def calls() -> list[str]:
        messages = []
        async with connect(url) as backend:
            admin = admin_of(backend)
            endpoints: list[Any] = [
                admin.list_caches(),
                admin.cache_info(),
                admin.delete_cache("x"),
                admin.stats(),
            ]
            for call in endpoints:
                with pytest.raises(AuthenticationError) as info:
                    await call
                messages.append(str(info.value))
        return messages

    for message in asyncio.run(calls()):
        assert "project id" in message and server.token not in message
