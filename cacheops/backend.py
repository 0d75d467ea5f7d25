"""The Backend contract: the sync shell over the rules every cache shares.

The rules (keys, values, ttls, ``on_error``) and each method's logic live once in
:mod:`cacheops.rules` as plans; a public method here runs its plan, calling the hooks a
backend implements (``get_item``, ``set_item``, ...: see :mod:`cacheops.rules` for what they
receive). :class:`cacheops.aio.AsyncBackend` runs the same plans with awaited hooks.

The conformance suite in :mod:`cacheops.testing.contract` is the executable definition.
"""

from __future__ import annotations

import abc
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from . import stampede as _stampede
from .errors import NotSupported
from .rules import (
    HASHED_KEY_MARK,
    PORTABLE_KEY,
    TTL,
    CacheRules,
    CasToken,
    Item,
    Plan,
    drive,
)

if TYPE_CHECKING:
    from .admin.base import Admin

_T = TypeVar("_T")
_B = TypeVar("_B", bound="Backend")
_P = ParamSpec("_P")
_R = TypeVar("_R")


# Backend class (by dotted name) -> what builds its admin. Filled by cacheops.admin, so
# that backends never import the admin side: the dependency runs admin -> backend only.
_admin_factories: dict[str, Callable[[Any], Admin]] = {}


