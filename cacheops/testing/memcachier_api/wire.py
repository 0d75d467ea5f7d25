"""Requests and replies of the local MemCachier API: the shapes of answers and errors, and
the parsing of what a request carries (basic auth, JSON and form bodies, query values)."""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qs

from cacheops.testing.http_server import RequestRejected as Invalid
from cacheops.testing.http_server import is_int, json_object, parse_json

from .records import Cred

__all__ = [
    "MAX_BODY_BYTES",
    "Ctx",
    "Invalid",
    "Reply",
    "error",
    "is_int",
    "is_number",
    "json_object",
    "numeric_param",
    "parse_basic",
    "query_time",
    "v1_body",
    "v1_bool",
]

MAX_BODY_BYTES = 1_048_576


@dataclass
class Reply:
    status: int
    payload: Any
    headers: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    route: str | None = None


@dataclass
class Ctx:
    version: str
    method: str
    params: dict[str, str]
    query: dict[str, list[str]]
    body: bytes
    headers: dict[str, str]
    cred: Cred


def error(version: str | None, status: int, message: str, route: str | None = None) -> Reply:
    payload: Any = message if version == "v1" else {"error": message}
    return Reply(status, payload, route=route)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header:
        return None
    scheme, _, data = header.strip().partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(data.strip(), validate=True).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def query_time(query: dict[str, list[str]], name: str, default: float) -> float:
    values = query.get(name)
    if not values or not values[-1]:
        return default
    text = values[-1].strip()
    if "T" not in text.upper():
        raise Invalid(400, f"Invalid {name}: expected an RFC 3339 time like 2023-01-08T15:20:00Z.")
    if text[-1] in "zZ":
        text = text[:-1] + "+00:00"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise Invalid(
            400, f"Invalid {name}: expected an RFC 3339 time like 2023-01-08T15:20:00Z."
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.timestamp()


def is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def v1_body(body: bytes) -> dict[str, object]:
    if not body.strip():
        return {}
    text = body.decode("utf-8", errors="replace")
    try:
        doc = parse_json(text)
    except ValueError:
        return {k: v[-1] for k, v in parse_qs(text.strip(), keep_blank_values=True).items() if v}
    if not isinstance(doc, dict):
        raise Invalid(400, "Invalid body: expected a JSON object or form fields.")
    return doc


def v1_bool(value: object, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if is_int(value) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
    raise Invalid(400, f"Invalid {name}: use true or false.")


def numeric_param(ctx: Ctx, name: str, message: str) -> int:
    """The path segment ``name`` as an id; a 400 with ``message`` when it is not a number."""
    text = ctx.params[name]
    if not (text.isascii() and text.isdigit()):
        raise Invalid(400, message)
    return int(text)
