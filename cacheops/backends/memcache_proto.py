"""memcached's text protocol without I/O: commands as bytes, replies parsed from bytes.

Shared by the sync short paths (:mod:`.memcache_wire`, blocking sockets) and the asyncio
backend (:mod:`cacheops.aio.memcache_pool`, streams), so both send the same bytes and read
replies with the same code. Nothing here reads or writes: a parser is given what was
received so far and says what it found, or how many bytes it needs before it can go on.

Errors are pymemcache's exceptions, which the memcache backends translate in one place
(:mod:`.memcache_rules`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TypeVar

from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)

_T = TypeVar("_T")

Found = dict[bytes, tuple[bytes, int]]
"""``{key: (value, flags)}``: what a ``get`` reply holds."""


# -- commands ------------------------------------------------------------------------------


def login_command(username: str, password: str) -> bytes:
    """MemCachier's ASCII login: the username is the key, the password the value."""
    payload = password.encode("utf-8")
    return b"set %s 0 0 %d\r\n%s\r\n" % (username.encode("ascii"), len(payload), payload)


def store_command(command: bytes, key: bytes, payload: bytes, flags: int, expire: int) -> bytes:
    """``set``/``add``/``replace``, a reply awaited."""
    return b"%s %s %d %d %d\r\n%s\r\n" % (command, key, flags, expire, len(payload), payload)


def cas_command(key: bytes, payload: bytes, flags: int, expire: int, token: int) -> bytes:
    return b"cas %s %d %d %d %d\r\n%s\r\n" % (key, flags, expire, len(payload), token, payload)


# -- replies -------------------------------------------------------------------------------


def raise_error(line: bytes, command: bytes) -> None:
    """A reply line that is not the command's answer: the errors pymemcache raises."""
    if line.startswith(b"CLIENT_ERROR"):
        raise MemcacheClientError(line[line.find(b" ") + 1 :])
    if line.startswith(b"SERVER_ERROR"):
        raise MemcacheServerError(line[line.find(b" ") + 1 :])
    if line.startswith(b"ERROR"):
        raise MemcacheUnknownCommandError(command)
    raise MemcacheUnknownError(line[:32])


def line_reply(line: bytes, command: bytes, answers: Mapping[bytes, _T]) -> _T:
    """The meaning of a one-line reply (without its ``\\r\\n``) among ``answers``."""
    try:
        return answers[line]
    except KeyError:
        raise_error(line, command)
        raise  # unreachable: raise_error raises


STORE_ANSWERS = {b"STORED": True, b"NOT_STORED": False}
CAS_ANSWERS = {b"STORED": True, b"EXISTS": False, b"NOT_FOUND": False}
DELETE_ANSWERS = {b"DELETED": True, b"NOT_FOUND": False}
TOUCH_ANSWERS = {b"TOUCHED": True, b"NOT_FOUND": False}
OK_ANSWERS = {b"OK": True}


def counter_reply(line: bytes, command: bytes) -> int | None:
    """The reply to ``incr``/``decr``: the new value, None when the key is missing."""
    if line.isdigit():
        return int(line)
    return line_reply(line, command, {b"NOT_FOUND": None})


#: A ``VALUE <key> <flags> <bytes>[ <cas>]`` line.
_VALUE = re.compile(rb"VALUE (\S+) (\d+) (\d+)(?: (\d+))?\r\n")


def scan_values(
    buf: bytes, pos: int, found: Found, tokens: dict[bytes, int] | None = None
) -> tuple[int, int]:
    """Parse the reply to ``get``/``gets`` in ``buf`` from ``pos``, into ``found`` (and the
    cas tokens of a ``gets`` into ``tokens``). Returns ``(pos, 0)`` when its ``END`` line
    was read, else ``(pos, need)``: parsing stopped at ``pos`` and goes on once ``buf``
    holds ``need`` bytes. Values are cut by the lengths in their ``VALUE`` lines, so a
    value containing ``\\r\\nEND\\r\\n`` is never taken for the end."""
    match = _VALUE.match
    while True:
        header = match(buf, pos)
        if header is not None:
            key, flags, size, cas = header.groups()
            start = header.end()
            end = start + int(size)
            if end + 2 > len(buf):
                return pos, end + 2
            found[key] = (buf[start:end], int(flags))
            if tokens is not None and cas is not None:
                tokens[key] = int(cas)
            pos = end + 2
            continue
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return pos, len(buf) + 1
        if eol == pos + 3 and buf.startswith(b"END", pos):
            return eol + 2, 0
        if buf.startswith(b"VALUE", pos):
            raise MemcacheUnknownError(buf[pos : min(eol, pos + 32)])
        raise_error(buf[pos:eol], b"get")


def scan_stats(buf: bytes, pos: int, stats: dict[str, str]) -> tuple[int, int]:
    """Like :func:`scan_values`, for the ``STAT <name> <value>`` lines of ``stats``."""
    while True:
        eol = buf.find(b"\r\n", pos)
        if eol < 0:
            return pos, len(buf) + 1
        line = buf[pos:eol]
        pos = eol + 2
        if line == b"END":
            return pos, 0
        if not line.startswith(b"STAT "):
            raise_error(line, b"stats")
        name, _, value = line[5:].decode("utf-8", "replace").partition(" ")
        stats[name] = value


__all__ = [
    "CAS_ANSWERS",
    "DELETE_ANSWERS",
    "OK_ANSWERS",
    "STORE_ANSWERS",
    "TOUCH_ANSWERS",
    "Found",
    "cas_command",
    "counter_reply",
    "line_reply",
    "login_command",
    "raise_error",
    "scan_stats",
    "scan_values",
    "store_command",
]