def _dotted(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def register_admin(backend: type[Backend] | str, factory: Callable[[Any], Admin]) -> None:
    """Make ``backend.admin`` return ``factory(backend)`` for instances of ``backend``
    and its subclasses. ``backend`` is the class or its dotted name
    (``"package.module.Class"``), which registers without importing it."""
    _admin_factories[backend if isinstance(backend, str) else _dotted(backend)] = factory


class Backend(CacheRules, abc.ABC):
    """One cache. See the contract table in the docs for what each backend guarantees."""

    # Built on first use of :attr:`admin` (the options of __init__ are CacheRules').
    _admin: Admin | None = None

    def _run(self, plan: Plan[_R]) -> _R:
        """Run a contract method's plan, calling the hooks it asks for."""
        return drive(plan, self)

    # The two hooks get_or_compute needs besides the cache's own.
    @staticmethod
    def _sleep(seconds: float) -> None:
        time.sleep(seconds)

    @staticmethod
    def _compute(compute: Callable[[], _T]) -> _T:
        return compute()

    # -- the contract ----------------------------------------------------------------

    def get(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        return self._run(self._plan_get(key, default))

    def get_many(self, keys: Iterable[str]) -> dict[str, Any]:
        """The values found, by key; missing keys are left out."""
        return self._run(self._plan_get_many(keys))

    def put(self, key: str, value: Any, ttl: TTL = None) -> None:
        """Store ``value`` under ``key``, replacing what was there."""
        self._run(self._plan_put(key, value, ttl))

    def put_many(self, mapping: Mapping[str, Any], ttl: TTL = None) -> list[str]:
        """Store every pair; returns the keys that could not be stored (empty on success)."""
        return self._run(self._plan_put_many(mapping, ttl))

    def add(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds nothing; True when stored."""
        return self._run(self._plan_store("add_item", key, value, ttl))

    def replace(self, key: str, value: Any, ttl: TTL = None) -> bool:
        """Store only if ``key`` holds a value; True when stored."""
        return self._run(self._plan_store("replace_item", key, value, ttl))

    def gets(self, key: str) -> tuple[Any, CasToken] | None:
        """``(value, cas_token)`` for a later :meth:`cas`, or None when missing."""
        return self._run(self._plan_gets(key))

    def cas(self, key: str, value: Any, cas_token: CasToken, ttl: TTL = None) -> bool:
        """Store only if ``key`` is unchanged since :meth:`gets` gave ``cas_token``."""
        return self._run(self._plan_cas(key, value, cas_token, ttl))

    def increment(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Add ``delta`` atomically on the server and return the new value.

        A missing key starts at ``default``; ``default=None`` raises :class:`KeyNotFound`.
        An outage always raises: no count can be invented.
        """
        return self._run(self._plan_increment(key, delta, default))

    def decrement(self, key: str, delta: int = 1, default: int | None = 0) -> int:
        """Subtract ``delta`` atomically; see :meth:`increment`."""
        return self._run(self._plan_decrement(key, delta, default))

    def delete(self, key: str) -> bool:
        """Remove ``key``; True when something was there."""
        return self._run(self._plan_delete(key))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove every key given; missing ones are ignored."""
        self._run(self._plan_delete_many(keys))

    def touch(self, key: str, ttl: TTL) -> bool:
        """Give ``key`` a new ttl; True when it exists."""
        return self._run(self._plan_touch(key, ttl))

    def get_or_compute(
        self,
        key: str,
        compute: Callable[[], _T | _stampede.Uncached[_T]],
        ttl: TTL,
        *,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> _T:
        """The value under ``key``, computed by ``compute()`` at most once per expiry across
        threads and processes (see docs/stampede.md for the model).

        ``ttl``: seconds the value is fresh. ``grace``: seconds past that a stale value is
        served while one caller recomputes (the item lives ``ttl + grace``). ``beta``: XFetch
        eagerness, 0 for no early recompute. ``lock_ttl``: the lease's ttl, the longest a
        crashed computation blocks others. ``wait``: how long a caller with no value waits
        for another's computation before computing itself (default ``lock_ttl``).
        ``fail_safe``: serve the last value within grace, with a WARNING, when the cache is
        unreachable or ``compute`` raises. Counters: :attr:`stampede`.
        """
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)
        return _stampede.get_or_compute(self, key, compute, ttl, options)

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
    ) -> Callable[[Callable[_P, _R]], Callable[_P, _R]]:
        """Decorate a function so its results are cached through :meth:`get_or_compute`
        (same options), keyed ``memo:{module.qualname}:{digest of the bound, typed
        arguments}`` (see docs/stampede.md). ``name`` replaces ``module.qualname``;
        ``ignore`` leaves arguments out of the key; ``key(*args, **kwargs)`` makes the key
        itself."""
        options = _stampede.Options(grace, beta, lock_ttl, wait, fail_safe)
        return _stampede.memoize(self, ttl, options, key=key, name=name, ignore=ignore)

    def clear(self) -> None:
        """Remove everything in the cache (all prefixes: the server has no notion of them)."""
        self._run(self._plan_clear())

    def close(self) -> None:
        """Release connections; the backend reconnects lazily if used again."""
        if self._admin is not None:
            self._admin.close()

    def __enter__(self: _B) -> _B:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def admin(self) -> Admin:
        """The admin interface (flush, stats, info) for this same cache: the one
        :func:`register_admin` names for this class or the nearest base class."""
        if self._admin is None:
            for cls in type(self).__mro__:
                factory = _admin_factories.get(_dotted(cls))
                if factory is not None:
                    self._admin = factory(self)
                    break
            else:
                raise NotSupported(
                    f"{type(self).__name__} has no admin interface: register one with "
                    "cacheops.admin.register_admin(backend_class, admin_class)",
                    backend=self.scheme,
                )
        return self._admin

    # -- what a backend implements ---------------------------------------------------

    @abc.abstractmethod
    def get_item(self, key: str) -> Item | None: ...

    def get_items(self, keys: list[str]) -> dict[str, Item]:
        found = {}
        for key in keys:
            item = self.get_item(key)
            if item is not None:
                found[key] = item
        return found

    @abc.abstractmethod
    def set_item(self, key: str, item: Item, ttl: float | None) -> None: ...

    def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            self.set_item(key, item, ttl)
        return []

    @abc.abstractmethod
    def add_item(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def replace_item(self, key: str, item: Item, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def gets_item(self, key: str) -> tuple[Item, CasToken] | None: ...

    @abc.abstractmethod
    def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        """Add the signed ``delta``; a missing key starts at ``default``, or returns None
        when ``default`` is None. Raises NotNumeric on a value that is not a number."""

    @abc.abstractmethod
    def delete_item(self, key: str) -> bool: ...

    def delete_items(self, keys: list[str]) -> None:
        for key in keys:
            self.delete_item(key)

    @abc.abstractmethod
    def touch_item(self, key: str, ttl: float | None) -> bool: ...

    @abc.abstractmethod
    def clear_items(self) -> None: ...


__all__ = [
    "HASHED_KEY_MARK",
    "PORTABLE_KEY",
    "TTL",
    "Backend",
    "CasToken",
    "Item",
    "register_admin",
]
