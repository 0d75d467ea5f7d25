"""Concurrent single-key gets to one server, sent as one multi-key ``get``.

Every ``get`` made for a server in one turn of the event loop joins that server's batch; the
batch is sent once the turn is over, as a task of its own, so a caller that is cancelled or
gives up never cuts the batch off for the others. Each caller gets its own item back (the
reply is cut by the lengths in its ``VALUE`` lines, as for ``get_many``), or its own copy of
the batch's error. What one batch costs (a pooled connection, a timeout, a breaker check, a
round trip) is paid once for all its callers: that is where 1,000 concurrent gets gain.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Awaitable, Callable

from ..backends.memcache_proto import Found
from ..errors import CacheError
from ..rules import Item

#: A batch is sent at once when it has this many keys, or this many bytes of them. Bounds
#: the wait of the first caller behind a long key list, and the size of one reply.
MAX_KEYS = 200
MAX_KEY_BYTES = 16384

Fetch = Callable[[list[bytes]], Awaitable[Found]]
_Waiters = dict[bytes, list["asyncio.Future[Item | None]"]]


def _own_copy(exc: BaseException) -> BaseException:
    """``exc`` for one caller: raising one instance in many tasks would pile every caller's
    frames onto its traceback."""
    if not isinstance(exc, CacheError):
        return exc
    own = copy.copy(exc)
    own.__cause__ = exc.__cause__
    return own


class GetBatch:
    """The gets waiting to be sent to one server, on one event loop."""

    def __init__(self, loop: asyncio.AbstractEventLoop, fetch: Fetch) -> None:
        # Its server's pool is this loop's; asking the loop each time costs a system call.
        self._loop = loop
        #: ``fetch(names)``: a ``get`` of ``names`` on the server, with retries and errors
        #: as any other read.
        self._fetch = fetch
        self._waiting: _Waiters = {}
        self._key_bytes = 0
        self._due = False
        # The running batches: the loop holds tasks only weakly.
        self._tasks: set[asyncio.Task[None]] = set()

    async def get(self, name: bytes) -> Item | None:
        """The item stored under ``name``, or None, fetched along with the other gets of
        this turn of the loop."""
        future: asyncio.Future[Item | None] = self._loop.create_future()
        waiters = self._waiting.get(name)
        if waiters is not None:  # the same key twice in one batch: asked once
            waiters.append(future)
        else:
            self._waiting[name] = [future]
            self._key_bytes += len(name) + 1
            if len(self._waiting) >= MAX_KEYS or self._key_bytes >= MAX_KEY_BYTES:
                self._start(self._take())
            elif not self._due:
                # Its first step runs once every task ready in this turn has had its own.
                self._due = True
                self._start(None)
        return await future

    def _take(self) -> _Waiters:
        batch, self._waiting, self._key_bytes = self._waiting, {}, 0
        return batch

    def _start(self, batch: _Waiters | None) -> None:
        task = self._loop.create_task(self._answer(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, batch: _Waiters | None) -> None:
        """Send ``batch`` (None: the gets waiting when this task starts) and answer its
        callers."""
        if batch is None:
            self._due = False
            batch = self._take()
            if not batch:  # sent already, full
                return
        try:
            found = await self._fetch(list(batch))
        except BaseException as exc:
            for waiters in batch.values():
                for future in waiters:
                    if future.done():  # its caller was cancelled
                        continue
                    if isinstance(exc, asyncio.CancelledError):  # the loop is shutting down
                        future.cancel()
                    else:
                        future.set_exception(_own_copy(exc))
            if not isinstance(exc, Exception):
                raise
            return
        for name, waiters in batch.items():
            item = found.get(name)
            for future in waiters:
                if not future.done():
                    future.set_result(item)


__all__ = ["MAX_KEYS", "MAX_KEY_BYTES", "GetBatch"]
