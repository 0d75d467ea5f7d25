"""Authentication and the credential endpoints of the local MemCachier API, v1 and v2.

One operation per action (create, delete, promote, update) serves both versions; each
version only shapes its answer. Capabilities are enforced by the API only: memcached's
logins have no read-only mode, so ``write_capability`` and ``flush_capability`` are
stored and reported but cannot be enforced over the memcache protocol.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cacheops.testing.http_server import NO_BODY

from .documented import (
    PRIMARY_NOT_DELETABLE,
    V1_FORBIDDEN,
    V1_NO_CACHE,
    V2_CACHE_NOT_FOUND,
    V2_FORBIDDEN,
    V2_INVALID_CACHE_ID,
    V2_UNAUTHORIZED,
)
from .records import Cred
from .state import CacheState
from .wire import Ctx, Invalid, Reply, json_object, parse_basic, v1_body, v1_bool

CAPABILITIES = ("flush_capability", "write_capability", "api_capability")

#: How one version shows a credential of the cache with the given id.
_Shape = Callable[[Cred, int], dict[str, Any]]


def authorize_login(state: CacheState, header: str | None) -> Cred:
    """Ambiguity: /login documents 403 and 404 "No cache found." (no 401): a username that
    names no credential finds no cache (404); a wrong password, no credentials or no API
    capability are 403."""
    basic = parse_basic(header)
    if basic is None:
        raise Invalid(403, V1_FORBIDDEN)
    with state.lock:
        cred = state.creds.get(basic[0])
        if cred is None:
            raise Invalid(404, V1_NO_CACHE)
        if not cred.password_ok(basic[1]) or not cred.api:
            raise Invalid(403, V1_FORBIDDEN)
        return replace(cred)


def authorize(
    state: CacheState, version: str, cache: str, header: str | None, *, not_found_style: bool
) -> Cred:
    """The credential a request's basic auth names, allowed to use the API on ``cache``."""
    v1 = version == "v1"
    basic = parse_basic(header)
    if not v1 and not (cache.isascii() and cache.isdigit()):
        raise Invalid(400, V2_INVALID_CACHE_ID)
    with state.lock:
        cred = state.creds.get(basic[0]) if basic is not None else None
        if cred is None or basic is None or not cred.password_ok(basic[1]):
            # Ambiguity: v1 documents no 401; every failure there is its 403.
            if v1:
                raise Invalid(403, V1_FORBIDDEN)
            raise Invalid(401, V2_UNAUTHORIZED, {"WWW-Authenticate": 'Basic realm="api"'})
        if not (cache.isascii() and cache.isdigit() and int(cache) == state.cache_id):
            if v1:
                raise Invalid(403, V1_FORBIDDEN)
            # Ambiguity: the commands and insight endpoints document 404 "Cache not
            # found." and no 403; the others document 403 "Forbidden...".
            if not_found_style:
                raise Invalid(404, V2_CACHE_NOT_FOUND)
            raise Invalid(403, V2_FORBIDDEN)
        if not cred.api:
            raise Invalid(403, V1_FORBIDDEN if v1 else V2_FORBIDDEN)
        return replace(cred)


# --------------------------------------------------------------------------- operations


def _list_or_create(
    state: CacheState, ctx: Ctx, listed: _Shape, created: _Shape, created_status: int
) -> Reply:
    """GET lists every credential, POST creates one; ``listed``/``created`` shape them."""
    if ctx.method == "GET":
        with state.lock:
            return Reply(200, [listed(c, state.cache_id) for c in state.creds.values()])
    with state.lock:
        state.check_manage(ctx.version)
        cred = state.new_cred()
    state.sync_logins()
    return Reply(created_status, created(cred, state.cache_id))


def _delete(state: CacheState, ctx: Ctx) -> None:
    with state.lock:
        state.check_manage(ctx.version)
        cred = state.find_cred(ctx.params["cred"], ctx.version)
        if cred.primary:
            # Ambiguity: not documented; a cache always keeps a primary credential.
            raise Invalid(400, PRIMARY_NOT_DELETABLE)
        del state.creds[cred.username]
    state.sync_logins()


def _promote(state: CacheState, ctx: Ctx) -> Cred:
    with state.lock:
        cred = state.find_cred(ctx.params["cred"], ctx.version)
        for other in state.creds.values():
            other.primary = other is cred
        result = replace(cred)
    state.sync_logins()
    return result


