"""A local IronCache-compatible HTTP server, standard library only.

It implements the IronCache REST API v1 (every endpoint under
``/1/projects/{project_id}/caches``) over real loopback HTTP, so that cacheops' own
tests and users' applications can run without an Iron.io account::

    from cacheops.testing.ironcache_server import IronCacheServer

    with IronCacheServer() as server:
        url = server.url("sessions")  # ironcache+http://PROJECT:TOKEN@127.0.0.1:PORT/sessions
        ...                           # point the app at ``url``
        assert server.items("sessions") == {...}

Besides the API it offers introspection (``requests``, ``items()``, ``caches()``,
``reset()``) and fault injection (``faults``: 5xx bursts with Retry-After, latency,
connections dropped before or after a write is applied, replies cut off or stalled in their
headers or body).

Where the API document is silent or ambiguous, the choice made is written next to the
code that makes it (search for "Ambiguity").
"""

from __future__ import annotations

import hmac
import json
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import parse_qs, quote, unquote

# Faults lived here before the shared module existed: imported (and re-exported) so that
# ``from cacheops.testing.ironcache_server import Faults`` keeps working.
from cacheops.testing.http_server import APIRequestHandler, Faults, LocalAPIServer

__all__ = [
    "DEFAULT_PROJECT_ID",
    "DEFAULT_TOKEN",
    "MAX_BODY_BYTES",
    "MAX_EXPIRES_IN",
    "MAX_KEY_CHARS",
    "Faults",
    "IronCacheServer",
    "RecordedRequest",
]

logger = logging.getLogger(__name__)

DEFAULT_TOKEN = "test-token"
#: 24 hex characters, the shape of a real Iron.io project id.
DEFAULT_PROJECT_ID = "5f0000000000000000000001"

#: "Item Size ... 1MB ... Includes the entire body of the request" (Iron.io docs).
MAX_BODY_BYTES = 1_048_576
#: "Maximum is 2,592,000 seconds (30 days)."
MAX_EXPIRES_IN = 2_592_000
#: "Key Size ... 250 characters" (Iron.io environment docs, protocol-facts.md).
MAX_KEY_CHARS = 250
#: Pagination: "Maximum is 100" for both ``page`` and ``per_page``.
MAX_PAGE = 100
MAX_PER_PAGE = 100
# Ambiguity: the Pagination section says ``per_page`` defaults to 30, the List Caches
# section says "100 caches are listed at a time".  The endpoint-specific sentence wins
# for List Caches: without ``per_page`` a page holds 100 caches; a ``per_page`` given by
# the client (1..100) is honoured, since List Caches refers to the Pagination section.
LIST_CACHES_DEFAULT_PER_PAGE = 100

