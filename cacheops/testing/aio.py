"""A sync view of an async backend, so the conformance suite runs unchanged on asyncio.

:class:`SyncFacade` runs each coroutine on one event loop in a dedicated thread
(:class:`LoopThread`); the suite's threads therefore make real concurrent calls on that
loop, as tasks of an async application would. Blocking callables the suite hands over
(``compute`` of ``get_or_compute``, functions to ``memoize``) run in a worker thread, as
an async application would run blocking code, so they never stall the loop.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from .._fork import reset_in_child
from ..aio.backend import AsyncBackend

_T = TypeVar("_T")


class LoopThread:
    """An event loop running in a daemon thread, started on first use (and again in a
    forked child, which inherits no thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        reset_in_child(self)

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="cacheops-loop", daemon=True).start()
                self._loop = loop
            return self._loop

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        """Run ``coroutine`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result()

    def stop(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def after_fork(self) -> None:
        self._lock = threading.Lock()
        self._loop = None


#: The loop every facade uses unless given another: async backends stay on one loop.
shared_loop = LoopThread()


def _in_thread(function: Callable[..., _T]) -> Callable[..., Awaitable[_T]]:
    @functools.wraps(function)
    async def threaded(*args: Any, **kwargs: Any) -> _T:
        return await asyncio.to_thread(function, *args, **kwargs)

    return threaded


class SyncFacade:
    """``SyncFacade(async_backend)`` has the sync Backend's methods: each call runs the
    coroutine on the loop; other attributes are the async backend's own."""

    def __init__(self, target: Any, runner: LoopThread = shared_loop) -> None:
        self.target = target
        self.runner = runner

    def __repr__(self) -> str:
        return f"<SyncFacade {self.target!r}>"

    def __getattr__(self, name: str) -> Any:
        value = getattr(self.target, name)
        if name == "admin":
            return SyncFacade(value, self.runner)
        if name == "memoize":
            return self._memoize
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            if name == "get_or_compute":
                args = (args[0], _in_thread(args[1]), *args[2:])
            result = value(*args, **kwargs)
            return self.runner.run(result) if inspect.iscoroutine(result) else result

        return call

    def _memoize(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        decorate = self.target.memoize(*args, **kwargs)

        def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
            memoized = decorate(_in_thread(function))
            return functools.wraps(function)(lambda *a, **k: self.runner.run(memoized(*a, **k)))

        return decorator

    def close(self) -> None:
        self.runner.run(self.target.aclose())

    def __enter__(self) -> SyncFacade:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def facade(backend: AsyncBackend) -> Any:
    """``backend`` behind a :class:`SyncFacade`, typed as ``Any`` so it passes where the
    suite expects a sync ``Backend``."""
    return SyncFacade(backend)


__all__ = ["LoopThread", "SyncFacade", "facade", "shared_loop"]
