"""The v2 series endpoints over the server's samples: processed stats (aggregate and per
server), latency and compound stats. How each number is derived: :mod:`.series`."""

from __future__ import annotations

from .series import compound_table, latency_table, processed_names, processed_table, sum_stats
from .series import window as _window
from .state import CacheState
from .wire import Ctx, Reply


def window(state: CacheState, ctx: Ctx) -> tuple[float, float]:
    return _window(ctx.query, state.clock())


def v2_processed_stats(state: CacheState, ctx: Ctx) -> Reply:
    names = processed_names(ctx.query)
    start, end = window(state, ctx)
    with state.lock:
        points = [(s.time, sum_stats(s.stats.values())) for s in state.samples]
    return Reply(200, [processed_table(points, start, end, names)])


def v2_processed_stats_per_server(state: CacheState, ctx: Ctx) -> Reply:
    names = processed_names(ctx.query)
    start, end = window(state, ctx)
    with state.lock:
        samples = list(state.samples)
    server = state.server
    points = [(s.time, s.stats[server]) for s in samples if server in s.stats]
    return Reply(200, [processed_table(points, start, end, names, {"server": server})])


def v2_latency(state: CacheState, ctx: Ctx) -> Reply:
    start, end = window(state, ctx)
    with state.lock:
        samples = list(state.samples)
    server = state.server
    latencies = [(s.time, s.latency_ns[server]) for s in samples if server in s.latency_ns]
    return Reply(200, [latency_table(latencies, server, start, end)])


def v2_compound_stats(state: CacheState, ctx: Ctx) -> Reply:
    start, end = window(state, ctx)
    with state.lock:
        points = [(s.time, sum_stats(s.stats.values())) for s in state.samples]
    return Reply(200, [compound_table(points, start, end)])


__all__ = [
    "v2_compound_stats",
    "v2_latency",
    "v2_processed_stats",
    "v2_processed_stats_per_server",
    "window",
]
