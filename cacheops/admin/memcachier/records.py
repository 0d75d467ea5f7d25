"""The typed records of MemCachier's analytics API, and the one decoder that builds them.

Every record is a frozen dataclass whose fields say how they are read from JSON: the
field's type picks the converter (``int``, ``int | float``, ``bool``, ``str``,
``datetime``, a nested record, a list or mapping of them) and :func:`wire` overrides the
JSON key, the converter, or reads the whole object (a credential's capabilities sit beside
its other fields). :func:`decode` walks those fields; ``Record.from_json(data)`` is it.
A field left out, or of the wrong type, takes its default (else 0, ``""``, false, empty),
as the documents' examples leave fields out freely; a field marked ``required`` is an
error instead. v1 and v2 send the same shapes for the records both have (credentials,
stats), so no per-version aliases are needed; ``wire(key=...)`` is where one would go.
"""

from __future__ import annotations

import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, TypeVar

__all__ = [
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
    "PopularItems",
    "Popularity",
    "Prefix",
    "Record",
    "Series",
    "decode",
    "format_time",
    "parse_time",
    "wire",
]

_R = TypeVar("_R", bound="Record")
Convert = Callable[[Any], Any]

#: ``wire(whole=True)``: the field is read from the whole JSON object.
_WHOLE = "cacheops.whole"


# -- value converters: a JSON value (or None when missing) to the field's type -------------


def as_mapping(data: Any) -> Mapping[str, Any]:
    if not isinstance(data, Mapping):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    return data


def as_list(data: Any) -> list[Any]:
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


def _time(value: Any) -> datetime:
    if isinstance(value, str) and value.strip():
        return parse_time(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, tz=timezone.utc)
    raise ValueError(f"not a time: {value!r}")


def _millis(value: Any) -> datetime:
    """v1 history's ``"timestamp": "1490731541096"``: milliseconds since the epoch."""
    return datetime.fromtimestamp(_int(value) / 1000, tz=timezone.utc)


def _text_id(value: Any) -> str:
    return "" if value is None else str(value)


# -- the decoder --------------------------------------------------------------------------


def wire(
    key: str | None = None,
    *,
    convert: Convert | None = None,
    whole: bool = False,
    required: bool = False,
) -> dict[str, Any]:
    """A field's ``metadata``: read from JSON key ``key`` (default: the field's name), by
    ``convert`` (default: chosen by the field's type), or from the whole object; a
    ``required`` field missing (or not of its type) makes the record an error."""
    return {"key": key, "convert": convert, _WHOLE: whole, "required": required}


class Record:
    """A record decoded from JSON by :func:`decode`."""

    @classmethod
    def from_json(cls: type[_R], data: Any) -> _R:
        return decode(cls, data)


def decode(cls: type[_R], data: Any) -> _R:
    """``cls`` from the JSON object ``data``; TypeError/ValueError when it cannot be."""
    doc = as_mapping(data)
    values: dict[str, Any] = {}
    for name, (key, whole, required, read) in _plan(cls).items():
        value = doc if whole else doc.get(key)
        if required is not None and not isinstance(value, required):
            raise ValueError(f"a {cls.__name__.lower()} without {key}")
        values[name] = read(value)
    return cls(**values)


#: Per record type and field: JSON key, whole-object flag, the type a required field must
#: have as sent (None: not required), converter. Built once per type, from its fields.
_Plan = dict[str, tuple[str, bool, "type | None", Convert]]
_plans: dict[type, _Plan] = {}


def _plan(cls: type) -> _Plan:
    plan = _plans.get(cls)
    if plan is None:
        hints = typing.get_type_hints(cls)
        plan = {}
        for spec in fields(cls):
            meta, hint = spec.metadata, hints[spec.name]
            plan[spec.name] = (
                meta.get("key") or spec.name,
                bool(meta.get(_WHOLE)),
                hint if meta.get("required") else None,
                meta.get("convert") or _converter(hint, spec.default),
            )
        _plans[cls] = plan
    return plan


def _converter(hint: Any, default: Any) -> Convert:
    """The converter of a field of type ``hint`` whose dataclass default is ``default``."""
    given = default is not MISSING
    if hint is bool:
        return lambda v: _bool(v, default if given else False)
    if hint is int:
        return lambda v: _int(v, default if given else 0)
    if hint is str:
        return lambda v: _str(v, default if given else "")
    if hint is datetime:
        return _time
    if hint == int | float:
        return lambda v: _number(v, default if given else 0)
    if hint == int | None:
        return lambda v: None if v is None else _int(v)
    if hint == str | None:
        return lambda v: v if isinstance(v, str) else None
    if isinstance(hint, type) and issubclass(hint, Record):
        return lambda v: decode(hint, v or {})
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is list:
        item = _item(args[0])
        return lambda v: [item(x) for x in as_list(v or [])]
    if origin in (dict, Mapping):
        key_of, value_of = _item(args[0]), _item(args[1])
        return lambda v: {key_of(k): value_of(x) for k, x in as_mapping(v or {}).items()}
    raise TypeError(f"no JSON converter for {hint!r}")


