"""cacheops: one cache API over MemCachier, memcached, IronCache and an in-process store."""

from . import admin as _admin  # noqa: F401 - registers the built-in backends' admins
from ._version import __version__
from .aio import AsyncBackend, connect_async
from .backend import Backend
from .backends import connect
from .config import CacheConfig
from .errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    KeyNotFound,
    NotNumeric,
    NotSupported,
    PermissionDenied,
    SerializationError,
    UnknownOutcome,
    ValueTooLarge,
)

__all__ = [
    "AsyncBackend",
    "AuthenticationError",
    "Backend",
    "BackendUnavailable",
    "CacheConfig",
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
    "__version__",
    "connect",
    "connect_async",
]
