"""``memcached://`` and ``memcachier://`` on asyncio streams, with MemCachier's login.

The options, limits and error translation are the sync backend's
(:class:`~cacheops.backends.memcache_rules.MemcacheRules`), the bytes and reply parsing
its protocol module's, the cluster's ring and circuit breakers its
:class:`~cacheops.backends.memcache_cluster.Breakers`: a key written by a sync process is
found by an async one, and a failing server is handled alike.

Each server has a bounded pool per event loop (:mod:`.memcache_pool`); every new connection
logs in. A read whose connection was lost is retried once on a new one; a write whose
reply was lost raises ``UnknownOutcome`` and is never resent. ``get_many`` asks the nodes
of a cluster concurrently, and a failing node costs only its own keys. Concurrent ``get``\\ s
for one server go as one multi-key ``get`` (:mod:`.memcache_batch`).
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from pymemcache.exceptions import MemcacheError, MemcacheUnexpectedCloseError

from ..backends.memcache_proto import (
    CAS_ANSWERS,
    DELETE_ANSWERS,
    OK_ANSWERS,
    STORE_ANSWERS,
    TOUCH_ANSWERS,
    Found,
    cas_command,
    counter_reply,
    line_reply,
    store_command,
)
from ..backends.memcache_rules import MemcacheRules, expire, node_name
from ..config import Server
from ..errors import BackendUnavailable, ConfigurationError
from ..rules import CasToken, Item
from .backend import AsyncAdmin, AsyncBackend
from .memcache_batch import GetBatch
from .memcache_pool import Connection, Pool

_T = TypeVar("_T")
Command = Callable[[Connection], Awaitable[_T]]

#: Failures of a connection that was in use: the server restarted, or the network broke.
_LOST = (MemcacheUnexpectedCloseError, ConnectionResetError, BrokenPipeError)
#: In a forked child, the pools of the parent (see ``after_fork``).
_inherited: list[object] = []


class AsyncMemcacheBackend(MemcacheRules, AsyncBackend):
    """memcached and MemCachier on asyncio. Several servers form one consistent-hash
    cluster, the same as :class:`cacheops.backends.memcache.MemcacheBackend`'s."""

    def __init__(self, *, pool_size: int = 16, **options: Any) -> None:
        super().__init__(**options)
        if type(pool_size) is not int or pool_size < 1:
            raise ConfigurationError(f"option pool_size must be 1 or more, not {pool_size!r}")
        #: Most connections open to one server from one event loop.
        self.pool_size = pool_size
        self._breakers = self._new_breakers()
        self._by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, Pool]]
        self._by_loop = weakref.WeakKeyDictionary()

    # -- connections ---------------------------------------------------------------------

    def _new_pool(self, server: Server, loop: asyncio.AbstractEventLoop) -> Pool:
        pool = Pool(
            server.host,
            server.port,
            size=self.pool_size,
            connect_timeout=self.connect_timeout,
            timeout=self.timeout,
            tls=self.tls_context,
            no_delay=self.no_delay,
            username=self.username,
            password=self.password,
        )
        pool.gets = GetBatch(loop, lambda names: self._fetch(pool, names))
        return pool

    def _pools(self) -> dict[str, Pool]:
        """This event loop's pools, by server name (streams belong to the loop that made
        them, so a backend used from several loops keeps pools for each)."""
        loop = asyncio.get_running_loop()
        pools = self._by_loop.get(loop)
        if pools is None:
            pools = self._by_loop[loop] = {
                node_name(s): self._new_pool(s, loop) for s in self.servers
            }
        return pools

    def _pool(self, key: str) -> Pool:
        """The pool of the server that holds ``key``."""
        pools = self._pools()
        if len(pools) == 1:
            return next(iter(pools.values()))
        name = self._breakers.ring().get_node(key)
        if name is None:
            raise self._translate(
                MemcacheError("every server of the cluster failed and is out of the ring"), False
            )
        return pools[name]

    def _batches(self, keys: list[str]) -> dict[Pool, list[str]]:
        """The keys grouped by the server that holds them."""
        groups: dict[Pool, list[str]] = {}
        for key in keys:
            groups.setdefault(self._pool(key), []).append(key)
        return groups

    async def aclose(self) -> None:
        pools = self._by_loop.pop(asyncio.get_running_loop(), {})
        for pool in pools.values():
            pool.close()
        await super().aclose()

    def after_fork(self) -> None:
        # The parent's streams are the parent's: never use or close them. Nor let them be
        # collected: a stream closed (by its __del__) leaves the loop's epoll, which the
        # child shares with the parent, so the parent would stop hearing from the socket.
        _inherited.append(dict(self._by_loop))
        self._by_loop = weakref.WeakKeyDictionary()
        self._breakers = self._new_breakers()

    # -- running commands ----------------------------------------------------------------

    async def _call(self, pool: Pool, write: bool, command: Command[_T]) -> _T:
        """``command`` on one of ``pool``'s connections, through the server's breaker, with
        the sync backend's error translation. A read that lost its connection is retried
        once on a new one; a write never is (its outcome is unknown)."""
        try:
            return await self._breakers.run_async(pool, lambda: pool.run(command))
        except Exception as exc:
            if not isinstance(exc, _LOST) or pool.retired:
                raise self._translate(exc, write) from exc
            if write:
                raise self._unknown_outcome(exc) from exc
        try:
            return await self._breakers.run_async(pool, lambda: pool.run(command))
        except Exception as exc:
            raise self._translate(exc, write) from exc

    async def _line(self, key: str, write: bool, data: bytes, answers: Mapping[bytes, _T]) -> _T:
        """A one-line command on the server of ``key``, its reply among ``answers``."""
        command = data[: data.index(b" ")]

        async def run(conn: Connection) -> _T:
            return line_reply(await conn.line(data), command, answers)

        return await self._call(self._pool(key), write, run)

    async def _fetch(self, pool: Pool, names: list[bytes]) -> Found:
        data = b"get %s\r\n" % b" ".join(names)
        return await self._call(pool, False, lambda conn: conn.values(data))

    async def _each_node(
        self, keys: list[str], command: Callable[[Pool, list[str]], Awaitable[_T]]
    ) -> list[_T]:
        """``command(pool, its keys)`` on every server concerned, concurrently; one failing
        does not stop the others (its error is raised once they are done)."""
        batches = self._batches(keys)
        results = await asyncio.gather(
            *(command(pool, pool_keys) for pool, pool_keys in batches.items()),
            return_exceptions=True,
        )
        for result in results:
            if isinstance(result, BaseException):
                raise result
        return results  # type: ignore[return-value]

    # -- hooks -----------------------------------------------------------------------------

    async def get_item(self, key: str) -> Item | None:
        # Joins the other gets for its server in this turn of the loop (.memcache_batch).
        return await self._pool(key).gets.get(key.encode("ascii"))

    async def get_items(self, keys: list[str]) -> dict[str, Item]:
        batches = self._batches(keys)
        results = await asyncio.gather(
            *(
                self._fetch(pool, [k.encode("ascii") for k in pool_keys])
                for pool, pool_keys in batches.items()
            ),
            return_exceptions=True,
        )
        found: dict[str, Item] = {}
        failure = None
        for result in results:
            if isinstance(result, BackendUnavailable):
                failure = result
            elif isinstance(result, BaseException):
                raise result
            else:
                found.update((k.decode("ascii"), item) for k, item in result.items())
        # Only the failing nodes' keys are lost: with on_error="miss" the others are found.
        return found if failure is None else self._outage(failure, found)

    async def _store(self, command: bytes, key: str, item: Item, ttl: float | None) -> bool:
        self._fits(key, item)
        data = store_command(command, key.encode("ascii"), item[0], item[1], expire(ttl))
        return await self._line(key, True, data, STORE_ANSWERS)

    async def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        await self._store(b"set", key, item, ttl)

    async def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            self._fits(key, item)
        exptime = expire(ttl)

        async def set_some(pool: Pool, keys: list[str]) -> list[str]:
            # Pipelined: every set sent at once, then their replies read in order.
            data = b"".join(
                store_command(b"set", k.encode("ascii"), items[k][0], items[k][1], exptime)
                for k in keys
            )

            async def run(conn: Connection) -> list[str]:
                replies = await conn.lines(data, len(keys), STORE_ANSWERS)
                return [k for k, r in zip(keys, replies, strict=True) if not r]

            return await self._call(pool, True, run)

        failed = await self._each_node(list(items), set_some)
        return [key for some in failed for key in some]

    async def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return await self._store(b"add", key, item, ttl)

    async def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return await self._store(b"replace", key, item, ttl)

    async def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        name = key.encode("ascii")
        tokens: dict[bytes, int] = {}
        found = await self._call(
            self._pool(key), False, lambda c: c.values(b"gets %s\r\n" % name, tokens)
        )
        return None if name not in found else (found[name], tokens[name])

    async def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        self._fits(key, item)
        data = cas_command(key.encode("ascii"), item[0], item[1], expire(ttl), token)
        return await self._line(key, True, data, CAS_ANSWERS)

    async def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        plan = self._counter_plan(key, delta, default)
        try:
            name, args = next(plan)
            while True:
                name, args = plan.send(await self._counter_step(name, args))
        except StopIteration as stop:
            count: int | None = stop.value
            return count

    async def _counter_step(self, name: str, args: tuple[Any, ...]) -> Any:
        if name == "add":
            key, item, exptime = args
            data = store_command(b"add", key.encode("ascii"), item[0], item[1], exptime)
            return await self._line(key, True, data, STORE_ANSWERS)
        key, amount = args
        data = b"%s %s %d\r\n" % (name.encode(), key.encode("ascii"), amount)

        async def run(conn: Connection) -> int | None:
            return counter_reply(await conn.line(data), data[:4])

        return await self._call(self._pool(key), True, run)

    async def delete_item(self, key: str) -> bool:
        return await self._line(key, True, b"delete %s\r\n" % key.encode("ascii"), DELETE_ANSWERS)

    async def delete_items(self, keys: list[str]) -> None:
        async def delete_some(pool: Pool, keys: list[str]) -> None:
            data = b"".join(b"delete %s\r\n" % k.encode("ascii") for k in keys)

            async def run(conn: Connection) -> None:
                await conn.lines(data, len(keys), DELETE_ANSWERS)

            await self._call(pool, True, run)

        await self._each_node(keys, delete_some)

    async def touch_item(self, key: str, ttl: float | None) -> bool:
        data = b"touch %s %d\r\n" % (key.encode("ascii"), expire(ttl))
        return await self._line(key, True, data, TOUCH_ANSWERS)

    async def clear_items(self) -> None:
        async def flush(conn: Connection) -> None:
            line_reply(await conn.line(b"flush_all\r\n"), b"flush_all", OK_ANSWERS)

        await self.for_each_server(flush, write=True)

    # -- every server ----------------------------------------------------------------------

    async def for_each_server(
        self, command: Command[_T], *, write: bool = False
    ) -> dict[Server, _T]:
        """``command(connection)`` on every server concurrently, with this backend's error
        translation: what server-wide commands (``stats``, ``flush_all``) need, where the
        ring would pick one server."""
        pools = self._pools()
        results = await asyncio.gather(
            *(self._call(pools[node_name(s)], write, command) for s in self.servers)
        )
        return dict(zip(self.servers, results, strict=True))

    def make_admin(self) -> AsyncAdmin:
        from .memcache_admin import AsyncMemcacheAdmin

        return AsyncMemcacheAdmin(self)


__all__ = ["AsyncMemcacheBackend"]
