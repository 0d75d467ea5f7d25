"""The codecs on their own: flags, types, and the refusals that keep pickle safe."""

from __future__ import annotations

import hashlib
import hmac
import pickle
from typing import Any

import pytest
from pymemcache.client.base import Client as PymemcacheClient

import cacheops
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
from cacheops.testing.memcached import MemcachedServer


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


# -- values another client wrote: whatever is under the key, a read never leaks a raw error --

_SECRET = "k" * 32


def _signed(data: bytes) -> bytes:
    return hmac.new(_SECRET.encode(), data, hashlib.sha256).digest() + data


class Vanished:
    """Pickled below, then made unimportable: what a reader without the writer's code sees."""


_vanished_pickle = pickle.dumps(Vanished())
del Vanished

#: (payload, flags, serializer options): what another client or a bad write left behind.
MALFORMED: dict[str, tuple[bytes, int, dict[str, Any]]] = {
    "int-not-digits": (b"abc", FLAG_INT, {}),
    "int-5000-digits": (b"7" * 5000, FLAG_INT, {}),
    "str-bad-utf8": (b"\xff\xfe\xc3(", FLAG_STR, {}),
    "json-bad": (b'{"a": ', FLAG_JSON, {}),
    "json-bad-utf8": (b'"\xff"', FLAG_JSON, {}),
    "json-100k-deep": (b"[" * 100_000, FLAG_JSON, {}),
    "pickle-garbage": (b"not a pickle", FLAG_PICKLE, {"serializer": "pickle"}),
    "pickle-truncated": (pickle.dumps([1, 2, 3])[:-2], FLAG_PICKLE, {"serializer": "pickle"}),
    "pickle-empty": (b"", FLAG_PICKLE, {"serializer": "pickle"}),
    "pickle-missing-class": (_vanished_pickle, FLAG_PICKLE, {"serializer": "pickle"}),
    "signed-too-short": (b"abc", FLAG_SIGNED_PICKLE, {"serializer": "pickle", "secret": _SECRET}),
    "signed-truncated": (
        _signed(pickle.dumps({"a": 1})[:-3]),
        FLAG_SIGNED_PICKLE,
        {"serializer": "pickle", "secret": _SECRET},
    ),
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_a_malformed_value_on_memcached_is_a_serialization_error(
    memcached_server: MemcachedServer, memcached_url: str, case: str
) -> None:
    payload, flags, options = MALFORMED[case]
    # Written by a plain pymemcache client, as another application sharing the cache would.
    other = PymemcacheClient(memcached_server.address)
    try:
        assert other.set("bad", payload, flags=flags, noreply=False)
        other.set("good", b"fine", flags=FLAG_BYTES, noreply=False)
    finally:
        other.close()
    with cacheops.connect(memcached_url, **options) as cache:
        with pytest.raises(SerializationError, match="value under 'bad'") as raised:
            cache.get("bad")
        if flags != FLAG_SIGNED_PICKLE:  # refused by the signature check, with its own reason
            assert "written by another client or serializer" in str(raised.value)
        assert repr(payload[:10]) not in str(raised.value)  # the value stays out of logs
        with pytest.raises(SerializationError):
            cache.get_many(["good", "bad"])
        with pytest.raises(SerializationError):
            cache.gets("bad")
        assert cache.get("good") == b"fine"


def test_values_python_cannot_convert_are_refused_or_pickled_on_write() -> None:
    cache = cacheops.connect("memory://")
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    for value in (7 * 10**5000, [10**5000], deep):
        with pytest.raises(SerializationError, match="cannot be encoded"):
            cache.put("big", value)
    assert cache.get("big") is None
    # Pickle carries an int of any size (str, used for counters, stops at 4300 digits).
    pickler = cacheops.connect("memory://", serializer="pickle")
    pickler.put("big", 7 * 10**5000)
    assert pickler.get("big") == 7 * 10**5000
