"""The bytes of memcached's text protocol that cacheops handles itself, not pymemcache.

MemCachier's login (a ``set`` sent on the raw socket of each new connection), and the two
commands on the hot path, where pymemcache's generic code costs more than the network:

- the reply to a ``get`` of one or many keys, which pymemcache reads a line and a value at
  a time (a few microseconds of Python per key: most of what a 100-key ``get_many`` costs
  on a local server). Here it is received in large chunks and cut by the lengths in its
  ``VALUE`` lines, so a value containing ``\\r\\nEND\\r\\n`` is never taken for the end;
- a single ``set``/``add``/``replace``, about 5 µs of Python in pymemcache against 0.5 µs
  here (measured with a socket that answers at once).

Errors are pymemcache's exceptions, so the backend translates them in one place.
"""

from __future__ import annotations

import re
import socket

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)

_CHUNK = 65536


def login_command(username: str, password: str) -> bytes:
    """MemCachier's ASCII login: the username is the key, the password the value."""
    payload = password.encode("utf-8")
    return b"set %s 0 0 %d\r\n%s\r\n" % (username.encode("ascii"), len(payload), payload)


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


def raise_error(line: bytes, command: bytes) -> None:
    """A reply line that is not the command's answer: the errors pymemcache raises."""
    if line.startswith(b"CLIENT_ERROR"):
        raise MemcacheClientError(line[line.find(b" ") + 1 :])
    if line.startswith(b"SERVER_ERROR"):
        raise MemcacheServerError(line[line.find(b" ") + 1 :])
    if line.startswith(b"ERROR"):
        raise MemcacheUnknownCommandError(command)
    raise MemcacheUnknownError(line[:32])


def store(
    sock: socket.socket, command: bytes, key: bytes, payload: bytes, flags: int, expire: int
) -> bool:
    """One ``set``/``add``/``replace``: True when ``STORED``, False when ``NOT_STORED``."""
    sock.sendall(b"%s %s %d %d %d\r\n%s\r\n" % (command, key, flags, expire, len(payload), payload))
    reply = sock.recv(256)
    while not reply.endswith(b"\r\n"):
        chunk = sock.recv(256)
        if not chunk:
            raise MemcacheUnexpectedCloseError()
        reply += chunk
    if reply == b"STORED\r\n":
        return True
    if reply == b"NOT_STORED\r\n":
        return False
    raise_error(reply[:-2], command)
    return False  # unreachable: raise_error raises


#: A ``VALUE <key> <flags> <bytes>`` line (a ``gets`` reply adds `` <cas>``, ignored here).
_VALUE = re.compile(rb"VALUE (\S+) (\d+) (\d+)(?: \d+)?\r\n")


def read_values(sock: socket.socket) -> dict[bytes, tuple[bytes, int]]:
    """The whole reply to a ``get``: ``{key: (value, flags)}`` for each ``VALUE`` line."""
    found: dict[bytes, tuple[bytes, int]] = {}
    match = _VALUE.match
    buf = b""
    pos = 0
    while True:
        while True:
            header = match(buf, pos)
            if header is not None:
                key, flags, size = header.groups()
                start = header.end()
                end = start + int(size)
                if end + 2 > len(buf):
                    need = end + 2
                    break
                found[key] = (buf[start:end], int(flags))
                pos = end + 2
                continue
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                need = len(buf) + 1
                break
            if eol == pos + 3 and buf.startswith(b"END", pos):
                return found
            if buf.startswith(b"VALUE", pos):
                raise MemcacheUnknownError(buf[pos : min(eol, pos + 32)])
            raise_error(buf[pos:eol], b"get")
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
