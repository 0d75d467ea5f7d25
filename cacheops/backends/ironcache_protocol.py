"""IronCache without I/O: what the sync and the async backend share.

:class:`IronCacheRules` holds the options, the key rule, the paths, the error hook and each
operation as an *exchange*: a generator that yields the :class:`Request` it needs sent,
receives its :class:`~cacheops.http.Reply` (or has the request's error thrown in) and
returns the result. :class:`~cacheops.backends.ironcache.IronCacheBackend` sends requests
with :class:`~cacheops.http.HTTPClient`,
:class:`~cacheops.aio.ironcache.AsyncIronCacheBackend` awaits
:class:`~cacheops.http.aclient.AsyncHTTPClient`: the requests made, their retry rules and
the reading of the answers are the same code.
"""

from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from ..config import DEFAULT_IRON_CACHE_NAME, IRON_API_VERSION, IRON_HOST, CacheConfig, Server
from ..errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    NotNumeric,
    ValueTooLarge,
)
from ..http import (
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_BREAKER_WINDOW,
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    HTTPOptions,
    Reply,
    quote_segment,
)
from ..http.message import NO_BODY
from ..rules import CacheRules, CasToken, Item
from ..serializers import FLAG_INT
from .ironcache_values import (
    MAX_BODY_SIZE,
    MAX_EXPIRES_IN,
    expires_in,
    from_wire,
    is_counter,
    to_wire,
)

__all__ = ["CAS_ATTEMPTS", "Exchange", "IronCacheRules", "Request", "Stored"]

_R = TypeVar("_R")
_I = TypeVar("_I", bound="IronCacheRules")

#: How many times a gets/cas read-modify-write is retried when another writer won.
CAS_ATTEMPTS = 32
# C0 and C1 control characters, DEL, and lone surrogates (which have no UTF-8 form).
_UNFIT_KEY_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
# Given by the URL, never by an option: a query string must not redirect the cache.
_LOCATION_OPTIONS = frozenset({"project_id", "token", "cache", "host", "port", "secure"})


@dataclass(frozen=True)
class Request:
    """One request to send, as :meth:`HTTPClient.request <cacheops.http.HTTPClient.request>`
    takes it."""

    method: str
    path: str
    json: Any = NO_BODY
    idempotent: bool | None = None
    allow: tuple[int, ...] = ()
    params: Mapping[str, Any] | None = None


#: An operation: yields requests, is sent their replies, returns its result.
Exchange = Generator[Request, Reply, _R]


@dataclass(frozen=True)
class Stored:
    """An item as the server returned it."""

    value: Any
    cas: int


