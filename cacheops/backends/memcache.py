"""``memcached://`` and ``memcachier://``: memcached over pymemcache, with MemCachier's login.

Connections are per thread: each thread owns its own pymemcache client (a single-server
``Client``, or a ``HashClient`` for a cluster), so no lock sits on the hot path and no
socket is ever shared between threads. A forked child drops the inherited clients and opens
its own. MemCachier's ASCII login is sent by the client's ``_connect`` hook, so it runs on
every new connection: the first, each reconnect, and each node of a cluster. ``get`` (of
one key or many), ``set``, ``add`` and ``replace`` of keys the backend validated take a
short path of cacheops' own (:mod:`.memcache_wire`); everything else is pymemcache's.

What happens when the connection fails:

- before anything was sent (refused, timed out connecting, login failed): nothing applied,
  ``BackendUnavailable`` or ``AuthenticationError``;
- a read after sending: retried once on a fresh connection (a read has no effect to repeat);
- a write after sending: ``UnknownOutcome``, never resent, because an ``incr`` or ``add``
  that reached the server must not be applied twice.

An idle connection is checked before use (``stale_after`` seconds), so the first call after
a server restart reconnects instead of writing into a dead socket.
"""

from __future__ import annotations

import contextlib
import math
import re
import select
import socket
import ssl
import threading
import time
import weakref
from collections.abc import Callable, Iterable
from functools import partial
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from pymemcache.client.base import Client
from pymemcache.client.hash import HashClient
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)

from ..admin.base import Admin
from ..backend import Backend, CasToken, Item
from ..config import CacheConfig, Server
from ..errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    InvalidKey,
    NotNumeric,
    UnknownOutcome,
    ValueTooLarge,
)
from ..serializers import FLAG_INT
from .memcache_wire import login_command, read_line, read_values, store

if TYPE_CHECKING:
    from ..admin.memcachier import MemCachierAPI

_T = TypeVar("_T")

#: Where MemCachier's analytics API lives (its v1 and v2 paths are below it).
MEMCACHIER_API_URL = "https://analytics.memcachier.com"

#: memcached reads an expiry over 30 days as an absolute Unix time.
_RELATIVE_EXPIRY_LIMIT = 30 * 24 * 3600


class _PassThroughSerde:
    """Values reach pymemcache already encoded as ``(payload, flags)``; hand them through."""

    def serialize(self, key: bytes, value: Item) -> Item:
        return value

    def deserialize(self, key: bytes, value: bytes, flags: int) -> Item:
        return value, flags


_SERDE = _PassThroughSerde()

#: A key memcached takes as one token: printable ASCII without spaces, 1 to 250 bytes.
_NODE_KEY = re.compile(r"[!-~]{1,250}")
#: Such keys, separated by single spaces (one per key is checked by counting the spaces).
_NODE_KEYS = re.compile(r"[!-~]{1,250}(?: [!-~]{1,250})*")


class _ConnectFailed(ConnectionError):
    """The connection (or its login) failed before any command was sent.

    An OSError, so pymemcache's HashClient marks the node as failing."""


class _NodeSkipped(MemcacheError):  # type: ignore[misc]
    """HashClient skipped a node it marked as failing, without trying it."""


def _short_store(name: str) -> Callable[..., Any]:
    """``LoginClient.<name>`` (set, add, replace): the short path when it applies."""
    command = name.encode()

    def method(
        self: LoginClient,
        key: Any,
        value: Any,
        expire: int = 0,
        noreply: bool | None = None,
        flags: int | None = None,
    ) -> Any:
        if flags is None and self._fast(key, noreply):
            return self._store(command, key, value, expire)
        return getattr(super(LoginClient, self), name)(key, value, expire, noreply, flags)

    method.__name__ = name
    return method


