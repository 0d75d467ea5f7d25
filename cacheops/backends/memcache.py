"""``memcached://`` and ``memcachier://``: memcached over pymemcache, with MemCachier's login.

Connections are per thread: each thread owns its own pymemcache client (a single-server
``Client``, or one per node of a ``Cluster``), so no lock sits on the hot path and no
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
  that reached the server must not be applied twice;
- a server that is unreachable or hung: its circuit breaker (:class:`.Breakers`, shared by
  the threads) opens, so the calls for it fail fast until one probe finds it back.

An idle connection is checked before use (``stale_after`` seconds), so the first call after
a server restart reconnects instead of writing into a dead socket.
"""

from __future__ import annotations

import contextlib
import re
import select
import socket
import threading
import weakref
from collections.abc import Callable, Iterable
from functools import partial
from time import monotonic as _monotonic
from typing import Any, TypeVar

from pymemcache.client.base import Client
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)

from ..backend import Backend, CasToken, Item
from ..config import Server
from ..errors import (
    BackendUnavailable,
    CacheError,
    UnknownOutcome,
)
from .memcache_cluster import Cluster, ConnectFailed
from .memcache_rules import DEFAULT_ITEM_SIZE, MemcacheRules, login_refused
from .memcache_rules import expire as _expire
from .memcache_wire import login_command, read_line, read_values, store

