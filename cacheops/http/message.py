"""What a request and its reply are, whatever sends them: the checks on the service's root,
the URL, the JSON body and its size, the headers, and the reading of the reply. Pure
functions shared by :class:`~cacheops.http.client.HTTPClient` (``requests``) and
:class:`~cacheops.http.aclient.AsyncHTTPClient` (``h11``), so both send the same bytes
and read replies the same way.
"""

from __future__ import annotations

import json as _json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

from ..config import Server
from ..errors import ConfigurationError, ValueTooLarge
from ..redact import redact
from .mapping import Unframed
from .options import HTTPOptions
from .reply import MESSAGE_LIMIT, Reply

__all__ = [
    "NO_BODY",
    "Root",
    "encode_body",
    "make_reply",
    "quote_segment",
    "request_headers",
    "require_framed",
]

#: The ``json`` argument's default: no body at all (``None`` is the JSON ``null``).
NO_BODY: Any = object()

Supplier = Callable[[], "str | None"]


def quote_segment(text: str) -> str:
    """``text`` as one URL path segment: every character outside RFC 3986's unreserved set
    is percent-encoded (UTF-8), so ``/``, ``?``, ``#``, ``%`` and ``+`` cannot change the
    path and a space is ``%20``, never ``+``.

    A segment that is exactly ``.`` or ``..`` is sent as ``%2E`` / ``%2E%2E``: as literal
    dots it would be a dot-segment, which HTTP stacks (requests among them) resolve,
    sending the request to the parent resource.
    """
    encoded = quote(text, safe="")
    if encoded in (".", ".."):
        return encoded.replace(".", "%2E")
    return encoded


@dataclass(frozen=True)
class Root:
    """A service root, checked: ``http(s)://host[:port]/path`` without credentials or
    query, and plain ``http://`` only to loopback unless ``allow_insecure_http``."""

    base_url: str
    #: ``host:port``, as errors name it.
    server: str

    @classmethod
    def parse(cls, base_url: str, backend: str, options: HTTPOptions) -> Root:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigurationError(f"{backend}: the base URL must be http(s)://host/...")
        if (
            parts.scheme == "http"
            and not options.allow_insecure_http
            and not Server(parts.hostname, parts.port or 80).is_loopback
        ):
            raise ConfigurationError(
                f"{backend}: plain http:// would send the credentials in clear text to "
                f"{parts.hostname}; use https://, or pass allow_insecure_http=True if this "
                "network is trusted"
            )
        if parts.username or parts.password or parts.query:
            raise ConfigurationError(f"{backend}: credentials go in the auth supplier, not the URL")
        host = parts.hostname
        port = parts.port or (443 if parts.scheme == "https" else 80)
        server = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        return cls(base_url.rstrip("/"), server)

    def url(self, path: str = "", params: Mapping[str, Any] | None = None) -> str:
        """The absolute URL of ``path`` (already encoded, see :func:`quote_segment`)."""
        url = f"{self.base_url}/{path.lstrip('/')}" if path else self.base_url
        if params:
            url += "?" + urlencode(params, quote_via=quote)
        return url


def encode_body(json: Any, options: HTTPOptions, backend: str, server: str) -> bytes:
    """``json`` as the request body, refused before anything is sent when it is over
    ``options.max_body_size``."""
    body = _json.dumps(json, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()
    limit = options.max_body_size
    if limit is not None and len(body) > limit:
        raise ValueTooLarge(
            f"the request body would be {len(body)} bytes; the server takes at most {limit}",
            backend=backend,
            server=server,
        )
    return body


def request_headers(user_agent: str, supplier: Supplier | None, body: bool) -> dict[str, str]:
    """The headers of every request; the credential only ever in ``Authorization``."""
    headers = {"User-Agent": user_agent, "Accept": "application/json"}
    if body:
        headers["Content-Type"] = "application/json"
    credential = supplier() if supplier is not None else None
    if credential:
        headers["Authorization"] = credential
    return headers


def require_framed(method: str, status: int, headers: Mapping[str, str]) -> None:
    """Raise :class:`~cacheops.http.mapping.Unframed` for a reply whose end could only be
    told by the connection closing, so that a cut reply never reads as complete."""
    framed = "Content-Length" in headers or "chunked" in headers.get("Transfer-Encoding", "")
    # 1xx, 204 and 304 and any answer to HEAD have no body, so need no length.
    bodiless = method == "HEAD" or status in (204, 304) or status < 200
    if not (framed or bodiless):
        raise Unframed("no Content-Length and no chunked encoding")


def make_reply(
    status: int, headers: Mapping[str, str], content: bytes, supplier: Supplier | None
) -> Reply:
    """The :class:`Reply` for a whole answer; an error's words are scrubbed of the
    credential, should a server ever echo it back."""
    data: Any = None
    text = ""
    if content:
        try:
            # The standard json module keeps big integers exact (a cas beyond 2**53).
            data = _json.loads(content)
        except ValueError:
            text = _scrub(content.decode("utf-8", "replace")[: 4 * MESSAGE_LIMIT], supplier)
    if status >= 300 and isinstance(data, dict) and isinstance(data.get("msg"), str):
        data["msg"] = _scrub(data["msg"], supplier)
    return Reply(status, data, text, headers)


def _scrub(text: str, supplier: Supplier | None) -> str:
    value = supplier() if supplier is not None else None
    return redact(text, [value.rpartition(" ")[2]] if value else [])
