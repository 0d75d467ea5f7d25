"""The records of the local MemCachier API: what it keeps, and the snapshots it hands out."""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credential:
    """A snapshot of one credential; ``password`` is the full MemCachier password
    (``"<username> <secret>"``) and never shown by ``repr``."""

    id: int
    username: str
    password: str = field(repr=False)
    write_capability: bool
    flush_capability: bool
    api_capability: bool
    primary: bool
    memcached_login: bool


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; never holds a password.

    ``path`` is the raw request target (query string included); ``user`` the basic-auth
    username when the credential authenticated, else ``None``; ``api`` ``"v1"``, ``"v2"``
    or ``None``; ``route`` the matched endpoint's name; ``status`` the status sent (``None``
    when the connection was dropped before answering); ``fault`` the injected fault, if any.
    """

    method: str
    path: str
    status: int | None
    user: str | None = None
    api: str | None = None
    route: str | None = None
    fault: str | None = None
    body: bytes = b""


@dataclass(frozen=True)
class PrefixSample:
    num_keys: int | None
    total_size: int | None
    hits: int
    misses: int
    mutations: int


@dataclass(frozen=True)
class Sample:
    """One sampling of memcached: ``stats`` maps ``host:port`` to memcached's integer
    stats; ``latency_ns`` maps it to the ``stats`` round trip."""

    time: float
    stats: Mapping[str, Mapping[str, int]]
    latency_ns: Mapping[str, float]
    prefixes: Mapping[int, PrefixSample] = field(default_factory=dict, repr=False)


@dataclass
class Cred:
    id: int
    username: str
    secret: str
    write: bool = True
    flush: bool = True
    api: bool = True
    primary: bool = False
    login: bool = False

    @property
    def password(self) -> str:
        return f"{self.username} {self.secret}"

    def snapshot(self) -> Credential:
        return Credential(
            id=self.id,
            username=self.username,
            password=self.password,
            write_capability=self.write,
            flush_capability=self.flush,
            api_capability=self.api,
            primary=self.primary,
            memcached_login=self.login,
        )

    def password_ok(self, password: str) -> bool:
        return hmac.compare_digest(password.encode(), self.password.encode())

    def capabilities(self) -> dict[str, bool]:
        # The order of both documents' update responses.
        return {
            "flush_capability": self.flush,
            "write_capability": self.write,
            "api_capability": self.api,
        }


@dataclass(frozen=True)
class Event:
    time: float
    kind: str  # "hit", "miss", "mutation", "not_stored", "eviction", "admin"
    key: str
    command: str
    status: str
    size: int
    logged: float | None = None  # memcached's own ts; None for this server's commands


@dataclass
class PrefixCounts:
    hits: int = 0
    misses: int = 0
    mutations: int = 0


def new_username(taken: set[str]) -> str:
    """Six upper-case hex characters with at least one letter (so never a numeric id)."""
    while True:
        name = secrets.token_hex(3).upper()
        if not name.isdigit() and name not in taken:
            return name


__all__ = [
    "Cred",
    "Credential",
    "Event",
    "PrefixCounts",
    "PrefixSample",
    "RecordedRequest",
    "Sample",
    "new_username",
]