class IronCacheRules(CacheRules):
    """One IronCache cache's settings and operations; the transports subclass it."""

    scheme = "ironcache"
    max_key_length = 250
    max_ttl = float(MAX_EXPIRES_IN)
    default_max_value_size = MAX_BODY_SIZE

    def __init__(
        self,
        *,
        project_id: str,
        token: str,
        cache: str = DEFAULT_IRON_CACHE_NAME,
        host: str = IRON_HOST,
        port: int | None = None,
        secure: bool = True,
        api_version: str = IRON_API_VERSION,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        backoff_factor: float = DEFAULT_BACKOFF_FACTOR,
        pool_size: int = DEFAULT_POOL_SIZE,
        max_concurrency: int | None = None,
        allow_insecure_http: bool = False,
        breaker_window: float = DEFAULT_BREAKER_WINDOW,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not project_id:
            raise ConfigurationError("IronCache needs a project id")
        if not token or not token.isascii() or not token.isprintable() or " " in token:
            # Said without the token itself.
            raise ConfigurationError("IronCache needs a token without spaces or control characters")
        if not cache:
            raise ConfigurationError("IronCache needs a cache name")
        if not api_version or not api_version.isalnum():
            raise ConfigurationError(f"api_version must be letters and digits, not {api_version!r}")
        http_options = HTTPOptions(
            timeout=timeout,
            connect_timeout=connect_timeout,
            retries=retries,
            retry_deadline=retry_deadline,
            backoff_factor=backoff_factor,
            pool_size=pool_size,
            max_body_size=MAX_BODY_SIZE,
            allow_insecure_http=allow_insecure_http,
            breaker_window=breaker_window,
        )
        # As many requests in flight as the pool keeps connections: beyond that, each extra
        # one would open a connection only to drop it after (or, async, wait for one).
        max_concurrency = pool_size if max_concurrency is None else max_concurrency
        if max_concurrency < 1:
            raise ConfigurationError("option max_concurrency must be at least 1")
        self._server = Server(host, port or (443 if secure else 80))
        self.project_id = project_id
        self.cache = cache
        self.secure = secure
        self.api_version = api_version
        self.max_concurrency = max_concurrency
        self._header = f"OAuth {token}"
        self._cache_path = self.cache_path(cache)
        self._open(
            f"{'https' if secure else 'http'}://{self._server}/{api_version}"
            f"/projects/{quote_segment(project_id)}",
            http_options,
        )

    def _open(self, base_url: str, options: HTTPOptions) -> None:
        """Build the HTTP client for the project's root (lazily connecting)."""
        raise NotImplementedError

    def _authorization(self) -> str:
        return self._header

    @classmethod
    def from_config(cls: type[_I], config: CacheConfig, **options: Any) -> _I:
        opts = cls.coerce_options(config, options)
        given = sorted(_LOCATION_OPTIONS & opts.keys())
        if given:
            raise ConfigurationError(
                f"{config.source}: {', '.join(given)} come from the URL "
                "(ironcache://PROJECT_ID:TOKEN@host[:port]/CACHE_NAME), not from options"
            )
        server = config.servers[0] if config.servers else None
        return cls(
            project_id=config.username or "",
            token=config.password or "",
            cache=config.name,
            host=server.host if server else IRON_HOST,
            port=server.port if server else None,
            secure=config.scheme == "ironcache",
            **opts,
        )

    @property
    def location(self) -> str:
        scheme = "ironcache" if self.secure else "ironcache+http"
        return (
            f"{scheme}://{quote_segment(self.project_id)}:***@{self._server}/"
            f"{quote_segment(self.cache)}"
        )

    @property
    def server(self) -> str:
        """``host:port`` of the service."""
        return str(self._server)

    # -- keys

    def key_is_valid(self, key: str) -> bool:
        """Any str without control characters, up to 250 characters: percent-encoding
        carries everything else (spaces, ``/``, ``%``, non-ASCII) as its own item."""
        return len(key) <= self.max_key_length and _UNFIT_KEY_CHARS.search(key) is None

    def _why_invalid(self, key: str) -> str:
        shown = repr(key if len(key) <= 60 else key[:57] + "...")
        if not key:
            return "the empty string is not a valid cache key"
        full = self.key_prefix + key
        if len(full) > self.max_key_length:
            reason = (
                f"is {len(full)} characters with its prefix; the limit is {self.max_key_length}"
            )
        else:
            reason = "has control characters (or lone surrogates)"
        return f"key {shown} {reason}; use key_policy='hash' to store such keys under a digest"

    # -- paths and the error hook

    @staticmethod
    def cache_path(cache: str) -> str:
        """The path of a cache, relative to the project."""
        return f"caches/{quote_segment(cache)}"

    def _item_path(self, key: str) -> str:
        return f"{self._cache_path}/items/{quote_segment(key)}"

    def _error_hook(self, reply: Reply, method: str, path: str) -> CacheError | None:
        # IronCache answers a wrong project id with 404 rather than 401: without this, a
        # typo in the project id would read as an empty cache forever.
        if reply.status == 404 and "project" in (reply.message or "").lower():
            return AuthenticationError(
                f"IronCache does not know project {self.project_id!r}: check the project id",
                backend=self.scheme,
                server=self.server,
                status=404,
                server_message=reply.message,
            )
        return None

    # -- the exchanges the hooks are made of

    def _fetch(self, key: str) -> Exchange[Stored | None]:
        reply = yield Request("GET", self._item_path(key), allow=(404,))
        if reply.status == 404:
            return None
        data = reply.data
        if not isinstance(data, dict) or "value" not in data:
            raise CacheError(
                "IronCache sent an item without a value",
                backend=self.scheme,
                server=self.server,
                status=reply.status,
            )
        cas = data.get("cas")
        if isinstance(cas, str) and cas.isdigit():
            cas = int(cas)  # the document's example shows a string; a number is sent back
        if not is_counter(cas):
            cas = 0  # no cas: a cas write with it simply fails
        return Stored(data["value"], cas)

    def _store(
        self,
        key: str,
        value: str | int,
        ttl: float | None,
        *,
        add: bool = False,
        replace: bool = False,
        cas: int | None = None,
    ) -> Exchange[bool]:
        """One PUT; True when stored. ``ttl`` is None (forever) or positive."""
        body: dict[str, Any] = {"value": value}
        if ttl is not None:
            body["expires_in"] = expires_in(ttl)
        if add:
            body["add"] = True
        if replace:
            body["replace"] = True
        if cas is not None:
            body["cas"] = cas
        conditional = add or replace or cas is not None
        reply = yield Request(
            "PUT",
            self._item_path(key),
            json=body,
            # A conditional put resent after its reply was lost would answer "not stored"
            # for a write that happened: never resend it.
            idempotent=not conditional,
            # Not stored: 409 (exists / cas differs), 404 (missing, for replace and cas).
            allow=(404, 409) if conditional else (),
        )
        return reply.ok

    def _op_get(self, key: str) -> Exchange[Item | None]:
        found = yield from self._fetch(key)
        return None if found is None else from_wire(found.value)

    def _op_set(self, key: str, item: Item, ttl: float | None) -> Exchange[None]:
        if ttl == 0.0:
            yield from self._op_delete(key)
        else:
            yield from self._store(key, to_wire(item), ttl)

    def _op_set_one_of_many(self, key: str, item: Item, ttl: float | None) -> Exchange[bool]:
        try:
            yield from self._op_set(key, item, ttl)
        except ValueTooLarge:
            return False  # its request body is over 1 MiB; the others are still stored
        return True

    def _op_add(self, key: str, item: Item, ttl: float | None) -> Exchange[bool]:
        if ttl == 0.0:
            # Stored and expired at once: nothing to write, but the answer says whether
            # the key was free.
            return (yield from self._fetch(key)) is None
        return (yield from self._store(key, to_wire(item), ttl, add=True))

    def _op_replace(self, key: str, item: Item, ttl: float | None) -> Exchange[bool]:
        if ttl == 0.0:
            return (yield from self._op_delete(key))
        return (yield from self._store(key, to_wire(item), ttl, replace=True))

    def _op_gets(self, key: str) -> Exchange[tuple[Item, CasToken] | None]:
        found = yield from self._fetch(key)
        return None if found is None else (from_wire(found.value), found.cas)

    def _op_cas(self, key: str, item: Item, token: CasToken, ttl: float | None) -> Exchange[bool]:
        if ttl == 0.0:
            # The cas check must still decide: store under the token for the shortest
            # ttl IronCache has, then delete.
            if not (yield from self._store(key, to_wire(item), 1.0, cas=token)):
                return False
            yield from self._op_delete(key)
            return True
        return (yield from self._store(key, to_wire(item), ttl, cas=token))

    def _op_incr(self, key: str, delta: int, default: int | None) -> Exchange[int | None]:
        if default == 0:
            # IronCache creates a missing key with value = amount, which is exactly
            # default 0: one atomic request.
            return (yield from self._native_increment(key, delta))
        return (yield from self._increment_by_cas(key, delta, default))

    def _native_increment(self, key: str, delta: int) -> Exchange[int]:
        reply = yield Request(
            "POST", f"{self._item_path(key)}/increment", json={"amount": delta}, allow=(400,)
        )
        if reply.status == 400:
            raise self._not_numeric(key, reply.message)
        value = reply.data.get("value") if isinstance(reply.data, dict) else None
        if not is_counter(value):
            raise CacheError(
                "IronCache answered an increment without the new value",
                backend=self.scheme,
                server=self.server,
                status=reply.status,
            )
        return int(value)

    def _increment_by_cas(self, key: str, delta: int, default: int | None) -> Exchange[int | None]:
        """Increment with a default other than 0, or none, without IronCache creating the
        key at ``delta``: a missing key is created at ``default + delta`` with ``add``; an
        existing one (or one another worker added first) takes the native, atomic
        increment, so racing workers never contend or lose a count. The one race left: the
        key expiring or being deleted between the read and the increment recreates it at
        ``delta``."""
        for _ in range(CAS_ATTEMPTS):
            found = yield from self._fetch(key)
            if found is None:
                if default is None:
                    return None
                value = default + delta
                item = (str(value).encode(), FLAG_INT)
                if (yield from self._store(key, to_wire(item), None, add=True)):
                    return value
                continue  # another worker created it first: increment theirs
            if not is_counter(found.value):
                raise self._not_numeric(key, None)
            return (yield from self._native_increment(key, delta))
        raise self._contended(key)

    def _op_delete(self, key: str) -> Exchange[bool]:
        reply = yield Request("DELETE", self._item_path(key), allow=(404,))
        return reply.ok

    def _op_touch(self, key: str, ttl: float | None) -> Exchange[bool]:
        if ttl == 0.0:
            return (yield from self._op_delete(key))
        # IronCache has no touch: put the stored value back, unchanged, with the new
        # expiry, guarded by its cas so a concurrent write is never overwritten.
        for _ in range(CAS_ATTEMPTS):
            found = yield from self._fetch(key)
            if found is None:
                return False
            if (yield from self._store(key, found.value, ttl, cas=found.cas)):
                return True
        raise self._contended(key)

    def _op_clear(self, cache: str) -> Exchange[None]:
        # Clearing twice is harmless, so this POST may be resent.
        yield Request("POST", f"{self.cache_path(cache)}/clear", idempotent=True, allow=(404,))

    # -- errors

    def _not_numeric(self, key: str, server_message: str | None) -> NotNumeric:
        return NotNumeric(
            f"cannot increment or decrement {key!r}: its value is not an IronCache number",
            backend=self.scheme,
            server=self.server,
            status=400 if server_message else None,
            server_message=server_message,
        )

    def _contended(self, key: str) -> BackendUnavailable:
        return BackendUnavailable(
            f"{key!r} changed under every one of {CAS_ATTEMPTS} read-modify-write attempts",
            backend=self.scheme,
            server=self.server,
        )
