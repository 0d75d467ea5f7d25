"""HTTP/1.1 on asyncio streams: the async client's keep-alive connection pool.

The protocol is ``h11``'s (sans-I/O: bytes in, events out; it does the framing, chunked
encoding and keep-alive rules); this module only moves the bytes, times them out and pools
the connections. It replaced ``httpx``, whose pool spent 0.8 to 1 ms of CPU per request
at 16 in flight, rescanning every connection for each request event (encode/httpx#3215):
five times this whole client's (see ``benchmarks/README.md``).

Failures are raised as the kinds of :mod:`cacheops.http.mapping` (never sent, or sent and
so maybe applied); none of them holds a request or its headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import ssl
import sys
import time
import urllib.request
from collections.abc import Awaitable, Iterable
from typing import TypeVar
from urllib.parse import urlsplit

import h11
from requests.structures import CaseInsensitiveDict

from ..config import Server
from ..errors import ConfigurationError
from .mapping import (
    ConnectFailed,
    ConnectionLost,
    ConnectTimedOut,
    InvalidRequest,
    PoolTimedOut,
    ReplyTimedOut,
)
from .message import require_framed
from .options import HTTPOptions

__all__ = ["KEEPALIVE_EXPIRY", "Exchanged", "Pool", "refuse_proxy", "tls_context"]

#: Seconds an idle connection is kept: servers drop idle ones (often after 5 to 60 s), and
#: a request sent just as the server closes could have been applied or not.
KEEPALIVE_EXPIRY = 5.0
_READ_SIZE = 65536
_T = TypeVar("_T")

Exchanged = tuple[int, CaseInsensitiveDict[str], bytes]


async def _within(seconds: float, awaitable: Awaitable[_T]) -> _T:
    """``awaitable``, or TimeoutError past ``seconds``."""
    if sys.version_info >= (3, 11):
        async with asyncio.timeout(seconds):
            return await awaitable
    try:  # pragma: no cover - Python 3.10, where asyncio's TimeoutError is its own class
        return await asyncio.wait_for(awaitable, seconds)
    except asyncio.TimeoutError:
        raise TimeoutError from None


def refuse_proxy(base_url: str, backend: str) -> None:
    """Raise :class:`~cacheops.errors.ConfigurationError` when the environment sends
    ``base_url`` through a proxy (``HTTPS_PROXY``...): this transport does not, and going
    around one the network may require would fail in a way hard to tell apart."""
    parts = urlsplit(base_url)
    host = parts.hostname or ""
    if Server(host, parts.port or 0).is_loopback:
        return
    proxies = urllib.request.getproxies()
    if not (proxies.get(parts.scheme) or proxies.get("all")) or urllib.request.proxy_bypass(host):
        return
    # The proxy's URL is not named: it may hold its password.
    raise ConfigurationError(
        f"{backend}: {parts.scheme.upper()}_PROXY is set, and the async client does not go "
        f"through proxies: add {host} to NO_PROXY to connect directly, or use connect() "
        "(the sync client honours the proxy)"
    )


def tls_context() -> ssl.SSLContext:
    """Verifying TLS (there is no switch to turn it off): the CA bundle in
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set, else certifi's, as ``requests`` uses."""
    if os.environ.get("SSL_CERT_FILE") or os.environ.get("SSL_CERT_DIR"):
        return ssl.create_default_context()
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _Connection:
    """One socket and its HTTP/1.1 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.state = h11.Connection(h11.CLIENT)
        self.idle_since = 0.0

    def reusable(self, now: float) -> bool:
        """Idle, recent and still open, with nothing unasked-for waiting to be read."""
        return (
            now - self.idle_since < KEEPALIVE_EXPIRY
            and not self.reader.at_eof()
            and not self.writer.is_closing()
        )

    def close(self) -> None:
        self.writer.close()

    async def exchange(self, method: str, request: h11.Request, body: bytes | None) -> Exchanged:
        state = self.state
        try:
            data = state.send(request) or b""
            if body:
                data += state.send(h11.Data(data=body)) or b""
            data += state.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            # Its words may quote a header, and so the credential.
            raise InvalidRequest("a header is not valid") from None
        self.writer.write(data)
        await self.writer.drain()
        status, headers, content = 0, CaseInsensitiveDict[str](), bytearray()
        while True:
            event = state.next_event()
            if event is h11.NEED_DATA:
                state.receive_data(await self.reader.read(_READ_SIZE))
            elif isinstance(event, h11.Response):
                status = event.status_code
                headers = _headers(event.headers)
                # Before reading a body whose end only the connection closing would tell.
                require_framed(method, status, headers)
            elif isinstance(event, h11.Data):
                content += event.data
            elif isinstance(event, h11.EndOfMessage):
                return status, headers, bytes(content)
            elif isinstance(event, h11.ConnectionClosed):
                raise h11.RemoteProtocolError("the connection closed before a reply")
            # h11.InformationalResponse (1xx): the final answer follows.

    def finish(self, now: float) -> bool:
        """Ready the connection for its next request; False if it cannot take one."""
        state = self.state
        if state.our_state is not h11.DONE or state.their_state is not h11.DONE:
            return False  # e.g. the server said Connection: close
        if state.trailing_data[0]:
            return False  # bytes past the reply: no request of ours asked for them
        state.start_next_cycle()
        self.idle_since = now
        return True


def _headers(raw: Iterable[tuple[bytes, bytes]]) -> CaseInsensitiveDict[str]:
    headers = CaseInsensitiveDict[str]()
    for name, value in raw:
        key, text = name.decode("latin-1"), value.decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


class Pool:
    """Keep-alive connections to one origin, for one event loop: at most
    ``options.pool_size`` open and as many requests in flight (more wait, up to
    ``options.timeout``); the most recently used idle connection is reused first."""

    def __init__(self, base_url: str, options: HTTPOptions) -> None:
        parts = urlsplit(base_url)
        self._host = parts.hostname or ""
        tls = parts.scheme == "https"
        self._port = parts.port or (443 if tls else 80)
        self._ssl = tls_context() if tls else None
        self._origin = f"{parts.scheme}://{parts.netloc}"
        self._authority = parts.netloc.encode("ascii")
        self._options = options
        self._slots = asyncio.Semaphore(options.pool_size)
        self._idle: list[_Connection] = []
        self._closed = False

    def target(self, url: str) -> str:
        """The request target (path and query) of an absolute ``url`` on this origin."""
        return url[len(self._origin) :] or "/"

    async def send(
        self, method: str, target: str, headers: dict[str, str], body: bytes | None
    ) -> Exchanged:
        """One exchange: the status, headers and whole body of the reply. Whatever stops
        it (a failure, a cut reply, a cancelled task) closes its connection, so that none
        goes back to the pool with an unread reply."""
        fields = [(b"Host", self._authority)]
        fields += [
            (name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()
        ]
        if body is not None or method in ("POST", "PUT", "PATCH"):
            fields.append((b"Content-Length", str(len(body or b"")).encode()))
        try:
            request = h11.Request(method=method, target=target, headers=fields)
        except (h11.LocalProtocolError, UnicodeEncodeError):
            raise InvalidRequest("a header is not valid") from None
        options = self._options
        try:
            await _within(options.timeout, self._slots.acquire())
        except TimeoutError:
            raise PoolTimedOut("no free connection") from None
        try:
            connection = self._reuse() or await self._connect()
            try:
                exchanged = await _within(
                    options.timeout, connection.exchange(method, request, body)
                )
            except TimeoutError:
                connection.close()
                raise ReplyTimedOut("timed out") from None
            except (OSError, h11.RemoteProtocolError) as exc:
                connection.close()
                raise ConnectionLost(str(exc) or type(exc).__name__) from exc
            except BaseException:
                connection.close()
                raise
            if not self._closed and connection.finish(time.monotonic()):
                self._idle.append(connection)
            else:
                connection.close()
            return exchanged
        finally:
            self._slots.release()

    def _reuse(self) -> _Connection | None:
        now = time.monotonic()
        while self._idle:
            connection = self._idle.pop()
            if connection.reusable(now):
                return connection
            connection.close()
        return None

    async def _connect(self) -> _Connection:
        try:
            reader, writer = await _within(
                self._options.connect_timeout,
                asyncio.open_connection(
                    self._host,
                    self._port,
                    ssl=self._ssl,
                    server_hostname=self._host if self._ssl else None,
                    limit=_READ_SIZE,
                ),
            )
        except TimeoutError:
            raise ConnectTimedOut("timed out") from None
        except OSError as exc:  # ssl.SSLError among them
            raise ConnectFailed(str(exc) or type(exc).__name__) from exc
        return _Connection(reader, writer)

    async def aclose(self) -> None:
        """Close the idle connections now, and those in use when their reply is in."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
        for connection in idle:
            # A connection already broken is as closed as asked.
            with contextlib.suppress(OSError):
                await connection.writer.wait_closed()
