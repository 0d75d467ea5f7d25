"""MemCachier's analytics API, v1 and v2, as typed methods returning typed records.

:class:`MemCachierAPI` speaks every endpoint of MemCachier's two API documents (v1: login,
stats, history, flush, credentials; v2: info, credentials, management, commands, insight,
alerts, introspection) over the one HTTP layer, :class:`cacheops.http.HTTPClient`, with
HTTP basic authentication by the cache's own credentials::

    from cacheops.admin.memcachier import MemCachierAPI

    with MemCachierAPI(os.environ["MEMCACHIER_USERNAME"], os.environ["MEMCACHIER_PASSWORD"]) as api:
        api.flush()                        # v2 POST /api/v2/caches/<cache_id>/flush
        print(api.v1.stats())              # v1 GET /api/v1/<cache_id>/stats, per server

The cache id is found through v1 ``/login`` on first use when it is not given.
:class:`MemCachierAdmin` is what ``connect("memcachier://...").admin`` returns: the common
flush/stats/info over this API with the backend's credentials.

Where the documents disagree, the choices are marked "Choice" next to the code and listed
in ``docs/memcachier-api.md``. The password never appears in a message, ``repr``, log or
exception built here (the server's words are scrubbed of it too).
"""

from __future__ import annotations

import base64
import contextvars
import logging
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, urlsplit

from ..config import MEMCACHIER_API_URL, memcachier_api_url
from ..errors import (
    AuthenticationError,
    CacheError,
    ConfigurationError,
    PermissionDenied,
)
from ..http import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_RETRIES,
    DEFAULT_RETRY_DEADLINE,
    DEFAULT_TIMEOUT,
    HTTPClient,
    HTTPOptions,
    Reply,
    quote_segment,
)
from ..redact import redact
from .base import Admin, ServerStats, Stats

if TYPE_CHECKING:
    from ..backends.memcache import MemcacheBackend

__all__ = [
    "BACKEND",
    "DEFAULT_BASE_URL",
    "STATS_COUNTERS",
    "Alert",
    "CacheInfo",
    "CacheStats",
    "Capabilities",
    "Credential",
    "DeliveryConfig",
    "HistoryEntry",
    "KeyStats",
    "LogLine",
    "MemCachierAPI",
    "MemCachierAdmin",
    "MemCachierV1",
    "PopularItems",
    "Popularity",
    "Prefix",
    "Series",
    "format_time",
    "parse_time",
]

#: The API root: ``/api/v1/...`` and ``/api/v2/...`` live below it. Choice: the v2 document
#: shows ``analytics.memcachier.com`` in its authentication section and
#: ``insight.memcachier.com`` on every endpoint; MemCachier's current documentation, the v1
#: document and the Heroku article all use ``analytics``.
DEFAULT_BASE_URL = MEMCACHIER_API_URL

#: The name errors give as ``backend=`` (the API, as opposed to the memcache protocol).
BACKEND = "memcachier-api"

#: The 31 counters both documents show in a stats object, in their order.
STATS_COUNTERS = (
    "auth_cmds",
    "auth_errors",
    "bytes",
    "bytes_read",
    "bytes_written",
    "cas_badval",
    "cas_hits",
    "cas_misses",
    "cmd_delete",
    "cmd_flush",
    "cmd_get",
    "cmd_set",
    "cmd_touch",
    "curr_connections",
    "curr_items",
    "decr_hits",
    "decr_misses",
    "delete_hits",
    "delete_misses",
    "evictions",
    "expired",
    "get_hits",
    "get_misses",
    "incr_hits",
    "incr_misses",
    "limit_maxbytes",
    "time",
    "total_connections",
    "total_items",
    "touch_hits",
    "touch_misses",
)

_ALERT_FIELDS = (
    "trigger_type",
    "trigger_threshold",
    "delivery_config_id",
    "description",
    "enabled",
)
_R = TypeVar("_R")


# -- value helpers ------------------------------------------------------------------------


