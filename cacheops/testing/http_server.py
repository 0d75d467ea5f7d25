"""What the local JSON-over-HTTP API servers share, standard library only.

:mod:`cacheops.testing.ironcache_server` and :mod:`cacheops.testing.memcachier_api`
each implement a cloud service's API; the plumbing around the API is the same for both and
lives here:

- :class:`LocalAPIServer`: the base of the server object a test holds: the lifecycle (bind,
  serve in a daemon thread, stop, context manager), the addresses, the fault injector
  (:class:`~cacheops.testing.faults.Faults`) and the log of the requests received (bounded:
  the last ``log_limit`` requests, each body cut to ``log_body_limit`` bytes, so that a
  server left running, as by ``cacheops serve``, does not grow with every request).
- :class:`APIRequestHandler`: the base of a server's request handler: keep-alive HTTP/1.1,
  the request body read with a size limit, the faults applied, JSON replies. A server's
  handler says how it records a request and what its error bodies look like; its
  :class:`LocalAPIServer` answers the request itself.
- What both APIs read from a request the same way: :func:`json_object` (a JSON object body),
  :func:`is_int`, and :class:`RequestRejected`, the error a server answers with.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import replace
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar, cast

# Faults and format_retry_after were defined here before faults.py: re-exported so that
# imports from this module keep working.
from cacheops.testing.faults import Faults, format_retry_after
from cacheops.testing.lifecycle import StartStop
from cacheops.testing.net import wait_for_port

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

__all__ = [
    "NO_BODY",
    "APIRequestHandler",
    "Faults",
    "LocalAPIServer",
    "RequestRejected",
    "format_retry_after",
    "is_int",
    "json_object",
    "parse_json",
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
    # socketserver's backlog of 5 drops connections a burst of concurrent clients opens
    # at once (an async pool, say), which the client sees as a reset after sending.
    request_queue_size = 128

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


# --------------------------------------------------------------------------- request bodies


class RequestRejected(Exception):
    """A request a server answers with an error: ``status``, ``message`` (which the server
    puts in its own error shape) and any extra reply ``headers``."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


def is_int(value: object) -> bool:
    """A JSON integer: an ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """``json.loads`` without the ``NaN``/``Infinity`` extensions, which are not JSON."""
    return json.loads(text, parse_constant=_reject_constant)


def json_object(body: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    """The request body as a JSON object (an empty body as ``{}`` with ``allow_empty``), or
    :class:`RequestRejected` 400 "Invalid JSON: ..." saying what is wrong."""
    if not body.strip():
        if allow_empty:
            return {}
        raise RequestRejected(400, "Invalid JSON: a JSON object body is required.")
    try:
        doc = parse_json(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as err:
        raise RequestRejected(400, f"Invalid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise RequestRejected(400, "Invalid JSON: the body must be a JSON object.")
    return doc