class LoginClient(Client):  # type: ignore[misc]
    """A pymemcache ``Client`` that logs in on every new connection, MemCachier style:
    ``set <username> 0 0 <len>\\r\\n<password>\\r\\n``, answered ``STORED``."""

    def __init__(
        self,
        server: tuple[str, int],
        *,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(server, **kwargs)
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        user = f" user={self._username!r}" if self._username else ""
        return f"<LoginClient {self.server[0]}:{self.server[1]}{user}>"

    def _connect(self) -> None:
        where = f"{self.server[0]}:{self.server[1]}"
        try:
            super()._connect()
        except OSError as exc:
            raise _ConnectFailed(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        if self._username is None or self._password is None:
            return
        sock = self.sock
        try:
            sock.sendall(login_command(self._username, self._password))
            reply = read_line(sock)
        except OSError as exc:
            self.close()
            raise _ConnectFailed(f"login to {where} failed: {exc.strerror or exc}") from exc
        if reply != b"STORED":
            self.close()
            raise AuthenticationError(
                f"the server refused the login of user {self._username!r}; check "
                "MEMCACHIER_USERNAME / MEMCACHIER_PASSWORD (new credentials can take minutes "
                "to become valid)",
                backend="memcachier",
                server=where,
                server_message=reply.decode("utf-8", "replace")[:200],
            )

    def check_key(self, key: Any, key_prefix: bytes = b"") -> bytes:
        # The backend hands over keys it has already validated with the portable rule,
        # stricter than pymemcache's; one regex match instead of its microsecond of checks.
        if type(key) is str and not key_prefix and _NODE_KEY.fullmatch(key):
            return key.encode("ascii")
        return bytes(super().check_key(key, key_prefix))

    def _fast(self, key: Any, noreply: bool | None) -> bool:
        """Whether a command can take the short path: a key the backend made, our serde,
        and a reply awaited (the only way cacheops writes)."""
        return (
            self.serde is _SERDE
            and not self.key_prefix
            and noreply is not True
            and not (noreply is None and self.default_noreply)
            and type(key) is str
            and _NODE_KEY.fullmatch(key) is not None
        )

    def _store(self, command: bytes, key: str, item: Item, expire: int) -> bool:
        try:
            if self.sock is None:
                self._connect()
            return store(self.sock, command, key.encode("ascii"), item[0], item[1], expire)
        except Exception:
            self.close()
            raise

    set = _short_store("set")
    add = _short_store("add")
    replace = _short_store("replace")

    def _fetch(self, keys: bytes) -> dict[bytes, Item]:
        """``get`` of space-separated, validated ``keys``, the reply read in bulk."""
        try:
            if self.sock is None:
                self._connect()
            self.sock.sendall(b"get %s\r\n" % keys)
            return read_values(self.sock)
        except Exception:
            self.close()
            raise

    def get(self, key: Any, default: Any = None) -> Any:
        if not self._fast(key, False):
            return super().get(key, default)
        name = key.encode("ascii")
        return self._fetch(name).get(name, default)

    def get_many(self, keys: Iterable[Any]) -> dict[Any, Any]:
        keys = list(keys)
        if not keys:
            return {}
        try:
            joined = " ".join(keys)
        except TypeError:  # bytes keys: pymemcache's path
            joined = ""
        if (
            self.serde is not _SERDE
            or self.key_prefix
            or not _NODE_KEYS.fullmatch(joined)
            or joined.count(" ") != len(keys) - 1
        ):
            return dict(super().get_many(keys))
        return {key.decode(): item for key, item in self._fetch(joined.encode("ascii")).items()}


class _Cluster(HashClient):  # type: ignore[misc]
    """HashClient that raises instead of silently returning a default for a node it has
    marked as failing (its own bookkeeping of failed, dead and rejoining nodes is kept)."""

    def __init__(self, servers: list[tuple[str, int]], *, client_class: Any, **kwargs: Any):
        self.client_class = client_class  # read by HashClient.__init__ to build each node
        super().__init__(servers, **kwargs)

    def _safely_run_func(
        self, client: Any, func: Callable[..., Any], default_val: Any, *args: Any, **kwargs: Any
    ) -> Any:
        result = super()._safely_run_func(client, func, _NodeSkipped, *args, **kwargs)
        if result is _NodeSkipped:
            raise _NodeSkipped(f"{client.server[0]}:{client.server[1]}")
        return result

    def batches(self, keys: list[str]) -> dict[Any, list[str]]:
        """The keys grouped by the node that holds them."""
        groups: dict[Any, list[str]] = {}
        for key in keys:
            groups.setdefault(self._get_client(key), []).append(key)
        return groups

    def node_get_many(self, node: Any, keys: list[str]) -> dict[str, Item]:
        """``get_many`` on one node, with the cluster's bookkeeping of failing nodes."""
        return dict(self._safely_run_func(node, node.get_many, None, keys))


class _Closer:
    """Kept in a thread's locals beside its client: when the thread ends and its locals are
    dropped, the connection is closed rather than left open with nothing to use it (a
    thread per request, as in Django's runserver, would otherwise leak one per request)."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # closing is best effort
            self.client.close()


def _is_stale(sock: socket.socket) -> bool:
    """An idle connection with something to read has been closed (or broken) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


def _expire(ttl: float | None) -> int:
    if ttl is None:
        return 0
    if ttl == 0.0:
        return -1
    seconds = math.ceil(ttl)
    return seconds if seconds <= _RELATIVE_EXPIRY_LIMIT else int(time.time()) + seconds


class MemcacheBackend(Backend):
    """memcached and MemCachier. Several servers form one consistent-hash cluster."""

    scheme = "memcached"

    def __init__(
        self,
        *,
        servers: tuple[Server, ...] | list[Server],
        username: str | None = None,
        password: str | None = None,
        connect_timeout: float = 2.0,
        timeout: float = 2.0,
        tls: bool | ssl.SSLContext = False,
        no_delay: bool = True,
        stale_after: float = 1.0,
        retry_attempts: int = 2,
        retry_timeout: float = 1.0,
        dead_timeout: float = 30.0,
        api_url: str = MEMCACHIER_API_URL,
        allow_insecure_http: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        if not servers:
            raise ConfigurationError("a memcached backend needs at least one server")
        if username is not None and not self._key_is_valid(username):
            raise ConfigurationError(
                "the MemCachier username must be printable ASCII without spaces"
            )
        self.servers = tuple(servers)
        self.username = username
        self._password = password
        self.scheme = "memcachier" if username is not None else "memcached"
        if tls is True:
            tls = ssl.create_default_context()
        self._client_kwargs: dict[str, Any] = {
            "serde": _SERDE,
            "connect_timeout": connect_timeout,
            "timeout": timeout,
            "no_delay": no_delay,
            "tls_context": tls or None,
            "default_noreply": False,
        }
        self._cluster_kwargs = {
            "retry_attempts": retry_attempts,
            "retry_timeout": retry_timeout,
            "dead_timeout": dead_timeout,
        }
        self.stale_after = stale_after
        #: MemCachier's analytics API, which ``admin`` uses for a memcachier:// cache.
        self.api_url = api_url
        self._allow_insecure_http = allow_insecure_http
        self._local = threading.local()
        # Weak: a thread's client lives as long as the thread (see _Closer).
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._clients_lock = threading.Lock()

    @classmethod
    def from_config(cls, config: CacheConfig, **options: Any) -> MemcacheBackend:
        return cls(
            servers=config.servers,
            username=config.username if config.scheme == "memcachier" else None,
            password=config.password if config.scheme == "memcachier" else None,
            **cls.coerce_options(config, options),
        )

    @property
    def location(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"{self.scheme}://{user}{','.join(map(str, self.servers))}"

    def _make_admin(self) -> Admin:
        if self.username is not None:
            from ..admin.memcachier import MemCachierAdmin

            return MemCachierAdmin(self)
        from ..admin.memcache import MemcacheAdmin

        return MemcacheAdmin(self)

    def analytics_api(self) -> MemCachierAPI:
        """A client of MemCachier's analytics API (``api_url``) with this cache's credentials."""
        from ..admin.memcachier import MemCachierAPI

        if self.username is None or self._password is None:
            raise ConfigurationError("the analytics API needs MemCachier credentials")
        return MemCachierAPI(
            self.username,
            self._password,
            base_url=self.api_url,
            allow_insecure_http=self._allow_insecure_http,
        )

    # -- connections -------------------------------------------------------------------

    def node_client(self, server: Server) -> LoginClient:
        """A new client for one server (admin commands go to each server in turn)."""
        return LoginClient(
            (server.host, server.port),
            username=self.username,
            password=self._password,
            **self._client_kwargs,
        )

    def _new_client(self) -> Any:
        client: Any
        if len(self.servers) == 1:
            client = self.node_client(self.servers[0])
        else:
            client = _Cluster(
                [(s.host, s.port) for s in self.servers],
                client_class=partial(LoginClient, username=self.username, password=self._password),
                **self._client_kwargs,
                **self._cluster_kwargs,
            )
        with self._clients_lock:
            self._clients.add(client)
        return client

    def _client(self, write: bool = False) -> Any:
        local = self._local
        try:
            client = local.client
        except AttributeError:
            client = local.client = self._new_client()
            local.closer = _Closer(client)
            local.used = 0.0
        if write:
            # Before a write on a connection idle for a while, make sure the server has not
            # closed it (a restart): a write into a dead socket would end as UnknownOutcome.
            # Reads skip this: a read that finds the connection closed is simply retried.
            now = _monotonic()
            if now - local.used > self.stale_after:
                nodes = client.clients.values() if isinstance(client, _Cluster) else (client,)
                for node in nodes:
                    if node.sock is not None and _is_stale(node.sock):
                        node.close()
            local.used = now
        return client

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = list(self._clients), weakref.WeakSet()
        for client in clients:
            with contextlib.suppress(Exception):  # closing is best effort
                client.close()
        self._local = threading.local()
        super().close()

    def _after_fork(self) -> None:
        # Forget the parent's clients, never use or shut them down: their connections are
        # the parent's. (Dropping them closes only this process's copies of the sockets.)
        self._clients = weakref.WeakSet()
        self._clients_lock = threading.Lock()
        self._local = threading.local()

    # -- running commands ----------------------------------------------------------------

    def _call(self, write: bool, name: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<name>(*args, **kwargs)`` on this thread's client. The hot path: one
        frame between a contract method and pymemcache; failures go to ``_recover``."""
        client = self._client(write)
        try:
            return getattr(client, name)(*args, **kwargs)
        except Exception as exc:
            return self._recover(exc, client, write, lambda c: getattr(c, name)(*args, **kwargs))

    def _run_on(self, client: Any, command: Callable[[Any], _T], *, write: bool = False) -> _T:
        """Run ``command(client)`` with the same error handling (admin commands)."""
        try:
            return command(client)
        except Exception as exc:
            return self._recover(exc, client, write, command)

    def _recover(
        self, exc: Exception, client: Any, write: bool, command: Callable[[Any], _T]
    ) -> _T:
        """Translate pymemcache's error; a read that lost its connection is retried once on
        a new one, a write never is (its outcome is unknown)."""
        if isinstance(exc, MemcacheUnexpectedCloseError | ConnectionResetError | BrokenPipeError):
            if write:
                raise self._unknown_outcome(exc) from exc
            client.close()
            try:
                return command(client)
            except Exception as retry_exc:
                raise self._translate(retry_exc, write) from retry_exc
        if isinstance(exc, CacheError):
            raise exc
        raise self._translate(exc, write) from exc

    def _unknown_outcome(self, exc: Exception) -> UnknownOutcome:
        return UnknownOutcome(
            "the connection was lost after a write was sent; it may or may not have been "
            "applied, so it was not resent",
            backend=self.scheme,
            server_message=str(exc) or type(exc).__name__,
        )

    def _translate(self, exc: Exception, write: bool) -> CacheError:
        if isinstance(exc, CacheError):
            return exc
        if isinstance(exc, _ConnectFailed):
            return BackendUnavailable(str(exc), backend=self.scheme)
        if isinstance(exc, _NodeSkipped):
            return BackendUnavailable(
                f"server {exc} failed recently and is skipped until it is retried",
                backend=self.scheme,
                server=str(exc),
            )
        if isinstance(exc, MemcacheServerError):
            text = exc.args[0].decode("utf-8", "replace") if exc.args else ""
            if "too large" in text:
                return ValueTooLarge(
                    "the value is over the server's item size",
                    backend=self.scheme,
                    server_message=text,
                )
            return BackendUnavailable(
                "the server reported an error", backend=self.scheme, server_message=text
            )
        if isinstance(exc, MemcacheClientError):
            text = exc.args[0].decode("utf-8", "replace") if exc.args else ""
            if "non-numeric" in text:
                return NotNumeric(
                    "the stored value is not a number", backend=self.scheme, server_message=text
                )
            if "unauthenticated" in text:
                return AuthenticationError(
                    "the server requires a login; use memcachier://",
                    backend=self.scheme,
                    server_message=text,
                )
            if "bad command line format" in text:
                return InvalidKey(
                    "the server refused the key", backend=self.scheme, server_message=text
                )
            return CacheError(
                "the server refused the command", backend=self.scheme, server_message=text
            )
        if isinstance(exc, OSError):
            if write and not isinstance(exc, ConnectionRefusedError):
                return self._unknown_outcome(exc)
            return BackendUnavailable(
                f"memcached did not answer: {exc.strerror or exc}", backend=self.scheme
            )
        if isinstance(exc, MemcacheError):
            return BackendUnavailable(str(exc), backend=self.scheme)
        return CacheError(f"unexpected error: {exc!r}", backend=self.scheme)

    # -- primitives ----------------------------------------------------------------------

    def _get(self, key: str) -> Item | None:
        item: Item | None = self._call(False, "get", key)
        return item

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        client = self._client()
        if not isinstance(client, _Cluster):
            found: dict[str, Item] = self._run_on(client, lambda c: c.get_many(keys))
            return found
        # Node by node, so that a failing node costs only its own keys: with
        # on_error="miss" the others' values are still returned.
        found, failure = {}, None
        for node, node_keys in self._run_on(client, lambda c: c.batches(keys)).items():
            try:
                found.update(self._run_on(node, partial(client.node_get_many, keys=node_keys)))
            except BackendUnavailable as exc:
                failure = exc
        return found if failure is None else self._outage(failure, found)

    def _set(self, key: str, item: Item, ttl: float | None) -> None:
        # noreply=False, positionally: the hot path spares building a kwargs dict.
        self._call(True, "set", key, item, 0 if ttl is None else _expire(ttl), False)

    def _set_many(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        return list(self._call(True, "set_many", items, _expire(ttl), noreply=False))

    def _add(self, key: str, item: Item, ttl: float | None) -> bool:
        return bool(self._call(True, "add", key, item, _expire(ttl), noreply=False))

    def _replace(self, key: str, item: Item, ttl: float | None) -> bool:
        return bool(self._call(True, "replace", key, item, _expire(ttl), noreply=False))

    def _gets(self, key: str) -> tuple[Item, CasToken] | None:
        item, cas = self._call(False, "gets", key)
        return None if item is None else (item, int(cas))

    def _cas(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        return bool(self._call(True, "cas", key, item, token, _expire(ttl), noreply=False))

    def _incr(self, key: str, delta: int, default: int | None) -> int | None:
        command, amount = ("incr", delta) if delta >= 0 else ("decr", -delta)
        for _ in range(5):
            value = self._call(True, command, key, amount, noreply=False)
            if value is not None or default is None:
                return None if value is None else int(value)
            # Missing: create it at the start value; if another worker created it first,
            # add fails and the next incr applies to theirs, so no count is lost.
            start = max(0, default + delta)
            if self._call(True, "add", key, (str(start).encode(), FLAG_INT), 0, noreply=False):
                return start
        raise BackendUnavailable(
            f"the counter {key!r} kept disappearing between incr and add", backend=self.scheme
        )

    def _delete(self, key: str) -> bool:
        return bool(self._call(True, "delete", key, noreply=False))

    def _delete_many(self, keys: list[str]) -> None:
        self._call(True, "delete_many", keys, noreply=False)

    def _touch(self, key: str, ttl: float | None) -> bool:
        return bool(self._call(True, "touch", key, _expire(ttl), noreply=False))

    def _clear(self) -> None:
        # Over the protocol, even for MemCachier (whose admin flushes through the analytics
        # API): clear() needs only the credential's flush capability, not the API's.
        from ..admin.memcache import MemcacheAdmin

        MemcacheAdmin(self).flush()
