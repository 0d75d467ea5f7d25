"""The hooks a third-party backend implements, under the names docs/testing.md gives them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from cacheops.backend import Backend
from cacheops.backends.memory import MemoryBackend
from cacheops.errors import InvalidKey

DOCS = Path(__file__).resolve().parents[1] / "docs" / "testing.md"


class SpacedKeys(MemoryBackend):
    """A backend widening the key rule through the public hook, as IronCache's does."""

    def key_is_valid(self, key: str) -> bool:
        return len(key) <= self.max_key_length and key.isprintable()


def test_a_backend_widens_the_key_rule_through_key_is_valid() -> None:
    wide = SpacedKeys(name="hooks-wide")
    wide.put("has space", "v")
    assert wide.get("has space") == "v"
    with pytest.raises(InvalidKey):
        MemoryBackend(name="hooks-strict").put("has space", "v")


def test_the_docs_name_every_hook_a_backend_implements() -> None:
    section = DOCS.read_text().split("## Writing your own backend", 1)[1].split("\n## ", 1)[0]
    named = set(re.findall(r"`(\w+)\(", section))
    hooks = set(Backend.__abstractmethods__) | {"get_items", "set_items", "delete_items"}
    assert hooks | {"key_is_valid", "after_fork", "register_admin"} <= named
