"""The v2 introspection endpoints: recent logs, popular items, key stats and watched
prefixes, built on the key events memcached logs (:mod:`.observer`).

Before answering, the endpoints built on events synchronise with the stream (they open and
close one connection to memcached and wait for its ``conn_new`` event, so everything
memcached logged earlier has arrived; after memcached has been idle for seconds its logger
thread can take up to about a second to deliver): a client that wrote before asking sees
its writes. A *hit* is a found lookup, a *miss* a lookup that found nothing, a *mutation* a
store whose result was ``stored``.

- ``recent_logs``: the last 100 entries for the server, oldest first: each event
  (``command`` GET / SET, ADD, CAS... / EVICTION; ``status`` memcached's result in capitals,
  e.g. FOUND, NOT_FOUND, STORED, EXISTS, EVICTED; ``size`` the value size memcached
  logged) and each command this server sent (STATS, FLUSH_ALL, STATS RESET; key ``""``,
  status OK or the error; size 0). ``timestamp``: this server's clock when it saw the event.
- ``popular_items``: over the kept events, ``most_hit_keys`` / ``most_missed_keys`` /
  ``most_mutated_keys`` rank keys by their number of hits / misses / mutations;
  ``popular_prefixes`` ranks key prefixes by hits + misses + mutations (top 10 each, ties
  by name, zero counts left out). A key's prefix is the key up to and including its first
  ``:``, ``/``, ``|`` or ``.`` (keys without one have none). ``time_slice``: the
  nanoseconds those events span (from the start of observation, or the oldest kept event
  once old ones were dropped, to now).
- ``key_stats``: one entry: counts of the key's hits, misses and mutations as above;
  ``in_cache`` from memcached's ``me`` (meta debug, which neither counts nor bumps the key);
  ``size`` the value size last logged for the key, else the item size ``me`` reports,
  0 when not in the cache; ``timestamp`` now.
- Watched prefixes: counting starts when a prefix is watched. Each sample then also
  records, per watched prefix, its running hit/miss/mutation counts (keys starting with the
  prefix) and, from memcached's ``lru_crawler metadump all`` (skipped above 100,000
  items), ``num_keys`` and ``total_size`` (the sum of the items' sizes as memcached counts
  them in ``bytes``: key, value and item header). Prefix stats are series over those
  samples (rates as in :mod:`.series`, ``null`` where the metadump could not be taken);
  prefix popular items rank the keys under the prefix, and as ``popular_prefixes`` the
  prefix plus the next segment of the rest of the key.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from cacheops.testing.http_server import NO_BODY
from cacheops.testing.memcached import MemcachedError

from .insight import window
from .records import PrefixCounts
from .series import key_prefix, prefix_table, rfc3339, top
from .state import CacheState
from .wire import Ctx, Invalid, Reply, json_object, numeric_param


def v2_recent_logs(state: CacheState, ctx: Ctx) -> Reply:
    state.sync_events()
    with state.lock:
        entries = sorted(state.recent, key=lambda e: e.time)
    lines = [
        {
            "timestamp": rfc3339(e.time),
            "key": e.key,
            "command": e.command,
            "status": e.status,
            "size": e.size,
        }
        for e in entries
    ]
    return Reply(200, {state.server: lines})


def _popular(state: CacheState, prefix: str | None) -> dict[str, Any]:
    state.sync_events()
    now = state.clock()
    with state.lock:
        events = list(state.events)
        since = state.observed_since
        if len(events) == state.events.maxlen and events:
            since = events[0].time
    hits: Counter[str] = Counter()
    misses: Counter[str] = Counter()
    mutations: Counter[str] = Counter()
    prefixes: Counter[str] = Counter()
    for event in events:
        if prefix is not None and not event.key.startswith(prefix):
            continue
        if event.kind == "hit":
            hits[event.key] += 1
        elif event.kind == "miss":
            misses[event.key] += 1
        elif event.kind == "mutation":
            mutations[event.key] += 1
        else:
            continue
        group = key_prefix(event.key, prefix or "")
        if group is not None:
            prefixes[group] += 1
    return {
        "time_slice": max(0, int((now - since) * 1e9)),
        "most_hit_keys": top(hits),
        "most_missed_keys": top(misses),
        "most_mutated_keys": top(mutations),
        "popular_prefixes": top(prefixes),
    }


def v2_popular_items(state: CacheState, ctx: Ctx) -> Reply:
    return Reply(200, _popular(state, None))


def v2_key_stats(state: CacheState, ctx: Ctx) -> Reply:
    key = ctx.query.get("key", [""])[-1]
    if not key:
        raise Invalid(400, "Query parameter key is required.")
    encoded = key.encode()
    if len(encoded) > 250 or any(b <= 32 or b == 127 for b in encoded):
        raise Invalid(400, "Invalid key: at most 250 bytes, no spaces or control characters.")
    state.sync_events()
    try:
        item_size = state.require_admin().meta_debug(key)
    except (OSError, MemcachedError) as err:
        raise Invalid(500, "Unexpected error: memcached did not answer.") from err
    counts = {"hit": 0, "miss": 0, "mutation": 0}
    last_size: int | None = None
    with state.lock:
        for event in state.events:
            if event.key == key and event.kind in counts:
                counts[event.kind] += 1
                if event.kind in ("hit", "mutation"):
                    last_size = event.size
    in_cache = item_size is not None
    size = 0
    if in_cache:
        size = last_size if last_size is not None else item_size or 0
    entry = {
        "timestamp": rfc3339(state.clock()),
        "name": key,
        "size": size,
        "hit_count": counts["hit"],
        "miss_count": counts["miss"],
        "mutation_count": counts["mutation"],
        "in_cache": in_cache,
    }
    return Reply(200, [entry])


def v2_prefixes(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "GET":
        with state.lock:
            listed = [{"id": pid, "name": name} for pid, name in state.prefixes.items()]
        return Reply(200, listed)
    doc = json_object(ctx.body)
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        raise Invalid(400, "A prefix requires a name.")
    if len(name.encode()) > 250 or any(ord(c) <= 32 or ord(c) == 127 for c in name):
        raise Invalid(400, "Invalid prefix: at most 250 bytes, no spaces or control chars.")
    with state.lock:
        for pid, existing in state.prefixes.items():
            if existing == name:
                # Ambiguity: watching a watched prefix returns it (200), no duplicate.
                return Reply(200, {"id": pid, "name": name})
        pid = state.next_id("prefix")
        state.prefixes[pid] = name
        state.prefix_counts[pid] = PrefixCounts()
    return Reply(200, {"id": pid, "name": name})


def _prefix_id(state: CacheState, ctx: Ctx) -> int:
    pid = numeric_param(ctx, "prefix", "The specified prefix ID is invalid (not a number).")
    with state.lock:
        if pid not in state.prefixes:
            raise Invalid(404, "Prefix not found.")
    return pid


def v2_prefix(state: CacheState, ctx: Ctx) -> Reply:
    pid = _prefix_id(state, ctx)
    with state.lock:
        state.prefixes.pop(pid, None)
        state.prefix_counts.pop(pid, None)
    return Reply(204, NO_BODY)


def v2_prefix_stats(state: CacheState, ctx: Ctx) -> Reply:
    pid = _prefix_id(state, ctx)
    start, end = window(state, ctx)
    with state.lock:
        samples = [(s.time, s.prefixes[pid]) for s in state.samples if pid in s.prefixes]
    return Reply(200, [prefix_table(samples, start, end)])


def v2_prefix_popular_items(state: CacheState, ctx: Ctx) -> Reply:
    pid = _prefix_id(state, ctx)
    with state.lock:
        name = state.prefixes[pid]
    return Reply(200, _popular(state, name))


__all__ = [
    "v2_key_stats",
    "v2_popular_items",
    "v2_prefix",
    "v2_prefix_popular_items",
    "v2_prefix_stats",
    "v2_prefixes",
    "v2_recent_logs",
]
