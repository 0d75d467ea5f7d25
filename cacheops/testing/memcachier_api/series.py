"""The numbers the local MemCachier API derives from memcached's own stats.

Nothing is invented: every number comes from memcached samples (see the package docs).

*Documented stats shape.* v1 ``stats``/``history`` and v2 ``stats`` carry exactly the 31
documented keys, read from memcached's ``stats``, except two memcached does not have:
``cmd_delete`` = ``delete_hits + delete_misses`` and ``expired`` = ``get_expired``.

*Series.* A row needs two consecutive samples: each interval (previous sample, sample)
belongs to the time bucket of its later sample when that lies in ``[startTime, endTime]``
(RFC 3339; defaults: 24 h ago, now). Buckets are aligned on the epoch, with the documented
granularity (span <= 24 h: 1 min (latency: 20 s); <= 1 week: 10 min; <= 90 days: 1 h;
above: 1 day); only buckets holding data are listed (no ``null`` fill); an empty window
still returns the series with ``"values": []``. In a bucket, a *rate* is the sum of the
counter's increases divided by the seconds covered (per second); a *gauge* is the value of
the bucket's last sample; a *ratio* is increase of the numerator / increase of the
denominator, between 0 and 1 (0 when nothing happened). A counter that went down (``stats
reset``, restart) counts its new value as the increase. Samples with the same clock time
keep the last. Definitions (``requests`` = ``cmd_get + cmd_set + deletes + incrs + decrs +
cmd_touch + cmd_flush``; ``deletes`` = ``delete_hits + delete_misses``, likewise
``incrs``, ``decrs``; ``cas`` = ``cas_hits + cas_misses + cas_badval``; memcached counts
cas also in ``cmd_set``, so ``cas_fraction`` overlaps ``set_fraction``)::

    X_rate            rate of: auth_cmds, auth_errors, bytes_read, bytes_written (for
                      bytes_write_rate), cas_badval, cas, total_connections (connection_rate),
                      decrs, deletes, evictions (eviction_rate), cmd_flush (flush_rate),
                      get_expired, cmd_get, incrs, requests, cmd_set, cmd_touch
    X_fraction        ratio of cas, decrs, deletes, cmd_flush, cmd_get, incrs, cmd_set,
                      cmd_touch to requests
    X_hit_rate        ratio of hits to (hits + misses) of that command (cas: to ``cas``);
                      hit_rate = get_hit_rate = get_hits / (get_hits + get_misses)
    bytes, connections, items, max_bytes
                      gauges: bytes, curr_connections, curr_items, limit_maxbytes

Per server: one series per memcached, tagged ``{"server": "host:port"}``; aggregate: the
servers' stats summed first. Latency: per server, the mean of the samples' latency in the
bucket (samples alone, no interval needed). Compound stats: ``num_keys`` = gauge
``curr_items``, ``total_size`` = gauge ``bytes``, ``total_hits_rate`` = rate of
``get_hits``, ``total_misses_rate`` = rate of ``get_misses``, ``total_mutations_rate`` =
rate of ``cmd_set + delete_hits + incr_hits + decr_hits``; same granularity as insight.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from .documented import DOCUMENTED_STATS, V2_NAMES_REQUIRED
from .records import PrefixSample
from .wire import Invalid, query_time

POPULAR_LIMIT = 10
PREFIX_DELIMITERS = ":/|."
DAY = 86_400.0

# Composite counters, computed from one memcached stats dict.
Stats = Mapping[str, Any]

_TERMS: dict[str, Callable[[Stats], int]] = {
    "cas": lambda s: s.get("cas_hits", 0) + s.get("cas_misses", 0) + s.get("cas_badval", 0),
    "deletes": lambda s: s.get("delete_hits", 0) + s.get("delete_misses", 0),
    "incrs": lambda s: s.get("incr_hits", 0) + s.get("incr_misses", 0),
    "decrs": lambda s: s.get("decr_hits", 0) + s.get("decr_misses", 0),
    "gets": lambda s: s.get("get_hits", 0) + s.get("get_misses", 0),
    "touches": lambda s: s.get("touch_hits", 0) + s.get("touch_misses", 0),
    "requests": lambda s: (
        s.get("cmd_get", 0)
        + s.get("cmd_set", 0)
        + s.get("delete_hits", 0)
        + s.get("delete_misses", 0)
        + s.get("incr_hits", 0)
        + s.get("incr_misses", 0)
        + s.get("decr_hits", 0)
        + s.get("decr_misses", 0)
        + s.get("cmd_touch", 0)
        + s.get("cmd_flush", 0)
    ),
    "mutations": lambda s: (
        s.get("cmd_set", 0)
        + s.get("delete_hits", 0)
        + s.get("incr_hits", 0)
        + s.get("decr_hits", 0)
    ),
}

#: Every ``names`` value the v2 document lists, in its order, with its definition:
#: ("rate", counter), ("gauge", stat), ("ratio", numerator, denominator).
_PROCESSED: dict[str, tuple[str, ...]] = {
    "auth_cmds_rate": ("rate", "auth_cmds"),
    "auth_errors_rate": ("rate", "auth_errors"),
    "bytes": ("gauge", "bytes"),
    "bytes_read_rate": ("rate", "bytes_read"),
    "bytes_write_rate": ("rate", "bytes_written"),
    "cas_badval_rate": ("rate", "cas_badval"),
    "cas_fraction": ("ratio", "cas", "requests"),
    "cas_hit_rate": ("ratio", "cas_hits", "cas"),
    "cas_rate": ("rate", "cas"),
    "connection_rate": ("rate", "total_connections"),
    "connections": ("gauge", "curr_connections"),
    "decr_fraction": ("ratio", "decrs", "requests"),
    "decr_hit_rate": ("ratio", "decr_hits", "decrs"),
    "decr_rate": ("rate", "decrs"),
    "delete_fraction": ("ratio", "deletes", "requests"),
    "delete_hit_rate": ("ratio", "delete_hits", "deletes"),
    "delete_rate": ("rate", "deletes"),
    "eviction_rate": ("rate", "evictions"),
    "flush_fraction": ("ratio", "cmd_flush", "requests"),
    "flush_rate": ("rate", "cmd_flush"),
    "get_expired_rate": ("rate", "get_expired"),
    "get_fraction": ("ratio", "cmd_get", "requests"),
    "get_hit_rate": ("ratio", "get_hits", "gets"),
    "get_rate": ("rate", "cmd_get"),
    "hit_rate": ("ratio", "get_hits", "gets"),
    "incr_fraction": ("ratio", "incrs", "requests"),
    "incr_hit_rate": ("ratio", "incr_hits", "incrs"),
    "incr_rate": ("rate", "incrs"),
    "items": ("gauge", "curr_items"),
    "max_bytes": ("gauge", "limit_maxbytes"),
    "request_rate": ("rate", "requests"),
    "set_fraction": ("ratio", "cmd_set", "requests"),
    "set_rate": ("rate", "cmd_set"),
    "touch_fraction": ("ratio", "cmd_touch", "requests"),
    "touch_hit_rate": ("ratio", "touch_hits", "touches"),
    "touch_rate": ("rate", "cmd_touch"),
}
PROCESSED_STAT_NAMES = tuple(_PROCESSED)

_COMPOUND: dict[str, tuple[str, ...]] = {
    "num_keys": ("gauge", "curr_items"),
    "total_size": ("gauge", "bytes"),
    "total_hits_rate": ("rate", "get_hits"),
    "total_misses_rate": ("rate", "get_misses"),
    "total_mutations_rate": ("rate", "mutations"),
}

_PREFIX_DEFINITIONS: dict[str, tuple[str, ...]] = {
    "num_keys": ("gauge", "num_keys"),
    "total_size": ("gauge", "total_size"),
    "total_hits_rate": ("rate", "prefix_hits"),
    "total_misses_rate": ("rate", "prefix_misses"),
    "total_mutations_rate": ("rate", "prefix_mutations"),
}


def documented(raw: Mapping[str, int]) -> dict[str, int]:
    derived = {
        "cmd_delete": raw.get("delete_hits", 0) + raw.get("delete_misses", 0),
        "expired": raw.get("get_expired", 0),
    }
    return {
        name: derived[name] if name in derived else raw.get(name, 0) for name in DOCUMENTED_STATS
    }


def sum_stats(servers: Iterable[Mapping[str, int]]) -> dict[str, int]:
    total: dict[str, int] = {}
    for stats in servers:
        for name, value in stats.items():
            if name == "time":
                total[name] = max(total.get(name, 0), value)
            else:
                total[name] = total.get(name, 0) + value
    return total


def _prefix_stats(sample: PrefixSample) -> dict[str, int | None]:
    return {
        "num_keys": sample.num_keys,
        "total_size": sample.total_size,
        "prefix_hits": sample.hits,
        "prefix_misses": sample.misses,
        "prefix_mutations": sample.mutations,
    }


def _term(stats: Stats, name: str) -> int | None:
    compute = _TERMS.get(name)
    if compute is not None:
        return compute(stats)
    value = stats.get(name, 0)
    return value if isinstance(value, int) else None


def _increase(prev: Stats, cur: Stats, name: str) -> int:
    before, after = _term(prev, name) or 0, _term(cur, name) or 0
    return after - before if after >= before else after  # a reset: counted from zero


def series(
    points: Sequence[tuple[float, Stats]],
    start: float,
    end: float,
    step: float,
    names: Sequence[str],
    definitions: Mapping[str, tuple[str, ...]],
) -> list[list[Any]]:
    """Rows ``[time, value...]`` per bucket holding at least one interval (module docstring)."""
    by_time: dict[float, Stats] = {}
    for moment, stats in sorted(points, key=lambda p: p[0]):
        by_time[moment] = stats  # the same time twice: the later sample wins
    ordered = sorted(by_time.items())
    buckets: dict[float, list[tuple[float, Stats, Stats]]] = {}
    for (t0, prev), (t1, cur) in itertools.pairwise(ordered):
        if start <= t1 <= end:
            bucket = math.floor(t1 / step) * step
            buckets.setdefault(bucket, []).append((t1 - t0, prev, cur))
    rows: list[list[Any]] = []
    for bucket, intervals in sorted(buckets.items()):
        seconds = sum(dt for dt, _, _ in intervals)
        last = intervals[-1][2]
        row: list[Any] = [rfc3339(bucket)]
        for name in names:
            kind, *terms = definitions[name]
            if kind == "gauge":
                row.append(_term(last, terms[0]))
            elif kind == "rate":
                total = sum(_increase(p, c, terms[0]) for _, p, c in intervals)
                row.append(round(total / seconds, 6) if seconds > 0 else 0.0)
            else:
                top = sum(_increase(p, c, terms[0]) for _, p, c in intervals)
                bottom = sum(_increase(p, c, terms[1]) for _, p, c in intervals)
                row.append(round(top / bottom, 6) if bottom > 0 else 0.0)
        rows.append(row)
    return rows


def granularity(span: float, *, fine: float = 60.0) -> float:
    if span <= DAY:
        return fine
    if span <= 7 * DAY:
        return 600.0
    if span <= 90 * DAY:  # "up to 3 month"
        return 3600.0
    return DAY


def rfc3339(moment: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))


def key_prefix(key: str, under: str) -> str | None:
    """``under`` plus the rest of ``key`` up to and including its first delimiter."""
    rest = key[len(under) :]
    for index, char in enumerate(rest):
        if char in PREFIX_DELIMITERS:
            return under + rest[: index + 1]
    return None


def top(counts: Counter[str]) -> list[dict[str, Any]]:
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:POPULAR_LIMIT]
    return [{"name": name, "popularity": count} for name, count in ranked if count > 0]


def window(query: dict[str, list[str]], now: float) -> tuple[float, float]:
    """``startTime`` and ``endTime`` of a request, as epoch seconds."""
    end = query_time(query, "endTime", now)
    start = query_time(query, "startTime", end - DAY)
    if start > end:
        raise Invalid(400, "Invalid time range: startTime is after endTime.")
    return start, end


def processed_names(query: dict[str, list[str]]) -> list[str]:
    """The ``names`` a processed stats request asks for (comma-separated, repeatable)."""
    names = [n.strip() for v in query.get("names", []) for n in v.split(",") if n.strip()]
    if not names:
        raise Invalid(400, V2_NAMES_REQUIRED)
    unknown = [n for n in names if n not in _PROCESSED]
    if unknown:
        raise Invalid(400, f"InfluxDB query returned error: unknown stat name(s) {unknown}.")
    return names


def table(
    name: str, columns: Sequence[str], values: list[list[Any]], tags: dict[str, str] | None = None
) -> dict[str, Any]:
    """One series as the v2 insight and introspection endpoints show it."""
    result: dict[str, Any] = {"name": name}
    if tags is not None:
        result["tags"] = tags
    result.update(columns=["time", *columns], values=values)
    return result


def processed_table(
    points: Sequence[tuple[float, Stats]],
    start: float,
    end: float,
    names: Sequence[str],
    tags: dict[str, str] | None = None,
) -> dict[str, Any]:
    values = series(points, start, end, granularity(end - start), names, _PROCESSED)
    return table("processed_stats", names, values, tags)


def compound_table(
    points: Sequence[tuple[float, Stats]], start: float, end: float
) -> dict[str, Any]:
    names = list(_COMPOUND)
    values = series(points, start, end, granularity(end - start), names, _COMPOUND)
    return table("compound_stats", names, values)


def prefix_table(
    samples: Iterable[tuple[float, PrefixSample]], start: float, end: float
) -> dict[str, Any]:
    points = [(moment, _prefix_stats(sample)) for moment, sample in samples]
    names = list(_PREFIX_DEFINITIONS)
    values = series(points, start, end, granularity(end - start), names, _PREFIX_DEFINITIONS)
    return table("prefix_stats", names, values)


def latency_table(
    samples: Iterable[tuple[float, float]], server: str, start: float, end: float
) -> dict[str, Any]:
    """Per bucket, the mean of the samples' latency (samples alone, no interval needed)."""
    step = granularity(end - start, fine=20.0)
    buckets: dict[float, list[float]] = {}
    for moment, latency in samples:
        if start <= moment <= end:
            buckets.setdefault(math.floor(moment / step) * step, []).append(latency)
    values = [[rfc3339(bucket), round(sum(v) / len(v), 2)] for bucket, v in sorted(buckets.items())]
    return table("latency", ["duration"], values, {"server": server})


__all__ = [
    "DAY",
    "POPULAR_LIMIT",
    "PREFIX_DELIMITERS",
    "PROCESSED_STAT_NAMES",
    "Stats",
    "compound_table",
    "documented",
    "granularity",
    "key_prefix",
    "latency_table",
    "prefix_table",
    "processed_names",
    "processed_table",
    "rfc3339",
    "series",
    "sum_stats",
    "table",
    "top",
    "window",
]
