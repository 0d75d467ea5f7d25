"""The bulk reader of ``get`` replies: against a real memcached, and against a scripted peer
for what memcached does not produce on demand (an error or a hang-up inside a reply, a reply
split at every byte)."""

from __future__ import annotations

import socket
import threading

import pytest
from pymemcache.exceptions import (
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
    MemcacheUnknownError,
)

import cacheops
from cacheops.backends.memcache import LoginClient
from cacheops.backends.memcache_wire import read_values
from cacheops.testing.memcached import MemcachedServer

TRICKY = [
    b"",
    b"\r\nEND\r\n",
    b"END",
    b"VALUE other 0 1\r\nx\r\nEND\r\n",
    b"\r\n" * 50,
    bytes(range(256)),
]


def test_values_that_look_like_protocol_come_back_byte_for_byte(memcached_url: str) -> None:
    cache = cacheops.connect(memcached_url)
    stored = {f"tricky:{i}": value for i, value in enumerate(TRICKY)}
    cache.put_many(stored)
    assert cache.get_many([*stored, "missing"]) == stored
    for key, value in stored.items():
        assert cache.get(key) == value


def test_a_reply_larger_than_one_read_is_assembled_whole(memcached_url: str) -> None:
    cache = cacheops.connect(memcached_url)
    big = {f"big:{i}": bytes([i]) * 900_000 + b"\r\nEND\r\n" for i in range(5)}
    for key, value in big.items():
        cache.put(key, value)
    small = {f"small:{i}": i for i in range(300)}
    cache.put_many(small)
    assert cache.get_many([*big, *small]) == {**big, **small}


def _scripted_reply(reply: bytes, *, step: int | None = None) -> socket.socket:
    """A socket whose peer sends ``reply`` (``step`` bytes at a time), then hangs up."""
    ours, theirs = socket.socketpair()
    ours.settimeout(5)

    def send() -> None:
        with theirs:
            if step is None:
                theirs.sendall(reply)
            else:
                for i in range(0, len(reply), step):
                    theirs.sendall(reply[i : i + step])

    threading.Thread(target=send, daemon=True).start()
    return ours


REPLY = b"VALUE a 16 3\r\nabc\r\nVALUE b 2 7\r\n\r\nEND\r\n\r\nVALUE c 0 0\r\n\r\nEND\r\n"
PARSED = {b"a": (b"abc", 16), b"b": (b"\r\nEND\r\n", 2), b"c": (b"", 0)}


@pytest.mark.parametrize("step", [None, 1, 2, 7])
def test_a_reply_cut_anywhere_parses_the_same(step: int | None) -> None:
    with _scripted_reply(REPLY, step=step) as sock:
        assert read_values(sock) == PARSED


def test_a_hang_up_inside_a_value_is_a_lost_connection_not_a_short_value() -> None:
    with (
        _scripted_reply(REPLY[:25]) as sock,
        pytest.raises(MemcacheUnexpectedCloseError),
    ):
        read_values(sock)


@pytest.mark.parametrize("header", [b"VALUE a 0 -5", b"VALUE a 0", b"VALUE a x 1", b"VALUE a 0 +1"])
def test_a_malformed_value_line_is_an_error_not_a_misread(header: bytes) -> None:
    with (
        _scripted_reply(header + b"\r\nabcdef\r\nEND\r\n") as sock,
        pytest.raises(MemcacheUnknownError),
    ):
        read_values(sock)


def test_an_error_line_inside_a_reply_raises_it() -> None:
    reply = b"VALUE a 0 1\r\nx\r\nSERVER_ERROR out of memory writing get response\r\n"
    with _scripted_reply(reply) as sock, pytest.raises(MemcacheServerError, match="out of memory"):
        read_values(sock)


def test_login_client_stays_a_pymemcache_client_outside_the_short_paths(
    memcached_server: MemcachedServer,
) -> None:
    # pymemcache's own serde and key handling (bytes keys, key_prefix, noreply) still apply
    # wherever the short paths do not.
    client = LoginClient(memcached_server.address, key_prefix=b"p:", default_noreply=False)
    assert client.set(b"k", "text") is True
    assert client.add("k", "other") is False
    assert client.get_many([b"k", "missing"]) == {b"k": b"text"}
    plain = LoginClient(memcached_server.address, default_noreply=False)
    assert plain.get("p:k") == b"text"
    assert plain.set("n", 5, noreply=True) is True
    assert plain.replace("n", 6, flags=0) is True
    assert plain.get_many(["n", "p:k"]) == {"n": b"6", "p:k": b"text"}