def _mapping(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def _list(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise TypeError(f"expected a JSON array, got {type(data).__name__}")
    return data


def _int(value: Any, default: int = 0) -> int:
    """An integer from a JSON number or a string of digits; ``default`` otherwise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value.strip()):
        return int(value)
    return default


def _opt_int(value: Any) -> int | None:
    return None if value is None else _int(value, default=0)


def _number(value: Any, default: int | float = 0) -> int | float:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        return value
    return default


def _bool(value: Any, default: bool = False) -> bool:
    """A boolean from JSON ``true``/``false`` (also the strings and 0/1); ``default`` else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "1", "0"):
        return value.strip().lower() in ("true", "1")
    return default


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (``2023-01-11T10:10:44Z``, offsets and fractions too) as an aware
    UTC datetime; a time without an offset is taken as UTC."""
    value = text.strip()
    if value[-1:] in ("z", "Z"):
        value = value[:-1] + "+00:00"
    # Python 3.10's fromisoformat wants exactly 3 or 6 fraction digits.
    match = re.match(r"^(.*T\d\d:\d\d:\d\d)\.(\d+)(.*)$", value)
    if match:
        value = f"{match[1]}.{match[2][:6].ljust(6, '0')}{match[3]}"
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        return moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def format_time(moment: datetime) -> str:
    """``moment`` as the documents' query parameters write it: RFC 3339 in UTC,
    ``YYYY-MM-DDTHH:MM:SSZ`` (fractions of a second dropped). A naive datetime is UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _millis(value: Any) -> datetime:
    """v1 history's ``"timestamp": "1490731541096"``: milliseconds since the epoch."""
    return datetime.fromtimestamp(_int(value) / 1000, tz=timezone.utc)


def _time_field(value: Any) -> datetime:
    if isinstance(value, str) and value.strip():
        return parse_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    raise ValueError(f"not a time: {value!r}")


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities:
    """What a credential may do: ``write`` to the cache, ``flush`` it, use the ``api``."""

    write: bool
    flush: bool
    api: bool

    @classmethod
    def from_json(cls, data: Any) -> Capabilities:
        """From ``{"write_capability": ..., "flush_capability": ..., "api_capability": ...}``;
        a capability left out is false (as the v2 document says the server reads it)."""
        doc = _mapping(data)
        return cls(
            write=_bool(doc.get("write_capability")),
            flush=_bool(doc.get("flush_capability")),
            api=_bool(doc.get("api_capability")),
        )

    def as_json(self) -> dict[str, bool]:
        return {
            "write_capability": self.write,
            "flush_capability": self.flush,
            "api_capability": self.api,
        }


@dataclass(frozen=True)
class Credential:
    """One set of credentials of the cache.

    ``username`` is the document's ``sasl_username``; ``password`` its ``sasl_password``,
    which only v1 create and v2 answers carry (None otherwise) and which ``repr`` never
    shows. ``id`` and ``cache_id`` are None when the server sends null (v1 create and
    promote do). Extra fields (v1's ``uuid``) are ignored.
    """

    id: int | None
    cache_id: int | None
    username: str
    password: str | None = field(repr=False)
    capabilities: Capabilities
    primary: bool = False

    def public(self) -> dict[str, Any]:
        """The credential as it may be shown: name and capabilities, never the password."""
        caps = self.capabilities
        return {
            "username": self.username,
            "primary": self.primary,
            "write": caps.write,
            "flush": caps.flush,
            "api": caps.api,
        }

    @classmethod
    def from_json(cls, data: Any) -> Credential:
        doc = _mapping(data)
        username = doc.get("sasl_username")
        if not isinstance(username, str):
            raise ValueError("a credential without sasl_username")
        password = doc.get("sasl_password")
        return cls(
            id=_opt_int(doc.get("id")),
            cache_id=_opt_int(doc.get("cache_id")),
            username=username,
            password=password if isinstance(password, str) else None,
            capabilities=Capabilities.from_json(doc),
            primary=_bool(doc.get("primary")),
        )


@dataclass(frozen=True)
class CacheStats:
    """A stats object of both documents: the 31 documented counters (0 when the server
    leaves one out) and ``raw``, the object as sent (extra counters included). ``time`` is
    the server's Unix time; :attr:`at` gives it as a datetime."""

    auth_cmds: int = 0
    auth_errors: int = 0
    bytes: int = 0
    bytes_read: int = 0
    bytes_written: int = 0
    cas_badval: int = 0
    cas_hits: int = 0
    cas_misses: int = 0
    cmd_delete: int = 0
    cmd_flush: int = 0
    cmd_get: int = 0
    cmd_set: int = 0
    cmd_touch: int = 0
    curr_connections: int = 0
    curr_items: int = 0
    decr_hits: int = 0
    decr_misses: int = 0
    delete_hits: int = 0
    delete_misses: int = 0
    evictions: int = 0
    expired: int = 0
    get_hits: int = 0
    get_misses: int = 0
    incr_hits: int = 0
    incr_misses: int = 0
    limit_maxbytes: int = 0
    time: int = 0
    total_connections: int = 0
    total_items: int = 0
    touch_hits: int = 0
    touch_misses: int = 0
    raw: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def from_json(cls, data: Any) -> CacheStats:
        doc = _mapping(data)
        counters = {name: _int(doc.get(name)) for name in STATS_COUNTERS}
        return cls(**counters, raw=dict(doc))

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.time, tz=timezone.utc)

    def as_dict(self) -> dict[str, int]:
        """The 31 documented counters."""
        return {name: getattr(self, name) for name in STATS_COUNTERS}


@dataclass(frozen=True)
class HistoryEntry:
    """One entry of v1 ``history``: a server's stats at ``timestamp`` (the document's
    string of milliseconds, as an aware UTC datetime)."""

    memcachier_id: str
    server: str
    stats: CacheStats
    timestamp: datetime

    @classmethod
    def from_json(cls, data: Any) -> HistoryEntry:
        doc = _mapping(data)
        raw_id = doc.get("memcachier_id")
        return cls(
            memcachier_id="" if raw_id is None else str(raw_id),
            server=_str(doc.get("server")),
            stats=CacheStats.from_json(doc.get("stats") or {}),
            timestamp=_millis(doc.get("timestamp")),
        )


@dataclass(frozen=True)
class CacheInfo:
    """v2 ``info``: the cache, its credentials (with their passwords: see
    :class:`Credential`) and its cluster. ``plan`` is the size in bytes."""

    id: int
    name: str
    label: str
    cache_type: str
    plan: int
    provider: str
    enabled: bool
    cluster_name: str
    servers: list[str]
    credentials: list[Credential]
    can_switch: bool
    can_manage_credentials: bool
    can_update_capabilities: bool

    @classmethod
    def from_json(cls, data: Any) -> CacheInfo:
        """Missing fields: 0, ``""``, ``[]`` or false."""
        doc = _mapping(data)
        return cls(
            id=_int(doc.get("id")),
            name=_str(doc.get("name")),
            label=_str(doc.get("label")),
            cache_type=_str(doc.get("cache_type")),
            plan=_int(doc.get("plan")),
            provider=_str(doc.get("provider")),
            enabled=_bool(doc.get("enabled")),
            cluster_name=_str(doc.get("cluster_name")),
            servers=[str(s) for s in _list(doc.get("servers") or [])],
            credentials=[Credential.from_json(c) for c in _list(doc.get("credentials") or [])],
            can_switch=_bool(doc.get("can_switch")),
            can_manage_credentials=_bool(doc.get("can_manage_credentials")),
            can_update_capabilities=_bool(doc.get("can_update_capabilities")),
        )


