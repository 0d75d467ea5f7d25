"""pytest fixtures that start real local servers.

Enable in a ``conftest.py``: ``pytest_plugins = ["cacheops.testing.plugin"]``.

Servers are session-scoped (starting one costs tens of milliseconds, but hundreds of tests
add up); the ``*_url`` fixtures flush them before each test so tests stay independent.
Fixtures for servers that need the ``memcached`` binary skip the test with the install hint
when it is missing, unless ``CI`` is set, where a missing binary is a failure.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import TypeVar
from urllib.parse import quote

import pytest

from .ironcache_server import IronCacheServer
from .memcached import MemcachedCluster, MemcachedNotInstalled, MemcachedServer
from .memcachier_api import MemCachierAPIServer

#: The login of the authenticated server: MemCachier's username, and as password the
#: ``"<user> <pass>"`` payload a real memcached checks (see cacheops.testing.memcached).
AUTH_USER = "cacheops"
AUTH_PASSWORD = "s3cr3t-pa55"

_S = TypeVar("_S", MemcachedServer, MemcachedCluster)


def _running(make: Callable[[], _S]) -> Iterator[_S]:
    """Start what ``make`` builds for the fixture's lifetime; without the memcached binary,
    skip with the install hint, or fail when ``CI`` is set (CI must have installed it)."""
    try:
        server = make()
    except MemcachedNotInstalled as exc:
        if os.environ.get("CI"):
            raise
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.fixture(scope="session")
def memcached_server() -> Iterator[MemcachedServer]:
    """A plain memcached on a free loopback port, for the whole session."""
    yield from _running(MemcachedServer)


@pytest.fixture(scope="session")
def memcached_auth_server() -> Iterator[MemcachedServer]:
    """A memcached that requires a login; reach it with ``memcachier_url``."""
    yield from _running(lambda: MemcachedServer(users={AUTH_USER: AUTH_PASSWORD}))


@pytest.fixture(scope="session")
def memcached_cluster() -> Iterator[MemcachedCluster]:
    """Three plain memcached servers."""
    yield from _running(lambda: MemcachedCluster(3))


@pytest.fixture
def memcached_url(memcached_server: MemcachedServer) -> str:
    """``memcached://`` URL of the session server, flushed for this test."""
    memcached_server.flush_all()
    return memcached_server.url


@pytest.fixture
def memcachier_url(
    memcached_auth_server: MemcachedServer, memcachier_api_server: MemCachierAPIServer
) -> str:
    """``memcachier://`` URL (with its login) of the authenticated server, flushed, whose
    ``api_url`` is the local MemCachier API server over that same memcached: the whole
    MemCachier stack, protocol and analytics API, as production has it."""
    memcached_auth_server.flush_all()
    url = memcached_auth_server.memcachier_url(AUTH_USER)
    return f"{url}?api_url={quote(memcachier_api_server.base_url, safe='')}"


@pytest.fixture
def memcached_cluster_url(memcached_cluster: MemcachedCluster) -> str:
    for server in memcached_cluster.servers:
        server.flush_all()
    return memcached_cluster.url


@pytest.fixture(scope="session")
def ironcache_server() -> Iterator[IronCacheServer]:
    """The local IronCache-compatible server, for the whole session."""
    with IronCacheServer() as server:
        yield server


@pytest.fixture
def ironcache_url(ironcache_server: IronCacheServer) -> str:
    """``ironcache+http://`` URL of the local server, emptied and fault-free for this test."""
    ironcache_server.reset()
    return ironcache_server.url("cache")


# -- the local MemCachier analytics API (v1 and v2) -------------------------------------------


@pytest.fixture(scope="session")
def memcachier_api_server(
    memcached_auth_server: MemcachedServer,
) -> Iterator[MemCachierAPIServer]:
    """The local MemCachier API server for the whole session, over the authenticated
    memcached: its primary credential is that server's login (``AUTH_USER``), so one
    username and password reach both, as with MemCachier."""
    with MemCachierAPIServer(memcached_auth_server) as server:
        yield server


@pytest.fixture
def memcachier_api(memcachier_api_server: MemCachierAPIServer) -> Iterator[MemCachierAPIServer]:
    """The session's MemCachier API server, reset for this test: initial credentials,
    memcached flushed and its stats reset, no alerts or prefixes, no faults, empty logs."""
    memcachier_api_server.reset()
    yield memcachier_api_server


# -- every local backend in turn ---------------------------------------------------------------

LOCAL_BACKENDS = ("memory", "memcachier", "ironcache")


@pytest.fixture(params=LOCAL_BACKENDS)
def any_cache_url(request: pytest.FixtureRequest) -> str:
    """The URL of an empty cache on each local backend in turn: a fresh ``memory://`` store,
    ``memcachier://`` (a real memcached with MemCachier's login, and the local analytics API)
    and ``ironcache+http://`` (the local IronCache server). Backends built from one URL in a
    test share that cache, so an app can be tested on every backend it may run on."""
    if request.param == "memory":
        return f"memory://test-{uuid.uuid4().hex}"
    url: str = request.getfixturevalue(f"{request.param}_url")
    return url


__all__ = [
    "AUTH_PASSWORD",
    "AUTH_USER",
    "LOCAL_BACKENDS",
    "any_cache_url",
    "ironcache_server",
    "ironcache_url",
    "memcached_auth_server",
    "memcached_cluster",
    "memcached_cluster_url",
    "memcached_server",
    "memcached_url",
    "memcachier_api",
    "memcachier_api_server",
    "memcachier_url",
]
