"""Value encoding: every backend stores ``(payload bytes, flags)``.

The flags say how the payload was made, so a reader restores the exact type: a str stays a
str, bytes stay bytes, and ``1``, ``True`` and ``1.0`` stay distinct. Bytes, str, int and
unsigned pickles use the flags of pymemcache's default serde. Integers are stored as
ASCII decimal so memcached's own ``incr``/``decr`` work on them, and str and int are the
two encodings other clients (and IronCache's native values) understand as they are.

Pickle is opt-in. With a secret, pickles are signed with HMAC-SHA256 and a payload whose
signature does not verify is refused before ``pickle.loads`` ever sees it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import pickle
from typing import Any, Protocol, runtime_checkable

from .errors import ConfigurationError, SerializationError

# The first four match pymemcache's default serde (and so Django's PyMemcacheCache): values
# written by either are read by the other, so switching to cacheops keeps a cache warm.
FLAG_BYTES = 0
FLAG_PICKLE = 1
FLAG_INT = 2
FLAG_STR = 16
FLAG_JSON = 32
FLAG_SIGNED_PICKLE = 64
#: An item of :func:`cacheops.Backend.get_or_compute`: a small header (expiry, compute time,
#: the inner flags) before the inner payload. ``Backend`` unwraps it on every read, so a
#: plain ``get`` sees the inner value; pymemcache's serde leaves such bytes as they are.
FLAG_ENVELOPE = 256

_SIGNATURE_SIZE = hashlib.sha256().digest_size
# Past 4300 digits (Python's default int_max_str_digits) str() refuses an int: bigger ones
# go to _dumps_other, where pickle takes them and JSON refuses them.
_INT_LIMIT = 10**4300


@runtime_checkable
class Serializer(Protocol):
    """Turns values into ``(payload, flags)`` and back."""

    def dumps(self, value: Any) -> tuple[bytes, int]: ...

    def loads(self, payload: bytes, flags: int) -> Any: ...


def _check_json_tree(value: Any, path: str = "value") -> None:
    # json.dumps would silently turn tuples into lists and 1 into "1" as a dict key; the
    # contract promises types intact, so refuse what would not come back as it went in.
    kind = type(value)
    if kind is dict:
        for k, v in value.items():
            if type(k) is not str:
                raise SerializationError(
                    f"{path} has a dict key of type {type(k).__name__}; JSON keys must be str "
                    "(use serializer='pickle' to cache it as is)"
                )
            _check_json_tree(v, f"{path}[{k!r}]")
    elif kind is list:
        for i, item in enumerate(value):
            _check_json_tree(item, f"{path}[{i}]")
    elif kind not in (str, int, float, bool, type(None)):
        raise SerializationError(
            f"{path} is a {kind.__name__}, which the JSON serializer cannot round-trip "
            "(it takes str, bytes, int, float, bool, None, list and dict; "
            "use serializer='pickle' for other objects)"
        )


class JSONSerializer:
    """The default: the types every backend and language can share, and no code execution."""

    name = "json"

    def dumps(self, value: Any) -> tuple[bytes, int]:
        kind = type(value)
        if kind is str:
            return value.encode("utf-8"), FLAG_STR
        if kind is bytes:
            return value, FLAG_BYTES
        if kind is int and abs(value) < _INT_LIMIT:
            return str(value).encode("ascii"), FLAG_INT
        return self._dumps_other(value)

    def _dumps_other(self, value: Any) -> tuple[bytes, int]:
        _check_json_tree(value)
        return json.dumps(value, separators=(",", ":")).encode("utf-8"), FLAG_JSON

    def loads(self, payload: bytes, flags: int) -> Any:
        if flags == FLAG_STR:
            return payload.decode("utf-8")
        if flags == FLAG_BYTES:
            return payload
        if flags == FLAG_INT:
            return int(payload)
        if flags == FLAG_JSON:
            return json.loads(payload)
        return self._loads_other(payload, flags)

    def _loads_other(self, payload: bytes, flags: int) -> Any:
        if flags in (FLAG_PICKLE, FLAG_SIGNED_PICKLE):
            raise SerializationError(
                "the stored value is a pickle, which the JSON serializer never loads; "
                "configure serializer='pickle' (with the writer's secret) to read it"
            )
        raise SerializationError(f"the stored value has unknown flags {flags}")


class PickleSerializer(JSONSerializer):
    """Pickles what JSON cannot carry; str, bytes and int keep their shared encodings.

    With ``secret`` every pickle is signed and only signed pickles that verify are loaded,
    so a cache an attacker can write to cannot run code in the reader.
    """

    name = "pickle"

    def __init__(self, secret: str | bytes | None = None, protocol: int = pickle.HIGHEST_PROTOCOL):
        if isinstance(secret, str):
            secret = secret.encode("utf-8")
        if secret is not None and len(secret) < 16:
            raise ConfigurationError("the pickle signing secret must be at least 16 bytes long")
        self._secret = secret
        self._protocol = protocol

    def __repr__(self) -> str:
        return f"PickleSerializer(signed={self._secret is not None})"

    def _sign(self, data: bytes) -> bytes:
        assert self._secret is not None
        return hmac.new(self._secret, data, hashlib.sha256).digest()

    def _dumps_other(self, value: Any) -> tuple[bytes, int]:
        try:
            data = pickle.dumps(value, protocol=self._protocol)
        except Exception as exc:
            raise SerializationError(f"the value cannot be pickled: {exc}") from exc
        if self._secret is None:
            return data, FLAG_PICKLE
        return self._sign(data) + data, FLAG_SIGNED_PICKLE

    def _loads_other(self, payload: bytes, flags: int) -> Any:
        if flags == FLAG_PICKLE:
            if self._secret is not None:
                raise SerializationError(
                    "refusing an unsigned pickle: this serializer only loads pickles signed "
                    "with its secret"
                )
            return pickle.loads(payload)
        if flags == FLAG_SIGNED_PICKLE:
            if self._secret is None:
                raise SerializationError(
                    "the stored pickle is signed but no secret is configured to verify it"
                )
            signature, data = payload[:_SIGNATURE_SIZE], payload[_SIGNATURE_SIZE:]
            if not hmac.compare_digest(signature, self._sign(data)):
                raise SerializationError(
                    "refusing a pickle whose signature does not verify (tampered, or written "
                    "with another secret)"
                )
            return pickle.loads(data)
        return super()._loads_other(payload, flags)


def get_serializer(spec: str | Serializer | None, secret: str | bytes | None = None) -> Serializer:
    """The serializer named by an option value (``"json"``/``"pickle"``) or given as is."""
    if spec is None or spec == "json":
        if secret is not None:
            raise ConfigurationError("'secret' signs pickles; it needs serializer='pickle'")
        return JSONSerializer()
    if spec == "pickle":
        return PickleSerializer(secret)
    if isinstance(spec, str):
        raise ConfigurationError(f"unknown serializer {spec!r}: use 'json' or 'pickle'")
    if not isinstance(spec, Serializer):
        raise ConfigurationError("serializer must be 'json', 'pickle' or have dumps() and loads()")
    return spec


__all__ = [
    "FLAG_BYTES",
    "FLAG_ENVELOPE",
    "FLAG_INT",
    "FLAG_JSON",
    "FLAG_PICKLE",
    "FLAG_SIGNED_PICKLE",
    "FLAG_STR",
    "JSONSerializer",
    "PickleSerializer",
    "Serializer",
    "get_serializer",
]
