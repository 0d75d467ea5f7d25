"""The endpoints that act on the cache as a whole: stats, history, flush, reset (v1 and v2)
and v2's info and management.

``rotate_sso`` stores and returns a new random SSO secret; ``enable_cache`` sets
``enabled``; ``switch_cluster`` moves to the other of two cluster names (the data stays on
the same memcached).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import TypeVar

from cacheops.testing.http_server import NO_BODY
from cacheops.testing.memcached import MemcachedError

from .credentials import v2_cred
from .documented import V1_FORBIDDEN, V2_NO_FLUSH_CAPABILITY
from .memcached_link import AdminConnection
from .series import documented
from .state import CLUSTERS, CacheState
from .wire import Ctx, Invalid, Reply

_T = TypeVar("_T")


def _on_memcached(
    state: CacheState, action: Callable[[AdminConnection], _T], failure: Invalid
) -> _T:
    """Run ``action`` on the admin connection; ``failure`` is the answer when memcached fails."""
    try:
        return action(state.require_admin())
    except MemcachedError as err:
        raise failure from err


def _flush(state: CacheState, ctx: Ctx, forbidden: str, failure: Invalid) -> None:
    if not ctx.cred.flush:
        raise Invalid(403, forbidden)
    _on_memcached(state, AdminConnection.flush_all, failure)


def _v1_server_error(state: CacheState) -> Invalid:
    return Invalid(500, f"Server error: {state.server}")


# --------------------------------------------------------------------------- v1


def v1_stats(state: CacheState, ctx: Ctx) -> Reply:
    raw = _on_memcached(state, AdminConnection.stats, _v1_server_error(state))
    return Reply(200, {state.server: documented(raw)})


def v1_history(state: CacheState, ctx: Ctx) -> Reply:
    # Ambiguity: the example's "server" has no port while stats keys have one; both use
    # host:port here (two local memcached servers share a host).
    with state.lock:
        samples = list(state.samples)
    history = [
        {
            "memcachier_id": str(state.cache_id),
            "server": server,
            "stats": documented(stats),
            "timestamp": str(int(sample.time * 1000)),
        }
        for sample in samples
        for server, stats in sample.stats.items()
    ]
    return Reply(200, history)


def v1_flush(state: CacheState, ctx: Ctx) -> Reply:
    # "Certain credentials may not have permission to flush the cache, which will produce
    # a 403 error."
    _flush(state, ctx, V1_FORBIDDEN, _v1_server_error(state))
    return Reply(200, "")


# --------------------------------------------------------------------------- v2


def v2_info(state: CacheState, ctx: Ctx) -> Reply:
    with state.lock:
        last = state.samples[-1] if state.samples else None
        plan = sum(s.get("limit_maxbytes", 0) for s in last.stats.values()) if last else 0
        info = {
            "id": state.cache_id,
            "name": f"{state.cache_id:06X}",
            "label": "cacheops local cache",
            "cache_type": "memcachier",
            "plan": plan,
            "provider": "local",
            "enabled": state.enabled,
            "cluster_name": state.cluster,
            "servers": [state.server],
            "credentials": [v2_cred(c, state.cache_id) for c in state.creds.values()],
            "can_switch": state.can_switch,
            "can_manage_credentials": state.can_manage_credentials,
            "can_update_capabilities": state.can_update_capabilities,
        }
    return Reply(200, info)


def v2_rotate_sso(state: CacheState, ctx: Ctx) -> Reply:
    # Ambiguity: "Returns string": the new SSO secret.
    with state.lock:
        state.sso_secret = secrets.token_hex(16)
        value = state.sso_secret
    return Reply(200, value)


def v2_enable_cache(state: CacheState, ctx: Ctx) -> Reply:
    with state.lock:
        state.enabled = True
    return Reply(200, NO_BODY)


def v2_switch_cluster(state: CacheState, ctx: Ctx) -> Reply:
    with state.lock:
        if not state.can_switch:
            raise Invalid(403, "Not allowed to switch cluster.")
        index = CLUSTERS.index(state.cluster) if state.cluster in CLUSTERS else -1
        state.cluster = CLUSTERS[(index + 1) % len(CLUSTERS)]
        value = state.cluster
    return Reply(200, value)


def v2_flush(state: CacheState, ctx: Ctx) -> Reply:
    _flush(state, ctx, V2_NO_FLUSH_CAPABILITY, Invalid(400, "Failed to flush cache."))
    return Reply(204, NO_BODY)


def v2_reset_stats(state: CacheState, ctx: Ctx) -> Reply:
    _on_memcached(state, AdminConnection.reset_stats, Invalid(400, "Failed to reset stats."))
    return Reply(204, NO_BODY)


def v2_stats(state: CacheState, ctx: Ctx) -> Reply:
    raw = _on_memcached(state, AdminConnection.stats, Invalid(400, "Failed to get stats."))
    return Reply(200, documented(raw))


__all__ = [
    "v1_flush",
    "v1_history",
    "v1_stats",
    "v2_enable_cache",
    "v2_flush",
    "v2_info",
    "v2_reset_stats",
    "v2_rotate_sso",
    "v2_stats",
    "v2_switch_cluster",
]
