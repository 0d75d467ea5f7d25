"""Talking to a local memcached over a raw socket: its ASCII replies, the MemCachier-shaped
login and the authfile rules behind that login.

The MemCachier-login trick
--------------------------
MemCachier's ASCII-protocol login is the first command on each connection::

    set <MEMCACHIER_USERNAME> 0 0 <len(password)>\\r\\n<password>\\r\\n   ->  STORED

A stock memcached started with ``-Y AUTHFILE`` (file lines ``user:pass``, ASCII protocol only)
also wants a ``set`` as the first command, but reads its payload as ``<user> <pass>`` and
*ignores the key*. So if a client is configured with username ``alice`` and password
``"alice secret"`` (the literal string, with the space), the login it sends for MemCachier::

    set alice 0 0 12\\r\\nalice secret\\r\\n

is exactly the login a real memcached accepts for the authfile line ``alice:secret``. That lets
tests exercise per-connection login, re-login after a reconnect, bad credentials, several
servers and failover against a real server.
:meth:`~cacheops.testing.memcached.MemcachedServer.memcachier_credentials` and
:meth:`~cacheops.testing.memcached.MemcachedServer.memcachier_url` hand out credentials in
that shape.

Limits of memcached 1.6.18's authfile, checked against the binary (it fails *silently* on
each, so :func:`check_users` refuses them up front with :class:`ValueError`): at most 8
entries (the 9th and later are ignored); a line of at most 254 bytes (longer lines are cut
and the password never matches); no whitespace in user or password (the ``<user> <pass>``
payload is tokenised on spaces); no ``:`` in the user; a non-empty password. The last line must
end in a newline, or its final character is lost. A ``SIGHUP`` reload is applied on the
server's next one-second clock tick, not at once, so
:meth:`~cacheops.testing.memcached.MemcachedServer.reload_auth` waits for it.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping

__all__ = [
    "ERROR_PREFIXES",
    "MAX_AUTH_LINE_BYTES",
    "MAX_USERS",
    "MemcachedError",
    "check_users",
    "login_payload",
    "read_reply",
    "request",
]

MAX_USERS = 8
"""memcached's authfile holds at most 8 entries and silently ignores the rest."""
MAX_AUTH_LINE_BYTES = 254
"""Longest ``user:pass`` line memcached 1.6.18 reads whole (it reads lines with a 256-byte
``fgets`` buffer; a longer line is cut and its password never matches)."""
#: The first words of memcached's error replies.
ERROR_PREFIXES = (b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR", b"BUSY")


class MemcachedError(RuntimeError):
    """A local memcached failed to start, or answered something unexpected."""


def check_users(users: Mapping[str, str]) -> dict[str, str]:
    """Copy ``users``, refusing what memcached's authfile would silently get wrong."""
    if not users:
        raise ValueError("users must name at least one user (or be None for no authentication)")
    if len(users) > MAX_USERS:
        raise ValueError(
            f"memcached's authfile holds at most {MAX_USERS} users, got {len(users)}; "
            "it would silently ignore the rest"
        )
    for user, password in users.items():
        if not user or not password:
            raise ValueError("user names and passwords must not be empty")
        for what, text in (("user name", user), ("password", password)):
            if any(ord(ch) <= 32 or ord(ch) == 127 for ch in text):
                raise ValueError(
                    f"{what} {text!r} contains whitespace or control characters; "
                    "memcached's '<user> <pass>' login cannot carry them"
                )
        if ":" in user:
            raise ValueError(f"user name {user!r} contains ':', the authfile separator")
        line_bytes = len(f"{user}:{password}".encode())
        if line_bytes > MAX_AUTH_LINE_BYTES:
            raise ValueError(
                f"'user:pass' for {user!r} is {line_bytes} bytes; memcached reads at most "
                f"{MAX_AUTH_LINE_BYTES} and would never match a longer one"
            )
    return dict(users)


def read_reply(sock: socket.socket, terminator: bytes = b"\r\n") -> bytes:
    """Read until the reply ends with ``terminator`` or is an error line.

    Error lines (``ERROR``, ``CLIENT_ERROR ...``, ``SERVER_ERROR ...``, ``BUSY ...``) end a
    reply whatever terminator was expected, so a refused ``stats`` returns instead of hanging.
    """
    reply = b""
    while not reply.endswith(terminator):
        if reply.startswith(ERROR_PREFIXES) and reply.endswith(b"\r\n"):
            break
        chunk = sock.recv(65536)
        if not chunk:
            raise MemcachedError(f"memcached closed the connection; reply so far: {reply[:200]!r}")
        reply += chunk
    return reply


def request(sock: socket.socket, payload: bytes, terminator: bytes = b"\r\n") -> bytes:
    """Send ``payload`` and read its reply (see :func:`read_reply`)."""
    sock.sendall(payload)
    return read_reply(sock, terminator)


def login_payload(user: str, password: str) -> bytes:
    """The MemCachier-shaped login a real memcached accepts: key ``user``, data ``user pass``."""
    data = f"{user} {password}".encode()
    return b"set %s 0 0 %d\r\n%s\r\n" % (user.encode(), len(data), data)
