"""The backend conformance suite: the executable definition of the Backend contract.

Any backend, ours or a third party's, proves it keeps the contract by subclassing
:class:`BackendContract` in a test module and providing one fixture, ``make_backend``: a
factory that takes contract options (``key_prefix``, ``key_policy``, ``serializer``,
``secret``, ...) and returns a backend on the cache under test. Backends made by one
factory must reach the same cache, so two prefixes can be seen to stay apart::

    import pytest
    from cacheops.testing.contract import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def make_backend(self, my_server):
            return lambda **options: MyBackend(my_server.address, **options)

Where a backend cannot honour part of the contract, it names the test in
``expected_failures`` with the reason; the test is then a strict xfail for that backend only,
so it fails loudly the day the backend starts to pass.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import pytest

from ..backend import Backend
from ..errors import (
    ConfigurationError,
    InvalidKey,
    InvalidTTL,
    KeyNotFound,
    NotNumeric,
    SerializationError,
    ValueTooLarge,
)
from ..serializers import FLAG_ENVELOPE, FLAG_JSON, FLAG_PICKLE, FLAG_SIGNED_PICKLE, FLAG_STR
from ..stampede import lease_key

MakeBackend = Callable[..., Backend]

VALUES: list[Any] = [
    "text",
    "",
    "ünïcødé ✓ 漢字",
    b"\x00\x01binary\xff",
    b"",
    0,
    -42,
    2**62,
    2**100,
    1.5,
    1.0,
    -0.25,
    True,
    False,
    None,
    [1, "two", 3.0, None, True, [4]],
    [],
    {"a": 1, "b": [1, 2], "c": {"d": None}, "e": False},
    {},
]

BAD_KEYS: list[Any] = [
    "",
    "a\r\nflush_all",
    "tab\tkey",
    "nul\x00key",
    "del\x7fkey",
    "k" * 251,
    b"bytes-key",
    42,
    None,
]

#: Keys outside the portable rule that a backend may still carry (``portable_keys_only``).
NON_PORTABLE_KEYS = ["has space", "naïve", "漢字", "a b+c"]

#: Valid keys built to collide in a careless encoder: each must be its own item.
ADVERSARIAL_KEYS = [
    "a+b",
    "a%20b",
    "a%2Bb",
    "a/b",
    "a%2Fb",
    "../escape",
    "..",
    ".",
    "?q=1",
    "#frag",
    "%",
    "%%",
    "a\\b",
    "items",
    "increment",
    "key/increment",
]


@dataclass
class Point:
    """An arbitrary object for the pickle tests (module level so it pickles)."""

    x: int
    y: int


class BackendContract:
    """Subclass, provide ``make_backend``; every test here must pass."""

    #: test name -> why this backend cannot pass it (documented in the contract table).
    expected_failures: ClassVar[Mapping[str, str]] = {}
    #: Whether another process sees this cache (False for an in-process store).
    shared_across_processes: ClassVar[bool] = True
    #: Whether keys outside the portable rule (spaces, non-ASCII) are refused. A backend
    #: that can carry any printable str sets it False and must keep such keys distinct.
    portable_keys_only: ClassVar[bool] = True
    #: Seconds to wait past a 1-second ttl before it must have expired.
    expiry_wait: ClassVar[float] = 2.2

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        raise NotImplementedError("a conformance test class must provide make_backend")

    @pytest.fixture(autouse=True)
    def _expected_failure(self, request: pytest.FixtureRequest) -> None:
        reason = self.expected_failures.get(request.function.__name__)
        if reason:
            request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))

    @pytest.fixture
    def backend(self, make_backend: MakeBackend) -> Iterator[Backend]:
        backend = make_backend()
        backend.clear()
        yield backend
        backend.close()

    # -- get / put ---------------------------------------------------------------------

    def test_get_missing_returns_default(self, backend: Backend) -> None:
        assert backend.get("missing") is None
        assert backend.get("missing", "fallback") == "fallback"

    @pytest.mark.parametrize("value", VALUES, ids=lambda v: f"{type(v).__name__}:{v!r}"[:40])
    def test_every_value_type_round_trips_with_its_type(self, backend: Backend, value: Any) -> None:
        backend.put("value", value)
        got = backend.get("value", default="<missing>")
        assert got == value
        assert type(got) is type(value)

    def test_one_true_and_one_point_zero_stay_distinct(self, backend: Backend) -> None:
        backend.put_many({"int": 1, "bool": True, "float": 1.0, "str": "1"})
        got = backend.get_many(["int", "bool", "float", "str"])
        assert [type(got[k]) for k in ("int", "bool", "float", "str")] == [int, bool, float, str]

    def test_values_are_copies(self, backend: Backend) -> None:
        value = {"list": [1, 2]}
        backend.put("copy", value)
        value["list"].append(3)
        first = backend.get("copy")
        assert first == {"list": [1, 2]}
        first["list"].append(4)
        assert backend.get("copy") == {"list": [1, 2]}

    def test_put_overwrites(self, backend: Backend) -> None:
        backend.put("k", "one")
        backend.put("k", "two")
        assert backend.get("k") == "two"

    @pytest.mark.parametrize(
        "value",
        [
            object(),
            (1, 2),
            {1: "int key"},
            {"a": [b"nested"]},
            {3},
            pytest.param(10**5000, id="int-past-4300-digits"),
        ],
    )
    def test_unserializable_value_raises_and_writes_nothing(
        self, backend: Backend, value: Any
    ) -> None:
        backend.put("k", "kept")
        with pytest.raises(SerializationError):
            backend.put("k", value)
        assert backend.get("k") == "kept"

    def test_value_over_the_item_size_raises_and_writes_nothing(self, backend: Backend) -> None:
        limit = backend.max_value_size
        assert limit is not None, "every backend has an item size"
        backend.put("big", b"kept")
        with pytest.raises(ValueTooLarge):
            backend.put("big", b"x" * (limit + 1))
        assert backend.get("big") == b"kept"
        backend.put("big", b"y" * (limit // 2))
        assert backend.get("big") == b"y" * (limit // 2)

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

    # -- keys --------------------------------------------------------------------------

    @pytest.mark.parametrize("key", BAD_KEYS, ids=lambda k: repr(k)[:20])
    def test_bad_key_raises_invalid_key_and_reaches_nothing(
        self, backend: Backend, key: Any
    ) -> None:
        backend.put("a", "kept")
        for call in (
            lambda: backend.get(key),
            lambda: backend.put(key, "v"),
            lambda: backend.add(key, "v"),
            lambda: backend.delete(key),
            lambda: backend.increment(key),
            lambda: backend.get_many(["a", key]),
            lambda: backend.put_many({"b": 1, key: 2}),
        ):
            with pytest.raises(InvalidKey):
                call()
        assert isinstance(InvalidKey("x"), ValueError)
        assert backend.get("a") == "kept"
        assert backend.get("b") is None

    def test_non_portable_keys(self, backend: Backend) -> None:
        if self.portable_keys_only:
            for key in NON_PORTABLE_KEYS:
                with pytest.raises(InvalidKey):
                    backend.put(key, "v")
            return
        for i, key in enumerate(NON_PORTABLE_KEYS):
            backend.put(key, i)
        assert backend.get_many(NON_PORTABLE_KEYS) == {
            k: i for i, k in enumerate(NON_PORTABLE_KEYS)
        }

    def test_adversarial_keys_are_distinct_items(self, backend: Backend) -> None:
        for i, key in enumerate(ADVERSARIAL_KEYS):
            backend.put(key, i)
        for i, key in enumerate(ADVERSARIAL_KEYS):
            assert backend.get(key) == i, key
        assert backend.get_many(ADVERSARIAL_KEYS) == {k: i for i, k in enumerate(ADVERSARIAL_KEYS)}
        assert backend.delete("a/b") is True
        assert backend.get("a%2Fb") == ADVERSARIAL_KEYS.index("a%2Fb")
        assert backend.increment("a+b") == ADVERSARIAL_KEYS.index("a+b") + 1
        assert backend.get("a%20b") == ADVERSARIAL_KEYS.index("a%20b")

    def test_longest_key_is_accepted(self, backend: Backend) -> None:
        key = "k" * backend.max_key_length
        backend.put(key, "v")
        assert backend.get(key) == "v"

    def test_prefix_counts_toward_the_key_length(self, make_backend: MakeBackend) -> None:
        backend = make_backend(key_prefix="pre:")
        with pytest.raises(InvalidKey):
            backend.put("k" * (backend.max_key_length - 3), "v")
        backend.put("k" * (backend.max_key_length - 4), "v")

    def test_a_none_key_prefix_is_no_prefix(self, make_backend: MakeBackend) -> None:
        backend = make_backend(key_prefix=None)
        assert backend.key_prefix == ""
        backend.put("k", "v")
        assert make_backend().get("k") == "v"
        with pytest.raises(ConfigurationError, match="key_prefix must be a str"):
            make_backend(key_prefix=5)

    def test_prefixes_keep_caches_apart(self, make_backend: MakeBackend) -> None:
        one, two = make_backend(key_prefix="one:"), make_backend(key_prefix="two:")
        one.put("k", 1)
        two.put("k", 2)
        assert (one.get("k"), two.get("k")) == (1, 2)
        assert one.get_many(["k"]) == {"k": 1}
        one.delete("k")
        assert two.get("k") == 2

    @pytest.mark.parametrize(
        "key", [k for k in BAD_KEYS if isinstance(k, str) and k] + NON_PORTABLE_KEYS
    )
    def test_hash_policy_stores_any_str_key(self, make_backend: MakeBackend, key: str) -> None:
        backend = make_backend(key_policy="hash")
        backend.put(key, "hashed")
        backend.put(key + "2", "other")
        assert backend.get(key) == "hashed"
        assert backend.get_many([key]) == {key: "hashed"}
        assert backend.get(key + "2") == "other"
        assert backend.delete(key) is True
        with pytest.raises(InvalidKey):
            backend.get(b"still not a str")  # type: ignore[arg-type]

    # -- serializers -------------------------------------------------------------------

    def test_pickle_is_opt_in(self, make_backend: MakeBackend) -> None:
        pickler = make_backend(serializer="pickle")
        pickler.put("obj", Point(1, 2))
        assert pickler.get("obj") == Point(1, 2)
        with pytest.raises(SerializationError):
            make_backend().get("obj")

    def test_signed_pickle_refuses_other_secrets_and_tampering(
        self, make_backend: MakeBackend
    ) -> None:
        secret = "s" * 32
        signed = make_backend(serializer="pickle", secret=secret)
        signed.put("obj", Point(3, 4))
        assert signed.get("obj") == Point(3, 4)
        with pytest.raises(SerializationError):
            make_backend(serializer="pickle", secret="t" * 32).get("obj")
        with pytest.raises(SerializationError):
            make_backend(serializer="pickle").get("obj")
        make_backend(serializer="pickle").put("unsigned", Point(5, 6))
        with pytest.raises(SerializationError):
            signed.get("unsigned")
        # A payload with a forged signature, written below the serializer as an attacker
        # with write access to the cache would.
        payload = b"\x00" * 32 + b"cos\nsystem\n(S'echo pwned'\ntR."
        signed.set_item(signed.make_key("forged"), (payload, FLAG_SIGNED_PICKLE), None)
        with pytest.raises(SerializationError):
            signed.get("forged")

    @pytest.mark.parametrize(
        ("payload", "flags"),
        [
            (b"\xff\xfe", FLAG_STR),
            (b'{"a": ', FLAG_JSON),
            (b"[" * 100_000, FLAG_JSON),
            (b"\x80\x05not a pickle", FLAG_PICKLE),
            (b"abc", FLAG_SIGNED_PICKLE),
            (b"\x09future format", FLAG_ENVELOPE),
        ],
        ids=[
            "bad-utf8",
            "bad-json",
            "deep-json",
            "bad-pickle",
            "short-signed-pickle",
            "unknown-envelope",
        ],
    )
    def test_a_malformed_stored_value_is_a_serialization_error(
        self, make_backend: MakeBackend, payload: bytes, flags: int
    ) -> None:
        # Written below the serializer, as another client sharing the cache could.
        reader = make_backend(serializer="pickle", secret="s" * 32)
        if flags == FLAG_PICKLE:
            reader = make_backend(serializer="pickle")
        reader.set_item(reader.make_key("bad"), (payload, flags), None)
        reader.put("good", "fine")
        with pytest.raises(SerializationError, match="under 'bad'"):
            reader.get("bad")
        with pytest.raises(SerializationError, match="under 'bad'"):
            reader.get_many(["good", "bad"])
        with pytest.raises(SerializationError, match="under 'bad'"):
            reader.gets("bad")
        assert reader.get("good") == "fine"

    # -- get_or_compute ----------------------------------------------------------------

    def test_get_or_compute_runs_one_computation_for_many_threads(self, backend: Backend) -> None:
        calls: list[int] = []
        lock = threading.Lock()

        def compute() -> dict[str, int]:
            with lock:
                calls.append(1)
            time.sleep(0.3)
            return {"n": len(calls)}

        results: list[Any] = []
        start = threading.Barrier(12)

        def call() -> None:
            start.wait()
            results.append(backend.get_or_compute("hot", compute, 60))

        workers = [threading.Thread(target=call) for _ in range(12)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        assert len(calls) == 1
        assert results == [{"n": 1}] * 12
        assert backend.stampede.computations == 1
        assert 1 <= backend.stampede.lease_waits <= 11  # the others waited or came late

    @pytest.mark.parametrize("value", ["text", b"\x00bytes", 42, 1.5, None, [1, {"a": True}]])
    def test_get_or_compute_envelope_is_invisible_to_plain_reads(
        self, backend: Backend, value: Any
    ) -> None:
        assert backend.get_or_compute("k", lambda: value, 60) == value
        for got in (backend.get("k", "<missing>"), backend.get_many(["k"])["k"]):
            assert got == value and type(got) is type(value)
        found = backend.gets("k")
        assert found is not None and found[0] == value
        assert backend.get_or_compute("k", lambda: "recomputed", 60) == value
        backend.put("k", "plain")  # a plain value under the key is served as it is
        assert backend.get_or_compute("k", lambda: "recomputed", 60) == "plain"

    def test_get_or_compute_serves_stale_while_one_caller_recomputes(
        self, backend: Backend
    ) -> None:
        backend.get_or_compute("k", lambda: "old", 0.5, grace=60)
        time.sleep(0.7)
        computing, finish = threading.Event(), threading.Event()

        def slow() -> str:
            computing.set()
            finish.wait(10)
            return "new"

        recomputed: list[str] = []
        holder = threading.Thread(
            target=lambda: recomputed.append(backend.get_or_compute("k", slow, 60, grace=60))
        )
        holder.start()
        assert computing.wait(10)
        started = time.monotonic()
        assert backend.get_or_compute("k", lambda: "not me", 60, grace=60) == "old"
        assert time.monotonic() - started < 0.5  # served at once, not after the recompute
        assert backend.stampede.stale_served == 1
        finish.set()
        holder.join()
        assert recomputed == ["new"]
        assert backend.get("k") == "new"
        assert backend.get_or_compute("k", lambda: "not me", 60, grace=60) == "new"

    def test_get_or_compute_serves_stale_when_compute_raises_under_fail_safe(
        self, backend: Backend, caplog: pytest.LogCaptureFixture
    ) -> None:
        backend.get_or_compute("k", lambda: "last good", 0.5, grace=60, fail_safe=True)
        time.sleep(0.7)

        def broken() -> str:
            raise RuntimeError("database down")

        with pytest.raises(RuntimeError, match="database down"):
            backend.get_or_compute("k", broken, 0.5, grace=60)
        with caplog.at_level("WARNING", logger="cacheops"):
            assert backend.get_or_compute("k", broken, 0.5, grace=60, fail_safe=True) == "last good"
        assert "serving its last value" in caplog.text and "database down" in caplog.text
        assert backend.stampede.fail_safe_served == 1
        assert backend.stampede.compute_errors == 2
        # The lease was released: the next caller computes at once.
        assert backend.get_or_compute("k", lambda: "fixed", 0.5, grace=60) == "fixed"

    def test_get_or_compute_waits_out_the_lease_of_a_crashed_holder(self, backend: Backend) -> None:
        # A holder that died before computing: its lease stays until its own ttl.
        assert backend.add(lease_key(backend, "k"), "crashed holder", ttl=2)
        started = time.monotonic()
        assert backend.get_or_compute("k", lambda: "computed", 60, lock_ttl=5) == "computed"
        assert 0.9 <= time.monotonic() - started < 5
        assert backend.stampede.lease_waits == 1
        assert backend.get(lease_key(backend, "k")) is None  # released after the computation

    def test_get_or_compute_recomputes_early_with_xfetch(self, backend: Backend) -> None:
        def compute() -> str:
            time.sleep(0.02)  # delta: what makes an early recompute worth it
            return "v"

        backend.get_or_compute("eager", compute, 60, beta=1e12)
        backend.get_or_compute("eager", compute, 60, beta=1e12)
        assert backend.stampede.early_recomputes == 1
        backend.get_or_compute("never", compute, 60, beta=0)
        backend.get_or_compute("never", compute, 60, beta=0)
        assert backend.stampede.early_recomputes == 1
        assert backend.stampede.computations == 3

    def test_get_or_compute_with_ttl_zero_stores_nothing(self, backend: Backend) -> None:
        assert backend.get_or_compute("k", lambda: "v", 0) == "v"
        assert backend.get("k") is None

    @pytest.mark.parametrize(
        ("options", "error"),
        [
            ({"grace": -1}, InvalidTTL),
            ({"lock_ttl": 0}, InvalidTTL),
            ({"wait": float("nan")}, InvalidTTL),
            ({"beta": -1.0}, ConfigurationError),
            ({"fail_safe": "yes"}, ConfigurationError),
        ],
    )
    def test_get_or_compute_refuses_bad_options(
        self, backend: Backend, options: dict[str, Any], error: type[Exception]
    ) -> None:
        with pytest.raises(error):
            backend.get_or_compute("k", lambda: "v", 60, **options)
        with pytest.raises(InvalidTTL):
            backend.get_or_compute("k", lambda: "v", float("inf"))
        assert backend.get("k") is None

    def test_memoize_keys_results_by_bound_arguments(self, backend: Backend) -> None:
        calls: list[tuple[Any, ...]] = []

        @backend.memoize(60)
        def add(a: Any, b: int = 2) -> Any:
            calls.append((a, b))
            return [a, b]

        assert add(1) == add(1, 2) == add(a=1, b=2) == [1, 2]
        assert add("1") == ["1", 2]
        assert calls == [(1, 2), ("1", 2)]
        with pytest.raises(TypeError):
            add(1, 2, 3)  # type: ignore[call-arg]

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


__all__ = [
    "ADVERSARIAL_KEYS",
    "BAD_KEYS",
    "NON_PORTABLE_KEYS",
    "VALUES",
    "BackendContract",
    "MakeBackend",
    "Point",
]