def _item(hint: Any) -> Convert:
    """The converter of an element of a list or mapping: records are decoded, ``str`` is
    ``str()``, lists are checked, anything else is kept as sent."""
    if isinstance(hint, type) and issubclass(hint, Record):
        return lambda v: decode(hint, v)
    if hint is str:
        return str
    if typing.get_origin(hint) is list:
        return lambda v: list(as_list(v))
    return lambda v: v


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Capabilities(Record):
    """What a credential may do: ``write`` to the cache, ``flush`` it, use the ``api``.
    A capability left out is false (as the v2 document says the server reads it)."""

    write: bool = field(metadata=wire("write_capability"))
    flush: bool = field(metadata=wire("flush_capability"))
    api: bool = field(metadata=wire("api_capability"))

    def as_json(self) -> dict[str, bool]:
        return {
            "write_capability": self.write,
            "flush_capability": self.flush,
            "api_capability": self.api,
        }


@dataclass(frozen=True)
class Credential(Record):
    """One set of credentials of the cache.

    ``username`` is the document's ``sasl_username``; ``password`` its ``sasl_password``,
    which only v1 create and v2 answers carry (None otherwise) and which ``repr`` never
    shows. ``id`` and ``cache_id`` are None when the server sends null (v1 create and
    promote do). Extra fields (v1's ``uuid``) are ignored.
    """

    id: int | None
    cache_id: int | None
    username: str = field(metadata=wire("sasl_username", required=True))
    password: str | None = field(repr=False, metadata=wire("sasl_password"))
    capabilities: Capabilities = field(metadata=wire(whole=True))
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


@dataclass(frozen=True)
class CacheStats(Record):
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
    raw: Mapping[str, Any] = field(
        default_factory=dict,
        repr=False,
        compare=False,
        metadata=wire(whole=True, convert=dict),
    )

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.time, tz=timezone.utc)

    def as_dict(self) -> dict[str, int]:
        """The 31 documented counters."""
        return {name: getattr(self, name) for name in STATS_COUNTERS}


#: The 31 counters both documents show in a stats object, in their order.
STATS_COUNTERS = tuple(spec.name for spec in fields(CacheStats) if spec.name != "raw")


@dataclass(frozen=True)
class HistoryEntry(Record):
    """One entry of v1 ``history``: a server's stats at ``timestamp`` (the document's
    string of milliseconds, as an aware UTC datetime)."""

    memcachier_id: str = field(metadata=wire(convert=_text_id))
    server: str
    stats: CacheStats
    timestamp: datetime = field(metadata=wire(convert=_millis))


@dataclass(frozen=True)
class CacheInfo(Record):
    """v2 ``info``: the cache, its credentials (with their passwords: see
    :class:`Credential`) and its cluster. ``plan`` is the size in bytes. Missing fields:
    0, ``""``, ``[]`` or false."""

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


@dataclass(frozen=True)
class Series(Record):
    """A time series of the insight and introspection endpoints: ``columns`` name the
    values of each row of ``values`` (the first is ``time``, an RFC 3339 string);
    ``tags`` is ``{"server": "host:port"}`` for per-server series, else empty."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]

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
class Alert(Record):
    """An alert: ``trigger_type`` ``"hit_rate"`` or ``"memory_usage"``, ``trigger_threshold``
    a percentage 0-100, sent to the delivery config ``delivery_config_id`` (None: none).
    Missing fields: threshold 0, no delivery config, empty description, enabled."""

    id: int
    trigger_type: str
    trigger_threshold: int | float
    delivery_config_id: int | None
    description: str = ""
    enabled: bool = True

    def as_json(self) -> dict[str, Any]:
        """The documented request body of an update (``id`` included)."""
        return {spec.name: getattr(self, spec.name) for spec in fields(self)}


@dataclass(frozen=True)
class DeliveryConfig(Record):
    """Where alerts go: ``delivery_type`` ``"email"`` (to ``email``) or ``"slack"`` (to
    ``slack_url``, ``slack_channel``). A Slack webhook URL is a secret of its own: ``repr``
    does not show it. Missing fields are ``""``."""

    id: int
    delivery_type: str
    email: str = ""
    slack_url: str = field(default="", repr=False)
    slack_channel: str = ""


@dataclass(frozen=True)
class LogLine(Record):
    """One line of ``recent_logs``."""

    timestamp: datetime
    key: str
    command: str
    status: str
    size: int = 0


@dataclass(frozen=True)
class Popularity(Record):
    """A key or prefix and its popularity (a count)."""

    name: str
    popularity: int | float


@dataclass(frozen=True)
class PopularItems(Record):
    """``popular_items``: the most hit, missed and mutated keys and the most popular
    prefixes over ``time_slice`` nanoseconds. Missing lists are empty."""

    time_slice: int
    most_hit_keys: list[Popularity]
    most_missed_keys: list[Popularity]
    most_mutated_keys: list[Popularity]
    popular_prefixes: list[Popularity]


@dataclass(frozen=True)
class KeyStats(Record):
    """``key_stats`` of one key. Missing counts are 0."""

    timestamp: datetime
    name: str
    size: int
    hit_count: int
    miss_count: int
    mutation_count: int
    in_cache: bool


@dataclass(frozen=True)
class Prefix(Record):
    """A watched key prefix."""

    id: int
    name: str
