"""The async Backend: the contract's methods as coroutines, over the shared rules.

Every public method runs the same plan as its sync twin (:mod:`cacheops.rules`), awaiting
the hooks a concrete backend implements. The hooks have the names and meanings of the sync
ones (``get_item``, ``set_item``, ...), as coroutines.
"""

from __future__ import annotations

import abc
import asyncio
import functools
import inspect
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from .. import stampede as _stampede
from ..errors import NotSupported
from ..rules import TTL, CacheRules, CasToken, Item, Plan, adrive
from ..stampede import Uncached

if TYPE_CHECKING:
    from ..admin.base import Admin, Stats

_A = TypeVar("_A", bound="AsyncBackend")
_R = TypeVar("_R")
_T = TypeVar("_T")
_P = ParamSpec("_P")


class AsyncAdmin(abc.ABC):
    """The admin interface of an async backend: ``Admin``'s methods as coroutines."""

    @abc.abstractmethod
    async def flush(self) -> None:
        """Remove every item."""

    @abc.abstractmethod
    async def stats(self) -> Stats:
        """Counters per server and in aggregate."""

    @abc.abstractmethod
    async def info(self) -> dict[str, Any]:
        """What the cache is: backend, location, servers, limits. Never a secret."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections the admin holds of its own."""


