"""The HTTP layer's settings, as one validated value passed to whoever sends requests."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ConfigurationError

__all__ = [
    "DEFAULT_BACKOFF_FACTOR",
    "DEFAULT_BREAKER_WINDOW",
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_POOL_SIZE",
    "DEFAULT_RETRIES",
    "DEFAULT_RETRY_DEADLINE",
    "DEFAULT_TIMEOUT",
    "HTTPOptions",
]

DEFAULT_TIMEOUT = 5.0
DEFAULT_CONNECT_TIMEOUT = 2.0
DEFAULT_RETRIES = 3
DEFAULT_RETRY_DEADLINE = 10.0
DEFAULT_BACKOFF_FACTOR = 0.1
DEFAULT_POOL_SIZE = 16
# As memcached's (cacheops.backends.memcache_rules): one probe a second of a dead service.
DEFAULT_BREAKER_WINDOW = 1.0


@dataclass(frozen=True)
class HTTPOptions:
    """How requests are sent and retried. Immutable, checked when built: a bad value is a
    :class:`~cacheops.errors.ConfigurationError` naming the option.

    - ``timeout``: seconds to wait for a reply (read timeout); ``connect_timeout``: seconds
      to open a connection. Both finite and above zero: a request always has a timeout.
    - ``retries``: how many times a request may be resent; ``retry_deadline``: seconds,
      counted from the first attempt, past which no attempt starts and no wait runs;
      ``backoff_factor``: the first backoff wait, doubled for each later one (plus up to
      as much again of jitter).
    - ``pool_size``: keep-alive connections kept per process.
    - ``max_body_size``: a larger request body is refused before anything is sent
      (``None``: no limit).
    - ``allow_insecure_http``: allow plain ``http://`` to a host that is not loopback.
    - ``breaker_window``: seconds the circuit breaker stays open after a request found the
      service unreachable (requests fail fast meanwhile), then lets one request probe it
      (:mod:`cacheops.http.breaker`); 0 turns the breaker off.
    """

    timeout: float = DEFAULT_TIMEOUT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    retries: int = DEFAULT_RETRIES
    retry_deadline: float = DEFAULT_RETRY_DEADLINE
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR
    pool_size: int = DEFAULT_POOL_SIZE
    max_body_size: int | None = None
    allow_insecure_http: bool = False
    breaker_window: float = DEFAULT_BREAKER_WINDOW

    def __post_init__(self) -> None:
        for name in ("timeout", "connect_timeout"):
            _seconds(self, name, "a positive number of seconds", lambda v: v > 0)
        for name in ("retry_deadline", "backoff_factor", "breaker_window"):
            _seconds(self, name, "0 or more seconds", lambda v: v >= 0)
        _count(self, "retries", 0)
        _count(self, "pool_size", 1)
        if self.max_body_size is not None:
            _count(self, "max_body_size", 1)
        if not isinstance(self.allow_insecure_http, bool):
            raise ConfigurationError("option allow_insecure_http must be True or False")


def _seconds(options: HTTPOptions, name: str, what: str, ok: Callable[[float], bool]) -> None:
    value = getattr(options, name)
    valid = (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and ok(value)
    )
    if not valid:
        raise ConfigurationError(f"option {name} must be {what}, not {value!r}")
    # Stored as a float, so that an int given here prints and compares like the default.
    object.__setattr__(options, name, float(value))


def _count(options: HTTPOptions, name: str, least: int) -> None:
    value = getattr(options, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < least:
        raise ConfigurationError(f"option {name} must be a whole number, {least} or more")
