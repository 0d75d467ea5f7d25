"""How a cached view's response is stored: one bytes value, readable by every serializer.

A response is a status, an ordered list of headers (names may repeat) and a body of bytes.
JSON cannot carry bytes inside an object, and base64 would grow every page by a third, so
the stored value is one ``bytes`` item, framed as::

    cacheops-response:1\\n
    {"status": "200 OK", "headers": [["Content-Type", "text/html; charset=utf-8"], ...]}\\n
    <body bytes, as they are>

The middle line is ASCII JSON (``json.dumps`` escapes every newline and non-ASCII
character), so the first two newlines always end the two header lines and the body is
everything after them, byte for byte. ``bytes`` round-trip unchanged through the JSON and
pickle serializers alike and cost nothing to encode. A value that does not parse is
treated as a miss.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Response

MAGIC = b"cacheops-response:1\n"


def encode(response: Response) -> bytes:
    """The stored form of ``response``, which must not be streamed."""
    meta = {"status": response.status, "headers": [[k, v] for k, v in response.headers.items()]}
    return (
        MAGIC
        + json.dumps(meta, separators=(",", ":")).encode("ascii")
        + b"\n"
        + (response.get_data())
    )


def decode(data: object) -> Response | None:
    """The response stored as ``data``, or None if ``data`` is not one."""
    if not isinstance(data, bytes) or not data.startswith(MAGIC):
        return None
    head, newline, body = data[len(MAGIC) :].partition(b"\n")
    if not newline:
        return None
    try:
        meta: Any = json.loads(head)
    except ValueError:
        return None
    if not isinstance(meta, dict):
        return None
    status, headers = meta.get("status"), meta.get("headers")
    if not isinstance(status, str) or not isinstance(headers, list):
        return None
    pairs: list[tuple[str, str]] = []
    for pair in headers:
        if not (
            isinstance(pair, list) and len(pair) == 2 and all(isinstance(p, str) for p in pair)
        ):
            return None
        pairs.append((pair[0], pair[1]))
    return Response(body, status=status, headers=pairs)


def not_storable(response: Response) -> str | None:
    """Why ``response`` must not be stored, or None when it may be.

    Stored: 200 responses that are not streamed, set no cookie, do not vary by request
    header and are not marked ``Cache-Control: private`` or ``no-store``. Everything else
    would either not be faithful (a stream, a 206 part of a range) or risk handing one
    visitor's response to another.
    """
    if response.status_code != 200:
        return f"status {response.status_code}"
    if response.is_streamed or response.direct_passthrough:
        return "a streamed response"
    if "Set-Cookie" in response.headers:
        return "it sets a cookie"
    if "Vary" in response.headers:
        return "it varies by request header (Vary)"
    control = response.cache_control
    if control.no_store or control.private:
        return "Cache-Control forbids it"
    return None


__all__ = ["MAGIC", "decode", "encode", "not_storable"]
