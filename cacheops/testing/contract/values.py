"""Values: every type round-trips with its type, as a copy, within the item size; the
serializers refuse what they cannot carry and what they did not write."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from ...backend import Backend
from ...errors import SerializationError, ValueTooLarge
from ...serializers import FLAG_ENVELOPE, FLAG_JSON, FLAG_PICKLE, FLAG_SIGNED_PICKLE, FLAG_STR
from .base import ContractBase, MakeBackend

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


@dataclass
class Point:
    """An arbitrary object for the pickle tests (module level so it pickles)."""

    x: int
    y: int


class ValuesContract(ContractBase):
    """get and put, value types, item size and serializers."""

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


__all__ = ["VALUES", "Point", "ValuesContract"]
