"""Connections to one memcached server on asyncio streams, and their bounded pool.

The bytes and the reply parsing are :mod:`cacheops.backends.memcache_proto`'s, as on the
sync side; this module only moves them. A connection carries one command at a time and
goes back to the pool only after its whole reply was read: a command that fails, times out
or is cancelled part-way closes its connection, so no later command can read the rest of
another's reply.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import socket
import ssl
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from pymemcache.exceptions import MemcacheUnexpectedCloseError

from ..backends.memcache_cluster import ConnectFailed
from ..backends.memcache_proto import (
    Found,
    line_reply,
    login_command,
    scan_stats,
    scan_values,
)
from ..backends.memcache_rules import login_refused

if TYPE_CHECKING:
    from .memcache_batch import GetBatch

_T = TypeVar("_T")
_CHUNK = 65536

if sys.version_info >= (3, 11):
    from asyncio import timeout as _timeout
else:  # pragma: no cover - Python 3.10

    @contextlib.asynccontextmanager
    async def _timeout(delay: float) -> AsyncIterator[None]:
        """``asyncio.timeout`` of 3.11: the task is cancelled after ``delay`` seconds, and
        that cancellation raised as TimeoutError."""
        task = asyncio.current_task()
        assert task is not None
        fired = False

        def expire() -> None:
            nonlocal fired
            fired = True
            task.cancel()

        handle = asyncio.get_running_loop().call_later(delay, expire)
        try:
            yield
        except asyncio.CancelledError:
            if fired:
                raise TimeoutError from None
            raise
        finally:
            handle.cancel()


class Connection:
    """One stream to a server, logged in if the server needs it."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @property
    def stale(self) -> bool:
        """Whether the server closed (or broke) it while it sat idle: a restart."""
        return (
            self.reader.at_eof() or self.reader.exception() is not None or self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()

    async def line(self, command: bytes) -> bytes:
        """Send ``command`` and read its one-line reply, without the ``\\r\\n``."""
        self.writer.write(command)
        try:
            line = await self.reader.readuntil(b"\r\n")
        except asyncio.IncompleteReadError as exc:
            raise MemcacheUnexpectedCloseError() from exc
        return line[:-2]

    async def lines(self, commands: bytes, count: int, answers: Mapping[bytes, _T]) -> list[_T]:
        """Send ``count`` pipelined commands and read their one-line replies in order."""
        self.writer.write(commands)
        replies = []
        for _ in range(count):
            try:
                replies.append((await self.reader.readuntil(b"\r\n"))[:-2])
            except asyncio.IncompleteReadError as exc:
                raise MemcacheUnexpectedCloseError() from exc
        name = commands[: commands.index(b" ")]
        return [line_reply(line, name, answers) for line in replies]

    async def values(self, command: bytes, tokens: dict[bytes, int] | None = None) -> Found:
        """Send a ``get``/``gets`` and read its whole reply (cas tokens into ``tokens``)."""
        self.writer.write(command)
        found: Found = {}
        buf, pos = b"", 0
        while True:
            pos, need = scan_values(buf, pos, found, tokens)
            if not need:
                return found
            buf = await self._more(buf[pos:], need - pos)
            pos = 0

    async def stats(self, command: bytes = b"stats\r\n") -> dict[str, str]:
        self.writer.write(command)
        stats: dict[str, str] = {}
        buf, pos = b"", 0
        while True:
            pos, need = scan_stats(buf, pos, stats)
            if not need:
                return stats
            buf = await self._more(buf[pos:], need - pos)
            pos = 0

    async def _more(self, buf: bytes, need: int) -> bytes:
        """``buf`` and what arrives after it, at least ``need`` bytes in all."""
        chunks = [buf]
        have = len(buf)
        while have < need:
            chunk = await self.reader.read(max(_CHUNK, need - have))
            if not chunk:
                raise MemcacheUnexpectedCloseError()
            chunks.append(chunk)
            have += len(chunk)
        return b"".join(chunks)


class Pool:
    """At most ``size`` connections to one server, opened on demand and reused; callers
    beyond that wait their turn (first come, first served)."""

    #: Set by the backend's ``aclose()``: calls still running on it were cut off.
    retired = False
    #: The gets waiting to be sent to this server together (set by the backend).
    gets: GetBatch

    def __init__(
        self,
        host: str,
        port: int,
        *,
        size: int,
        connect_timeout: float,
        timeout: float,
        tls: ssl.SSLContext | None,
        no_delay: bool,
        username: str | None,
        password: str | None,
    ) -> None:
        #: ``host:port``, its name in the cluster's ring.
        self.name = f"{host}:{port}"
        self._host, self._port = host, port
        self._connect_timeout, self._timeout = connect_timeout, timeout
        self._tls, self._no_delay = tls, no_delay
        self._username, self._password = username, password
        self._free = asyncio.Semaphore(size)
        self._idle: collections.deque[Connection] = collections.deque()
        self._busy: set[Connection] = set()

    def __repr__(self) -> str:
        user = f" user={self._username!r}" if self._username else ""
        return f"<Pool {self.name}{user}>"

    async def run(self, command: Callable[[Connection], Awaitable[_T]]) -> _T:
        """``command(connection)`` within the read timeout, on a pooled connection."""
        async with self._free:
            conn = self._checkout()
            if conn is None:
                conn = await self._connect()
            self._busy.add(conn)
            try:
                async with _timeout(self._timeout):
                    result = await command(conn)
            except BaseException:
                # Part of a reply may still be on its way (an error, a timeout, a task
                # cancelled mid-read): the connection can never serve another command.
                conn.close()
                raise
            finally:
                self._busy.discard(conn)
            if not self.retired:
                self._idle.append(conn)
            else:
                conn.close()
            return result

    def _checkout(self) -> Connection | None:
        """The newest idle connection the server has not closed (a restart closes them
        all; a write into one would end as UnknownOutcome)."""
        while self._idle:
            conn = self._idle.pop()
            if not conn.stale:
                return conn
            conn.close()
        return None

    async def _connect(self) -> Connection:
        where = self.name
        try:
            async with _timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(
                    self._host, self._port, ssl=self._tls, limit=_CHUNK
                )
        except TimeoutError as exc:
            raise ConnectFailed(f"cannot connect to {where}: timed out") from exc
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        if not self._no_delay:
            sock = writer.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 0)
        conn = Connection(reader, writer)
        if self._username is None or self._password is None:
            return conn
        try:
            async with _timeout(self._connect_timeout):
                reply = await conn.line(login_command(self._username, self._password))
        except BaseException as exc:
            conn.close()
            if isinstance(exc, OSError | MemcacheUnexpectedCloseError):
                raise ConnectFailed(f"login to {where} failed: {exc}") from exc
            raise
        if reply != b"STORED":
            conn.close()
            raise login_refused(self._username, where, reply)
        return conn

    def close(self) -> None:
        """Close every connection; those in use are cut off (their callers see why)."""
        self.retired = True
        for conn in (*self._idle, *self._busy):
            conn.close()
        self._idle.clear()


__all__ = ["Connection", "Pool"]
