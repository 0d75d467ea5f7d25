"""How the MemCachier API client reaches the server: one cache's credentials, its id (found
through v1 ``/login`` when not given), requests over :class:`cacheops.http.HTTPClient`,
replies decoded or mapped to errors (:mod:`.errors`).
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

from ...config import memcachier_api_url
from ...errors import CacheError, ConfigurationError
from ...http import HTTPClient, HTTPOptions, Reply
from ...redact import redact
from .errors import BACKEND, Caller, reply_error
from .records import as_mapping, format_time

__all__ = ["Transport", "api_root"]

_R = TypeVar("_R")

#: Every status the HTTP layer hands back rather than raising: their meaning depends on the
#: endpoint and on the request (allowed statuses, idempotence), which only the caller knows.
_EVERY_ERROR = range(300, 600)

#: Where each version's paths for one cache start.
_ROOTS = {1: "api/v1/{}", 2: "api/v2/caches/{}"}


def api_root(base_url: str) -> str:
    """``base_url`` without a trailing ``/api``, ``/api/v1`` or ``/api/v2``."""
    root = base_url.rstrip("/")
    for suffix in ("/api/v1", "/api/v2", "/api"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


class Transport:
    """Requests of one cache's credentials to the API root. Thread-safe."""

    def __init__(
        self,
        username: str,
        password: str,
        cache_id: int | None,
        *,
        base_url: str | None,
        options: HTTPOptions,
    ) -> None:
        if not isinstance(username, str) or not username:
            raise ConfigurationError(f"{BACKEND}: a username is required", backend=BACKEND)
        if ":" in username or any(ord(c) < 32 or ord(c) == 127 for c in username):
            # HTTP basic auth cannot carry a ':' in the username.
            raise ConfigurationError(
                f"{BACKEND}: the username cannot contain ':' or control characters",
                backend=BACKEND,
            )
        if not isinstance(password, str) or not password:
            raise ConfigurationError(f"{BACKEND}: a password is required", backend=BACKEND)
        if cache_id is not None and (
            isinstance(cache_id, bool) or not isinstance(cache_id, int) or cache_id < 0
        ):
            raise ConfigurationError(
                f"{BACKEND}: cache_id must be a non-negative integer (or None to find it "
                "through /login)",
                backend=BACKEND,
            )
        self.username = username
        self._password = password
        token = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        self._cache_id = cache_id
        self._cache_id_lock = threading.Lock()
        self._caller = Caller(username, cache_id is not None, self._scrub)
        self.http = HTTPClient(
            api_root(base_url or memcachier_api_url()),
            backend=BACKEND,
            auth=lambda: token,
            options=options,
        )

    @property
    def known_cache_id(self) -> int | None:
        """The cache id if given or found already (no request)."""
        return self._cache_id

    @property
    def cache_id(self) -> int:
        """The cache id, found through v1 ``/login`` on first use when not given."""
        cache_id = self._cache_id
        if cache_id is not None:
            return cache_id
        with self._cache_id_lock:
            if self._cache_id is None:
                self._cache_id = self._login()
            return self._cache_id

    def login(self) -> int:
        """v1 ``/login`` asked now; its answer is kept as the cache id when none was."""
        cache_id = self._login()
        with self._cache_id_lock:
            if self._cache_id is None:
                self._cache_id = cache_id
        return cache_id

    def _login(self) -> int:
        def cache_id(data: Any) -> int:
            value = as_mapping(data).get("cache_id")
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError("no integer cache_id")
            return value

        # Choice: the request line says /api/login, the example (and the Heroku article)
        # /api/v1/login: the versioned path, which is also where every other v1 path lives.
        return self.get("api/v1/login", cache_id)

    def path(self, version: int, *parts: str) -> str:
        """The path of ``parts`` below this cache in API ``version`` (1 or 2)."""
        return "/".join((_ROOTS[version].format(self.cache_id), *parts))

    def url_with_credentials(self, path: str) -> str:
        """``https://USER:PASS@host/<path>``: the password in it (see deploy_hook_url)."""
        parts = urlsplit(self.http.base_url)
        userinfo = f"{quote(self.username, safe='')}:{quote(self._password, safe='')}"
        host = parts.netloc.rpartition("@")[2]
        return f"{parts.scheme}://{userinfo}@{host}{parts.path}/{path}"

    def close(self) -> None:
        self.http.close()

    # -- requests

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
        allow: Sequence[int] = (),
    ) -> Reply:
        """Send; a reply whose status is not 2xx nor in ``allow`` raises its error."""
        if idempotent is None:
            idempotent = method in ("GET", "PUT", "DELETE")
        kwargs: dict[str, Any] = {"params": params, "idempotent": idempotent}
        if json is not None:
            kwargs["json"] = json
        reply = self.http.request(method, path, allow=_EVERY_ERROR, **kwargs)
        if reply.ok or reply.status in allow:
            return reply
        raise reply_error(
            reply, method, path, http=self.http, caller=self._caller, idempotent=idempotent
        )

    def send(
        self,
        method: str,
        path: str,
        parse: Callable[[Any], _R],
        *,
        idempotent: bool,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
    ) -> _R:
        """Send and decode the answer with ``parse``: one of an unexpected shape is a
        CacheError."""
        reply = self.request(method, path, json=json, params=params, idempotent=idempotent)
        try:
            return parse(reply.data)
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise CacheError(
                f"{method} /{path}: unexpected answer from the server ({exc})",
                backend=BACKEND,
                server=self.http.server,
                status=reply.status,
            ) from None

    def get(
        self,
        path: str,
        parse: Callable[[Any], _R],
        start: datetime | None = None,
        end: datetime | None = None,
        **params: Any,
    ) -> _R:
        """GET with the query ``params`` (None left out) and the time window ``start`` to
        ``end`` as the documents' ``startTime``/``endTime``."""
        query = {k: v for k, v in params.items() if v is not None}
        for name, moment in (("startTime", start), ("endTime", end)):
            if moment is not None:
                query[name] = format_time(moment)
        return self.send("GET", path, parse, idempotent=True, params=query or None)

    def _scrub(self, text: str) -> str:
        """The server's words without the password (or its secret part), should it echo
        them; the word "wrong" in "the password is wrong" stays, whatever the password."""
        return redact(text, [self._password, self._password.rpartition(" ")[2]])
