"""The bytes of memcached's text protocol that cacheops handles itself, not pymemcache.

MemCachier's login (a ``set`` sent on the raw socket of each new connection), and the two
commands on the hot path, where pymemcache's generic code costs more than the network:

- the reply to a ``get`` of one or many keys, which pymemcache reads a line and a value at
  a time (a few microseconds of Python per key: most of what a 100-key ``get_many`` costs
  on a local server). Here it is received in large chunks and cut by the lengths in its
  ``VALUE`` lines, so a value containing ``\\r\\nEND\\r\\n`` is never taken for the end;
- a single ``set``/``add``/``replace``, about 5 µs of Python in pymemcache against 0.5 µs
  here (measured with a socket that answers at once).

The bytes and the parsing are :mod:`.memcache_proto`'s, shared with the asyncio backend;
this module only moves them over a blocking socket.
"""

from __future__ import annotations

import socket

from pymemcache.exceptions import MemcacheUnexpectedCloseError

from .memcache_proto import (
    STORE_ANSWERS,
    Found,
    line_reply,
    login_command,
    raise_error,
    scan_values,
    store_command,
)

_CHUNK = 65536


def read_line(sock: socket.socket) -> bytes:
    """One short reply line (the login's), without its ``\\r\\n``."""
    data = b""
    while not data.endswith(b"\r\n"):
        chunk = sock.recv(256)
        if not chunk:
            raise ConnectionResetError("the server closed the connection during login")
        data += chunk
        if len(data) > 4096:
            break
    return data.strip()


def store(
    sock: socket.socket, command: bytes, key: bytes, payload: bytes, flags: int, expire: int
) -> bool:
    """One ``set``/``add``/``replace``: True when ``STORED``, False when ``NOT_STORED``."""
    sock.sendall(store_command(command, key, payload, flags, expire))
    reply = sock.recv(256)
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(256)
        if not chunk:
            raise MemcacheUnexpectedCloseError()
        reply += chunk
    return line_reply(reply[:-2], command, STORE_ANSWERS)


def read_values(sock: socket.socket) -> Found:
    """The whole reply to a ``get``: ``{key: (value, flags)}`` for each ``VALUE`` line."""
    found: Found = {}
    buf = b""
    pos = 0
    while True:
        pos, need = scan_values(buf, pos, found)
        if not need:
            return found
        # Keep only what is not parsed yet, then read at least what the parse needs.
        chunks = [buf[pos:]]
        have, need, pos = len(chunks[0]), need - pos, 0
        while have < need:
            chunk = sock.recv(max(_CHUNK, need - have))
            if not chunk:
                raise MemcacheUnexpectedCloseError()
            chunks.append(chunk)
            have += len(chunk)
        buf = b"".join(chunks)


__all__ = ["login_command", "raise_error", "read_line", "read_values", "store"]