_T = TypeVar("_T")


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

    #: Set by ``MemcacheBackend.close()``: calls still running on it were cut off.
    retired = False

    def __init__(
        self,
        server: tuple[str, int],
        *,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(server, **kwargs)
        #: ``host:port``, as pymemcache's HashClient names a node in its ring.
        self.name = f"{server[0]}:{server[1]}"
        self._username = username
        self._password = password

    def __repr__(self) -> str:
        user = f" user={self._username!r}" if self._username else ""
        return f"<LoginClient {self.server[0]}:{self.server[1]}{user}>"

    def _connect(self) -> None:
        where = self.name
        try:
            super()._connect()
        except OSError as exc:
            raise ConnectFailed(f"cannot connect to {where}: {exc.strerror or exc}") from exc
        if self._username is None or self._password is None:
            return
        sock = self.sock
        try:
            sock.sendall(login_command(self._username, self._password))
            reply = read_line(sock)
        except OSError as exc:
            self.close()
            raise ConnectFailed(f"login to {where} failed: {exc.strerror or exc}") from exc
        if reply != b"STORED":
            self.close()
            raise login_refused(self._username, where, reply)

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


class _Closer:
    """Kept in a thread's locals beside its client: when the thread ends and its locals are
    dropped, the connection is closed rather than left open with nothing to use it (a
    thread per request, as in Django's runserver, would otherwise leak one per request)."""

    __slots__ = ("client",)

    def __init__(self, client: Any) -> None:
        self.client = client

    def __del__(self) -> None:
        _retire(self.client)


def _nodes(client: LoginClient | Cluster) -> Iterable[LoginClient]:
    return client.nodes.values() if isinstance(client, Cluster) else (client,)


def _retire(client: LoginClient | Cluster) -> None:
    """Close for good. A thread may still be mid-call on it (``close()`` from another
    thread): retired, its failure is reported as that, not as whatever broke."""
    for node in (client, *_nodes(client)):
        node.retired = True
    with contextlib.suppress(Exception):  # closing is best effort
        client.close()


def _is_stale(sock: socket.socket) -> bool:
    """An idle connection with something to read has been closed (or broken) by the server."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(readable)


class MemcacheBackend(MemcacheRules, Backend):
    """memcached and MemCachier. Several servers form one consistent-hash cluster."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._client_kwargs: dict[str, Any] = {
            "serde": _SERDE,
            "connect_timeout": self.connect_timeout,
            "timeout": self.timeout,
            "no_delay": self.no_delay,
            "tls_context": self.tls_context,
            "default_noreply": False,
        }
        self._breakers = self._new_breakers()
        self._local = threading.local()
        # Weak: a thread's client lives as long as the thread (see _Closer).
        self._clients: weakref.WeakSet[Any] = weakref.WeakSet()
        self._clients_lock = threading.Lock()

    # -- connections -------------------------------------------------------------------

    def _node_client(self, server: Server) -> LoginClient:
        """A new client for one server."""
        return LoginClient(
            (server.host, server.port),
            username=self.username,
            password=self._password,
            **self._client_kwargs,
        )

    def _new_client(self) -> LoginClient | Cluster:
        client: LoginClient | Cluster
        if len(self.servers) == 1:
            client = self._node_client(self.servers[0])
        else:
            nodes = (self._node_client(s) for s in self.servers)
            client = Cluster({node.name: node for node in nodes}, self._breakers)
        with self._clients_lock:
            self._clients.add(client)
        return client

    def _client(self, write: bool = False) -> Any:
        local = self._local
        try:
            client = local.client
            if client.retired:  # by close() on another thread, since this one stored it
                raise AttributeError
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
                for node in _nodes(client):
                    if node.sock is not None and _is_stale(node.sock):
                        node.close()
            local.used = now
        return client

    def close(self) -> None:
        with self._clients_lock:
            clients, self._clients = list(self._clients), weakref.WeakSet()
        for client in clients:
            _retire(client)
        self._local = threading.local()
        super().close()

    def after_fork(self) -> None:
        # Forget the parent's clients, never use or shut them down: their connections are
        # the parent's. (Dropping them closes only this process's copies of the sockets.)
        self._clients = weakref.WeakSet()
        self._clients_lock = threading.Lock()
        self._local = threading.local()
        # A new one: a parent's thread may have held its lock at the fork.
        self._breakers = self._new_breakers()

    # -- running commands ----------------------------------------------------------------

    def _call(self, write: bool, name: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<name>(*args, **kwargs)`` on this thread's client. The hot path: two
        frames between a contract method and pymemcache; failures go to ``_recover``."""
        client = self._client(write)
        try:
            return self._on(client, name, *args, **kwargs)
        except Exception as exc:
            return self._recover(exc, client, write, lambda c: self._on(c, name, *args, **kwargs))

    def _on(self, client: LoginClient | Cluster, name: str, *args: Any, **kwargs: Any) -> Any:
        """``client.<name>(...)`` through the server's breaker (a cluster puts each node's
        command through its own)."""
        if isinstance(client, Cluster):
            return getattr(client, name)(*args, **kwargs)
        return self._breakers.run(client, getattr(client, name), *args, **kwargs)

    def for_each_server(self, command: Callable[[Client], _T]) -> dict[Server, _T]:
        """``command(client)`` on every server in turn, each on a connection of its own
        that is closed after, with this backend's error translation (a read that lost its
        connection is retried once): what server-wide commands such as ``stats`` and
        ``flush_all`` need, where the hash ring would pick one server."""
        results = {}
        for server in self.servers:
            client = self._node_client(server)
            try:
                results[server] = self._run_on(client, command)
            finally:
                client.close()
        return results

    def _run_on(self, client: Any, command: Callable[[Any], _T], *, write: bool = False) -> _T:
        """Run ``command(client)`` with the same error handling as the contract methods."""
        try:
            return command(client)
        except Exception as exc:
            return self._recover(exc, client, write, command)

    def _recover(
        self, exc: Exception, client: Any, write: bool, command: Callable[[Any], _T]
    ) -> _T:
        """Translate pymemcache's error; a read that lost its connection is retried once on
        a new one, a write never is (its outcome is unknown)."""
        if client.retired and not isinstance(
            exc, CacheError | MemcacheClientError | MemcacheServerError
        ):
            # Its socket was closed under it (whatever pymemcache then tripped on).
            raise self._closed_during_call(exc, write) from exc
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

    def _closed_during_call(self, exc: Exception, write: bool) -> BackendUnavailable:
        message = "close() was called on this backend, from another thread, during this call"
        if write:
            return UnknownOutcome(
                f"{message}; the write may or may not have been applied, so it was not resent",
                backend=self.scheme,
                server_message=str(exc) or type(exc).__name__,
            )
        return BackendUnavailable(f"{message}; the next call reconnects", backend=self.scheme)

    # -- primitives ----------------------------------------------------------------------

    def get_item(self, key: str) -> Item | None:
        item: Item | None = self._call(False, "get", key)
        return item

    def get_items(self, keys: list[str]) -> dict[str, Item]:
        client = self._client()
        if not isinstance(client, Cluster):
            found: dict[str, Item] = self._run_on(client, lambda c: self._on(c, "get_many", keys))
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

    def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        self._fits(key, item)
        # noreply=False, positionally: the hot path spares building a kwargs dict.
        self._call(True, "set", key, item, 0 if ttl is None else _expire(ttl), False)

    def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            self._fits(key, item)
        return list(self._call(True, "set_many", items, _expire(ttl), noreply=False))

    def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "add", key, item, _expire(ttl), noreply=False))

    def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "replace", key, item, _expire(ttl), noreply=False))

    def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        item, cas = self._call(False, "gets", key)
        return None if item is None else (item, int(cas))

    def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "cas", key, item, token, _expire(ttl), noreply=False))

    def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        plan = self._counter_plan(key, delta, default)
        try:
            name, args = next(plan)
            while True:
                name, args = plan.send(self._call(True, name, *args, noreply=False))
        except StopIteration as stop:
            count: int | None = stop.value
            return count

    def delete_item(self, key: str) -> bool:
        return bool(self._call(True, "delete", key, noreply=False))

    def delete_items(self, keys: list[str]) -> None:
        self._call(True, "delete_many", keys, noreply=False)

    def touch_item(self, key: str, ttl: float | None) -> bool:
        return bool(self._call(True, "touch", key, _expire(ttl), noreply=False))

    def clear_items(self) -> None:
        # Over the protocol, even for MemCachier (whose admin flushes through the analytics
        # API): clear() needs only the credential's flush capability, not the API's.
        self.for_each_server(lambda client: client.flush_all(noreply=False))


__all__ = ["DEFAULT_ITEM_SIZE", "LoginClient", "MemcacheBackend"]