class AsyncBackend(CacheRules, abc.ABC):
    """One cache, used with ``await``. Same methods, arguments and errors as
    :class:`cacheops.Backend`; ``aclose()`` and ``async with`` instead of ``close()``."""

    _admin: AsyncAdmin | None = None

    async def _run(self, plan: Plan[_R]) -> _R:
        """Run a contract method's plan, awaiting the hooks it asks for."""
        return await adrive(plan, self)

    # The two hooks get_or_compute needs besides the cache's own.
    @staticmethod
    async def _sleep(seconds: float) -> None:
        await asyncio.sleep(seconds)

    @staticmethod
    async def _compute(compute: Callable[[], Any]) -> Any:
        result = compute()
        return await result if inspect.isawaitable(result) else result

    # -- the contract ----------------------------------------------------------------

    async def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        return await self._run(self._plan_get(key, default))

    async def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values found, by key; missing keys are left out."""
        return await self._run(self._plan_get_many(keys))

    async def put(self, key: str, value: Any, ttl: TTL = None) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        await self._run(self._plan_put(key, value, ttl))

    async def put_many(self, mapping: Mapping[str, Any], ttl: TTL = None) -> list[str]:
        """Store every pair; returns the keys that could not be stored (empty on success)."""
        return await self._run(self._plan_put_many(mapping, ttl))

    async def add(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds nothing; True when stored."""
        return await self._run(self._plan_store("add_item", key, value, ttl))

    async def replace(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds a value; True when stored."""
        return await self._run(self._plan_store("replace_item", key, value, ttl))

    async def gets(self, key: str) -> tuple[Any, CasToken] | None:
        """``(value, cas_token)`` for a later :meth:`cas`, or None when missing."""
        return await self._run(self._plan_gets(key))

    async def cas(self, key: str, value: Any, cas_token: CasToken, ttl: TTL = None) -> bool:
        """Store only if ``key`` is unchanged since :meth:`gets` gave ``cas_token``."""
        return await self._run(self._plan_cas(key, value, cas_token, ttl))

    async def increment(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Add ``delta`` atomically on the server and return the new value; see
        :meth:`cacheops.Backend.increment`."""
        return await self._run(self._plan_increment(key, delta, default))

    async def decrement(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Subtract ``delta`` atomically; see :meth:`increment`."""
        return await self._run(self._plan_decrement(key, delta, default))

    async def delete(self, key: str) -> bool:
        """Remove ``key``; True when something was there."""
        return await self._run(self._plan_delete(key))

    async def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key given; missing ones are ignored."""
        await self._run(self._plan_delete_many(keys))

    async def touch(self, key: str, ttl: TTL) -> bool:
        """Give ``key`` a new ttl; True when it exists."""
        return await self._run(self._plan_touch(key, ttl))

    async def clear(self) -> None:
        """Remove everything in the cache (all prefixes: the server has no notion of them)."""
        await self._run(self._plan_clear())

    async def get_or_compute(
        self,
        key: str,
        compute: Callable[[], Awaitable[_T | Uncached[_T]] | _T | Uncached[_T]],
        ttl: TTL,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> _T:
        """:meth:`cacheops.Backend.get_or_compute` on asyncio, through the same code.
        ``compute`` is an async function (or a plain one: it then runs on the loop, so
        wrap blocking work in ``asyncio.to_thread``). Waiting for another caller's lease
        sleeps with ``asyncio.sleep``."""
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)
        return await self._run(_stampede.plan(self, key, compute, ttl, options))

    def memoize(
        self,
        ttl: TTL,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
        key: Callable[..., str] | None = None,
        name: str | None = None,
        ignore: Collection[str] = (),
    ) -> Callable[[Callable[_P, Awaitable[_R]]], Callable[_P, Awaitable[_R]]]:
        """Decorate an async function so its results are cached through
        :meth:`get_or_compute`, with the keys the sync :meth:`cacheops.Backend.memoize`
        makes for the same call."""
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)

        def decorator(function: Callable[_P, Awaitable[_R]]) -> Callable[_P, Awaitable[_R]]:
            make = _stampede.memo_keys(
                self, function, key=key, name=name, ignore=ignore, coroutines=True
            )

            @functools.wraps(function)
            async def memoized(*args: _P.args, **kwargs: _P.kwargs) -> _R:
                made = make(args, kwargs)
                if made is None:
                    return await function(*args, **kwargs)  # raises Python's own TypeError
                compute = functools.partial(function, *args, **kwargs)
                plan = _stampede.plan(self, made, compute, ttl, options)
                return await self._run(plan)

            return memoized

        return decorator

    async def aclose(self) -> None:
        """Release connections; the backend reconnects lazily if used again."""
        if self._admin is not None:
            await self._admin.aclose()

    async def __aenter__(self: _A) -> _A:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @property
    def admin(self) -> AsyncAdmin:
        """The admin interface (async flush, stats, info) for this same cache."""
        if self._admin is None:
            self._admin = self.make_admin()
        return self._admin

    # -- what a backend implements ---------------------------------------------------

    def make_admin(self) -> AsyncAdmin:
        """The admin for :attr:`admin`, built on first use."""
        raise NotSupported(f"{type(self).__name__} has no admin interface", backend=self.scheme)

    @abc.abstractmethod
    async def get_item(self, key: str) -> Item | None: ...

    async def get_items(self, keys: list[str]) -> dict[str, Item]:
        found = {}
        for key in keys:
            item = await self.get_item(key)
            if item is not None:
                found[key] = item
        return found

    @abc.abstractmethod
    async def set_item(self, key: str, item: Item, ttl: float | None) -> None: ...

    async def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            await self.set_item(key, item, ttl)
        return []

    @abc.abstractmethod
    async def add_item(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    async def replace_item(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    async def gets_item(self, key: str) -> tuple[Item, CasToken] | None: ...

    @abc.abstractmethod
    async def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    async def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        """Add the signed ``delta``; a missing key starts at ``default``, or returns None
        when ``default`` is None. Raises NotNumeric on a value that is not a number."""

    @abc.abstractmethod
    async def delete_item(self, key: str) -> bool: ...

    async def delete_items(self, keys: list[str]) -> None:
        for key in keys:
            await self.delete_item(key)

    @abc.abstractmethod
    async def touch_item(self, key: str, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    async def clear_items(self) -> None: ...


class AdminOverSync(AsyncAdmin):
    """An async admin over a sync one whose calls never block (``memory://``'s)."""

    def __init__(self, admin: Admin) -> None:
        self._admin = admin

    async def flush(self) -> None:
        self._admin.flush()

    async def stats(self) -> Stats:
        return self._admin.stats()

    async def info(self) -> dict[str, Any]:
        return self._admin.info()


__all__ = ["AdminOverSync", "AsyncAdmin", "AsyncBackend"]
