"""The cluster of ``memcached://host1,host2,...``: which node holds a key, and what to do
with a server that fails (a circuit breaker per server, shared by a backend's threads).
Built on pymemcache's public ``RendezvousHash`` only.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import partial
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from pymemcache.client.rendezvous import RendezvousHash
from pymemcache.exceptions import MemcacheError

if TYPE_CHECKING:
    from ..backend import Item
    from .memcache import LoginClient

_T = TypeVar("_T")


class ConnectFailed(ConnectionError):
    """The connection (or its login) failed before any command was sent."""


class NodeSkipped(MemcacheError):  # type: ignore[misc]
    """A server's breaker is open: the call was refused without trying the server."""

    def __init__(self, server: str, message: str) -> None:
        super().__init__(message)
        self.server = server


def is_outage(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) shows a server unreachable: it refused
    the connection or did not answer in time. A reset on a reused connection does not (a
    restarted server): the reconnect that follows tells."""
    return isinstance(exc, ConnectFailed | TimeoutError) or isinstance(
        exc.__cause__, ConnectFailed | TimeoutError
    )


class Node(Protocol):
    """A server's client, sync or async, as the breakers see it."""

    #: ``host:port``, its name in the ring.
    name: str
    #: Closed for good by its backend: a failure of a call then says nothing of the server.
    retired: bool


@dataclass
class _Open:
    since: float  # when it last failed
    failures: int  # the failure that opened it, then each failed probe
    probe: object | None = None  # the token of the call probing it now


