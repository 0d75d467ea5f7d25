"""The route table of the local MemCachier API, and the dispatch of one request.

Unknown route 404 and wrong verb 405 (with ``Allow``) use the shape of the API version the
path names (``{"error": ...}`` outside both).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote

from . import alerts, commands, credentials, insight, introspection
from .records import Cred
from .state import CacheState
from .wire import MAX_BODY_BYTES, Ctx, Invalid, Reply, error

Handler = Callable[[CacheState, Ctx], Reply]


@dataclass(frozen=True)
class Route:
    name: str
    version: str
    pattern: re.Pattern[str]
    methods: tuple[str, ...]
    handler: Handler
    not_found_style: bool = False


def _routes() -> list[Route]:
    v1 = r"^/api/v1/(?P<cache>[^/]+)"
    v2 = r"^/api/v2/caches/(?P<cache>[^/]+)"
    cred, alert, config = r"/(?P<cred>[^/]+)", r"/(?P<alert>[^/]+)", r"/(?P<config>[^/]+)"
    prefix = r"/introspection/prefixes/(?P<prefix>[^/]+)"
    # (handler, path pattern, methods, not_found_style); the handler names the route.
    table: list[tuple[Handler, str, tuple[str, ...], bool]] = [
        # Ambiguity: /login's request line says /api/login, its example /api/v1/login.
        (credentials.v1_login, r"^/api(?:/v1)?/login", ("GET",), False),
        (commands.v1_stats, v1 + "/stats", ("GET",), False),
        (commands.v1_history, v1 + "/history", ("GET",), False),
        (commands.v1_flush, v1 + "/flush", ("POST",), False),
        (credentials.v1_credentials, v1 + "/credentials", ("GET", "POST"), False),
        (
            credentials.v1_credential_primary,
            v1 + "/credentials/primary" + cred,
            ("POST", "DELETE"),
            False,
        ),
        (credentials.v1_credential, v1 + "/credentials" + cred, ("POST", "PATCH", "DELETE"), False),
        (commands.v2_info, v2 + "/info", ("GET",), False),
        (credentials.v2_credentials, v2 + "/credentials", ("GET", "POST"), False),
        (credentials.v2_credential_primary, v2 + "/credentials/primary" + cred, ("POST",), False),
        (credentials.v2_credential, v2 + "/credentials" + cred, ("PATCH", "DELETE"), False),
        (commands.v2_rotate_sso, v2 + "/rotate_sso", ("POST",), False),
        (commands.v2_enable_cache, v2 + "/enable_cache", ("POST",), False),
        (commands.v2_switch_cluster, v2 + "/switch_cluster", ("POST",), False),
        (commands.v2_flush, v2 + "/flush", ("POST",), True),
        (commands.v2_reset_stats, v2 + "/reset_stats", ("POST",), True),
        (commands.v2_stats, v2 + "/stats", ("GET",), True),
        (insight.v2_processed_stats, v2 + "/insight/processed_stats", ("GET",), True),
        (
            insight.v2_processed_stats_per_server,
            v2 + "/insight/processed_stats/per_server",
            ("GET",),
            True,
        ),
        (insight.v2_latency, v2 + "/insight/latency", ("GET",), True),
        (alerts.v2_configs, v2 + "/alerts/configs", ("GET", "POST"), False),
        (alerts.v2_config, v2 + "/alerts/configs" + config, ("DELETE",), False),
        (alerts.v2_alerts, v2 + "/alerts", ("GET", "POST"), False),
        (alerts.v2_alert, v2 + "/alerts" + alert, ("GET", "PUT", "DELETE"), False),
        (introspection.v2_recent_logs, v2 + "/introspection/recent_logs", ("GET",), False),
        (insight.v2_compound_stats, v2 + "/introspection/compound_stats", ("GET",), False),
        (introspection.v2_popular_items, v2 + "/introspection/popular_items", ("GET",), False),
        (introspection.v2_key_stats, v2 + "/introspection/key_stats", ("GET",), False),
        (introspection.v2_prefixes, v2 + "/introspection/prefixes", ("GET", "POST"), False),
        (introspection.v2_prefix, v2 + prefix, ("DELETE",), False),
        (introspection.v2_prefix_stats, v2 + prefix + "/stats", ("GET",), False),
        (
            introspection.v2_prefix_popular_items,
            v2 + prefix + "/popular_items",
            ("GET",),
            False,
        ),
    ]
    return [
        Route(h.__name__, h.__name__[:2], re.compile(pattern + "$"), methods, h, not_found)
        for h, pattern, methods, not_found in table
    ]


ROUTES = _routes()


def match_route(path: str) -> tuple[Route, dict[str, str]] | None:
    for route in ROUTES:
        match = route.pattern.match(path)
        if match:
            return route, {k: unquote(v) for k, v in match.groupdict().items()}
    return None


def normalise_path(path: str) -> str:
    if path.startswith(("http://", "https://")):  # absolute-form request target
        slash = path.find("/", path.index("//") + 2)
        path = path[slash:] if slash >= 0 else "/"
    # Ambiguity: the Heroku article's deploy-hook URL has "api/v1//<id>/flush": empty
    # path segments are ignored.
    return re.sub(r"/{2,}", "/", path)


def version_of(path: str) -> str | None:
    if path == "/api/login" or path.startswith("/api/v1/"):
        return "v1"
    if path.startswith("/api/v2/"):
        return "v2"
    return None


def answer(
    state: CacheState,
    method: str,
    target: str,
    headers: dict[str, str],
    body: bytes,
    too_large: bool,
) -> tuple[Reply, str | None]:
    """Answer one request; returns the reply and the API version (for the log)."""
    raw_path, _, query_string = target.partition("?")
    path = normalise_path(raw_path)
    version = version_of(path)
    query = parse_qs(query_string, keep_blank_values=True)
    found = match_route(path)
    if found is None:
        return error(version, 404, "Not found: no such endpoint."), version
    route, params = found
    if method not in route.methods:
        allowed = ", ".join(route.methods)
        reply = error(
            version, 405, f"Method {method} is not allowed here; use {allowed}.", route.name
        )
        reply.headers["Allow"] = allowed
        return reply, version
    version = route.version
    cred: Cred | None = None
    try:
        header = headers.get("authorization")
        if route.handler is credentials.v1_login:
            cred = credentials.authorize_login(state, header)
        else:
            cred = credentials.authorize(
                state,
                version,
                params.get("cache", ""),
                header,
                not_found_style=route.not_found_style,
            )
        if too_large:
            raise Invalid(400, f"Request body too large: the maximum is {MAX_BODY_BYTES}.")
        reply = route.handler(state, Ctx(version, method, params, query, body, headers, cred))
    except Invalid as err:
        reply = error(version, err.status, err.message)
        reply.headers.update(err.headers)
    reply.route = route.name
    reply.user = cred.username if cred is not None else None
    return reply, version


__all__ = ["ROUTES", "Handler", "Route", "answer", "match_route", "normalise_path", "version_of"]
