"""The asyncio memcached backend over TLS, against a real memcached started with ``-Z``."""

from __future__ import annotations

import asyncio
import ssl
from pathlib import Path

import pytest
from test_memcache import tls_server_args

import cacheops
from cacheops.aio import connect_async
from cacheops.testing.memcached import MemcachedServer


def test_async_tls_round_trips_and_refuses_an_untrusted_server(tmp_path: Path) -> None:
    args, cert = tls_server_args(tmp_path)
    with MemcachedServer(extra_args=args) as server:
        context = ssl.create_default_context(cafile=str(cert))

        async def main() -> None:
            async with connect_async(server.url, tls=context) as cache:
                await cache.put("secure", "yes")
                assert await cache.get("secure") == "yes"
                # Values larger than one TLS record and one read, over several keys.
                many = {f"tls:{i}": bytes([i]) * 300_000 for i in range(3)}
                await cache.put_many(many)
                assert await cache.get_many([*many, "secure"]) == {**many, "secure": "yes"}
            untrusted = connect_async(server.url, tls=True, connect_timeout=1)
            with pytest.raises(cacheops.BackendUnavailable, match="CERTIFICATE_VERIFY_FAILED"):
                await untrusted.get("secure")
            await untrusted.aclose()

        asyncio.run(main())

    # The sync backend reads what the async one wrote, over TLS too.
    with MemcachedServer(extra_args=args) as server:
        context = ssl.create_default_context(cafile=str(cert))

        async def write() -> None:
            async with connect_async(server.url, tls=context) as cache:
                await cache.put("shared", {"by": "async"})

        asyncio.run(write())
        assert cacheops.connect(server.url, tls=context).get("shared") == {"by": "async"}
