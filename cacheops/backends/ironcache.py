"""``ironcache://``: IronCache over its REST API (v1), through :mod:`cacheops.http`.

Every call is one or a few HTTP requests on a pooled, keep-alive session; retries, timeouts
and error mapping all live in :class:`cacheops.http.HTTPClient`.

Keys and the cache name are percent-encoded as single path segments
(:func:`cacheops.http.quote_segment`): every distinct key is its own item and no key can
reach another path. IronCache carries any str key without control characters, up to 250
characters.

Values (the format other clients see; see also ``docs/backends/ironcache.md``):

- a ``str`` is stored as a JSON string, an ``int`` in the signed 64-bit range as a JSON
  number: IronCache's native values, which every other client reads and IronCache's own
  ``increment`` works on;
- anything else (bytes, float, bool, None, list, dict, pickles, larger ints) is stored as
  the string ``"cacheops:v1:<flags>:<base64 of the encoded payload>"``;
- a ``str`` that itself starts with ``"cacheops:v1:"`` is stored in that same form (flags
  16), so reading a value back is never ambiguous.

``gets``/``cas`` use the item's ``cas``, kept as an exact Python int (it can be above
2**53) and sent back unchanged. ``touch`` works: it re-puts the stored value with the new
``expires_in``, guarded by that ``cas``.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeGuard, TypeVar

from ..backend import Backend, CasToken, Item
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
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_POOL_SIZE,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    HTTPClient,
    HTTPOptions,
    Reply,
    quote_segment,
)
from ..serializers import FLAG_INT, FLAG_JSON, FLAG_STR

if TYPE_CHECKING:
    from ..admin.ironcache import IronCacheAdmin

log = logging.getLogger("cacheops")

_T = TypeVar("_T")

#: "Item Size ... 1MB ... includes the entire body of the request".
MAX_BODY_SIZE = 1_048_576
#: "expires_in ... Maximum is 2,592,000 seconds (30 days)".
MAX_EXPIRES_IN = 2_592_000
#: The prefix of every value that is not a native IronCache string or number.
MARKER = "cacheops:v1:"

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
# C0 and C1 control characters, DEL, and lone surrogates (which have no UTF-8 form).
_UNFIT_KEY_CHARS = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_MARKED = re.compile(r"(-?[0-9]+):([A-Za-z0-9+/]*={0,2})", re.ASCII)
# Given by the URL, never by an option: a query string must not redirect the cache.
_LOCATION_OPTIONS = frozenset({"project_id", "token", "cache", "host", "port", "secure"})
#: How many times a gets/cas read-modify-write is retried when another writer won.
CAS_ATTEMPTS = 32


# -- the value format ----------------------------------------------------------------------


def to_wire(item: Item) -> str | int:
    """The IronCache ``value`` for an encoded item (see the module doc)."""
    payload, flags = item
    if flags == FLAG_INT:
        number = int(payload)
        if _INT64_MIN <= number <= _INT64_MAX:
            return number
    elif flags == FLAG_STR:
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            if not text.startswith(MARKER):
                return text
    return f"{MARKER}{flags}:{base64.b64encode(payload).decode('ascii')}"


def from_wire(value: Any) -> Item:
    """The encoded item for an IronCache ``value``, whoever wrote it."""
    if isinstance(value, str):
        if value.startswith(MARKER):
            match = _MARKED.fullmatch(value, len(MARKER))
            if match is not None:
                try:
                    return base64.b64decode(match[2], validate=True), int(match[1])
                except binascii.Error:
                    pass
        # A plain string, or one another client wrote that only looks like ours.
        return value.encode("utf-8"), FLAG_STR
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode("ascii"), FLAG_INT
    # Another client's JSON value (IronCache itself stores only strings and numbers).
    return _json_bytes(value), FLAG_JSON


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _is_counter(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _expires_in(ttl: float) -> int:
    # Whole seconds, rounded up: an item never expires before it was asked to, and a
    # ttl under a second never becomes 0 (which IronCache reads as "no expiry").
    return max(1, math.ceil(ttl))


@dataclass(frozen=True)
class _Stored:
    """An item as the server returned it."""

    value: Any
    cas: int


# -- the backend ---------------------------------------------------------------------------


class IronCacheBackend(Backend):
    """One IronCache cache. ``ironcache://`` is HTTPS; ``ironcache+http://`` plain HTTP,
    for a local server (refused for other hosts unless ``allow_insecure_http=True``)."""

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
        )
        # As many requests in flight as the pool keeps connections: beyond that, each extra
        # one would open a connection only to drop it after.
        max_concurrency = pool_size if max_concurrency is None else max_concurrency
        if max_concurrency < 1:
            raise ConfigurationError("option max_concurrency must be at least 1")
        port = port or (443 if secure else 80)
        self._server = Server(host, port)
        self.project_id = project_id
        self.cache = cache
        self.secure = secure
        self.api_version = api_version
        self.max_concurrency = max_concurrency
        self._header = f"OAuth {token}"
        self._http = HTTPClient(
            f"{'https' if secure else 'http'}://{self._server}/{api_version}"
            f"/projects/{quote_segment(project_id)}",
            backend=self.scheme,
            auth=self._authorization,
            options=http_options,
            error_hook=self._error_hook,
        )
        self._cache_path = self.cache_path(cache)
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _authorization(self) -> str:
        return self._header

    @classmethod
    def from_config(cls, config: CacheConfig, **options: Any) -> IronCacheBackend:
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

    @property
    def http(self) -> HTTPClient:
        """The HTTP client (shared with :attr:`admin`)."""
        return self._http

    def _make_admin(self) -> IronCacheAdmin:
        from ..admin.ironcache import IronCacheAdmin

        return IronCacheAdmin(self)

    @property
    def admin(self) -> IronCacheAdmin:
        """:class:`~cacheops.admin.ironcache.IronCacheAdmin` for this project and cache."""
        from ..admin.ironcache import IronCacheAdmin

        admin = super().admin
        assert isinstance(admin, IronCacheAdmin)
        return admin

    # -- keys

    def _key_is_valid(self, key: str) -> bool:
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

    # -- requests shared by the primitives

    def _fetch(self, key: str) -> _Stored | None:
        reply = self._http.request("GET", self._item_path(key), allow=(404,))
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
        if not _is_counter(cas):
            cas = 0  # no cas: a cas write with it simply fails
        return _Stored(data["value"], cas)

    def _store(
        self,
        key: str,
        value: str | int,
        ttl: float | None,
        *,
        add: bool = False,
        replace: bool = False,
        cas: int | None = None,
    ) -> bool:
        """One PUT; True when stored. ``ttl`` is None (forever) or positive."""
        body: dict[str, Any] = {"value": value}
        if ttl is not None:
            body["expires_in"] = _expires_in(ttl)
        if add:
            body["add"] = True
        if replace:
            body["replace"] = True
        if cas is not None:
            body["cas"] = cas
        conditional = add or replace or cas is not None
        reply = self._http.request(
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

    def _executor_for_fan_out(self) -> ThreadPoolExecutor:
        executor = self._executor
        if executor is None:
            with self._lock:
                if self._executor is None:
                    self._executor = ThreadPoolExecutor(
                        max_workers=self.max_concurrency,
                        thread_name_prefix="cacheops-ironcache",
                    )
                executor = self._executor
        return executor

    def _fan_out(self, call: Callable[[str], _T], keys: list[str]) -> list[_T]:
        """``call`` on every key, at most ``max_concurrency`` requests in flight."""
        if len(keys) < 2 or self.max_concurrency < 2:
            return [call(key) for key in keys]
        return list(self._executor_for_fan_out().map(call, keys))

    # -- primitives

    def _get(self, key: str) -> Item | None:
        found = self._fetch(key)
        return None if found is None else from_wire(found.value)

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        items = self._fan_out(self._get, keys)
        return {key: item for key, item in zip(keys, items, strict=True) if item is not None}

    def _set(self, key: str, item: Item, ttl: float | None) -> None:
        if ttl == 0.0:
            self._delete(key)
        else:
            self._store(key, to_wire(item), ttl)

    def _set_many(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        def store(key: str) -> bool:
            try:
                self._set(key, items[key], ttl)
            except ValueTooLarge:
                return False  # its request body is over 1 MiB; the others are still stored
            return True

        keys = list(items)
        return [key for key, ok in zip(keys, self._fan_out(store, keys), strict=True) if not ok]

    def _add(self, key: str, item: Item, ttl: float | None) -> bool:
        if ttl == 0.0:
            # Stored and expired at once: nothing to write, but the answer says whether
            # the key was free.
            return self._fetch(key) is None
        return self._store(key, to_wire(item), ttl, add=True)

    def _replace(self, key: str, item: Item, ttl: float | None) -> bool:
        if ttl == 0.0:
            return self._delete(key)
        return self._store(key, to_wire(item), ttl, replace=True)

    def _gets(self, key: str) -> tuple[Item, CasToken] | None:
        found = self._fetch(key)
        return None if found is None else (from_wire(found.value), found.cas)

    def _cas(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        if ttl == 0.0:
            # The cas check must still decide: store under the token for the shortest
            # ttl IronCache has, then delete.
            if not self._store(key, to_wire(item), 1.0, cas=token):
                return False
            self._delete(key)
            return True
        return self._store(key, to_wire(item), ttl, cas=token)

    def _incr(self, key: str, delta: int, default: int | None) -> int | None:
        if default == 0:
            # IronCache creates a missing key with value = amount, which is exactly
            # default 0: one atomic request.
            return self._native_increment(key, delta)
        return self._increment_by_cas(key, delta, default)

    def _native_increment(self, key: str, delta: int) -> int:
        reply = self._http.request(
            "POST", f"{self._item_path(key)}/increment", json={"amount": delta}, allow=(400,)
        )
        if reply.status == 400:
            raise self._not_numeric(key, reply.message)
        value = reply.data.get("value") if isinstance(reply.data, dict) else None
        if not _is_counter(value):
            raise CacheError(
                "IronCache answered an increment without the new value",
                backend=self.scheme,
                server=self.server,
                status=reply.status,
            )
        return int(value)

    def _increment_by_cas(self, key: str, delta: int, default: int | None) -> int | None:
        """Increment with a default other than 0, or none, without IronCache creating the
        key at ``delta``: a missing key is created at ``default + delta`` with ``add``; an
        existing one (or one another worker added first) takes the native, atomic
        increment, so racing workers never contend or lose a count. The one race left: the
        key expiring or being deleted between the read and the increment recreates it at
        ``delta``."""
        for _ in range(CAS_ATTEMPTS):
            found = self._fetch(key)
            if found is None:
                if default is None:
                    return None
                value = default + delta
                if self._store(key, to_wire((str(value).encode(), FLAG_INT)), None, add=True):
                    return value
                continue  # another worker created it first: increment theirs
            if not _is_counter(found.value):
                raise self._not_numeric(key, None)
            return self._native_increment(key, delta)
        raise self._contended(key)

    def _delete(self, key: str) -> bool:
        return self._http.request("DELETE", self._item_path(key), allow=(404,)).ok

    def _delete_many(self, keys: list[str]) -> None:
        self._fan_out(self._delete, keys)

    def _touch(self, key: str, ttl: float | None) -> bool:
        if ttl == 0.0:
            return self._delete(key)
        # IronCache has no touch: put the stored value back, unchanged, with the new
        # expiry, guarded by its cas so a concurrent write is never overwritten.
        for _ in range(CAS_ATTEMPTS):
            found = self._fetch(key)
            if found is None:
                return False
            if self._store(key, found.value, ttl, cas=found.cas):
                return True
        raise self._contended(key)

    def _clear(self) -> None:
        self.clear_cache(self.cache)

    def clear_cache(self, cache: str) -> None:
        """Remove every item of ``cache`` in this project (a missing cache is empty)."""
        # Clearing twice is harmless, so this POST may be resent.
        self._http.request("POST", f"{self.cache_path(cache)}/clear", idempotent=True, allow=(404,))

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

    # -- lifecycle

    def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=False)
        self._http.close()
        super().close()

    def _after_fork(self) -> None:
        # The parent's worker threads do not exist here and its sockets are not ours.
        self._lock = threading.Lock()
        self._executor = None
        self._http.after_fork()
