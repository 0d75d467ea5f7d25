"""The cluster of ``memcached://host1,host2,...``: which node holds a key, and what to do
with a node that fails. Built on pymemcache's public ``RendezvousHash`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from time import monotonic as _monotonic
from typing import TYPE_CHECKING, Any, TypeVar

from pymemcache.client.rendezvous import RendezvousHash
from pymemcache.exceptions import MemcacheError

if TYPE_CHECKING:
    from ..backend import Item
    from .memcache import LoginClient

_T = TypeVar("_T")


class NodeSkipped(MemcacheError):  # type: ignore[misc]
    """The cluster skipped a node it marked as failing, without trying it."""


def _name(node: LoginClient) -> str:
    """``host:port``, as pymemcache's HashClient names a node in its ring."""
    return f"{node.server[0]}:{node.server[1]}"


def _on_node(name: str) -> Callable[..., Any]:
    """``Cluster.<name>`` (get, set, incr...): the command on the node that holds the key."""

    def method(self: Cluster, key: str, *args: Any, **kwargs: Any) -> Any:
        return self.run(self.node(key), lambda node: getattr(node, name)(key, *args, **kwargs))

    method.__name__ = name
    return method


class Cluster:
    """Several servers as one cache. Each key lives on the node that pymemcache's public
    ``RendezvousHash`` picks among nodes named ``host:port``, as pymemcache's ``HashClient``
    names them, so a key is on the same server whichever of the two wrote it.

    A node whose connection fails (an ``OSError``, the failures HashClient counts) is skipped
    for ``retry_timeout`` seconds, then tried again; after ``retry_attempts`` failed retries
    it leaves the ring (its keys map to the other nodes) until ``dead_timeout`` has passed.
    One per thread, like the single-server client, so it needs no lock."""

    #: Set by ``MemcacheBackend.close()``: calls still running on it were cut off.
    retired = False

    def __init__(
        self,
        nodes: dict[str, LoginClient],
        *,
        retry_attempts: int,
        retry_timeout: float,
        dead_timeout: float,
    ) -> None:
        self.nodes = nodes
        self._ring = RendezvousHash(list(nodes))
        self._retry_attempts = retry_attempts
        self._retry_timeout = retry_timeout
        self._dead_timeout = dead_timeout
        self._failing: dict[LoginClient, tuple[int, float]] = {}  # (retries, last failure)
        self._dead: dict[str, float] = {}  # node name: when it left the ring

    def node(self, key: str) -> LoginClient:
        """The node that holds ``key``."""
        if self._dead:
            now = _monotonic()
            for name, since in list(self._dead.items()):
                if now - since > self._dead_timeout:
                    del self._dead[name]
                    self._ring.add_node(name)
        name = self._ring.get_node(key)
        if name is None:
            raise MemcacheError("every server of the cluster failed and is out of the ring")
        return self.nodes[name]

    def run(self, node: LoginClient, command: Callable[[LoginClient], _T]) -> _T:
        """``command(node)``, with the bookkeeping of failing nodes."""
        failure = self._failing.get(node)
        if failure is not None and _monotonic() - failure[1] < self._retry_timeout:
            raise NodeSkipped(_name(node))
        try:
            result = command(node)
        except OSError:
            self._failed(node, 0 if failure is None else failure[0] + 1)
            raise
        if failure is not None:
            del self._failing[node]
        return result

    def _failed(self, node: LoginClient, retries: int) -> None:
        if retries < self._retry_attempts:
            self._failing[node] = (retries, _monotonic())
            return
        self._failing.pop(node, None)
        name = _name(node)
        if name not in self._dead:
            self._ring.remove_node(name)
        self._dead[name] = _monotonic()

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
