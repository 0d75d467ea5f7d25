"""What the local JSON-over-HTTP API servers share, standard library only.

:mod:`cacheops.testing.ironcache_server` and :mod:`cacheops.testing.memcachier_api`
each implement a cloud service's API; the plumbing around the API is the same for both and
lives here:

- :class:`LocalAPIServer`: the base of the server object a test holds: the lifecycle (bind,
  serve in a daemon thread, stop, context manager), the addresses, the fault injector
  (:class:`Faults`) and the log of the requests received (bounded: the last
  ``log_limit`` requests, each body cut to ``log_body_limit`` bytes, so that a server left
  running, as by ``cacheops serve``, does not grow with every request).
- :class:`APIRequestHandler`: the base of a server's request handler: keep-alive HTTP/1.1,
  the request body read with a size limit, the faults applied, JSON replies. A server's
  handler says how it records a request and what its error bodies look like; its
  :class:`LocalAPIServer` answers the request itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime, timezone
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

from cacheops.testing.lifecycle import StartStop
from cacheops.testing.net import wait_for_port

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "NO_BODY",
    "APIRequestHandler",
    "Faults",
    "LocalAPIServer",
    "format_retry_after",
    "phrase",
]

#: A reply payload meaning "no body at all" (not even JSON ``null``); 204 never has one.
NO_BODY: Any = object()

_JSON = "application/json"
_READ_CHUNK = 65_536

# The record type of a server's request log: a frozen dataclass with (at least) ``status``
# and ``fault`` fields.
RecT = TypeVar("RecT", bound="DataclassInstance")
AppT = TypeVar("AppT", bound="LocalAPIServer[Any]")
_S = TypeVar("_S", bound="LocalAPIServer[Any]")


# --------------------------------------------------------------------------- faults


class Faults:
    """Thread-safe fault injection; reached as ``server.faults``.

    Precedence for one request: ``latency`` (always added) → ``drop_before`` →
    ``fail_next`` → the request is applied → ``drop_after_apply`` → ``cut_reply``.  A
    request hit by one fault does not use up a later one.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latency = 0.0
        self._fail: deque[tuple[int, str | None]] = deque()
        self._drop_before = 0
        self._drop_after: list[tuple[frozenset[str], list[int]]] = []
        self._cut: list[tuple[frozenset[str] | None, str, float, list[int]]] = []

    # -- configuration

    @property
    def latency(self) -> float:
        """Seconds of delay added to every request (0 for none)."""
        with self._lock:
            return self._latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        with self._lock:
            self._latency = float(seconds)

    def fail_next(
        self, n: int = 1, status: int = 503, retry_after: int | datetime | None = None
    ) -> None:
        """Answer the next ``n`` requests with ``status`` and the server's error body.

        Nothing is applied.  With ``retry_after`` a ``Retry-After`` header is sent, in one
        of RFC 9110's two forms: whole seconds (an ``int``) or an HTTP-date (an aware
        ``datetime``).  Calls queue up in order.
        """
        _check_count(n)
        if not 400 <= status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        header = None if retry_after is None else format_retry_after(retry_after)
        with self._lock:
            self._fail.extend([(status, header)] * n)

    def drop_before(self, n: int = 1) -> None:
        """Close the connection of the next ``n`` requests without applying or answering."""
        _check_count(n)
        with self._lock:
            self._drop_before += n

    def drop_after_apply(
        self, n: int = 1, methods: Iterable[str] = ("POST", "PUT", "DELETE")
    ) -> None:
        """Apply the next ``n`` requests whose method is in ``methods``, then close the
        connection without any response (a write applied, then the answer lost)."""
        _check_count(n)
        wanted = frozenset(m.upper() for m in methods)
        if not wanted:
            raise ValueError("methods must not be empty")
        with self._lock:
            self._drop_after.append((wanted, [n]))

    def cut_reply(
        self,
        n: int = 1,
        *,
        at: str = "body",
        stall: float = 0.0,
        methods: Iterable[str] | None = None,
    ) -> None:
        """Apply the next ``n`` requests whose method is in ``methods`` (default: any),
        then send only part of the answer, wait ``stall`` seconds and close the connection.

        ``at="body"``: every header (the ``Content-Length`` of the whole body) and the first
        half of the body; an answer without a body is cut as with ``"headers"``.
        ``at="headers"``: the status line and the first headers, without the blank line
        that ends them.  With a ``stall`` longer than the client's read timeout, the reply
        stalls rather than breaks.
        """
        _check_count(n)
        if at not in ("body", "headers"):
            raise ValueError('at must be "body" or "headers"')
        if stall < 0:
            raise ValueError("stall must be >= 0")
        wanted = None if methods is None else frozenset(m.upper() for m in methods)
        if wanted is not None and not wanted:
            raise ValueError("methods must not be empty")
        with self._lock:
            self._cut.append((wanted, at, float(stall), [n]))

    def clear(self) -> None:
        """Remove every pending fault and set latency back to 0."""
        with self._lock:
            self._latency = 0.0
            self._fail.clear()
            self._drop_before = 0
            self._drop_after.clear()
            self._cut.clear()

    @property
    def pending(self) -> dict[str, int]:
        """How many requests each kind of fault still waits for."""
        with self._lock:
            return {
                "fail_next": len(self._fail),
                "drop_before": self._drop_before,
                "drop_after_apply": sum(left[0] for _, left in self._drop_after),
                "cut_reply": sum(left[0] for *_, left in self._cut),
            }

    def __repr__(self) -> str:
        return f"Faults(latency={self.latency!r}, pending={self.pending!r})"

    # -- consumption by the server

    def _take_before(self) -> tuple[str, int, str | None] | None:
        with self._lock:
            if self._drop_before > 0:
                self._drop_before -= 1
                return ("drop_before", 0, None)
            if self._fail:
                status, retry_after = self._fail.popleft()
                return ("fail_next", status, retry_after)
            return None

    def _take_drop_after(self, method: str) -> bool:
        with self._lock:
            for index, (methods, left) in enumerate(self._drop_after):
                if method in methods:
                    left[0] -= 1
                    if left[0] <= 0:
                        del self._drop_after[index]
                    return True
            return False

    def _take_cut(self, method: str) -> tuple[str, float] | None:
        with self._lock:
            for index, (methods, at, stall, left) in enumerate(self._cut):
                if methods is None or method in methods:
                    left[0] -= 1
                    if left[0] <= 0:
                        del self._cut[index]
                    return at, stall
            return None


