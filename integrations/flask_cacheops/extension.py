"""The ``Cacheops`` Flask extension: caches per app, view and function decorators."""

from __future__ import annotations

import enum
import functools
import inspect
import logging
import secrets
from collections.abc import Awaitable, Callable, Collection, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, ParamSpec, TypeVar

from flask import Flask, Response, current_app, has_app_context, has_request_context
from flask import request as flask_request
from flask.typing import ResponseReturnValue

import cacheops
from cacheops import stampede
from cacheops.admin.base import Admin
from cacheops.backend import TTL
from cacheops.keys import call_digest, call_digest_if_bound, memo_signature

from . import keys, responses
from .config import DEFAULT_CACHE, CacheSpec, build_backend, read_specs

log = logging.getLogger("flask_cacheops")

P = ParamSpec("P")
R = TypeVar("R")
#: What a view may return: a response value, or an awaitable of one (an async view).
ViewResult = ResponseReturnValue | Awaitable[ResponseReturnValue]

#: The key under ``app.extensions``.
EXTENSION_KEY = "cacheops"

_MEMO_ATTRIBUTE = "__cacheops_memoize__"


class _Default(enum.Enum):
    TTL = "the cache's default_ttl"


#: A decorator's ``ttl`` when not given: the cache's ``default_ttl``
#: (``CACHEOPS_DEFAULT_TTL``, 300 s unless configured).
DEFAULT = _Default.TTL
DefaultTTL = Literal[_Default.TTL]


@dataclass(frozen=True)
class ConfiguredCache:
    """One of an app's caches: its name, its backend, the decorators' default ttl."""

    name: str
    backend: cacheops.Backend
    default_ttl: TTL
    spec: CacheSpec

    def ttl(self, ttl: TTL | DefaultTTL) -> TTL:
        return self.default_ttl if ttl is DEFAULT else ttl


