"""The exception tree.

Every error carries what a person needs to act on it (which backend, which server, the
status and the server's own words) and never a password or token: messages are built from
parsed, redacted parts, never from a raw URL or a request that holds a secret.
"""

from __future__ import annotations


class CacheError(Exception):
    """Root of every error cacheops raises."""

    def __init__(
        self,
        message: str,
        *,
        backend: str | None = None,
        server: str | None = None,
        status: int | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.backend = backend
        self.server = server
        self.status = status
        self.server_message = server_message

    def __str__(self) -> str:
        context = []
        if self.backend:
            context.append(f"backend={self.backend}")
        if self.server:
            context.append(f"server={self.server}")
        if self.status is not None:
            context.append(f"status={self.status}")
        if self.server_message:
            context.append(f"server said: {self.server_message!r}")
        return f"{self.message} ({', '.join(context)})" if context else self.message

    def __reduce__(self) -> tuple[object, ...]:
        # Keyword-only context must survive pickling (multiprocessing, logging handlers).
        return (_rebuild, (type(self), self.message, self.__dict__.copy()))


def _rebuild(cls: type[CacheError], message: str, state: dict[str, object]) -> CacheError:
    error = cls.__new__(cls)
    Exception.__init__(error, message)
    error.__dict__.update(state)
    return error


class ConfigurationError(CacheError, ValueError):
    """A URL, environment or option cannot be used as given."""


class BackendUnavailable(CacheError):
    """The cache could not be reached: refused connection, timeout, 5xx after retries."""


class AuthenticationError(CacheError):
    """The server refused the credentials."""


class PermissionDenied(CacheError):
    """The credentials are valid but lack the capability the call needs."""


class InvalidKey(CacheError, ValueError):
    """A key the backend cannot carry; it never reached the wire."""


class InvalidTTL(CacheError, ValueError):
    """A ttl that is not a number of seconds the backend can store."""


class ValueTooLarge(CacheError, ValueError):
    """The encoded value is over the backend's item size."""


class SerializationError(CacheError, TypeError):
    """A value the serializer cannot encode, or a stored payload it refuses to decode."""


class NotNumeric(CacheError, ValueError):
    """increment/decrement on a value that is not a number, or with a delta or start value
    outside the numbers the backend's counters hold (memcached: unsigned 64-bit)."""


class KeyNotFound(CacheError, KeyError):
    """increment/decrement with ``default=None`` on a missing key."""


class NotSupported(CacheError, NotImplementedError):
    """The backend cannot do this at all (see the contract table in the docs)."""


class UnknownOutcome(BackendUnavailable):
    """A non-idempotent write was sent but its reply was lost: it may or may not have applied.

    It is never resent automatically, so a counter cannot move twice.
    """


__all__ = [
    "AuthenticationError",
    "BackendUnavailable",
    "CacheError",
    "ConfigurationError",
    "InvalidKey",
    "InvalidTTL",
    "KeyNotFound",
    "NotNumeric",
    "NotSupported",
    "PermissionDenied",
    "SerializationError",
    "UnknownOutcome",
    "ValueTooLarge",
]