# Bodies over MAX_BODY_BYTES are still read (and thrown away) up to this many bytes so
# that the client sees the 400 rather than a reset while it is still sending; past it the
# connection is closed after the answer.
_DISCARD_CAP = 16 * MAX_BODY_BYTES


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it.

    ``path`` is the raw request target exactly as received (query string included);
    ``cache`` and ``key`` are the percent-decoded names when the path named them;
    ``status`` is the status sent, or that would have been sent for a request dropped by
    ``drop_after_apply``, or ``None`` when nothing was computed (``drop_before``).
    ``fault`` names the injected fault that hit the request, if any; ``auth`` says how the
    token came (``"header"``, ``"query"`` or ``None``).
    """

    method: str
    path: str
    key: str | None
    status: int | None
    cache: str | None = None
    fault: str | None = None
    auth: str | None = None
    content_type: str | None = None
    body: bytes = b""


@dataclass
class _Item:
    value: str | int
    cas: int
    expires_at: float | None  # in ``clock()`` time; None: never expires


@dataclass
class _Reply:
    status: int
    payload: Any
    headers: dict[str, str]
    cache: str | None = None
    key: str | None = None
    auth: str | None = None


def _msg(status: int, text: str, **kw: Any) -> _Reply:
    return _Reply(status, {"msg": text}, {}, **kw)


class _Invalid(Exception):
    """A request the server answers with an error (status and msg)."""

    def __init__(self, status: int, msg: str) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg


# --------------------------------------------------------------------------- server


class IronCacheServer(LocalAPIServer[RecordedRequest]):
    """A local IronCache (REST API v1) server on loopback, served in a daemon thread.

    Use it as a context manager, or call :meth:`start` (returns ``self``) and
    :meth:`stop`.  ``clock`` drives item expiry only, so tests can move time forward.
    ``log_limit`` and ``log_body_limit`` bound the request log (see
    :class:`~cacheops.testing.http_server.LocalAPIServer`).
    """

    _name = "IronCacheServer"
    _logger = logger

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        project_id: str = DEFAULT_PROJECT_ID,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        log_limit: int | None = None,
        log_body_limit: int | None = None,
    ) -> None:
        if not token or any(c.isspace() for c in token):
            raise ValueError("token must be a non-empty string without whitespace")
        if not project_id or "/" in project_id:
            raise ValueError("project_id must be a non-empty string without '/'")
        super().__init__(
            host=host,
            port=port,
            handler=_Handler,
            log_limit=log_limit,
            log_body_limit=log_body_limit,
        )
        self._token = token
        self._project_id = project_id
        self._clock = clock

        # self._lock (the base's) is the one lock for the store and the request log.
        self._caches: dict[str, dict[str, _Item]] = {}
        # cas values: odd numbers above 2**60 so that none of them survives a round trip
        # through a float64 (anything above 2**53 that is odd cannot); steps of 2.
        self._next_cas = (2**60 + random.getrandbits(40)) | 1

    # -- addresses (host, port, running, requests, ... come from LocalAPIServer)

    @property
    def project_id(self) -> str:
        return self._project_id

    @property
    def token(self) -> str:
        return self._token

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT/1`` — the API root, before ``/projects/...``."""
        return f"{super().base_url}/1"

    def url(self, cache_name: str = "cache") -> str:
        """The cacheops URL for ``cache_name``:
        ``ironcache+http://PROJECT_ID:TOKEN@HOST:PORT/CACHE_NAME``."""
        return (
            f"ironcache+http://{quote(self._project_id, safe='')}:{quote(self._token, safe='')}"
            f"@{self._netloc()}/{quote(cache_name, safe='')}"
        )

    def _repr_detail(self) -> str:
        return f"project_id={self._project_id!r}"

    # -- introspection

    def items(self, cache_name: str) -> dict[str, Any]:
        """A snapshot ``{key: value}`` of the live (unexpired) items of a cache; ``{}``
        when the cache does not exist."""
        with self._lock:
            now = self._clock()
            cache = self._caches.get(cache_name, {})
            return {k: it.value for k, it in cache.items() if _alive(it, now)}

    def caches(self) -> list[str]:
        """Names of the existing caches, sorted."""
        with self._lock:
            return sorted(self._caches)

    def reset(self) -> None:
        """Forget every cache, the request log and all pending faults.  (cas values keep
        increasing, so a cas from before a reset never matches again.)"""
        with self._lock:
            self._caches.clear()
            self._log.clear()
        self.faults.clear()

    # -- the API

    def _handle(
        self,
        method: str,
        raw_target: str,
        headers: dict[str, str],
        body: bytes,
        body_too_large: bool,
    ) -> _Reply:
        # Order of checks: endpoint (404) → project id (404) → verb (405) → token (401)
        # → body size / key length (400) → the endpoint's own checks and effect.
        path, _, query_string = raw_target.partition("?")
        query = parse_qs(query_string, keep_blank_values=True)
        try:
            route, cache, key = _route(path, self._project_id)
        except _Invalid as err:
            return _msg(err.status, err.msg)
        where = {"cache": cache, "key": key}

        allowed = _ALLOWED[route]
        if method not in allowed:
            reply = _msg(
                405, f"Method {method} is not allowed here; use {', '.join(allowed)}.", **where
            )
            reply.headers["Allow"] = ", ".join(allowed)
            return reply

        auth = self._authenticate(headers.get("authorization"), query.get("oauth"))
        if auth is None:
            return _msg(401, "Unauthorized: the OAuth token is either not provided or invalid.")
        where["auth"] = auth

        if body_too_large:
            # Ambiguity: the document gives no status for an over-size request.  400 (Bad
            # Request) with a msg, as the brief asks when the document names no status.
            return _msg(
                400, f"Request body too large: the maximum is {MAX_BODY_BYTES} bytes.", **where
            )
        if key is not None and len(key) > MAX_KEY_CHARS:
            # Ambiguity: the document sets no key limit; Iron.io's environment page says
            # 250 characters, and no status is given, so 400.
            return _msg(400, f"Key too long: the maximum is {MAX_KEY_CHARS} characters.", **where)

        try:
            status, payload = self._apply(route, method, cache, key, query, body)
        except _Invalid as err:
            return _msg(err.status, err.msg, **where)
        return _Reply(status, payload, {}, **where)

    def _authenticate(self, header: str | None, query_tokens: list[str] | None) -> str | None:
        # The header decides when it is present ("OAuth <token>", exact case); otherwise
        # the ``?oauth=`` query parameter, which the document allows.
        if header is not None:
            scheme, _, token = header.strip().partition(" ")
            if scheme == "OAuth" and self._token_ok(token.strip()):
                return "header"
            return None
        if query_tokens and self._token_ok(query_tokens[-1]):
            return "query"
        return None

    def _token_ok(self, token: str) -> bool:
        return hmac.compare_digest(token.encode(), self._token.encode())

    def _apply(
        self,
        route: str,
        method: str,
        cache: str | None,
        key: str | None,
        query: dict[str, list[str]],
        body: bytes,
    ) -> tuple[int, Any]:
        if route == "caches":
            return 200, self._list_caches(query)
        assert cache is not None
        if route == "cache":
            return (200, self._cache_info(cache)) if method == "GET" else self._delete_cache(cache)
        if route == "clear":
            return self._clear_cache(cache)
        assert key is not None
        if route == "item":
            if method == "PUT":
                return self._put(cache, key, _json_object(body))
            if method == "GET":
                return 200, self._get(cache, key)
            return self._delete_item(cache, key)
        return self._increment(cache, key, _json_object(body))

    # GET /projects/{Project ID}/caches
    def _list_caches(self, query: dict[str, list[str]]) -> list[dict[str, str]]:
        page = _query_int(query, "page", default=0, low=0, high=MAX_PAGE)
        per_page = _query_int(
            query, "per_page", default=LIST_CACHES_DEFAULT_PER_PAGE, low=1, high=MAX_PER_PAGE
        )
        with self._lock:
            # Ambiguity: the document gives no order; caches are listed sorted by name,
            # which keeps pages stable while caches come and go.
            names = sorted(self._caches)
        chosen = names[page * per_page : (page + 1) * per_page]
        return [{"project_id": self._project_id, "name": name} for name in chosen]

    # GET /projects/{Project ID}/caches/{Cache Name}
    def _cache_info(self, cache: str) -> dict[str, Any]:
        with self._lock:
            items = self._live_cache(cache)
            # The document shows only "size" (as a placeholder string); it is sent as the
            # number of live items, a JSON integer.
            return {"size": len(items)}

    # DELETE /projects/{Project ID}/caches/{Cache Name}
    def _delete_cache(self, cache: str) -> tuple[int, Any]:
        with self._lock:
            if cache not in self._caches:
                raise _Invalid(404, "Cache not found.")
            del self._caches[cache]
        return 200, {"msg": "Deleted."}

    # POST /projects/{Project ID}/caches/{Cache Name}/clear
    def _clear_cache(self, cache: str) -> tuple[int, Any]:
        with self._lock:
            if cache not in self._caches:
                raise _Invalid(404, "Cache not found.")
            self._caches[cache].clear()  # the cache itself stays, empty
        return 201, {"msg": "Cleared."}

    # PUT /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _put(self, cache: str, key: str, doc: dict[str, Any]) -> tuple[int, Any]:
        if "value" not in doc:
            # "406 Not Acceptable: Required fields are missing."
            raise _Invalid(406, "Required field missing: value.")
        value = doc["value"]
        # Ambiguity: the document says only "value: The item's data"; the Iron.io docs
        # say the store "enforces strings as the key and the value" and "detects numbers
        # and stores them natively as numbers".  Assumed: a JSON string is stored as a
        # string and a JSON integer as a number; every other JSON type (float, bool,
        # null, list, object) is refused with 400 ("has wrong types"), as the real service
        # does not store them as-is.
        if not (_is_int(value) or isinstance(value, str)):
            raise _Invalid(
                400,
                f"Invalid value: it must be a string or an integer, not {_json_type(value)}.",
            )
        expires_in = _optional_int(doc, "expires_in")
        if expires_in is not None and not 0 <= expires_in <= MAX_EXPIRES_IN:
            raise _Invalid(
                400, f"Invalid expires_in: it must be between 0 and {MAX_EXPIRES_IN} seconds."
            )
        replace = _optional_bool(doc, "replace")
        add = _optional_bool(doc, "add")
        cas = _optional_int(doc, "cas")
        # Ambiguity: the document does not say what contradictory flags do.  add with
        # replace, or add with cas (which needs an existing item), can never store
        # anything, so they are refused as a bad request.
        if add and (replace or cas is not None):
            raise _Invalid(400, "Invalid flags: add cannot be combined with replace or cas.")

        with self._lock:
            now = self._clock()
            items = self._caches.setdefault(cache, {})  # "it will be created for you"
            current = items.get(key)
            if current is not None and not _alive(current, now):
                del items[key]
                current = None
            # Ambiguity: the document gives the conditions but no status or msg for a
            # put that is not stored.  Chosen: 404 when the item must exist and does not
            # (replace, cas); 409 Conflict when it exists and must not (add) or its cas
            # differs.  Nothing is changed in those cases.
            if add and current is not None:
                raise _Invalid(409, "Not stored: the item already exists and add was set.")
            if (replace or cas is not None) and current is None:
                reason = "cas" if cas is not None else "replace"
                raise _Invalid(404, f"Not stored: the item does not exist and {reason} was set.")
            if cas is not None and current is not None and current.cas != cas:
                raise _Invalid(409, "Not stored: cas mismatch, the item has changed.")
            # Ambiguity: expires_in 0 is treated as "no expiry" (the document's default,
            # and memcached's meaning of 0), not as "expire at once".
            expires_at = now + expires_in if expires_in else None
            items[key] = _Item(value, self._new_cas(), expires_at)
        # The table gives 200 for GET and 201 for POST and is silent on PUT: a stored item
        # is 200 OK with the body the document shows.
        return 200, {"msg": "Stored."}

    # POST /projects/{Project ID}/caches/{Cache Name}/items/{Key}/increment
    def _increment(self, cache: str, key: str, doc: dict[str, Any]) -> tuple[int, Any]:
        if "amount" not in doc or doc["amount"] is None:
            raise _Invalid(406, "Required field missing: amount.")
        amount = doc["amount"]
        if not _is_int(amount):
            raise _Invalid(400, "Invalid amount: it must be an integer.")
        with self._lock:
            now = self._clock()
            items = self._caches.setdefault(cache, {})  # "it will be created for you"
            current = items.get(key)
            if current is None or not _alive(current, now):
                # protocol-facts.md: a missing key is created with value = amount
                # ("unlike memcached"); it does not expire.
                new_value = amount
                items[key] = _Item(new_value, self._new_cas(), None)
            else:
                # Ambiguity: only items stored as JSON integers are numeric; a string such
                # as "5" is not (strict, so that a client that relies on the service
                # parsing strings fails here rather than in production).  The result may
                # go below zero (no memcached-style clamping); the expiry is kept.
                if not _is_int(current.value):
                    raise _Invalid(400, "Cannot increment or decrement non-numeric value")
                assert isinstance(current.value, int)
                new_value = current.value + amount
                items[key] = _Item(new_value, self._new_cas(), current.expires_at)
        return 201, {"msg": "Added", "value": new_value}

    # GET /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _get(self, cache: str, key: str) -> dict[str, Any]:
        with self._lock:
            item = self._live_cache(cache).get(key)
            if item is None:
                raise _Invalid(404, "Key not found.")
            # The document shows cache, key, value, cas; protocol-facts.md adds flags and
            # expires, so all six are sent.  cas is a JSON integer (the document's
            # "12345" is a placeholder, like "ITEM VALUE"); flags is always 0 (nothing in
            # the API sets them); expires is "YYYY-MM-DDTHH:MM:SSZ" in UTC, or null for an
            # item that never expires (the document shows no format).
            return {
                "cache": cache,
                "key": key,
                "value": item.value,
                "cas": item.cas,
                "flags": 0,
                "expires": _format_expires(item.expires_at),
            }

    # DELETE /projects/{Project ID}/caches/{Cache Name}/items/{Key}
    def _delete_item(self, cache: str, key: str) -> tuple[int, Any]:
        with self._lock:
            items = self._live_cache(cache)
            if key not in items:
                raise _Invalid(404, "Key not found.")
            del items[key]
        return 200, {"msg": "Deleted."}

    # -- store helpers (call with self._lock held)

    def _live_cache(self, cache: str) -> dict[str, _Item]:
        items = self._caches.get(cache)
        if items is None:
            raise _Invalid(404, "Cache not found.")
        now = self._clock()
        for dead in [k for k, it in items.items() if not _alive(it, now)]:
            del items[dead]
        return items

    def _new_cas(self) -> int:
        cas = self._next_cas
        self._next_cas += 2
        return cas


