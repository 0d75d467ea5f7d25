"""The local MemCachier API's own connections to memcached, and the commands it sends.

Every command this server sends (``stats``, ``flush_all``, ``stats reset``) is reported to
``on_command`` as ``(label, "OK" | "ERROR")``: the v2 ``recent_logs`` lists them.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import time
from collections.abc import Callable
from urllib.parse import unquote

from cacheops.testing.memcached_wire import (
    ERROR_PREFIXES,
    MemcachedError,
    login_payload,
    read_reply,
)

ADMIN_TIMEOUT = 5.0

#: Gives the ``(username, secret)`` to log in with, or ``None`` for a memcached without users.
Login = Callable[[], tuple[str, str] | None]


def open_connection(address: tuple[str, int], login: Login, what: str) -> socket.socket:
    """A new connection to memcached, logged in when ``login`` gives credentials."""
    sock = socket.create_connection(address, timeout=ADMIN_TIMEOUT)
    try:
        credentials = login()
        if credentials is not None:
            sock.sendall(login_payload(*credentials))
            reply = read_reply(sock, b"\r\n")
            if reply != b"STORED\r\n":
                raise MemcachedError(f"{what}: login refused by memcached: {reply!r}")
    except BaseException:
        sock.close()
        raise
    return sock


def parse_stats(reply: bytes) -> dict[str, int]:
    stats: dict[str, int] = {}
    for line in reply.decode(errors="replace").split("\r\n"):
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[0] == "STAT":
            with contextlib.suppress(ValueError):
                stats[parts[1]] = int(parts[2])
    return stats


class AdminConnection:
    """One persistent, logged-in connection for stats, flush_all, stats reset, me, metadump.

    Reconnects (and logs in again) once when a command fails on a stale connection.
    """

    def __init__(
        self,
        address: tuple[str, int],
        login: Login,
        on_command: Callable[[str, str], None],
    ) -> None:
        self._address = address
        self._login = login
        self._on_command = on_command
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def command(self, payload: bytes, terminator: bytes = b"\r\n") -> bytes:
        with self._lock:
            for attempt in (0, 1):
                try:
                    sock = self._connect()
                    sock.sendall(payload)
                    reply = read_reply(sock, terminator)
                except (OSError, MemcachedError):
                    self._close()
                    if attempt:
                        raise
                    continue
                if reply.startswith(b"CLIENT_ERROR unauthenticated") and not attempt:
                    self._close()
                    continue
                return reply
        raise AssertionError("unreachable")  # pragma: no cover

    def close(self) -> None:
        with self._lock:
            self._close()

    def stats(self) -> dict[str, int]:
        reply = self._logged(
            b"stats\r\n", "STATS", b"END\r\n", lambda r: r.startswith((b"STAT ", b"END"))
        )
        return parse_stats(reply)

    def flush_all(self) -> None:
        self._logged(b"flush_all\r\n", "FLUSH_ALL", b"\r\n", lambda r: r == b"OK\r\n")

    def reset_stats(self) -> None:
        self._logged(b"stats reset\r\n", "STATS RESET", b"\r\n", lambda r: r == b"RESET\r\n")

    def meta_debug(self, key: str) -> int | None:
        """The item size memcached reports for ``key``, or ``None`` when it is not cached."""
        reply = self.command(b"me " + key.encode() + b"\r\n")
        if not reply.startswith(b"ME "):
            return None
        match = re.search(rb" size=(\d+)", reply)
        return int(match.group(1)) if match else 0

    def metadump(self) -> list[tuple[str, int, int]] | None:
        """``(key, exp, size)`` of every item, or ``None`` when memcached cannot list them."""
        for _ in range(10):
            try:
                reply = self.command(b"lru_crawler metadump all\r\n", b"END\r\n")
            except (OSError, MemcachedError):
                return None
            if reply.startswith(b"BUSY"):
                time.sleep(0.02)
                continue
            if reply.startswith(ERROR_PREFIXES):
                return None
            return _metadump_items(reply)
        return None

    def _logged(
        self, payload: bytes, label: str, terminator: bytes, ok: Callable[[bytes], bool]
    ) -> bytes:
        """Send a command ``recent_logs`` shows; a failure is a :class:`MemcachedError`."""
        try:
            reply = self.command(payload, terminator)
        except (OSError, MemcachedError) as err:
            self._on_command(label, "ERROR")
            raise MemcachedError(f"{label.lower()} failed: {err}") from err
        if not ok(reply):
            self._on_command(label, "ERROR")
            raise MemcachedError(f"unexpected reply to {label.lower()}: {reply[:200]!r}")
        self._on_command(label, "OK")
        return reply

    def _connect(self) -> socket.socket:
        if self._sock is None:
            sock = open_connection(self._address, self._login, "admin connection")
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._sock = sock
        return self._sock

    def _close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


def _metadump_items(reply: bytes) -> list[tuple[str, int, int]]:
    items: list[tuple[str, int, int]] = []
    for line in reply.decode("utf-8", errors="replace").splitlines():
        fields = dict(part.partition("=")[::2] for part in line.split(" ") if "=" in part)
        if "key" not in fields:
            continue
        try:
            items.append(
                (unquote(fields["key"]), int(fields.get("exp", "-1")), int(fields["size"]))
            )
        except (KeyError, ValueError):
            continue
    return items


__all__ = ["ADMIN_TIMEOUT", "AdminConnection", "Login", "open_connection", "parse_stats"]