class CacheopsState:
    """What ``init_app`` keeps in ``app.extensions["cacheops"]``: every cache of that app.

    The caches belong to the app, not to the extension object: one :class:`Cacheops` can
    serve several apps (each request uses its own app's caches), any :class:`Cacheops`
    object (a blueprint library's, say) reaches the caches of the app it runs in, and two
    apps in one process never share a backend unless their configuration points them at
    the same server.
    """

    def __init__(self, extension: Cacheops, caches: Mapping[str, ConfiguredCache]) -> None:
        self.extension = extension
        self.caches: Mapping[str, ConfiguredCache] = dict(caches)

    def __getitem__(self, name: str) -> ConfiguredCache:
        try:
            return self.caches[name]
        except KeyError:
            raise cacheops.ConfigurationError(
                f"no cache named {name!r} is configured (CACHEOPS_CACHES); "
                f"configured: {', '.join(self.caches)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self.caches)

    def secrets(self) -> list[str]:
        """Every password, token and signing secret in the configuration."""
        return [s for cache in self.caches.values() for s in cache.spec.secrets()]

    def close(self) -> None:
        """Close every backend's connections (they reopen lazily if used again)."""
        for cache in self.caches.values():
            cache.backend.close()


def _read(backend: cacheops.Backend, key: str, default: Any = None) -> Any:
    """The cached value, or ``default`` when there is none or it cannot be read (another
    client's or serializer's write): one bad entry must not fail every request."""
    try:
        return backend.get(key, default)
    except cacheops.SerializationError as exc:
        log.warning("treating an unreadable cached value as a miss: %s", exc)
        return default


def _state_of(app: Flask) -> CacheopsState | None:
    state = app.extensions.get(EXTENSION_KEY)
    return state if isinstance(state, CacheopsState) else None


@dataclass(frozen=True)
class _Memoized:
    """What ``memoize`` knows about one function, kept on its wrapper."""

    function: Callable[..., Any]
    name: str
    signature: inspect.Signature
    cache: str
    ttl: TTL | DefaultTTL
    ignore: frozenset[str]

    def digest(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
        """The digest of a call's arguments. Raises TypeError when they do not fit the
        signature, or when one cannot be part of a key."""
        return call_digest(self.signature, args, kwargs, self.ignore)

    def digest_if_bound(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
        """:meth:`digest`, or None when the arguments do not fit the signature."""
        return call_digest_if_bound(self.signature, args, kwargs, self.ignore)

    def head(self, backend: cacheops.Backend) -> str:
        return keys.memo_head(backend, self.name)

    def version(self, backend: cacheops.Backend, head: str) -> int:
        """The function's current version, created at a random value when missing.

        A random start means that if the counter is evicted, the entries written under
        the old version stay unreachable instead of coming back.
        """
        key = keys.version_key(head)
        version = _read(backend, key)
        if type(version) is int:
            return version
        start = secrets.randbits(48)
        if version is None and not backend.add(key, start):
            raced = _read(backend, key)
            if type(raced) is int:
                return raced
        elif version is not None:
            backend.put(key, start)  # not a counter: someone wrote over it
        return start


class Cacheops:
    """cacheops for Flask: ``Cacheops(app)`` or ``ext = Cacheops(); ext.init_app(app)``.

    Settings (all optional): ``CACHEOPS_URL`` (else the environment, as
    :func:`cacheops.connect` reads it), ``CACHEOPS_OPTIONS``, ``CACHEOPS_KEY_PREFIX``,
    ``CACHEOPS_DEFAULT_TTL`` for the default cache, and ``CACHEOPS_CACHES`` for named ones.
    Backends are built at ``init_app`` without touching the network; the first cache call
    connects.
    """

    def __init__(self, app: Flask | None = None) -> None:
        if app is not None:
            self.init_app(app)

    def init_app(self, app: Flask) -> None:
        """Read ``app.config``, build the app's backends and add ``flask cacheops``."""
        if EXTENSION_KEY in app.extensions:
            raise RuntimeError(
                f"cacheops is already initialised on app {app.name!r}; call init_app once per app"
            )
        specs = read_specs(app.config)
        caches = {
            name: ConfiguredCache(name, build_backend(spec), spec.default_ttl, spec)
            for name, spec in specs.items()
        }
        app.extensions[EXTENSION_KEY] = CacheopsState(self, caches)

        from .cli import cacheops_cli

        app.cli.add_command(cacheops_cli)

    # -- the current app's caches -------------------------------------------------------

    def state(self) -> CacheopsState:
        """The current app's :class:`CacheopsState`."""
        if not has_app_context():
            raise RuntimeError(
                "flask_cacheops needs an application context to find the app's caches: "
                "use it in a request, a CLI command or `with app.app_context():`"
            )
        app = current_app
        state = _state_of(app)
        if state is None:
            raise RuntimeError(
                f"cacheops is not initialised on app {app.name!r}: call ext.init_app(app)"
            )
        return state

    def cache(self, name: str = DEFAULT_CACHE) -> cacheops.Backend:
        """The current app's backend named ``name``."""
        return self.state()[name].backend

    @property
    def backend(self) -> cacheops.Backend:
        """The current app's default backend: ``get``, ``put``, ``increment``..."""
        return self.cache(DEFAULT_CACHE)

    @property
    def admin(self) -> Admin:
        """Flush, stats and info for the current app's default cache."""
        return self.backend.admin

    # -- views --------------------------------------------------------------------------

    def cached(
        self,
        ttl: TTL | DefaultTTL = DEFAULT,
        *,
        key_prefix: str = "view",
        query_string: bool = False,
        unless: Callable[[], bool] | None = None,
        cache: str = DEFAULT_CACHE,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> Callable[[Callable[P, ViewResult]], Callable[P, Response]]:
        """Cache a view's response by request path (and, with ``query_string=True``, by its
        query string, parameters sorted by name).

        Only GET and HEAD requests are served from and stored in the cache; other methods
        run the view. Only 200 responses that are not streamed, set no cookie, carry no
        ``Vary`` and are not ``Cache-Control: private``/``no-store`` are stored; the hit
        is the same status, headers and body. ``unless()`` returning true bypasses the
        cache for that request. Place it below ``@app.route``.

        Responses go through ``Backend.get_or_compute``: one request per expiry runs the
        view while the others wait for its response or serve the stale one; ``grace``,
        ``beta``, ``lock_ttl``, ``wait`` and ``fail_safe`` are its options (docs/stampede.md).
        """
        options = stampede.Options(grace, beta, lock_ttl, wait, fail_safe)

        def decorator(view: Callable[P, ViewResult]) -> Callable[P, Response]:
            @functools.wraps(view)
            def cached_view(*args: P.args, **kwargs: P.kwargs) -> Response:
                if not has_request_context():
                    raise RuntimeError(
                        f"@cached caches views, and {view.__qualname__} was called outside a "
                        "request; use @memoize for other functions"
                    )
                app = current_app
                if flask_request.method not in ("GET", "HEAD") or (unless and unless()):
                    return app.make_response(app.ensure_sync(view)(*args, **kwargs))
                configured = self.state()[cache]
                backend = configured.backend
                query = flask_request.args.items(multi=True) if query_string else None
                key = keys.view_key(backend, key_prefix, flask_request.path, query)
                made: list[Response] = []

                def compute() -> Any:
                    response = app.make_response(app.ensure_sync(view)(*args, **kwargs))
                    made.append(response)
                    reason = responses.not_storable(response)
                    if reason is not None:
                        log.debug("not caching %s: %s", key, reason)
                        return stampede.Uncached(None)
                    return responses.encode(response)

                for _ in range(2):  # a value that is not a response is replaced once
                    stored = stampede.get_or_compute(
                        backend, key, compute, configured.ttl(ttl), options
                    )
                    if made:
                        return made[-1]
                    hit = responses.decode(stored)
                    if hit is not None:
                        return hit
                    log.warning("replacing a cached value for %s that is not a response", key)
                    backend.delete(key)
                return app.make_response(app.ensure_sync(view)(*args, **kwargs))

            return cached_view

        return decorator

    # -- functions ----------------------------------------------------------------------

    def memoize(
        self,
        ttl: TTL | DefaultTTL = DEFAULT,
        *,
        cache: str = DEFAULT_CACHE,
        name: str | None = None,
        ignore: Collection[str] = (),
        unless: Callable[[], bool] | None = None,
        grace: float = 0.0,
        beta: float = 1.0,
        lock_ttl: float = 30.0,
        wait: float | None = None,
        fail_safe: bool = False,
    ) -> Callable[[Callable[P, R]], Callable[P, R]]:
        """Cache a function's results by its arguments.

        The key is the function's ``module.qualname`` (or ``name``) and a digest of its
        bound arguments (``f(1)``, ``f(a=1)`` and, with a default ``b``, ``f(1, b=2)`` are
        one call; ``f(1)`` and ``f("1")`` are two). Arguments must be plain values or
        have a ``__cache_key__()`` method; ``ignore`` names arguments left out of the key
        (``"self"`` for a method whose results do not depend on the instance).
        ``None`` results are cached too. Results go through the cache's serializer: with
        the default JSON serializer they must be JSON-like values (use
        ``serializer="pickle"`` with a ``secret`` for other objects). Results go through
        ``Backend.get_or_compute`` with ``grace``, ``beta``, ``lock_ttl``, ``wait`` and
        ``fail_safe`` (docs/stampede.md).
        """
        options = stampede.Options(grace, beta, lock_ttl, wait, fail_safe)

        def decorator(function: Callable[P, R]) -> Callable[P, R]:
            signature = memo_signature(function, ignore)
            spec = _Memoized(
                function=function,
                name=name or f"{function.__module__}.{function.__qualname__}",
                signature=signature,
                cache=cache,
                ttl=ttl,
                ignore=frozenset(ignore),
            )

            @functools.wraps(function)
            def memoized(*args: P.args, **kwargs: P.kwargs) -> R:
                if unless and unless():
                    return function(*args, **kwargs)
                digest = spec.digest_if_bound(args, kwargs)
                if digest is None:
                    return function(*args, **kwargs)  # raises Python's own TypeError
                configured = self.state()[cache]
                backend = configured.backend
                head = spec.head(backend)
                key = keys.memo_key(head, spec.version(backend, head), digest)
                return stampede.get_or_compute(
                    backend, key, lambda: function(*args, **kwargs), configured.ttl(ttl), options
                )

            setattr(memoized, _MEMO_ATTRIBUTE, spec)
            return memoized

        return decorator

    def _memoized(self, function: Callable[..., Any]) -> _Memoized:
        spec = getattr(function, _MEMO_ATTRIBUTE, None)
        if not isinstance(spec, _Memoized):
            raise TypeError(f"{function!r} is not a function decorated with @memoize")
        return spec

    def memoize_key(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> str:
        """The key under which ``function(*args, **kwargs)`` is cached now."""
        spec = self._memoized(function)
        digest = spec.digest(args, kwargs)
        backend = self.state()[spec.cache].backend
        head = spec.head(backend)
        return keys.memo_key(head, spec.version(backend, head), digest)

    def delete_memoized(self, function: Callable[..., Any], /, *args: Any, **kwargs: Any) -> None:
        """Forget ``function(*args, **kwargs)``; with no arguments, forget every result of
        ``function`` (one atomic increment of its version counter)."""
        spec = self._memoized(function)
        backend = self.state()[spec.cache].backend
        if not args and not kwargs:
            head = spec.head(backend)
            backend.increment(keys.version_key(head), 1, default=secrets.randbits(48))
            return
        backend.delete(self.memoize_key(function, *args, **kwargs))


__all__ = [
    "DEFAULT",
    "EXTENSION_KEY",
    "Cacheops",
    "CacheopsState",
    "ConfiguredCache",
    "DefaultTTL",
    "ViewResult",
]
