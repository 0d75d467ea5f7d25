"""Writes: ttls, conditional stores (add, replace, cas), counters, the many-key methods,
delete and clear."""

from __future__ import annotations

import datetime
import threading
import time
from typing import Any

import pytest

from ...backend import Backend
from ...errors import InvalidTTL, KeyNotFound, NotNumeric
from .base import ContractBase, MakeBackend


class WritesContract(ContractBase):
    """ttl, add/replace, gets/cas, increment/decrement, get_many/put_many, delete, clear."""

    # -- ttl ---------------------------------------------------------------------------

    def test_ttl_expiry_and_touch(self, backend: Backend) -> None:
        backend.put("short", "a", ttl=1)
        backend.put("touched", "b", ttl=1)
        backend.put("forever", "c")
        backend.put("long", "d", ttl=datetime.timedelta(hours=1))
        assert backend.get("short") == "a"
        assert backend.touch("touched", 3600) is True
        time.sleep(self.expiry_wait)
        assert backend.get("short") is None
        assert backend.get("touched") == "b"
        assert backend.get("forever") == "c"
        assert backend.get("long") == "d"

    @pytest.mark.parametrize("ttl", [0, -1, -0.5, datetime.timedelta(0)])
    def test_ttl_zero_or_negative_expires_at_once(self, backend: Backend, ttl: Any) -> None:
        backend.put("k", "old")
        backend.put("k", "new", ttl=ttl)
        assert backend.get("k") is None
        backend.put_many({"m1": 1, "m2": 2}, ttl=ttl)
        assert backend.get_many(["m1", "m2"]) == {}

    @pytest.mark.parametrize("ttl", [float("nan"), float("inf"), "10", True, [1]])
    def test_invalid_ttl_raises_and_writes_nothing(self, backend: Backend, ttl: Any) -> None:
        with pytest.raises(InvalidTTL):
            backend.put("k", "v", ttl=ttl)
        assert backend.get("k") is None

    def test_touch(self, backend: Backend) -> None:
        assert backend.touch("missing", 10) is False
        backend.put("k", "v", ttl=10)
        assert backend.touch("k", None) is True
        assert backend.get("k") == "v"
        assert backend.touch("k", 0) is True
        assert backend.get("k") is None

    # -- add / replace -----------------------------------------------------------------

    def test_add_stores_only_when_absent(self, backend: Backend) -> None:
        assert backend.add("k", "first") is True
        assert backend.add("k", "second") is False
        assert backend.get("k") == "first"

    def test_add_with_expired_ttl_leaves_nothing(self, backend: Backend) -> None:
        backend.add("k", "v", ttl=0)
        assert backend.get("k") is None
        backend.put("present", "kept")
        assert backend.add("present", "new", ttl=0) is False
        assert backend.get("present") == "kept"

    def test_replace_stores_only_when_present(self, backend: Backend) -> None:
        assert backend.replace("k", "v") is False
        assert backend.get("k") is None
        backend.put("k", "old")
        assert backend.replace("k", "new") is True
        assert backend.get("k") == "new"

    # -- gets / cas --------------------------------------------------------------------

    def test_gets_missing(self, backend: Backend) -> None:
        assert backend.gets("missing") is None

    def test_gets_of_a_stored_none_is_not_a_miss(self, backend: Backend) -> None:
        backend.put("none", None)
        found = backend.gets("none")
        assert found is not None and found[0] is None

    def test_cas_succeeds_once_then_conflicts(self, backend: Backend) -> None:
        backend.put("k", {"n": 1})
        found = backend.gets("k")
        assert found is not None
        value, token = found
        assert value == {"n": 1}
        assert backend.cas("k", {"n": 2}, token) is True
        assert backend.get("k") == {"n": 2}
        assert backend.cas("k", {"n": 3}, token) is False
        assert backend.get("k") == {"n": 2}

    def test_cas_fails_after_another_write(self, backend: Backend) -> None:
        backend.put("k", "a")
        found = backend.gets("k")
        assert found is not None
        backend.put("k", "b")
        assert backend.cas("k", "c", found[1]) is False
        assert backend.get("k") == "b"

    def test_cas_on_missing_key_fails(self, backend: Backend) -> None:
        backend.put("k", "a")
        found = backend.gets("k")
        assert found is not None
        backend.delete("k")
        assert backend.cas("k", "b", found[1]) is False
        assert backend.get("k") is None

    # -- increment / decrement ---------------------------------------------------------

    def test_increment_missing_starts_at_default(self, backend: Backend) -> None:
        assert backend.increment("a") == 1
        assert backend.increment("b", 5, default=10) == 15
        assert backend.decrement("c", 3, default=10) == 7
        assert backend.get("b") == 15

    def test_increment_existing(self, backend: Backend) -> None:
        backend.put("n", 10)
        assert backend.increment("n") == 11
        assert backend.increment("n", 9) == 20
        assert backend.decrement("n", 5) == 15
        assert backend.get("n") == 15
        assert type(backend.get("n")) is int

    def test_increment_with_default_none_raises_key_not_found(self, backend: Backend) -> None:
        with pytest.raises(KeyNotFound):
            backend.increment("missing", default=None)
        with pytest.raises(KeyNotFound):
            backend.decrement("missing", default=None)
        assert backend.get("missing") is None

    @pytest.mark.parametrize("value", ["abc", [1], 1.5, b"x1"])
    def test_increment_non_number_raises_not_numeric(self, backend: Backend, value: Any) -> None:
        backend.put("v", value)
        with pytest.raises(NotNumeric):
            backend.increment("v")
        assert backend.get("v") == value

    def test_increment_rejects_bad_arguments(self, backend: Backend) -> None:
        with pytest.raises(TypeError):
            backend.increment("n", 1.5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            backend.increment("n", True)
        with pytest.raises(TypeError):
            backend.increment("n", default="0")  # type: ignore[arg-type]
        assert backend.get("n") is None

    def test_counter_can_go_negative(self, backend: Backend) -> None:
        assert backend.decrement("n", 1, default=0) == -1
        assert backend.decrement("n", 1) == -2

    def test_concurrent_increments_are_exact(self, make_backend: MakeBackend) -> None:
        backend = make_backend()
        backend.delete("counter")
        threads, per_thread = 8, 50

        def work() -> None:
            for _ in range(per_thread):
                backend.increment("counter")

        workers = [threading.Thread(target=work) for _ in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert backend.get("counter") == threads * per_thread

    # -- many --------------------------------------------------------------------------

    def test_get_many_leaves_missing_keys_out(self, backend: Backend) -> None:
        backend.put_many({"a": 1, "b": "two"})
        assert backend.get_many(["a", "b", "c"]) == {"a": 1, "b": "two"}
        assert backend.get_many([]) == {}
        assert backend.get_many(iter(["a"])) == {"a": 1}

    def test_get_many_refuses_a_single_string(self, backend: Backend) -> None:
        with pytest.raises(TypeError):
            backend.get_many("abc")

    def test_put_many_returns_no_failures(self, backend: Backend) -> None:
        mapping = {f"key{i}": i for i in range(50)}
        assert backend.put_many(mapping) == []
        assert backend.get_many(list(mapping)) == mapping

    def test_delete_many(self, backend: Backend) -> None:
        backend.put_many({"a": 1, "b": 2, "c": 3})
        backend.delete_many(["a", "b", "never-there"])
        assert backend.get_many(["a", "b", "c"]) == {"c": 3}

    # -- delete / clear ----------------------------------------------------------------

    def test_delete_reports_whether_something_was_there(self, backend: Backend) -> None:
        backend.put("k", "v")
        assert backend.delete("k") is True
        assert backend.get("k") is None
        assert backend.delete("k") is False

    def test_clear_removes_everything(self, backend: Backend) -> None:
        backend.put_many({"a": 1, "b": 2})
        backend.clear()
        assert backend.get_many(["a", "b"]) == {}


__all__ = ["WritesContract"]
