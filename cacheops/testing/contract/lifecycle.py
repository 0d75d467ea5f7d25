"""Lifecycle and admin: close and lazy reconnect, fork safety, and the admin of the same
cache."""

from __future__ import annotations

import os

from ...backend import Backend
from .base import ContractBase, MakeBackend


class LifecycleContract(ContractBase):
    """Context manager, fork, and backend.admin's stats, flush and info."""

    # -- lifecycle ---------------------------------------------------------------------

    def test_context_manager_closes_and_reconnects_lazily(self, make_backend: MakeBackend) -> None:
        with make_backend() as backend:
            backend.put("k", "v")
        assert backend.get("k") == "v"
        backend.close()

    def test_fork_child_gets_its_own_connection(self, make_backend: MakeBackend) -> None:
        backend = make_backend()
        backend.put("parent", "before fork")
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            code = 1
            try:
                if backend.get("parent") == "before fork":
                    backend.put("child", "from child")
                    code = 0
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert backend.get("parent") == "before fork"
        backend.put("parent", "after fork")
        assert backend.get("parent") == "after fork"
        if self.shared_across_processes:
            assert backend.get("child") == "from child"

    # -- admin -------------------------------------------------------------------------

    def test_admin_stats_count_hits_misses_and_items(self, backend: Backend) -> None:
        before = backend.admin.stats()
        backend.put("k", "v")
        backend.get("k")
        backend.get("absent")
        after = backend.admin.stats()
        assert after.hits is not None and before.hits is not None
        assert after.misses is not None and before.misses is not None
        assert after.hits >= before.hits + 1
        assert after.misses >= before.misses + 1
        assert after.items is not None and after.items >= 1
        assert after.servers

    def test_admin_flush_empties_the_cache(self, backend: Backend) -> None:
        backend.put_many({"k": "v", "n": 1})
        backend.admin.flush()
        assert backend.get_many(["k", "n"]) == {}

    def test_admin_info_names_the_backend(self, backend: Backend) -> None:
        info = backend.admin.info()
        assert info["backend"]
        assert "location" in info


__all__ = ["LifecycleContract"]
