"""The local MemCachier API server: its lifecycle, its test controls and its HTTP plumbing.

The endpoints themselves are functions over a :class:`~.state.CacheState` (see
:mod:`.routes`).
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from cacheops.testing.http_server import APIRequestHandler, LocalAPIServer
from cacheops.testing.memcached import MemcachedError, MemcachedServer

from .records import Credential, RecordedRequest, Sample, new_username
from .routes import answer, normalise_path, version_of
from .state import MAX_SAMPLES, CacheState
from .wire import MAX_BODY_BYTES, Reply, error

logger = logging.getLogger(__name__)

#: The cache id of the v1 document's ``/login`` example.
DEFAULT_CACHE_ID = 1561
DEFAULT_SAMPLE_INTERVAL = 10.0


class MemCachierAPIServer(LocalAPIServer[RecordedRequest]):
    """A local MemCachier analytics API (v1 and v2) on loopback, acting on a real memcached.

    ``memcached``: the server the commands act on; without one, a memcached with ASCII
    authentication is started and owned (stopped with this server). ``clock`` timestamps
    samples, events and the default ``startTime``/``endTime``, so tests can move time.
    ``sample_interval``: seconds between automatic samples (``None``: only
    :meth:`sample_now`). ``username``/``secret`` name the generated primary credential
    (only without a memcached that has users, whose users become the credentials).
    """

    _name = "MemCachierAPIServer"
    _logger = logger

    def __init__(
        self,
        memcached: MemcachedServer | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] = time.time,
        sample_interval: float | None = DEFAULT_SAMPLE_INTERVAL,
        cache_id: int = DEFAULT_CACHE_ID,
        username: str | None = None,
        secret: str | None = None,
        max_samples: int = MAX_SAMPLES,
    ) -> None:
        if sample_interval is not None and not sample_interval > 0:
            raise ValueError("sample_interval must be > 0, or None for no sampler thread")
        if isinstance(cache_id, bool) or not isinstance(cache_id, int) or cache_id < 1:
            raise ValueError("cache_id must be a positive integer")
        if max_samples < 2:
            raise ValueError("max_samples must be at least 2")
        for what, text in (("username", username), ("secret", secret)):
            if text is not None and (
                not text or ":" in text or any(ord(c) <= 32 or ord(c) == 127 for c in text)
            ):
                raise ValueError(f"{what} must be non-empty, without whitespace or ':'")
        super().__init__(host=host, port=port, handler=_Handler)
        self._sample_interval = sample_interval

        initial: list[tuple[str, str]]
        if memcached is None:
            user = username or new_username(set())
            memcached = MemcachedServer(users={user: secret or secrets.token_hex(16)})
            self._owns_memcached = True
            initial = list(memcached.users.items())
        else:
            self._owns_memcached = False
            initial = list(memcached.users.items())
            if initial and (username is not None or secret is not None):
                raise ValueError(
                    "this memcached has users: they are the credentials, "
                    "so username and secret cannot be given"
                )
            if not initial:
                initial = [(username or new_username(set()), secret or secrets.token_hex(16))]
        self._memcached = memcached
        # One lock for the request log (the base's) and the state: a handler holds one only.
        self._state = CacheState(
            self._lock, memcached, initial, clock=clock, cache_id=cache_id, max_samples=max_samples
        )
        self._stop_sampler = threading.Event()
        self._sampler: threading.Thread | None = None

    # -- lifecycle (start(), stop(), running and the context manager: LocalAPIServer)

    def _start_locked(self) -> None:
        """Start (the owned memcached,) the log watcher, the sampler, then the HTTP server."""
        if self._owns_memcached:
            self._memcached.start()
        elif not self._memcached.running:
            raise MemcachedError(f"{self._memcached!r} is not running: start it first")
        self._state.open()
        self.sample_now()
        if self._sample_interval is not None:
            self._stop_sampler.clear()
            self._sampler = threading.Thread(
                target=self._sample_loop,
                name=f"MemCachierAPIServer-sampler:{self._memcached.port}",
                daemon=True,
            )
            self._sampler.start()
        super()._start_locked()

    def _stop_locked(self) -> None:
        """Stop serving, sampling and watching; stop the memcached if this server owns it."""
        super()._stop_locked()
        self._stop_sampler.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5.0)
            self._sampler = None
        self._state.close()
        if self._owns_memcached:
            self._memcached.stop()

    # -- addresses and identity (host, port and base_url: LocalAPIServer)

    @property
    def v1_url(self) -> str:
        """``http://HOST:PORT/api/v1``."""
        return f"{self.base_url}/api/v1"

    @property
    def v2_url(self) -> str:
        """``http://HOST:PORT/api/v2``."""
        return f"{self.base_url}/api/v2"

    @property
    def cache_id(self) -> int:
        """The cache's id: what ``/login`` returns and both APIs' paths carry."""
        return self._state.cache_id

    @property
    def memcached(self) -> MemcachedServer:
        return self._memcached

    @property
    def memcached_server(self) -> str:
        """``host:port`` of the memcached, as the stats and series name it."""
        return self._memcached.server

    @property
    def primary_credentials(self) -> tuple[str, str]:
        """``(username, password)`` of the current primary credential."""
        with self._lock:
            cred = self._state.primary()
            return cred.username, cred.password

    def _repr_detail(self) -> str:
        return f"cache_id={self._state.cache_id}"

    # -- introspection and test controls (requests and clear_requests: LocalAPIServer)

    def credentials(self) -> list[Credential]:
        """Snapshots of every credential, oldest first."""
        with self._lock:
            return [cred.snapshot() for cred in self._state.creds.values()]

    def credential(self, username: str) -> Credential:
        with self._lock:
            cred = self._state.creds.get(username)
            if cred is None:
                raise KeyError(f"no credential {username!r}")
            return cred.snapshot()

    def memcached_logins(self) -> list[str]:
        """Usernames that can log in to the memcached right now (primary first)."""
        with self._lock:
            return [c.username for c in self._state.ordered() if c.login]

    def add_credential(
        self, *, write: bool = True, flush: bool = True, api: bool = True
    ) -> Credential:
        """Create a credential as the API would (a memcached login when a slot is free)."""
        with self._lock:
            cred = self._state.new_cred(write=write, flush=flush, api=api)
        self._state.sync_logins()
        return self.credential(cred.username)

    def set_capabilities(
        self,
        username: str,
        *,
        write: bool | None = None,
        flush: bool | None = None,
        api: bool | None = None,
    ) -> Credential:
        """Change a credential's capabilities directly (``None``: unchanged)."""
        with self._lock:
            cred = self._state.creds.get(username)
            if cred is None:
                raise KeyError(f"no credential {username!r}")
            if write is not None:
                cred.write = write
            if flush is not None:
                cred.flush = flush
            if api is not None:
                cred.api = api
            return cred.snapshot()

    def configure_cache(
        self,
        *,
        enabled: bool | None = None,
        can_switch: bool | None = None,
        can_manage_credentials: bool | None = None,
        can_update_capabilities: bool | None = None,
    ) -> None:
        """Set the cache's flags (``None``: unchanged). A development cache, for example:
        ``configure_cache(can_manage_credentials=False, can_update_capabilities=False)``."""
        with self._lock:
            if enabled is not None:
                self._state.enabled = enabled
            if can_switch is not None:
                self._state.can_switch = can_switch
            if can_manage_credentials is not None:
                self._state.can_manage_credentials = can_manage_credentials
            if can_update_capabilities is not None:
                self._state.can_update_capabilities = can_update_capabilities

    @property
    def enabled(self) -> bool:
        with self._lock:
            return self._state.enabled

    @property
    def cluster_name(self) -> str:
        with self._lock:
            return self._state.cluster

    @property
    def sso_secret(self) -> str:
        with self._lock:
            return self._state.sso_secret

    def alerts(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(alert) for alert in self._state.alerts.values()]

    def delivery_configs(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(config) for config in self._state.configs.values()]

    def watched_prefixes(self) -> dict[int, str]:
        with self._lock:
            return dict(self._state.prefixes)

    def samples(self) -> list[Sample]:
        with self._lock:
            return list(self._state.samples)

    def sample_now(self) -> float:
        """Take one sample of memcached now (and of the watched prefixes); returns its time.

        Raises :class:`MemcachedError` (or ``OSError``) when memcached does not answer.
        """
        return self._state.sample_now()

    def reset(self) -> None:
        """Back to the state after start: initial credentials with every capability,
        no alerts/configs/prefixes, cache flags and cluster restored, memcached flushed and
        its stats reset, samples, events, request log and faults cleared; then one sample."""
        with self._lock:
            self._log.clear()
        self.faults.clear()
        self._state.reset()

    def _sample_loop(self) -> None:
        assert self._sample_interval is not None
        while not self._stop_sampler.wait(self._sample_interval):
            try:
                self._state.sample_now()
            except Exception as err:  # memcached down: try again at the next tick
                logger.debug("MemCachierAPIServer: sampling failed: %s", err)

    def _handle(
        self, method: str, target: str, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[Reply, str | None]:
        return answer(self._state, method, target, headers, body, too_large)


class _Handler(APIRequestHandler[MemCachierAPIServer, RecordedRequest]):
    server_version = "MemCachierAPILocal/1"
    error_key = "error"
    internal_error = "Server error"
    max_body_bytes = MAX_BODY_BYTES
    discard_cap = MAX_BODY_BYTES  # an over-size body is not drained: the connection closes

    def _read_body(self) -> tuple[bytes, bool]:
        # This server's framing, kept as it always was: a Content-Length frames the body
        # even beside "Transfer-Encoding: chunked" (the base reads it chunked, as RFC 9112
        # says), and a negative one means no body on a connection kept open (the base
        # closes it).
        length_text = self.headers.get("Content-Length")
        if length_text is None:
            return super()._read_body()
        with contextlib.suppress(ValueError):
            if int(length_text) < 0:
                return b"", False
        return self._read_sized(length_text)

    def _new_record(self, body: bytes) -> RecordedRequest:
        return RecordedRequest(method=self.command, path=self.path, status=None, body=body)

    def _answer(
        self, base: RecordedRequest, headers: dict[str, str], body: bytes, too_large: bool
    ) -> tuple[int, Any, dict[str, str], RecordedRequest]:
        reply, version = self._app._handle(self.command, self.path, headers, body, too_large)
        rec = replace(base, status=reply.status, user=reply.user, api=version, route=reply.route)
        return reply.status, reply.payload, reply.headers, rec

    # A request the API never saw is recorded and answered in the shape of the API version
    # its path names (send_error, for requests http.server refuses, always uses error_key).

    def _failed(
        self, base: RecordedRequest, status: int | None, fault: str | None
    ) -> RecordedRequest:
        return replace(base, status=status, api=self._version(), fault=fault)

    def _error_payload(self, status: int, message: str) -> Any:
        return error(self._version(), status, message).payload

    def _version(self) -> str | None:
        return version_of(normalise_path(self.path.partition("?")[0]))


__all__ = ["DEFAULT_CACHE_ID", "DEFAULT_SAMPLE_INTERVAL", "MemCachierAPIServer"]