def _update(state: CacheState, ctx: Ctx, values: dict[str, bool]) -> Reply:
    with state.lock:
        state.check_manage(ctx.version, capabilities=True)
        cred = state.find_cred(ctx.params["cred"], ctx.version)
        cred.write = values["write_capability"]
        cred.flush = values["flush_capability"]
        cred.api = values["api_capability"]
        return Reply(200, cred.capabilities())


# --------------------------------------------------------------------------- v1


def _v1_listed(cred: Cred, cache_id: int) -> dict[str, Any]:
    return {
        "cache_id": cache_id,
        "flush_capability": cred.flush,
        "id": cred.id,
        "sasl_username": cred.username,
        "uuid": None,
        "write_capability": cred.write,
        "api_capability": cred.api,
        "primary": cred.primary,
    }


def _v1_changed(cred: Cred, cache_id: int, *, with_password: bool) -> dict[str, Any]:
    # The document's examples show "id": null and "uuid": null in these answers.
    payload: dict[str, Any] = {"cache_id": cache_id, "id": None}
    if with_password:
        payload["sasl_password"] = cred.password
    payload.update(sasl_username=cred.username, uuid=None, primary=cred.primary)
    payload.update(cred.capabilities())
    return payload


def _v1_created(cred: Cred, cache_id: int) -> dict[str, Any]:
    return _v1_changed(cred, cache_id, with_password=True)


def v1_login(state: CacheState, ctx: Ctx) -> Reply:
    return Reply(200, {"cache_id": state.cache_id})


def v1_credentials(state: CacheState, ctx: Ctx) -> Reply:
    return _list_or_create(state, ctx, _v1_listed, _v1_created, 200)


def v1_credential(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "DELETE":
        _delete(state, ctx)
        return Reply(200, "")
    # Ambiguity: the request line says POST, the example PATCH: both update. The
    # capabilities come from the query string (the document's "Query Parameters") and
    # the body (its example: JSON, sent by curl -d as a form body; form-encoded also
    # accepted); the body wins. Values: true/false, as booleans or strings. An omitted
    # capability takes the table's default, true.
    given: dict[str, object] = {k: v[-1] for k, v in ctx.query.items() if v}
    given.update(v1_body(ctx.body))
    values = {name: v1_bool(given[name], name) if name in given else True for name in CAPABILITIES}
    return _update(state, ctx, values)


def v1_credential_primary(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "DELETE":
        # The document gives the promote path for Delete Credentials.
        _delete(state, ctx)
        return Reply(200, "")
    cred = _promote(state, ctx)
    return Reply(200, _v1_changed(cred, state.cache_id, with_password=False))


# --------------------------------------------------------------------------- v2


def v2_cred(cred: Cred, cache_id: int) -> dict[str, Any]:
    return {
        "id": cred.id,
        "cache_id": cache_id,
        "sasl_username": cred.username,
        "sasl_password": cred.password,
        "write_capability": cred.write,
        "flush_capability": cred.flush,
        "api_capability": cred.api,
        "primary": cred.primary,
    }


def v2_credentials(state: CacheState, ctx: Ctx) -> Reply:
    return _list_or_create(state, ctx, v2_cred, v2_cred, 201)


def v2_credential(state: CacheState, ctx: Ctx) -> Reply:
    if ctx.method == "DELETE":
        _delete(state, ctx)
        return Reply(200, NO_BODY)
    doc = json_object(ctx.body, allow_empty=True)
    values: dict[str, bool] = {}
    for name in ("write_capability", "flush_capability", "api_capability"):
        value = doc.get(name, False)  # "if you omit a capability ... set to false"
        if not isinstance(value, bool):
            raise Invalid(400, f"Invalid {name}: it must be true or false.")
        values[name] = value
    return _update(state, ctx, values)


def v2_credential_primary(state: CacheState, ctx: Ctx) -> Reply:
    cred = _promote(state, ctx)
    return Reply(200, v2_cred(cred, state.cache_id))


__all__ = [
    "CAPABILITIES",
    "authorize",
    "authorize_login",
    "v1_credential",
    "v1_credential_primary",
    "v1_credentials",
    "v1_login",
    "v2_cred",
    "v2_credential",
    "v2_credential_primary",
    "v2_credentials",
]