class Breakers:
    """The circuit breakers of one backend's servers, shared by all its threads.

    A server that failed (:func:`is_outage`) is *open*: calls for it fail fast with
    :class:`NodeSkipped`. ``window`` seconds after the failure one call goes through as a
    probe (*half-open*; the others still fail fast): if it succeeds the breaker closes, if
    it fails the server stays open another window. So a dead or hung server costs one
    timeout per window per process, not one per call. ``window=0`` never fails fast.

    In a cluster (``eject``), a server whose probe failed ``attempts`` times leaves the ring
    (its keys map to the other servers) for ``dead_timeout`` seconds, then rejoins
    half-open, its next failure sending it out again.
    """

    def __init__(
        self,
        names: Iterable[str],
        *,
        window: float,
        eject: bool = False,
        attempts: int = 0,
        dead_timeout: float = 0.0,
    ) -> None:
        self.window = window
        self._names = list(names)
        self._eject = eject
        self._attempts = attempts
        self._dead_timeout = dead_timeout
        self._lock = threading.Lock()
        #: The open breakers, by server name. Read without the lock on the hot path (a dict
        #: lookup is atomic), changed only under it.
        self.open: dict[str, _Open] = {}
        self._ejected: dict[str, float] = {}  # name: when it left the ring
        self._rejoin_at = math.inf  # when the first ejected server is due back
        # Replaced, never changed in place, so that threads can read it without the lock.
        self._ring = RendezvousHash(list(self._names))

    def ring(self) -> RendezvousHash:
        """The ring of the servers not ejected, after letting back those due."""
        if _monotonic() >= self._rejoin_at:
            with self._lock:
                now = _monotonic()
                due = [n for n, t in self._ejected.items() if now - t >= self._dead_timeout]
                for name in due:
                    del self._ejected[name]
                    # Half-open at once, one failure from leaving again.
                    self.open[name] = _Open(now - self.window, self._attempts)
                if due:
                    self._reshape()
        return self._ring

    def run(self, node: LoginClient, command: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
        """``command(*args, **kwargs)``, a command on ``node``, through its breaker."""
        if not self.open:  # every server healthy: the hot path
            try:
                return command(*args, **kwargs)
            except Exception as exc:
                if is_outage(exc) and not node.retired:
                    self._failed(node.name, None)
                raise
        return self._through(node, partial(command, *args, **kwargs))

    def _through(self, node: Node, command: Callable[[], _T]) -> _T:
        token = self._admit(node.name)
        try:
            result = command()
        except BaseException as exc:
            self._settle(node, token, exc)
            raise
        self._settle(node, token, None)
        return result

    async def run_async(self, node: Node, command: Callable[[], Awaitable[_T]]) -> _T:
        """:meth:`run` for a coroutine (the asyncio backend), with the same breakers."""
        token = self._admit(node.name) if self.open else None
        try:
            result = await command()
        except BaseException as exc:
            self._settle(node, token, exc)
            raise
        self._settle(node, token, None)
        return result

    def _settle(self, node: Node, token: object | None, exc: BaseException | None) -> None:
        """Record how a call let through by :meth:`_admit` ended (``exc`` None: it worked)."""
        if exc is None:
            if token is not None:
                with self._lock:
                    self.open.pop(node.name, None)
        # A client closed under the call (close() from another thread) says nothing
        # about the server.
        elif is_outage(exc) and not node.retired:
            self._failed(node.name, token)
        elif token is not None:
            self._release(node.name, token)

    def _admit(self, name: str) -> object | None:
        """Let a call through; its token if it is the probe. Raises :class:`NodeSkipped`."""
        if name not in self.open:
            return None
        with self._lock:
            state = self.open.get(name)
            if state is None:
                return None
            ago = _monotonic() - state.since
            if ago >= self.window and (state.probe is None or not self.window):
                state.probe = token = object()
                return token
        raise NodeSkipped(
            name,
            f"server {name} failed {ago:.1f} s ago: its circuit breaker is open, so calls "
            f"for it fail fast; one call probes it every breaker_window ({self.window:g} s) "
            "until it answers",
        )

    def _release(self, name: str, token: object) -> None:
        """A probe ended without telling whether the server is up: the next call probes."""
        with self._lock:
            state = self.open.get(name)
            if state is not None and state.probe is token:
                state.probe = None

    def _failed(self, name: str, token: object | None) -> None:
        with self._lock:
            state = self.open.get(name)
            now = _monotonic()
            if state is None:
                state = self.open[name] = _Open(now, 1)
            elif token is not None and state.probe is token:
                state.since, state.failures, state.probe = now, state.failures + 1, None
            else:
                return  # a call begun before the breaker opened: its failure is counted
            if self._eject and state.failures > self._attempts:
                del self.open[name]
                self._ejected[name] = now
                self._reshape()

    def _reshape(self) -> None:
        """The ring without the ejected servers (under the lock)."""
        self._ring = RendezvousHash([n for n in self._names if n not in self._ejected])
        self._rejoin_at = min(self._ejected.values(), default=math.inf) + self._dead_timeout


def _on_node(name: str) -> Callable[..., Any]:
    """``Cluster.<name>`` (get, set, incr...): the command on the node that holds the key."""

    def method(self: Cluster, key: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(self.node(key), lambda node: getattr(node, name)(key, *args, **kwargs))

    method.__name__ = name
    return method


class Cluster:
    """Several servers as one cache. Each key lives on the node that pymemcache's public
    ``RendezvousHash`` picks among nodes named ``host:port``, as pymemcache's ``HashClient``
    names them, so a key is on the same server whichever of the two wrote it. A failing node
    is handled by the backend's :class:`Breakers`, shared with its other threads' clusters.
    One per thread, like the single-server client, so it needs no lock."""

    #: Set by ``MemcacheBackend.close()``: calls still running on it were cut off.
    retired = False

    def __init__(self, nodes: dict[str, LoginClient], breakers: Breakers) -> None:
        self.nodes = nodes
        self.breakers = breakers

    def node(self, key: str) -> LoginClient:
        """The node that holds ``key``."""
        name = self.breakers.ring().get_node(key)
        if name is None:
            raise MemcacheError("every server of the cluster failed and is out of the ring")
        return self.nodes[name]

    def run(self, node: LoginClient, command: Callable[[LoginClient], _T]) -> _T:
        """``command(node)``, through the node's breaker."""
        return self.breakers.run(node, command, node)

    get = _on_node("get")
    gets = _on_node("gets")
    set = _on_node("set")
    add = _on_node("add")
    replace = _on_node("replace")
    cas = _on_node("cas")
    incr = _on_node("incr")
    decr = _on_node("decr")
    delete = _on_node("delete")
    touch = _on_node("touch")

    def batches(self, keys: list[str]) -> dict[LoginClient, list[str]]:
        """The keys grouped by the node that holds them."""
        groups: dict[LoginClient, list[str]] = {}
        for key in keys:
            groups.setdefault(self.node(key), []).append(key)
        return groups

    def node_get_many(self, node: LoginClient, keys: list[str]) -> dict[str, Item]:
        """``get_many`` on one node, with the bookkeeping of failing nodes."""
        return dict(self.run(node, lambda n: n.get_many(keys)))

    def _each_node(
        self, keys: list[str], command: Callable[[list[str], LoginClient], _T]
    ) -> list[_T]:
        """``command(its keys, node)`` on every node concerned; one node failing does not
        stop the others (its error is raised after they ran)."""
        results, error = [], None
        for node, node_keys in self.batches(keys).items():
            try:
                results.append(self.run(node, partial(command, node_keys)))
            except Exception as exc:  # re-raised below, after the other nodes
                error = error or exc
        if error is not None:
            raise error
        return results

    def set_many(self, items: dict[str, Item], expire: int, noreply: bool) -> list[str]:
        def set_some(keys: list[str], node: LoginClient) -> list[str]:
            return list(node.set_many({k: items[k] for k in keys}, expire, noreply=noreply))

        return [key for failed in self._each_node(list(items), set_some) for key in failed]

    def delete_many(self, keys: list[str], noreply: bool) -> bool:
        self._each_node(keys, lambda keys, node: node.delete_many(keys, noreply=noreply))
        return True

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


__all__ = ["Breakers", "Cluster", "ConnectFailed", "Node", "NodeSkipped", "is_outage"]
