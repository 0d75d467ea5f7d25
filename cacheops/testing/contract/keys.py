"""Keys: bad keys refused before any I/O, lookalike keys kept apart, prefixes and the hash
key policy."""

from __future__ import annotations

from typing import Any

import pytest

from ...backend import Backend
from ...errors import ConfigurationError, InvalidKey
from .base import ContractBase, MakeBackend

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


class KeysContract(ContractBase):
    """The key rule, prefixes and the hash key policy."""

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


__all__ = ["ADVERSARIAL_KEYS", "BAD_KEYS", "NON_PORTABLE_KEYS", "KeysContract"]