@dataclass(frozen=True)
class Series:
    """A time series of the insight and introspection endpoints: ``columns`` name the
    values of each row of ``values`` (the first is ``time``, an RFC 3339 string);
    ``tags`` is ``{"server": "host:port"}`` for per-server series, else empty."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

    @classmethod
    def from_json(cls, data: Any) -> Series:
        doc = _mapping(data)
        tags = doc.get("tags") or {}
        return cls(
            name=_str(doc.get("name")),
            tags={str(k): str(v) for k, v in _mapping(tags).items()},
            columns=[str(c) for c in _list(doc.get("columns") or [])],
            values=[list(_list(row)) for row in _list(doc.get("values") or [])],
        )

    def rows(self) -> list[dict[str, Any]]:
        """Each row as ``{column: value}``, with ``"time"`` as an aware UTC datetime."""
        result = []
        for row in self.values:
            item = dict(zip(self.columns, row, strict=False))
            if isinstance(item.get("time"), str):
                item["time"] = parse_time(item["time"])
            result.append(item)
        return result


@dataclass(frozen=True)
class Alert:
    """An alert: ``trigger_type`` ``"hit_rate"`` or ``"memory_usage"``, ``trigger_threshold``
    a percentage 0-100, sent to the delivery config ``delivery_config_id`` (None: none)."""

    id: int
    trigger_type: str
    trigger_threshold: int | float
    delivery_config_id: int | None
    description: str = ""
    enabled: bool = True

    @classmethod
    def from_json(cls, data: Any) -> Alert:
        """Missing fields: threshold 0, no delivery config, empty description, enabled."""
        doc = _mapping(data)
        return cls(
            id=_int(doc.get("id")),
            trigger_type=_str(doc.get("trigger_type")),
            trigger_threshold=_number(doc.get("trigger_threshold")),
            delivery_config_id=_opt_int(doc.get("delivery_config_id")),
            description=_str(doc.get("description")),
            enabled=_bool(doc.get("enabled"), default=True),
        )

    def as_json(self) -> dict[str, Any]:
        """The documented request body of an update (``id`` included)."""
        return {
            "id": self.id,
            "trigger_type": self.trigger_type,
            "trigger_threshold": self.trigger_threshold,
            "delivery_config_id": self.delivery_config_id,
            "description": self.description,
            "enabled": self.enabled,
        }


@dataclass(frozen=True)
class DeliveryConfig:
    """Where alerts go: ``delivery_type`` ``"email"`` (to ``email``) or ``"slack"`` (to
    ``slack_url``, ``slack_channel``). A Slack webhook URL is a secret of its own: ``repr``
    does not show it. Missing fields are ``""``."""

    id: int
    delivery_type: str
    email: str = ""
    slack_url: str = field(default="", repr=False)
    slack_channel: str = ""

    @classmethod
    def from_json(cls, data: Any) -> DeliveryConfig:
        doc = _mapping(data)
        return cls(
            id=_int(doc.get("id")),
            delivery_type=_str(doc.get("delivery_type")),
            email=_str(doc.get("email")),
            slack_url=_str(doc.get("slack_url")),
            slack_channel=_str(doc.get("slack_channel")),
        )


@dataclass(frozen=True)
class LogLine:
    """One line of ``recent_logs``."""

    timestamp: datetime
    key: str
    command: str
    status: str
    size: int = 0

    @classmethod
    def from_json(cls, data: Any) -> LogLine:
        doc = _mapping(data)
        return cls(
            timestamp=_time_field(doc.get("timestamp")),
            key=_str(doc.get("key")),
            command=_str(doc.get("command")),
            status=_str(doc.get("status")),
            size=_int(doc.get("size")),
        )


@dataclass(frozen=True)
class Popularity:
    """A key or prefix and its popularity (a count)."""

    name: str
    popularity: int | float

    @classmethod
    def from_json(cls, data: Any) -> Popularity:
        doc = _mapping(data)
        return cls(name=_str(doc.get("name")), popularity=_number(doc.get("popularity")))


@dataclass(frozen=True)
class PopularItems:
    """``popular_items``: the most hit, missed and mutated keys and the most popular
    prefixes over ``time_slice`` nanoseconds. Missing lists are empty."""

    time_slice: int
    most_hit_keys: list[Popularity]
    most_missed_keys: list[Popularity]
    most_mutated_keys: list[Popularity]
    popular_prefixes: list[Popularity]

    @classmethod
    def from_json(cls, data: Any) -> PopularItems:
        doc = _mapping(data)

        def ranked(name: str) -> list[Popularity]:
            return [Popularity.from_json(p) for p in _list(doc.get(name) or [])]

        return cls(
            time_slice=_int(doc.get("time_slice")),
            most_hit_keys=ranked("most_hit_keys"),
            most_missed_keys=ranked("most_missed_keys"),
            most_mutated_keys=ranked("most_mutated_keys"),
            popular_prefixes=ranked("popular_prefixes"),
        )


@dataclass(frozen=True)
class KeyStats:
    """``key_stats`` of one key. Missing counts are 0."""

    timestamp: datetime
    name: str
    size: int
    hit_count: int
    miss_count: int
    mutation_count: int
    in_cache: bool

    @classmethod
    def from_json(cls, data: Any) -> KeyStats:
        doc = _mapping(data)
        return cls(
            timestamp=_time_field(doc.get("timestamp")),
            name=_str(doc.get("name")),
            size=_int(doc.get("size")),
            hit_count=_int(doc.get("hit_count")),
            miss_count=_int(doc.get("miss_count")),
            mutation_count=_int(doc.get("mutation_count")),
            in_cache=_bool(doc.get("in_cache")),
        )


@dataclass(frozen=True)
class Prefix:
    """A watched key prefix."""

    id: int
    name: str

    @classmethod
    def from_json(cls, data: Any) -> Prefix:
        doc = _mapping(data)
        return cls(id=_int(doc.get("id")), name=_str(doc.get("name")))


# -- the client ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Call:
    """What the error hook must know about the request in flight."""

    idempotent: bool
    allow: frozenset[int]


_call: contextvars.ContextVar[_Call | None] = contextvars.ContextVar(
    "cacheops_memcachier_call", default=None
)

#: v1 answers 403 to a wrong password and to a credential without the API capability alike.
_V1_403 = "the credential lacks api_capability (or the password is wrong: v1 answers 403 to both)"

log = logging.getLogger("cacheops.admin.memcachier")


class _NoAPICapability(PermissionDenied):
    """The API refused the credential as a whole (no ``api`` capability, or a wrong
    password), as opposed to refusing one command; the memcache protocol may still serve it."""


class MemCachierAPI:
    """A client of MemCachier's analytics API for one cache, v2 methods on the object and
    v1 methods on :attr:`v1`. Thread-safe. See the module docstring and
    ``docs/memcachier-api.md`` (every endpoint, its method and the choices made).

    ``base_url`` is the API root (a trailing ``/api``, ``/api/v1`` or ``/api/v2`` is
    ignored; default ``MEMCACHIER_API_URL``, else MemCachier's public address); plain
    ``http://`` is refused except to a loopback address unless ``allow_insecure_http``
    (basic auth would carry the password in clear text).
    ``timeout``, ``connect_timeout``, ``retries`` and ``retry_deadline`` are the HTTP
    layer's (:class:`~cacheops.http.HTTPClient`): 503s and refused connections are retried,
    a non-idempotent request whose reply was lost is not (``UnknownOutcome``).
    """

    def __init__(
        self,
        username: str,
        password: str,
        cache_id: int | None = None,
        *,
        base_url: str | None = None,
        allow_insecure_http: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        retries: int = DEFAULT_RETRIES,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
    ) -> None:
        if not isinstance(username, str) or not username:
            raise ConfigurationError(f"{BACKEND}: a username is required", backend=BACKEND)
        if ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
            # HTTP basic auth cannot carry a ':' in the username.
            raise ConfigurationError(
                f"{BACKEND}: the username cannot contain ':' or control characters",
                backend=BACKEND,
            )
        if not isinstance(password, str) or not password:
            raise ConfigurationError(f"{BACKEND}: a password is required", backend=BACKEND)
        if cache_id is not None and (
            isinstance(cache_id, bool) or not isinstance(cache_id, int) or cache_id < 0
        ):
            raise ConfigurationError(
                f"{BACKEND}: cache_id must be a non-negative integer (or None to find it "
                "through /login)",
                backend=BACKEND,
            )
        self.username = username
        self._password = password
        self._token = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._cache_id = cache_id
        self._cache_id_given = cache_id is not None
        self._cache_id_lock = threading.Lock()
        self._http = HTTPClient(
            _api_root(base_url or memcachier_api_url()),
            backend=BACKEND,
            auth=self._authorization,
            options=HTTPOptions(
                timeout=timeout,
                connect_timeout=connect_timeout,
                retries=retries,
                retry_deadline=retry_deadline,
                allow_insecure_http=allow_insecure_http,
            ),
            error_hook=self._error_hook,
        )
        #: The v1 endpoints (``login`` is :meth:`MemCachierAPI.login`).
        self.v1 = MemCachierV1(self)

    # -- identity and lifecycle

    @property
    def base_url(self) -> str:
        """The API root, without a trailing slash."""
        return self._http.base_url

    @property
    def cache_id(self) -> int:
        """The cache id both APIs' paths carry; found through v1 ``/login`` on first use
        when not given (once: it is kept)."""
        cache_id = self._cache_id
        if cache_id is not None:
            return cache_id
        with self._cache_id_lock:
            if self._cache_id is None:
                self._cache_id = self._login()
            return self._cache_id

    def __repr__(self) -> str:
        cache = self._cache_id if self._cache_id is not None else "?"
        return f"<MemCachierAPI {self.base_url} user={self.username} cache_id={cache}>"

    def close(self) -> None:
        """Close pooled connections (the next call opens new ones)."""
        self._http.close()

    def __enter__(self) -> MemCachierAPI:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _authorization(self) -> str:
        return self._token

    # -- plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        allow: Sequence[int] = (),
    ) -> Reply:
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE")
        token = _call.set(_Call(idempotent, frozenset(allow)))
        try:
            kwargs: dict[str, Any] = {"params": params, "idempotent": idempotent, "allow": allow}
            if json is not None:
                kwargs["json"] = json
            return self._http.request(method, path, **kwargs)
        finally:
            _call.reset(token)

    def _parse(self, parse: Callable[[Any], _R], reply: Reply, method: str, path: str) -> _R:
        """``parse(reply.data)``; an answer of an unexpected shape is a CacheError."""
        try:
            return parse(reply.data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise CacheError(
                f"{method} /{path}: unexpected answer from the server ({exc})",
                backend=BACKEND,
                server=self._http.server,
                status=reply.status,
            ) from None

    def _get(self, path: str, parse: Callable[[Any], _R], **params: Any) -> _R:
        query = {k: v for k, v in params.items() if v is not None}
        reply = self._request("GET", path, params=query or None)
        return self._parse(parse, reply, "GET", path)

    def _v1_path(self, *parts: str) -> str:
        return "/".join(("api/v1", str(self.cache_id), *parts))

    def _v2_path(self, *parts: str) -> str:
        return "/".join(("api/v2/caches", str(self.cache_id), *parts))

    def _window(self, start: datetime | None, end: datetime | None) -> dict[str, str]:
        params = {}
        if start is not None:
            params["startTime"] = format_time(start)
        if end is not None:
            params["endTime"] = format_time(end)
        return params

    # -- errors

    def _scrub(self, text: str) -> str:
        """The server's words without the password (or its secret part), should it echo
        them; the word "wrong" in "the password is wrong" stays, whatever the password."""
        return redact(text, [self._password, self._password.rpartition(" ")[2]])

    def _server_words(self, reply: Reply) -> str | None:
        """v1 errors are a JSON string, v2 errors ``{"error": ...}``; else the body text."""
        data = reply.data
        text: str | None = None
        if isinstance(data, str):
            text = data
        elif isinstance(data, Mapping):
            for name in ("error", "msg", "message"):
                if isinstance(data.get(name), str):
                    text = data[name]
                    break
        if text is None:
            text = reply.text
        text = self._scrub(text.strip())[:300]
        return text or None

    def _error_hook(self, reply: Reply, method: str, path: str) -> CacheError | None:
        call = _call.get()
        if call is not None and reply.status in call.allow:
            return None
        words = self._server_words(reply)
        status = reply.status
        where = f"{method} /{path}"
        context: dict[str, Any] = {
            "backend": BACKEND,
            "server": self._http.server,
            "status": status,
            "server_message": words,
        }
        parts = path.split("/")
        v1 = parts[:2] == ["api", "v1"]
        login = path == "api/v1/login"
        # api/v1/<id>/<what>... or api/v2/caches/<id>/<what>...
        rest = parts[3:] if v1 else parts[4:]
        cache = parts[2] if v1 else (parts[3] if len(parts) > 3 else "")
        what = rest[0] if rest else ""
        lowered = (words or "").lower()

        if status == 401:
            return AuthenticationError(
                f"{where}: MemCachier refused the credentials of {self.username!r} "
                "(wrong username or password)",
                **context,
            )
        if status == 403:
            if login:
                return _NoAPICapability(f"{where}: {_V1_403}", **context)
            managing = what == "credentials" and method != "GET"
            if v1:
                if what == "flush":
                    reason = (
                        "flush refused: the credential lacks flush_capability (or "
                        "api_capability, or the password is wrong: v1 answers 403 to all three)"
                    )
                elif managing:
                    reason = (
                        "not allowed to manage credentials (a development cache cannot), or "
                        + _V1_403
                    )
                else:
                    reason = _V1_403
                if self._cache_id_given:
                    reason += f"; or cache {cache} is not this credential's cache"
                return PermissionDenied(f"{where}: {reason}", **context)
            if "manage credentials" in lowered:
                reason = (
                    "not allowed to manage credentials (a development cache cannot manage "
                    "credentials or update capabilities)"
                )
            elif "forbidden to access cache" in lowered:
                reason = "the credential lacks api_capability"
                if self._cache_id_given:
                    reason += f" (or cache {cache} is not this credential's cache)"
                return _NoAPICapability(f"{where}: {reason}", **context)
            elif what == "flush":
                reason = "flush refused: the credential lacks flush_capability"
            else:
                reason = "refused: the credential is not allowed to do this"
            return PermissionDenied(f"{where}: {reason}", **context)
        if status == 404:
            if login:
                return AuthenticationError(
                    f"{where}: no cache found for the username {self.username!r} (unknown "
                    "username)",
                    **context,
                )
            if "cache not found" in lowered:
                return ConfigurationError(
                    f"{where}: cache {cache} not found: check the cache id (or leave it out "
                    "to find it through /login)",
                    **context,
                )
            return CacheError(f"{where}: {_missing(rest)}", **context)
        if status == 400:
            return CacheError(f"{where}: the server refused the request as invalid", **context)
        # Everything else: the HTTP layer's mapping (5xx after retries: BackendUnavailable;
        # a lost non-idempotent request: UnknownOutcome), with the server's words.
        plain = Reply(status, None, words or "", reply.headers)
        idempotent = call.idempotent if call is not None else False
        return self._http.status_error(plain, method, path, idempotent=idempotent)

    # -- v1 login (the cache id)

    def login(self) -> int:
        """v1 ``GET /api/v1/login``: the cache id of these credentials (kept as
        :attr:`cache_id` when none was given)."""
        cache_id = self._login()
        with self._cache_id_lock:
            if self._cache_id is None:
                self._cache_id = cache_id
        return cache_id

    def _login(self) -> int:
        # Choice: the request line says /api/login, the example (and the Heroku article)
        # /api/v1/login: the versioned path, which is also where every other v1 path lives.
        path = "api/v1/login"

        def cache_id(data: Any) -> int:
            value = _mapping(data).get("cache_id")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("no integer cache_id")
            return value

        return self._get(path, cache_id)

    # -- v2: info and credentials

    def info(self) -> CacheInfo:
        """``GET /api/v2/caches/<cache_id>/info``: the cache, its credentials, its cluster."""
        return self._get(self._v2_path("info"), CacheInfo.from_json)

    def credentials(self) -> list[Credential]:
        """``GET .../credentials``: every credential, with its password."""
        return self._get(self._v2_path("credentials"), _each(Credential.from_json))

    def create_credential(self) -> Credential:
        """``POST .../credentials``: a new credential (every capability), with its
        password. Not resent when the reply is lost (``UnknownOutcome``)."""
        path = self._v2_path("credentials")
        reply = self._request("POST", path, idempotent=False)
        return self._parse(Credential.from_json, reply, "POST", path)

    def update_credential(
        self,
        username: str,
        *,
        write: bool | None = None,
        flush: bool | None = None,
        api: bool | None = None,
    ) -> Capabilities:
        """``PATCH .../credentials/<username>``: set capabilities; None keeps the current
        value. The document says an omitted capability becomes false, so all three are
        always sent: when one is None the current ones are read first (``credentials()``).
        """
        wanted = self._capabilities(username, write, flush, api, self.credentials)
        path = self._v2_path("credentials", quote_segment(username))
        reply = self._request("PATCH", path, json=wanted.as_json(), idempotent=True)
        return self._parse(Capabilities.from_json, reply, "PATCH", path)

    def delete_credential(self, username: str) -> None:
        """``DELETE .../credentials/<username>``."""
        self._request("DELETE", self._v2_path("credentials", quote_segment(username)))

    def promote_credential(self, username: str) -> Credential:
        """``POST .../credentials/primary/<username>``: make it the primary credential."""
        path = self._v2_path("credentials", "primary", quote_segment(username))
        reply = self._request("POST", path, idempotent=True)
        return self._parse(Credential.from_json, reply, "POST", path)

    def _capabilities(
        self,
        credential: str | int,
        write: bool | None,
        flush: bool | None,
        api: bool | None,
        listing: Callable[[], list[Credential]],
    ) -> Capabilities:
        if write is not None and flush is not None and api is not None:
            return Capabilities(write=write, flush=flush, api=api)
        current = _find(listing(), credential)
        if current is None:
            raise CacheError(
                f"no credential {credential!r} in cache {self.cache_id}",
                backend=BACKEND,
                server=self._http.server,
                status=404,
            )
        caps = current.capabilities
        return Capabilities(
            write=caps.write if write is None else write,
            flush=caps.flush if flush is None else flush,
            api=caps.api if api is None else api,
        )

    # -- v2: management

    def rotate_sso(self) -> str:
        """``POST .../rotate_sso``: a new SSO secret (dashboard URLs stop working); returns
        the server's string. Not resent when the reply is lost."""
        path = self._v2_path("rotate_sso")
        reply = self._request("POST", path, idempotent=False)
        return self._parse(_text, reply, "POST", path)

    def enable_cache(self) -> None:
        """``POST .../enable_cache``: enable a disabled cache."""
        self._request("POST", self._v2_path("enable_cache"), idempotent=True)

    def switch_cluster(self) -> str:
        """``POST .../switch_cluster``: move to a different cluster; returns its name. Not
        resent when the reply is lost (a second switch could move again)."""
        path = self._v2_path("switch_cluster")
        reply = self._request("POST", path, idempotent=False)
        return self._parse(_text, reply, "POST", path)

    # -- v2: commands

    def flush(self) -> None:
        """``POST .../flush``: remove every item (needs ``flush_capability``)."""
        self._request("POST", self._v2_path("flush"), idempotent=True)

    def reset_stats(self) -> None:
        """``POST .../reset_stats``: reset the servers' counters."""
        self._request("POST", self._v2_path("reset_stats"), idempotent=True)

    def stats(self) -> CacheStats:
        """``GET .../stats``: the cache's counters (one object for all servers)."""
        return self._get(self._v2_path("stats"), CacheStats.from_json)

    # -- v2: insight

    def processed_stats(
        self, names: Sequence[str], start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../insight/processed_stats?names=...&startTime=...&endTime=...``: series
        of the named stats (``hit_rate``, ``items``...) for all servers together. Without
        ``start``/``end`` the server's defaults apply (24 h ago, now)."""
        return self._insight("processed_stats", names, start, end)

    def processed_stats_per_server(
        self, names: Sequence[str], start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../insight/processed_stats/per_server``: one series per server (tagged
        ``{"server": ...}``)."""
        return self._insight("processed_stats/per_server", names, start, end)

    def latency(self, start: datetime | None = None, end: datetime | None = None) -> list[Series]:
        """``GET .../insight/latency``: latency in nanoseconds, one series per server."""
        return self._get(
            self._v2_path("insight", "latency"),
            _each(Series.from_json),
            **self._window(start, end),
        )

    def _insight(
        self, what: str, names: Sequence[str], start: datetime | None, end: datetime | None
    ) -> list[Series]:
        joined = names if isinstance(names, str) else ",".join(names)
        return self._get(
            self._v2_path("insight", *what.split("/")),
            _each(Series.from_json),
            names=joined,
            **self._window(start, end),
        )

    # -- v2: alerts and delivery configs

    def alerts(self) -> list[Alert]:
        """``GET .../alerts``."""
        return self._get(self._v2_path("alerts"), _each(Alert.from_json))

    def create_alert(
        self,
        trigger_type: str,
        trigger_threshold: int,
        delivery_config_id: int | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> Alert:
        """``POST .../alerts``: ``trigger_type`` ``"hit_rate"`` or ``"memory_usage"``,
        ``trigger_threshold`` a percentage 0-100. Not resent when the reply is lost."""
        body: dict[str, Any] = {
            "trigger_type": trigger_type,
            "trigger_threshold": trigger_threshold,
            "description": description,
            "enabled": enabled,
        }
        if delivery_config_id is not None:
            body["delivery_config_id"] = delivery_config_id
        path = self._v2_path("alerts")
        reply = self._request("POST", path, json=body, idempotent=False)
        return self._parse(Alert.from_json, reply, "POST", path)

    def alert(self, alert_id: int) -> Alert:
        """``GET .../alerts/<alert_id>``."""
        return self._get(self._v2_path("alerts", _id(alert_id)), Alert.from_json)

    def update_alert(self, alert_id: int, **changes: Any) -> Alert:
        """``PUT .../alerts/<alert_id>`` with the documented body: the whole alert, ``id``
        included. ``changes`` are fields of :class:`Alert` (``enabled=False``...); the
        others keep their current values, read first (``alert(alert_id)``)."""
        unknown = sorted(set(changes) - set(_ALERT_FIELDS))
        if unknown:
            raise TypeError(f"update_alert() got unknown field(s) {unknown}; use {_ALERT_FIELDS}")
        body = {**self.alert(alert_id).as_json(), **changes, "id": alert_id}
        path = self._v2_path("alerts", _id(alert_id))
        reply = self._request("PUT", path, json=body, idempotent=True)
        return self._parse(Alert.from_json, reply, "PUT", path)

    def delete_alert(self, alert_id: int) -> None:
        """``DELETE .../alerts/<alert_id>``."""
        self._request("DELETE", self._v2_path("alerts", _id(alert_id)))

    def delivery_configs(self) -> list[DeliveryConfig]:
        """``GET .../alerts/configs``."""
        return self._get(self._v2_path("alerts", "configs"), _each(DeliveryConfig.from_json))

    def create_delivery_config(
        self,
        delivery_type: str,
        *,
        email: str | None = None,
        slack_url: str | None = None,
        slack_channel: str | None = None,
    ) -> DeliveryConfig:
        """``POST .../alerts/configs``: ``delivery_type`` ``"email"`` (with ``email``) or
        ``"slack"`` (with ``slack_url`` and ``slack_channel``). Not resent when the reply is
        lost."""
        body: dict[str, Any] = {"delivery_type": delivery_type}
        for name, value in (
            ("email", email),
            ("slack_url", slack_url),
            ("slack_channel", slack_channel),
        ):
            if value is not None:
                body[name] = value
        path = self._v2_path("alerts", "configs")
        reply = self._request("POST", path, json=body, idempotent=False)
        return self._parse(DeliveryConfig.from_json, reply, "POST", path)

    def delete_delivery_config(self, config_id: int) -> None:
        """``DELETE .../alerts/configs/<config_id>``."""
        self._request("DELETE", self._v2_path("alerts", "configs", _id(config_id)))

    # -- v2: introspection

    def recent_logs(self) -> dict[str, list[LogLine]]:
        """``GET .../introspection/recent_logs``: the last log lines, by server."""

        def parse(data: Any) -> dict[str, list[LogLine]]:
            return {
                str(server): [LogLine.from_json(line) for line in _list(lines)]
                for server, lines in _mapping(data).items()
            }

        return self._get(self._v2_path("introspection", "recent_logs"), parse)

    def compound_stats(
        self, start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../introspection/compound_stats``: keys, size, hit/miss/mutation rates."""
        return self._get(
            self._v2_path("introspection", "compound_stats"),
            _each(Series.from_json),
            **self._window(start, end),
        )

    def popular_items(self) -> PopularItems:
        """``GET .../introspection/popular_items``."""
        return self._get(self._v2_path("introspection", "popular_items"), PopularItems.from_json)

    def key_stats(self, key: str) -> list[KeyStats]:
        """``GET .../introspection/key_stats?key=<key>``: ``key`` as the server stores it
        (a backend's ``make_key(key)``, prefix included)."""
        return self._get(
            self._v2_path("introspection", "key_stats"), _each(KeyStats.from_json), key=key
        )

    def prefixes(self) -> list[Prefix]:
        """``GET .../introspection/prefixes``: the watched prefixes."""
        return self._get(self._v2_path("introspection", "prefixes"), _each(Prefix.from_json))

    def watch_prefix(self, name: str) -> Prefix:
        """``POST .../introspection/prefixes`` ``{"name": name}``: start collecting stats
        for keys starting with ``name``. Not resent when the reply is lost."""
        path = self._v2_path("introspection", "prefixes")
        reply = self._request("POST", path, json={"name": name}, idempotent=False)
        return self._parse(Prefix.from_json, reply, "POST", path)

    def unwatch_prefix(self, prefix_id: int) -> None:
        """``DELETE .../introspection/prefixes/<prefix_id>``."""
        self._request("DELETE", self._v2_path("introspection", "prefixes", _id(prefix_id)))

    def prefix_stats(
        self, prefix_id: int, start: datetime | None = None, end: datetime | None = None
    ) -> list[Series]:
        """``GET .../introspection/prefixes/<prefix_id>/stats``."""
        return self._get(
            self._v2_path("introspection", "prefixes", _id(prefix_id), "stats"),
            _each(Series.from_json),
            **self._window(start, end),
        )

    def prefix_popular_items(self, prefix_id: int) -> PopularItems:
        """``GET .../introspection/prefixes/<prefix_id>/popular_items``."""
        return self._get(
            self._v2_path("introspection", "prefixes", _id(prefix_id), "popular_items"),
            PopularItems.from_json,
        )

    # -- the deploy hook

    def deploy_hook_url(self) -> str:
        """The Heroku HTTP deploy-hook URL of the Heroku article: v1 flush with the
        credentials in it, ``https://USER:PASS@<host>/api/v1/<cache_id>/flush``.

        **It contains the password.** Whoever can read it (the deploy-hooks add-on's
        config, ``heroku addons:info``, anyone with access to the app) can use this
        credential: give it a credential with only the ``api`` and ``flush``
        capabilities. cacheops never logs it. ``cacheops flush`` in a ``release:`` phase
        needs no URL at all: prefer it (see ``docs/memcachier-api.md``).
        """
        parts = urlsplit(self.base_url)
        userinfo = f"{quote(self.username, safe='')}:{quote(self._password, safe='')}"
        host = parts.netloc.rpartition("@")[2]
        # Choice: the article writes ".../api/v1//<cache_id>/flush", the "//" an artefact
        # of its line continuation; the URL here is the documented flush path.
        return f"{parts.scheme}://{userinfo}@{host}{parts.path}/{self._v1_path('flush')}"


class MemCachierV1:
    """The v1 endpoints of a :class:`MemCachierAPI` (its ``v1`` attribute). ``login`` is
    :meth:`MemCachierAPI.login`."""

    def __init__(self, api: MemCachierAPI) -> None:
        self._api = api

    def __repr__(self) -> str:
        return f"<MemCachierV1 of {self._api!r}>"

    def stats(self) -> dict[str, CacheStats]:
        """``GET /api/v1/<cache_id>/stats``: the counters of each server, by ``host:port``."""

        def parse(data: Any) -> dict[str, CacheStats]:
            return {str(k): CacheStats.from_json(v) for k, v in _mapping(data).items()}

        return self._api._get(self._api._v1_path("stats"), parse)

    def history(self) -> list[HistoryEntry]:
        """``GET /api/v1/<cache_id>/history``: past stats of each server."""
        return self._api._get(self._api._v1_path("history"), _each(HistoryEntry.from_json))

    def flush(self) -> None:
        """``POST /api/v1/<cache_id>/flush`` (needs ``flush_capability``)."""
        self._api._request("POST", self._api._v1_path("flush"), idempotent=True)

    def credentials(self) -> list[Credential]:
        """``GET /api/v1/<cache_id>/credentials``: every credential, without passwords
        (v1 lists none)."""
        return self._api._get(self._api._v1_path("credentials"), _each(Credential.from_json))

    def create_credential(self) -> Credential:
        """``POST /api/v1/<cache_id>/credentials``: a new credential with its password (v1
        answers ``"id": null``). Not resent when the reply is lost."""
        path = self._api._v1_path("credentials")
        reply = self._api._request("POST", path, idempotent=False)
        return self._api._parse(Credential.from_json, reply, "POST", path)

    def update_credential(
        self,
        credential: str | int,
        *,
        write: bool | None = None,
        flush: bool | None = None,
        api: bool | None = None,
    ) -> Capabilities:
        """Update a credential (a username, or an int id) with ``PATCH
        /api/v1/<cache_id>/credentials/<credential>``; None keeps the current value.

        Choice: the request line says POST, the example PATCH (as v2): PATCH. All three
        capabilities are always sent (v1 defaults an omitted one to true), read first with
        :meth:`credentials` when one is None, as the table's query parameters and as the
        example's JSON body, with the example's ``"true"``/``"false"`` strings.
        """
        wanted = self._api._capabilities(credential, write, flush, api, self.credentials)
        values = {name: "true" if on else "false" for name, on in wanted.as_json().items()}
        path = self._api._v1_path("credentials", _ref(credential))
        reply = self._api._request("PATCH", path, json=values, params=values, idempotent=True)
        return self._api._parse(Capabilities.from_json, reply, "PATCH", path)

    def promote_credential(self, credential: str | int) -> Credential:
        """``POST /api/v1/<cache_id>/credentials/primary/<credential>``: make it primary
        (the answer has no password, and ``"id": null``)."""
        path = self._api._v1_path("credentials", "primary", _ref(credential))
        reply = self._api._request("POST", path, idempotent=True)
        return self._api._parse(Credential.from_json, reply, "POST", path)

    def delete_credential(self, credential: str | int) -> None:
        """``DELETE /api/v1/<cache_id>/credentials/primary/<credential>``.

        Choice: the document gives the promote path for Delete Credentials, in its request
        line and its example alike; that path is used. A server answering 405 there (the
        path exists for POST only) is asked again at ``DELETE .../credentials/<credential>``,
        v2's shape.
        """
        path = self._api._v1_path("credentials", "primary", _ref(credential))
        reply = self._api._request("DELETE", path, allow=(405,))
        if reply.status == 405:
            self._api._request("DELETE", self._api._v1_path("credentials", _ref(credential)))


# -- helpers of the client ----------------------------------------------------------------


def _api_root(base_url: str) -> str:
    root = base_url.rstrip("/")
    for suffix in ("/api/v1", "/api/v2", "/api"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


def _each(parse: Callable[[Any], _R]) -> Callable[[Any], list[_R]]:
    def parse_list(data: Any) -> list[_R]:
        return [parse(item) for item in _list(data)]

    return parse_list


def _text(data: Any) -> str:
    if isinstance(data, str):
        return data
    raise TypeError(f"expected a JSON string, got {type(data).__name__}")


def _id(value: int) -> str:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"an id is an int, not {type(value).__name__}")
    return str(value)


def _ref(credential: str | int) -> str:
    """A v1 credential reference: a username, or an int id."""
    if isinstance(credential, int) and not isinstance(credential, bool):
        return str(credential)
    if isinstance(credential, str) and credential:
        return quote_segment(credential)
    raise TypeError("a credential is a username (str) or an id (int)")


def _find(credentials: list[Credential], ref: str | int) -> Credential | None:
    for credential in credentials:
        if isinstance(ref, str) and credential.username == ref:
            return credential
        if isinstance(ref, int) and not isinstance(ref, bool) and credential.id == ref:
            return credential
    return None


def _missing(rest: list[str]) -> str:
    """What a 404 on an existing cache means, from the path."""
    if rest[:1] == ["credentials"] and rest[-1:] != ["credentials"]:
        return f"no credential {rest[-1]!r} in this cache"
    if rest[:2] == ["alerts", "configs"] and len(rest) > 2:
        return f"no alert delivery config {rest[2]}"
    if rest[:1] == ["alerts"] and len(rest) > 1:
        return f"no alert {rest[1]}"
    if rest[:2] == ["introspection", "prefixes"] and len(rest) > 2:
        return f"no watched prefix {rest[2]}"
    return "not found (is the base URL MemCachier's analytics API root?)"


# -- the common admin interface -----------------------------------------------------------


class MemCachierAdmin(Admin):
    """``connect("memcachier://...").admin``: flush, stats and info through the analytics
    API with the backend's own credentials (``backend.analytics_api()``, made on first
    use). The credential needs the ``api`` capability (and ``flush`` to flush)."""

    def __init__(self, backend: MemcacheBackend) -> None:
        self._backend = backend
        self._api: MemCachierAPI | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<MemCachierAdmin {self._backend.location}>"

    @property
    def api(self) -> MemCachierAPI:
        """The analytics API client, with every endpoint of both documents."""
        api = self._api
        if api is None:
            with self._lock:
                if self._api is None:
                    self._api = self._backend.analytics_api()
                api = self._api
        return api

    def close(self) -> None:
        with self._lock:
            api, self._api = self._api, None
        if api is not None:
            api.close()

    def flush(self) -> None:
        """v2 flush: every item, whatever its prefix.

        A credential the API refuses outright (no ``api`` capability: MemCachier's own
        article warns the checkbox is easy to miss) flushes with the memcache protocol's
        ``flush_all`` instead, where MemCachier checks the ``flush`` capability itself; a
        warning says so. A refusal of the flush alone (no ``flush`` capability) stands.
        """
        try:
            self.api.flush()
        except _NoAPICapability:
            from .memcache import MemcacheAdmin

            MemcacheAdmin(self._backend).flush()
            log.warning(
                "MemCachier's analytics API refused the credential (no api capability): "
                "flushed with the memcache protocol's flush_all instead"
            )

    def reset_stats(self) -> None:
        """v2 reset_stats."""
        self.api.reset_stats()

    def stats(self) -> Stats:
        """From v1 per-server stats: aggregate hits (``get_hits``), misses
        (``get_misses``), items (``curr_items``), bytes, limit (``limit_maxbytes``) and
        evictions; each server's counters as sent, in ``servers``."""
        per_server = self.api.v1.stats()

        def total(name: str) -> int:
            return sum(getattr(stats, name) for stats in per_server.values())

        return Stats(
            backend=self._backend.scheme,
            hits=total("get_hits"),
            misses=total("get_misses"),
            items=total("curr_items"),
            bytes=total("bytes"),
            limit=total("limit_maxbytes"),
            evictions=total("evictions"),
            servers=tuple(
                ServerStats(server, dict(stats.raw) or stats.as_dict())
                for server, stats in per_server.items()
            ),
        )

    def info(self) -> dict[str, Any]:
        """From v2 info: the cache, its cluster and servers, and its credentials as
        usernames and capabilities only (never a password)."""
        info = self.api.info()
        return {
            "backend": self._backend.scheme,
            "location": self._backend.location,
            "api_url": self.api.base_url,
            "cache_id": info.id,
            "name": info.name,
            "label": info.label,
            "cache_type": info.cache_type,
            "plan": info.plan,
            "provider": info.provider,
            "enabled": info.enabled,
            "cluster_name": info.cluster_name,
            "servers": list(info.servers),
            "credentials": [c.public() for c in info.credentials],
            "can_switch": info.can_switch,
            "can_manage_credentials": info.can_manage_credentials,
            "can_update_capabilities": info.can_update_capabilities,
            "max_value_size": self._backend.max_value_size,
        }
