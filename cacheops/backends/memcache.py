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
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheError,
    MemcacheServerError,
    MemcacheUnexpectedCloseError,
)

from ..admin.base import Admin
from ..backend import TTL, Backend, CasToken, Item
from ..config import CacheConfig, Server, memcachier_api_url
from ..errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    NotNumeric,
    UnknownOutcome,
    ValueTooLarge,
)
from ..serializers import FLAG_INT
from .memcache_cluster import Cluster, NodeSkipped
from .memcache_wire import login_command, read_line, read_values, store

if TYPE_CHECKING:
    from ..admin.memcachier import MemCachierAPI

_T = TypeVar("_T")

#: memcached reads an expiry over 30 days as an absolute Unix time...
_RELATIVE_EXPIRY_LIMIT = 30 * 24 * 3600
#: ... held in a signed 32-bit int: its last second is 2038-01-19 03:14:07 UTC. A later one
#: wraps into the past, and memcached answers STORED for an item that is already gone.
_LATEST_EXPIRY = 2**31 - 1
#: memcached's default item size (``-I``), also MemCachier's.
DEFAULT_ITEM_SIZE = 1024 * 1024
#: What memcached (1.6, 64-bit) counts in an item besides key and value: a 48-byte header,
#: the key's NUL, the value's CRLF and the 8-byte CAS; 4 more when the flags are not 0.
#: Measured against the server: value + key + 59 (+4) == -I is the largest item it takes.
_ITEM_OVERHEAD = 48 + 1 + 2 + 8
_FLAGS_OVERHEAD = 4
#: memcached's counters, and the deltas incr and decr take, are unsigned 64-bit.
_COUNTER_MAX = 2**64 - 1


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

    An OSError, so the cluster marks the node as failing."""


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


def _expire(ttl: float | None) -> int:
    if ttl is None:
        return 0
    if ttl == 0.0:
        return -1
    seconds = math.ceil(ttl)
    if seconds <= _RELATIVE_EXPIRY_LIMIT:
        return seconds
    # _ttl refused anything later; the clamp only absorbs the second or so since it checked.
    return min(int(time.time()) + seconds, _LATEST_EXPIRY)


def _longest_ttl() -> float:
    """The longest ttl memcached can store now: up to its last absolute expiry, and past
    2038 still its 30 days of relative expiry."""
    return max(float(_RELATIVE_EXPIRY_LIMIT), _LATEST_EXPIRY - time.time())


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    """Refuse at connect() a duration the sockets would only refuse on first use."""
    # Comparisons written so that NaN, false against everything, fails them.
    if type(value) not in (int, float) or not (
        (value > 0 if positive else value >= 0) and value < math.inf
    ):
        least = "over 0" if positive else "0 or more"
        raise ConfigurationError(
            f"option {name} must be a finite number of seconds, {least}, not {value!r}"
        )


class MemcacheBackend(Backend):
    """memcached and MemCachier. Several servers form one consistent-hash cluster."""

    scheme = "memcached"
    #: The largest value any key can have in a default item (a 1-byte key, flags 0); each
    #: write is also checked against ``item_size`` with its own key and flags.
    default_max_value_size = DEFAULT_ITEM_SIZE - _ITEM_OVERHEAD - 1

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
        api_url: str | None = None,
        allow_insecure_http: bool = False,
        item_size: int | None = DEFAULT_ITEM_SIZE,
        **options: Any,
    ) -> None:
        if item_size is not None and (
            type(item_size) is not int or item_size <= _ITEM_OVERHEAD + _FLAGS_OVERHEAD
        ):
            raise ConfigurationError(
                f"option item_size must be the server's item size in bytes (memcached's "
                f"-I, default {DEFAULT_ITEM_SIZE}), or None; not {item_size!r}"
            )
        # Unless given, max_value_size follows: the largest value any key can have.
        options.setdefault("max_value_size", item_size and item_size - _ITEM_OVERHEAD - 1)
        super().__init__(**options)
        for name, value in (("connect_timeout", connect_timeout), ("timeout", timeout)):
            _check_seconds(name, value, positive=True)
        for name, value in (
            ("stale_after", stale_after),
            ("retry_timeout", retry_timeout),
            ("dead_timeout", dead_timeout),
        ):
            _check_seconds(name, value)
        if type(retry_attempts) is not int or retry_attempts < 0:
            raise ConfigurationError(
                f"option retry_attempts must be 0 or more, not {retry_attempts!r}"
            )
        #: memcached's item size: a write whose value, key and per-item overhead would
        #: exceed it is refused before sending (the server's refusal deletes the old value).
        self.item_size = item_size
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
        self._cluster_kwargs: dict[str, Any] = {
            "retry_attempts": retry_attempts,
            "retry_timeout": retry_timeout,
            "dead_timeout": dead_timeout,
        }
        self.stale_after = stale_after
        #: MemCachier's analytics API, which ``admin`` uses for a memcachier:// cache:
        #: ``api_url``, else ``MEMCACHIER_API_URL``, else MemCachier's public address.
        self.api_url = api_url or memcachier_api_url()
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

    def _new_client(self) -> LoginClient | Cluster:
        client: LoginClient | Cluster
        if len(self.servers) == 1:
            client = self.node_client(self.servers[0])
        else:
            client = Cluster(
                {f"{s.host}:{s.port}": self.node_client(s) for s in self.servers},
                **self._cluster_kwargs,
            )
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

    def _unknown_outcome(self, exc: Exception) -> UnknownOutcome:
        return UnknownOutcome(
            "the connection was lost after a write was sent; it may or may not have been "
            "applied, so it was not resent",
            backend=self.scheme,
            server_message=str(exc) or type(exc).__name__,
        )

    def _closed_during_call(self, exc: Exception, write: bool) -> BackendUnavailable:
        message = "close() was called on this backend, from another thread, during this call"
        if write:
            return UnknownOutcome(
                f"{message}; the write may or may not have been applied, so it was not resent",
                backend=self.scheme,
                server_message=str(exc) or type(exc).__name__,
            )
        return BackendUnavailable(f"{message}; the next call reconnects", backend=self.scheme)

    def _translate(self, exc: Exception, write: bool) -> CacheError:
        if isinstance(exc, CacheError):
            return exc
        if isinstance(exc, _ConnectFailed):
            return BackendUnavailable(str(exc), backend=self.scheme)
        if isinstance(exc, NodeSkipped):
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
            if "unauthenticated" in text or "authentic" in text:
                # Before a login, memcached takes any set as one: "bad authentication token
                # format", or "authentication failure" when the value holds a space.
                return AuthenticationError(
                    "the server requires a login; use memcachier://USER:PASSWORD@host with "
                    "its credentials"
                    if self.username is None
                    else "the server refused the command as not logged in",
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

    # -- memcached's limits ----------------------------------------------------------------

    def _ttl(self, ttl: TTL) -> float | None:
        seconds = super()._ttl(ttl)
        if seconds is not None and seconds > _longest_ttl():
            raise InvalidTTL(
                f"ttl {seconds:,.0f} s would end after 2038-01-19 03:14:07 UTC, the last expiry "
                "memcached can store (over 30 days it takes a 32-bit Unix time, and a later "
                f"one stores an item already expired); use at most {_longest_ttl():,.0f} s, "
                "or None for no expiry",
                backend=self.scheme,
            )
        return seconds

    def capped_ttl(self, ttl: float) -> float:
        # A minute short of the limit, so the moments before _ttl checks it cannot cross it.
        return min(super().capped_ttl(ttl), max(0.0, _longest_ttl() - 60))

    def _fits(self, key: str, item: Item) -> None:
        """Refuse, before sending, an item the server would refuse: its refusal also
        deletes the value the key held."""
        if self.item_size is None:
            return
        size = len(item[0]) + len(key) + _ITEM_OVERHEAD + (_FLAGS_OVERHEAD if item[1] else 0)
        if size > self.item_size:
            largest = len(item[0]) - (size - self.item_size)
            raise ValueTooLarge(
                f"the encoded value is {len(item[0])} bytes; with its {len(key)}-byte key and "
                f"memcached's per-item overhead, the server's item size of {self.item_size} "
                f"bytes takes at most {largest}",
                backend=self.scheme,
            )

    # -- primitives ----------------------------------------------------------------------

    def _get(self, key: str) -> Item | None:
        item: Item | None = self._call(False, "get", key)
        return item

    def _get_many(self, keys: list[str]) -> dict[str, Item]:
        client = self._client()
        if not isinstance(client, Cluster):
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
        self._fits(key, item)
        # noreply=False, positionally: the hot path spares building a kwargs dict.
        self._call(True, "set", key, item, 0 if ttl is None else _expire(ttl), False)

    def _set_many(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        for key, item in items.items():
            self._fits(key, item)
        return list(self._call(True, "set_many", items, _expire(ttl), noreply=False))

    def _add(self, key: str, item: Item, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "add", key, item, _expire(ttl), noreply=False))

    def _replace(self, key: str, item: Item, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "replace", key, item, _expire(ttl), noreply=False))

    def _gets(self, key: str) -> tuple[Item, CasToken] | None:
        item, cas = self._call(False, "gets", key)
        return None if item is None else (item, int(cas))

    def _cas(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        self._fits(key, item)
        return bool(self._call(True, "cas", key, item, token, _expire(ttl), noreply=False))

    def _incr(self, key: str, delta: int, default: int | None) -> int | None:
        if abs(delta) > _COUNTER_MAX:
            raise self._out_of_range(f"the delta {delta}")
        if default is not None and default + delta > _COUNTER_MAX:
            raise self._out_of_range(f"the start value {default} + {delta}")
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

    def _out_of_range(self, what: str) -> NotNumeric:
        return NotNumeric(
            f"{what} is not a number memcached counts with: its counters are unsigned 64-bit "
            f"(0 to {_COUNTER_MAX}); nothing was sent",
            backend=self.scheme,
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
