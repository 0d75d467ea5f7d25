"""What a MemCachier analytics API error means, from its status, path and words.

v1 answers 403 to a wrong password, a credential without the API capability and a
refused command alike; v2 says which in its words. :func:`reply_error` turns each into the
error of :mod:`cacheops.errors` that tells the user what to do, and falls back to the HTTP
layer's mapping (5xx after retries, a lost non-idempotent request) for the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import AuthenticationError, CacheError, ConfigurationError, PermissionDenied
from ...http import HTTPClient, Reply

__all__ = ["BACKEND", "Caller", "NoAPICapability", "reply_error"]

#: The name errors give as ``backend=`` (the API, as opposed to the memcache protocol).
BACKEND = "memcachier-api"

#: v1 answers 403 to a wrong password and to a credential without the API capability alike.
_V1_403 = "the credential lacks api_capability (or the password is wrong: v1 answers 403 to both)"


class NoAPICapability(PermissionDenied):
    """The API refused the credential as a whole (no ``api`` capability, or a wrong
    password), as opposed to refusing one command; the memcache protocol may still serve it."""


@dataclass(frozen=True)
class Caller:
    """Who asked, as the messages name them: the username, whether the cache id was given
    (a 403 may then mean it is another cache's), and how to scrub the password."""

    username: str
    cache_id_given: bool
    scrub: Callable[[str], str]


def _server_words(reply: Reply, scrub: Callable[[str], str]) -> str | None:
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
    text = scrub(text.strip())[:300]
    return text or None


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


def _forbidden(
    method: str, v1: bool, what: str, cache: str, lowered: str, caller: Caller
) -> tuple[type[PermissionDenied], str]:
    """Which refusal a 403 is, and why."""
    managing = what == "credentials" and method != "GET"
    other_cache = caller.cache_id_given
    if v1:
        if what == "flush":
            reason = (
                "flush refused: the credential lacks flush_capability (or "
                "api_capability, or the password is wrong: v1 answers 403 to all three)"
            )
        elif managing:
            reason = "not allowed to manage credentials (a development cache cannot), or " + _V1_403
        else:
            reason = _V1_403
        if other_cache:
            reason += f"; or cache {cache} is not this credential's cache"
        return PermissionDenied, reason
    if "manage credentials" in lowered:
        reason = (
            "not allowed to manage credentials (a development cache cannot manage "
            "credentials or update capabilities)"
        )
    elif "forbidden to access cache" in lowered:
        reason = "the credential lacks api_capability"
        if other_cache:
            reason += f" (or cache {cache} is not this credential's cache)"
        return NoAPICapability, reason
    elif what == "flush":
        reason = "flush refused: the credential lacks flush_capability"
    else:
        reason = "refused: the credential is not allowed to do this"
    return PermissionDenied, reason


def reply_error(
    reply: Reply, method: str, path: str, *, http: HTTPClient, caller: Caller, idempotent: bool
) -> CacheError:
    """The error for the non-2xx ``reply`` to ``method path``."""
    words = _server_words(reply, caller.scrub)
    status = reply.status
    where = f"{method} /{path}"
    context: dict[str, Any] = {
        "backend": BACKEND,
        "server": http.server,
        "status": status,
        "server_message": words,
    }
    parts = path.split("/")
    v1 = parts[:2] == ["api", "v1"]
    login = path == "api/v1/login"
    # api/v1/<id>/<what>... or api/v2/caches/<id>/<what>...
    rest = parts[3:] if v1 else parts[4:]
    cache = parts[2] if v1 else (parts[3] if len(parts) > 3 else "")
    lowered = (words or "").lower()

    if status == 401:
        return AuthenticationError(
            f"{where}: MemCachier refused the credentials of {caller.username!r} "
            "(wrong username or password)",
            **context,
        )
    if status == 403:
        if login:
            return NoAPICapability(f"{where}: {_V1_403}", **context)
        kind, reason = _forbidden(method, v1, rest[0] if rest else "", cache, lowered, caller)
        return kind(f"{where}: {reason}", **context)
    if status == 404:
        if login:
            return AuthenticationError(
                f"{where}: no cache found for the username {caller.username!r} (unknown username)",
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
    return http.status_error(plain, method, path, idempotent=idempotent)