# --------------------------------------------------------------------------- routing

_ALLOWED: dict[str, tuple[str, ...]] = {
    "caches": ("GET",),
    "cache": ("GET", "DELETE"),
    "clear": ("POST",),
    "item": ("GET", "PUT", "DELETE"),
    "increment": ("POST",),
}


def _route(path: str, project_id: str) -> tuple[str, str | None, str | None]:
    """Map a raw path to (route, cache, key), or raise 404/400.

    The path is split on literal "/" first and each segment is then percent-decoded
    exactly once with ``unquote`` (never ``unquote_plus``): ``a%2Fb`` is one segment
    ``a/b``, ``a%20b`` is ``a b`` and ``a+b`` stays ``a+b``.
    """
    if path.startswith(("http://", "https://")):  # absolute-form request target
        slash = path.find("/", path.index("//") + 2)
        path = path[slash:] if slash >= 0 else "/"
    raw = path.split("/")
    if len(raw) < 5 or raw[0] != "" or raw[1] != "1" or raw[2] != "projects" or raw[4] != "caches":
        raise _Invalid(404, "Not found: no such endpoint.")
    try:
        seg = [unquote(s, encoding="utf-8", errors="strict") for s in raw]
    except UnicodeDecodeError:
        raise _Invalid(400, "Invalid path: percent-encoded bytes are not UTF-8.") from None
    # Literal parts are matched on the raw text; names on the decoded text.
    rest_raw, rest = raw[5:], seg[5:]
    route: str | None = None
    cache = key = None
    if not rest_raw:
        route = "caches"
    elif "" not in rest:
        cache = rest[0]
        n = len(rest_raw)
        if n == 1:
            route = "cache"
        elif n == 2 and rest_raw[1] == "clear":
            route = "clear"
        elif n == 3 and rest_raw[1] == "items":
            route, key = "item", rest[2]
        elif n == 4 and rest_raw[1] == "items" and rest_raw[3] == "increment":
            route, key = "increment", rest[2]
    if route is None:
        raise _Invalid(404, "Not found: no such endpoint.")
    # protocol-facts.md: a bad project id gives 404 (checked before the token).
    if seg[3] != project_id:
        raise _Invalid(404, "Project not found.")
    return route, cache, key


