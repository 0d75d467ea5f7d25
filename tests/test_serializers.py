"""The codecs on their own: flags, types, and the refusals that keep pickle safe."""

from __future__ import annotations

import pickle

import pytest

from cacheops.errors import ConfigurationError, SerializationError
from cacheops.serializers import (
    FLAG_BYTES,
    FLAG_INT,
    FLAG_JSON,
    FLAG_PICKLE,
    FLAG_SIGNED_PICKLE,
    FLAG_STR,
    JSONSerializer,
    PickleSerializer,
    get_serializer,
)


class Exploit:
    ran = False

    def __reduce__(self) -> tuple[object, ...]:
        return (setattr, (Exploit, "ran", True))


def test_native_encodings_other_clients_can_read() -> None:
    codec = JSONSerializer()
    assert codec.dumps("héllo") == ("héllo".encode(), FLAG_STR)
    assert codec.dumps(b"raw") == (b"raw", FLAG_BYTES)
    assert codec.dumps(-12) == (b"-12", FLAG_INT)
    assert codec.dumps(True) == (b"true", FLAG_JSON)
    assert codec.dumps(1.0) == (b"1.0", FLAG_JSON)


def test_json_refuses_what_would_not_come_back_the_same() -> None:
    codec = JSONSerializer()
    for value in [(1, 2), {1: "a"}, [b"x"], {"s": {1, 2}}, object()]:
        with pytest.raises(SerializationError, match="pickle"):
            codec.dumps(value)


def test_json_never_loads_a_pickle() -> None:
    payload = pickle.dumps(Exploit())
    with pytest.raises(SerializationError, match="never loads"):
        JSONSerializer().loads(payload, FLAG_PICKLE)
    assert Exploit.ran is False


def test_signed_pickle_refuses_a_forged_payload_without_unpickling() -> None:
    codec = PickleSerializer(secret="k" * 32)
    forged = b"\x00" * 32 + pickle.dumps(Exploit())
    with pytest.raises(SerializationError, match="signature"):
        codec.loads(forged, FLAG_SIGNED_PICKLE)
    with pytest.raises(SerializationError, match="unsigned"):
        codec.loads(pickle.dumps(Exploit()), FLAG_PICKLE)
    assert Exploit.ran is False


def test_signed_pickle_round_trip_and_flipped_bit() -> None:
    codec = PickleSerializer(secret=b"k" * 32)
    payload, flags = codec.dumps({"a": (1, 2)})
    assert flags == FLAG_SIGNED_PICKLE
    assert codec.loads(payload, flags) == {"a": (1, 2)}
    tampered = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(SerializationError):
        codec.loads(tampered, flags)


def test_pickle_keeps_shared_encodings_for_str_bytes_int() -> None:
    codec = PickleSerializer()
    assert codec.dumps("s")[1] == FLAG_STR
    assert codec.dumps(7) == (b"7", FLAG_INT)
    assert codec.loads(*codec.dumps((1, 2))) == (1, 2)


def test_serializer_options() -> None:
    assert isinstance(get_serializer("json"), JSONSerializer)
    assert isinstance(get_serializer("pickle", "x" * 16), PickleSerializer)
    with pytest.raises(ConfigurationError, match="needs serializer='pickle'"):
        get_serializer("json", "x" * 16)
    with pytest.raises(ConfigurationError, match="at least 16 bytes"):
        PickleSerializer("short")
    with pytest.raises(ConfigurationError, match="unknown serializer"):
        get_serializer("yaml")
    assert "k" * 32 not in repr(PickleSerializer("k" * 32))


def test_unknown_flags_are_an_error() -> None:
    with pytest.raises(SerializationError, match="unknown flags 99"):
        JSONSerializer().loads(b"x", 99)
