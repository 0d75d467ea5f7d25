"""What the ops commands print: one formatter and one JSON shape per result, and one exit
code per error class, shared by ``cacheops``, ``manage.py cacheops`` and ``flask cacheops``.

Pure functions over plain data, no command-line framework: each front end only decides
where the text goes. A command about caches prints one record per cache: as text, blocks
separated by a blank line; as JSON, one object per line (JSON Lines, which ``jq`` reads
as it is). ``cache`` is the configured name (a Django alias, a Flask cache name), null for
the ``cacheops`` command, which works on one URL.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from . import errors
from .admin.base import Stats

#: Exit code by error class; the most specific class wins.
EXIT_CODES: dict[type[errors.CacheError], int] = {
    errors.ConfigurationError: 3,
    errors.BackendUnavailable: 4,
    errors.UnknownOutcome: 5,
    errors.AuthenticationError: 6,
    errors.PermissionDenied: 7,
    errors.InvalidKey: 8,
    errors.InvalidTTL: 9,
    errors.ValueTooLarge: 10,
    errors.SerializationError: 11,
    errors.NotNumeric: 12,
    errors.KeyNotFound: 13,
    errors.NotSupported: 14,
}
EXIT_GENERIC = 1
EXIT_USAGE = 2

EXIT_CODES_TEXT = "Exit codes: 0 ok, 1 other cache error, 2 usage, " + ", ".join(
    f"{code} {cls.__name__}" for cls, code in EXIT_CODES.items()
)


def exit_code(exc: errors.CacheError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_GENERIC


def error_line(exc: errors.CacheError) -> str:
    """``<ErrorClass>: <message>`` on one line (messages never hold a secret)."""
    return " ".join(f"{type(exc).__name__}: {exc}".split())


def to_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, default=str)


def json_lines(records: Iterable[Mapping[str, Any]]) -> str:
    return "\n".join(to_json(record) for record in records)


def blocks(texts: Iterable[str]) -> str:
    return "\n\n".join(texts)


# -- results --------------------------------------------------------------------------------


def flush_record(cache: str | None, location: str) -> dict[str, Any]:
    return {"cache": cache, "location": location, "flushed": True}


def flush_text(record: Mapping[str, Any]) -> str:
    if record["cache"] is None:
        return f"flushed {record['location']}"
    return f"flushed {record['cache']} ({record['location']})"


def stats_record(cache: str | None, location: str, stats: Stats) -> dict[str, Any]:
    """``Stats.as_dict()`` (with each server's raw counters) and where the cache is."""
    return {"cache": cache, "location": location, **stats.as_dict()}


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1024:
        return f"{value} B"
    size, unit = value / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


def _rows(rows: list[tuple[str, str]]) -> str:
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}".rstrip() for name, value in rows)


def stats_text(record: Mapping[str, Any]) -> str:
    """One cache's stats as aligned ``name  value`` rows, named as the JSON fields are."""
    rate = record["hit_rate"]
    rows = [("cache", record["cache"])] if record["cache"] is not None else []
    rows += [
        ("location", record["location"]),
        ("backend", record["backend"]),
        ("hit_rate", "-" if rate is None else f"{rate:.1%}"),
        ("hits", _count(record["hits"])),
        ("misses", _count(record["misses"])),
        ("items", _count(record["items"])),
        ("bytes", _size(record["bytes"])),
        ("limit", _size(record["limit"])),
        ("evictions", _count(record["evictions"])),
        ("servers", ", ".join(record["servers"]) or "-"),
    ]
    return _rows(rows)


def info_text(data: Mapping[str, Any]) -> str:
    return "\n".join(f"{k}: {v}" for k, v in data.items())


def credentials_text(rows: list[dict[str, Any]]) -> str:
    """``Credential.public()`` rows (never a password) as a table."""
    header = ("username", "primary", "write", "flush", "api")
    width = max([len("username")] + [len(r["username"]) for r in rows])
    lines = [f"{header[0].ljust(width)}  primary  write  flush  api"]
    for row in rows:
        flags = "  ".join(("yes" if row[k] else "no").ljust(len(k)) for k in header[1:])
        lines.append(f"{row['username'].ljust(width)}  {flags}".rstrip())
    return "\n".join(lines)


def value_text(value: Any) -> str:
    """A cached value for people: str as is, bytes decoded, other types as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return json.dumps(value)


# -- warnings -------------------------------------------------------------------------------


class _Lines(logging.Handler):
    def __init__(self, write: Callable[[str], None]) -> None:
        super().__init__(logging.WARNING)
        self._write = write

    def emit(self, record: logging.LogRecord) -> None:
        self._write(" ".join(record.getMessage().split()))


@contextmanager
def warnings_to(write: Callable[[str], None]) -> Iterator[None]:
    """Send cacheops's warnings (such as a flush that fell back to the memcache protocol)
    to ``write``, one line each, for the duration: an ops command says what it did."""
    logger = logging.getLogger("cacheops")
    handler = _Lines(write)
    logger.addHandler(handler)
    try:
        yield
    finally:
        logger.removeHandler(handler)


__all__ = [
    "EXIT_CODES",
    "EXIT_CODES_TEXT",
    "EXIT_GENERIC",
    "EXIT_USAGE",
    "blocks",
    "credentials_text",
    "error_line",
    "exit_code",
    "flush_record",
    "flush_text",
    "info_text",
    "json_lines",
    "stats_record",
    "stats_text",
    "to_json",
    "value_text",
    "warnings_to",
]