def _check_count(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError("n must be an integer >= 0")


# --------------------------------------------------------------------------- server object


class LocalAPIServer(StartStop, Generic[RecT]):
    """Base of a local API server on loopback, served in a daemon thread.

    A subclass names itself (``_name``: thread names, errors, logs, ``repr``), gives its
    logger and passes its :class:`APIRequestHandler` subclass to ``__init__``; it answers
    requests in ``_handle`` (called by its handler) and logs them with :meth:`_record`.
    ``self._lock`` guards the request log; a subclass guards its own state with it too, so
    that a snapshot of both is consistent.
    """

    _name: ClassVar[str]
    _logger: ClassVar[logging.Logger]

    #: How many requests the log keeps (the oldest are forgotten first).
    log_limit: ClassVar[int] = 1000
    #: How many bytes of each request body the log keeps.
    log_body_limit: ClassVar[int] = 4096

    def __init__(
        self,
        *,
        host: str,
        port: int,
        handler: type[APIRequestHandler[Any, RecT]],
        log_limit: int | None = None,
        log_body_limit: int | None = None,
    ) -> None:
        self._host = host
        self._requested_port = port
        self._handler = handler
        self.faults = Faults()
        self._lock = threading.Lock()
        self._log: deque[RecT] = deque(maxlen=self.log_limit if log_limit is None else log_limit)
        self._log_body_limit = self.log_body_limit if log_body_limit is None else log_body_limit
        self._state_lock = threading.Lock()  # start/stop
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._port: int | None = None
        self._stopped = False

    # -- lifecycle

    def start(self: _S) -> _S:
        """Start serving; returns ``self``.  Calling it again while running is a no-op; a
        stopped server cannot be started again (make a new one), and neither can one whose
        start failed (what it had started is stopped again)."""
        with self._state_lock:
            if self._stopped:
                raise RuntimeError(f"this {self._name} was stopped; create a new one")
            if self._httpd is not None:
                return self
            try:
                self._start_locked()
            except BaseException:
                self._stop_locked()
                raise
        return self

    def _start_locked(self) -> None:
        """Bind and serve HTTP (``self._state_lock`` held).  A subclass that needs more
        running first starts it, then calls this."""
        # port=0 binds to a kernel-chosen free port at bind time (no window in which
        # another process could take it, unlike probing with net.free_port first).
        httpd = _HTTPServer((self._host, self._requested_port), self, self._handler)
        self._port = int(httpd.server_address[1])
        thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{self._name}:{self._port}",
            daemon=True,
        )
        thread.start()
        self._httpd, self._thread = httpd, thread
        if not wait_for_port(self._host, self._port, timeout=10.0):
            raise RuntimeError(f"{self._name} did not come up on {self._netloc()}")

    def stop(self) -> None:
        """Stop serving and close every open connection.  Safe to call twice."""
        with self._state_lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        """Stop serving HTTP (``self._state_lock`` held).  A subclass that started more
        calls this first, then stops the rest."""
        self._stopped = True
        httpd, thread = self._httpd, self._thread
        self._httpd = self._thread = None
        if httpd is not None:
            httpd.shutdown()
            httpd.close_all_connections()
            httpd.server_close()
            if thread is not None:
                thread.join(timeout=5.0)

    @property
    def running(self) -> bool:
        with self._state_lock:
            return self._httpd is not None

    # -- addresses

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The bound port (known once started, or when a fixed port was asked for)."""
        if self._port is not None:
            return self._port
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("the port is chosen at start(); start the server first")

    @property
    def base_url(self) -> str:
        """``http://HOST:PORT``: the root the API's paths live below."""
        return f"http://{self._netloc()}"

    def _netloc(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    def __repr__(self) -> str:
        state = "running" if self.running else ("stopped" if self._stopped else "not started")
        where = self.base_url if self._port is not None else f"{self._host}:{self._requested_port}"
        return f"<{self._name} {where} {self._repr_detail()} {state}>"

    def _repr_detail(self) -> str:
        """What ``repr`` shows between the address and the state (never a secret)."""
        return ""

    # -- the request log

    @property
    def requests(self) -> list[RecT]:
        """A snapshot of the requests received so far (the last ``log_limit``), oldest
        first; each body is kept up to ``log_body_limit`` bytes."""
        with self._lock:
            return list(self._log)

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()

    def _record(self, rec: RecT) -> None:
        with self._lock:
            self._log.append(rec)


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    # Idle keep-alive connections must not make stop() wait: stop() closes them itself.
    block_on_close = False

    def __init__(
        self,
        address: tuple[str, int],
        app: LocalAPIServer[Any],
        handler: type[APIRequestHandler[Any, Any]],
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.app = app
        self._conn_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, addr = super().get_request()
        with self._conn_lock:
            self._conns.add(conn)
        return conn, addr

    def shutdown_request(self, request: Any) -> None:
        with self._conn_lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def close_all_connections(self) -> None:
        with self._conn_lock:
            conns = list(self._conns)
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.app._logger.debug(
            "%s: error on a connection from %s", self.app._name, client_address, exc_info=True
        )


class APIRequestHandler(BaseHTTPRequestHandler, Generic[AppT, RecT]):
    """Base of a local API server's request handler: every method goes to :meth:`_dispatch`.

    A subclass sets ``server_version``, ``error_key``, ``internal_error``,
    ``max_body_bytes`` and ``discard_cap``, and implements :meth:`_new_record` and
    :meth:`_answer`; it overrides :meth:`_failed` and :meth:`_error_payload` when its
    records or error bodies depend on the request.
    """

    protocol_version = "HTTP/1.1"  # keep-alive, as the real services
    timeout = 60  # idle keep-alive connections are closed after a minute
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK would add ~40 ms to every answer.
    disable_nagle_algorithm = True

    #: The key of the JSON object errors are sent in: ``{error_key: "message"}``.
    error_key: ClassVar[str]
    #: The message of the 500 sent when answering a request raised.
    internal_error: ClassVar[str]
    #: Bodies larger than this are not given to the server (it is told ``too_large``).
    max_body_bytes: ClassVar[int]
    #: Over-size bodies up to this many bytes are read and thrown away, so that the client
    #: sees the error rather than a reset while it is still sending; a larger one closes
    #: the connection at once (``discard_cap = max_body_bytes``: never drain).
    discard_cap: ClassVar[int]

    def version_string(self) -> str:
        # The Server header names the local server only, not the Python behind it.
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_HEAD(self) -> None:
        self._dispatch()

    def do_OPTIONS(self) -> None:
        self._dispatch()

    @property
    def _app(self) -> AppT:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return cast("AppT", server.app)

    # -- what a server's handler says

    def _new_record(self, body: bytes) -> RecT:
        """The record of this request before anything is decided (``status=None``)."""
        raise NotImplementedError

    def _answer(
        self, base: RecT, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[int, Any, Mapping[str, str], RecT]:
        """Have the server answer: ``(status, payload, headers, record)``; ``headers``
        here are the request's, with lower-case names."""
        raise NotImplementedError

    def _failed(self, base: RecT, status: int | None, fault: str | None) -> RecT:
        """The record of a request the server never answered: an injected fault (``status``
        ``None`` when nothing was sent) or an internal error (``fault`` ``None``)."""
        return replace(base, status=status, fault=fault)

    def _error_payload(self, status: int, message: str) -> Any:
        """The body of an error sent for the server: an injected fault, an internal error."""
        return {self.error_key: message}

    # -- one request

    def _dispatch(self) -> None:
        app = self._app
        method = self.command
        latency = app.faults.latency
        if latency > 0:
            time.sleep(latency)
        body, too_large = self._read_body()
        base = self._new_record(body[: app._log_body_limit])

        fault = app.faults._take_before()
        if fault is not None:
            kind, status, retry_after = fault
            if kind == "drop_before":
                app._record(self._failed(base, None, kind))
                self.close_connection = True
                return
            extra = {} if retry_after is None else {"Retry-After": retry_after}
            payload = self._error_payload(status, f"{phrase(status)} (injected fault)")
            app._record(self._failed(base, status, kind))
            self._send(status, payload, extra)
            return

        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            status, payload, reply_headers, rec = self._answer(base, headers, body, too_large)
        except Exception:
            app._logger.exception("%s: internal error on %s %s", app._name, method, self.path)
            status, payload, reply_headers = 500, self._error_payload(500, self.internal_error), {}
            rec = self._failed(base, 500, None)

        if app.faults._take_drop_after(method):
            app._record(replace(rec, fault="drop_after_apply"))
            self.close_connection = True
            return
        cut = app.faults._take_cut(method)
        if cut is not None:
            app._record(replace(rec, fault="cut_reply"))
            self.close_connection = True
            self._send(status, payload, reply_headers, cut)
            return
        # Recorded before answering, so a client that has its answer sees the record.
        app._record(rec)
        self._send(status, payload, reply_headers)

    def _read_body(self) -> tuple[bytes, bool]:
        """Read the request body: ``(body, larger than max_body_bytes)``, an over-size body
        as ``b""``.  Sets ``close_connection`` when the stream cannot be trusted after it."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        return self._read_sized(self.headers.get("Content-Length"))

    def _read_sized(self, length_text: str | None) -> tuple[bytes, bool]:
        if length_text is None:
            return b"", False
        try:
            length = int(length_text)
        except ValueError:
            length = -1
        if length < 0:  # no length to go by: where the next request starts is unknown
            self.close_connection = True
            return b"", False
        if length <= self.max_body_bytes:
            return self.rfile.read(length), False
        if length > self.discard_cap:
            self.close_connection = True
            return b"", True
        left = length
        while left > 0:
            got = self.rfile.read(min(left, _READ_CHUNK))
            if not got:
                self.close_connection = True
                break
            left -= len(got)
        return b"", True

    def _read_chunked(self) -> tuple[bytes, bool]:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                self.close_connection = True
                return b"", total > self.max_body_bytes
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                break
            total += size
            if total > self.discard_cap:
                self.close_connection = True
                return b"", True
            data = self.rfile.read(size)
            self.rfile.readline(16)  # CRLF after the chunk
            if total <= self.max_body_bytes:
                parts.append(data)
        if total > self.max_body_bytes:
            return b"", True
        return b"".join(parts), False

    # -- answers

    def _send(
        self,
        status: int,
        payload: Any,
        extra_headers: Mapping[str, str],
        cut: tuple[str, float] | None = None,
    ) -> None:
        """Send the answer; with ``cut`` (``(at, stall)``, see :meth:`Faults.cut_reply`)
        only part of it, then wait ``stall`` seconds (the caller closes the connection)."""
        data = b"" if payload is NO_BODY or status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        if cut is not None and (cut[0] == "headers" or not data or self.command == "HEAD"):
            self.flush_headers()  # the status line, Server and Date: no blank line after
            time.sleep(cut[1])
            return
        if data:
            self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(data)))
        for name, value in extra_headers.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data if cut is None else data[: len(data) // 2])
        if cut is not None:
            self.wfile.flush()
            time.sleep(cut[1])

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Errors raised by http.server itself (malformed request line, unknown method...)
        # also answer JSON, in the server's error shape.
        self.close_connection = True
        data = json.dumps({self.error_key: message or phrase(code)}).encode()
        self.send_response(code)
        self.send_header("Content-Type", _JSON)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        app = self._app
        app._logger.debug("%s: " + format, app._name, *args)


def phrase(status: int) -> str:
    """The reason phrase of ``status`` ("Error" for a status HTTP does not name)."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"


def format_retry_after(value: int | datetime) -> str:
    """A ``Retry-After`` value (RFC 9110 §10.2.3): ``delay-seconds`` for a non-negative
    ``int``, an HTTP-date (IMF-fixdate) for an aware ``datetime``.  Fractions of a second
    have no form there, so a ``float`` is refused rather than rounded."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError("retry_after as a datetime must be timezone-aware")
        return format_datetime(value.astimezone(timezone.utc), usegmt=True)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(
            f"retry_after must be whole seconds (an int >= 0) or a datetime, not {value!r}: "
            "RFC 9110 has no fractions of a second"
        )
    return str(value)