# --------------------------------------------------------------------------- helpers


def _alive(item: _Item, now: float) -> bool:
    return item.expires_at is None or now < item.expires_at


def _format_expires(expires_at: float | None) -> str | None:
    if expires_at is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(expires_at))


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(body: bytes) -> dict[str, Any]:
    """The request body as a JSON object, or 400 ("Invalid JSON")."""
    try:
        doc = json.loads(body.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as err:
        raise _Invalid(400, f"Invalid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise _Invalid(400, "Invalid JSON: the body must be a JSON object.")
    return doc


def _optional_int(doc: dict[str, Any], name: str) -> int | None:
    value = doc.get(name)
    if value is None:  # absent or null: not set
        return None
    if not _is_int(value):
        raise _Invalid(400, f"Invalid {name}: it must be an integer.")
    assert isinstance(value, int)
    return value


def _optional_bool(doc: dict[str, Any], name: str) -> bool:
    value = doc.get(name)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _Invalid(400, f"Invalid {name}: it must be true or false.")
    return value


def _query_int(query: dict[str, list[str]], name: str, *, default: int, low: int, high: int) -> int:
    values = query.get(name)
    if not values or values[-1] == "":
        return default
    text = values[-1]
    if not text.isascii() or not text.lstrip("-").isdigit():
        raise _Invalid(400, f"Invalid {name}: it must be an integer.")
    number = int(text)
    # Ambiguity: "Maximum is 100" — values outside the range are refused, not clamped.
    if not low <= number <= high:
        raise _Invalid(400, f"Invalid {name}: it must be between {low} and {high}.")
    return number


# --------------------------------------------------------------------------- HTTP plumbing


class _Handler(APIRequestHandler[IronCacheServer, RecordedRequest]):
    server_version = "IronCacheLocal/1"
    error_key = "msg"
    internal_error = "Internal Server Error: something went wrong on the server side."
    max_body_bytes = MAX_BODY_BYTES
    discard_cap = _DISCARD_CAP

    def _new_record(self, body: bytes) -> RecordedRequest:
        return RecordedRequest(
            method=self.command,
            path=self.path,
            key=None,
            status=None,
            content_type=self.headers.get("Content-Type"),
            body=body,
        )

    def _answer(
        self, base: RecordedRequest, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[int, Any, dict[str, str], RecordedRequest]:
        reply = self._app._handle(self.command, self.path, headers, body, too_large)
        rec = replace(base, status=reply.status, cache=reply.cache, key=reply.key, auth=reply.auth)
        return reply.status, reply.payload, reply.headers, rec
