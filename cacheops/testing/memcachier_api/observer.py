"""memcached's own log stream, read by the local MemCachier API for its per-key data.

A connection runs ``watch fetchers mutations evictions connevents``. memcached 1.6 logs
every key lookup as ``item_get`` (found / not_found / expired / flushed), every store as
``item_store`` (with its command and result) and every eviction; a store's own lookup (an
``item_get`` of the same key on the same connection right before the ``item_store``) is
dropped. memcached logs no event of its own for ``delete``, ``incr``, ``decr`` or
``touch``: they appear through their lookup, so they count as a hit (key present) or a
miss.
"""

from __future__ import annotations

import contextlib
import logging
import select
import socket
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote

from cacheops.testing.memcached_wire import MemcachedError, read_reply

from .memcached_link import ADMIN_TIMEOUT, Login, open_connection

logger = logging.getLogger(__name__)

SYNC_TIMEOUT = 3.0
PENDING_GRACE = 0.5  # a lookup not followed by its store within this time is a real lookup


def _ts(fields: Mapping[str, str]) -> float:
    """memcached's own timestamp of a log line.

    memcached 1.6 prints it as ``%d.%d`` of seconds and microseconds, without zero padding:
    ``ts=1795411941.75543`` is 75,543 microseconds past the second, not 0.75543 s.
    """
    seconds, _, micros = fields.get("ts", "0").partition(".")
    try:
        return int(seconds) + (int(micros) if micros else 0) / 1e6
    except ValueError:
        return 0.0


class Observer:
    """Reads memcached's ``watch`` log stream in a daemon thread and turns it into events.

    A lookup (``item_get``) is held back until the next event of the same connection
    (``cfd``): if that is a store of the same key, the lookup was the store's own and is
    dropped. :meth:`sync` waits until everything memcached logged before the call arrived.
    """

    def __init__(
        self,
        address: tuple[str, int],
        login: Login,
        on_event: Callable[[str, str, str, str, int, float], None],
    ) -> None:
        self._address = address
        self._login = login
        self._on_event = on_event  # (kind, key, command, status, size, memcached's ts)
        self._lock = threading.Lock()
        self._pending: dict[str, tuple[float, dict[str, str]]] = {}
        self._markers: dict[int, threading.Event] = {}
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None

    def start(self, name: str) -> bool:
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()
        return self._ready.wait(5.0)

    def stop(self) -> None:
        self._stop.set()
        sock = self._sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._thread is not None:
            self._thread.join(timeout=5.0)

    def sync(self, timeout: float = SYNC_TIMEOUT) -> bool:
        """Open and close a marker connection; wait until its ``conn_new`` was read."""
        if not self._ready.is_set():
            self.commit_pending()
            return False
        family = socket.AF_INET6 if ":" in self._address[0] else socket.AF_INET
        marker = socket.socket(family, socket.SOCK_STREAM)
        seen = threading.Event()
        try:
            marker.bind((self._address[0], 0))
            port = int(marker.getsockname()[1])
            with self._lock:
                self._markers[port] = seen
            marker.settimeout(ADMIN_TIMEOUT)
            marker.connect(self._address)
        except OSError:
            return False
        finally:
            marker.close()
        try:
            ok = seen.wait(timeout)
        finally:
            with self._lock:
                self._markers.pop(port, None)
        self.commit_pending()
        return ok

    def commit_pending(self, older_than: float | None = None) -> None:
        now = time.monotonic()
        with self._lock:
            ready = [
                cfd
                for cfd, (seen, _) in self._pending.items()
                if older_than is None or now - seen >= older_than
            ]
            lookups = [self._pending.pop(cfd)[1] for cfd in ready]
        for fields in lookups:
            self._emit(fields)

    # -- the thread

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sock = self._open()
            except (OSError, MemcachedError) as err:
                logger.debug("MemCachierAPIServer: watch connection failed: %s", err)
                self._stop.wait(0.2)
                continue
            self._sock = sock
            self._ready.set()
            try:
                self._read(sock)
            finally:
                self._sock = None
                with contextlib.suppress(OSError):
                    sock.close()
                self.commit_pending()

    def _open(self) -> socket.socket:
        sock = open_connection(self._address, self._login, "watch connection")
        try:
            sock.sendall(b"watch fetchers mutations evictions connevents\r\n")
            if read_reply(sock, b"\r\n") != b"OK\r\n":
                raise MemcachedError("memcached refused the watch command")
        except BaseException:
            sock.close()
            raise
        sock.settimeout(0.25)
        return sock

    def _read(self, sock: socket.socket) -> None:
        buf = b""
        markers: list[int] = []
        while not self._stop.is_set():
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                chunk = None
            except OSError:
                return
            if chunk == b"":
                return
            if chunk:
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for line in lines:
                    port = self._on_line(line.decode("utf-8", errors="replace").strip())
                    if port is not None:
                        markers.append(port)
            if markers:
                # Events of one logger pass may come in any order across worker threads:
                # release the markers only once the stream has paused.
                try:
                    readable = select.select([sock], [], [], 0.005)[0]
                except (OSError, ValueError):
                    return
                if not readable:
                    with self._lock:
                        waiting = [self._markers.get(p) for p in markers]
                    for event in waiting:
                        if event is not None:
                            event.set()
                    markers.clear()
            self.commit_pending(older_than=PENDING_GRACE)

    def _on_line(self, line: str) -> int | None:
        """Handle one log line; returns the remote port of a ``conn_new`` event."""
        fields: dict[str, str] = {}
        for part in line.split(" "):
            name, sep, value = part.partition("=")
            if sep:
                fields[name] = value
        kind = fields.get("type")
        if kind == "conn_new":
            with contextlib.suppress(ValueError):
                return int(fields.get("rport", ""))
            return None
        if kind not in ("item_get", "item_store", "eviction") or "key" not in fields:
            return None
        cfd = fields.get("cfd", "")
        with self._lock:
            held = self._pending.pop(cfd, None) if cfd else None
        if held is not None:
            _, lookup = held
            if not (kind == "item_store" and lookup.get("key") == fields.get("key")):
                self._emit(lookup)
        if kind == "item_get" and cfd:
            with self._lock:
                self._pending[cfd] = (time.monotonic(), fields)
            return None
        self._emit(fields)
        return None

    def _emit(self, fields: dict[str, str]) -> None:
        logged = _ts(fields)
        key = unquote(fields.get("key", ""))
        status = fields.get("status", "")
        try:
            size = int(fields.get("size", "0"))
        except ValueError:
            size = 0
        kind = fields.get("type")
        if kind == "item_get":
            if status == "found":
                self._on_event("hit", key, "GET", "FOUND", size, logged)
            else:
                self._on_event("miss", key, "GET", status.upper() or "NOT_FOUND", 0, logged)
        elif kind == "item_store":
            outcome = "mutation" if status == "stored" else "not_stored"
            command = fields.get("cmd", "set").upper()
            self._on_event(outcome, key, command, status.upper(), size, logged)
        elif kind == "eviction":
            self._on_event("eviction", key, "EVICTION", "EVICTED", size, logged)


__all__ = ["PENDING_GRACE", "SYNC_TIMEOUT", "Observer"]
