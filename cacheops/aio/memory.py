"""``memory://`` on asyncio: the sync store's own primitives, called on the loop.

They take a lock for a few dictionary operations and never wait on I/O, so they run inline
(no thread hop). ``memory://NAME`` is the same store for sync and async backends in a
process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..backends.memory import MemoryBackend
from ..config import CacheConfig
from ..rules import CasToken, Item
from .backend import AdminOverSync, AsyncAdmin, AsyncBackend


class AsyncMemoryBackend(AsyncBackend):
    scheme = "memory"

    def __init__(
        self,
        *,
        name: str = "",
        max_items: int | None = None,
        max_bytes: int | None = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.monotonic,
        **options: Any,
    ) -> None:
        super().__init__(**options)
        # The keys reaching it are final: its own rules (prefix, serializer) are unused.
        self.store = MemoryBackend(
            name=name,
            max_items=max_items,
            max_bytes=max_bytes,
            clock=clock,
            max_value_size=self.max_value_size,  # what its admin's info() reports
        )

    @classmethod
    def from_config(cls, config: CacheConfig, **options: Any) -> AsyncMemoryBackend:
        return cls(name=config.name, **cls.coerce_options(config, options))

    @property
    def name(self) -> str:
        return self.store.name

    @property
    def location(self) -> str:
        return self.store.location

    def make_admin(self) -> AsyncAdmin:
        return AdminOverSync(self.store.admin)

    async def get_item(self, key: str) -> Item | None:
        return self.store.get_item(key)

    async def get_items(self, keys: list[str]) -> dict[str, Item]:
        return self.store.get_items(keys)

    async def set_item(self, key: str, item: Item, ttl: float | None) -> None:
        self.store.set_item(key, item, ttl)

    async def set_items(self, items: dict[str, Item], ttl: float | None) -> list[str]:
        return self.store.set_items(items, ttl)

    async def add_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return self.store.add_item(key, item, ttl)

    async def replace_item(self, key: str, item: Item, ttl: float | None) -> bool:
        return self.store.replace_item(key, item, ttl)

    async def gets_item(self, key: str) -> tuple[Item, CasToken] | None:
        return self.store.gets_item(key)

    async def cas_item(self, key: str, item: Item, token: CasToken, ttl: float | None) -> bool:
        return self.store.cas_item(key, item, token, ttl)

    async def incr_item(self, key: str, delta: int, default: int | None) -> int | None:
        return self.store.incr_item(key, delta, default)

    async def delete_item(self, key: str) -> bool:
        return self.store.delete_item(key)

    async def delete_items(self, keys: list[str]) -> None:
        self.store.delete_items(keys)

    async def touch_item(self, key: str, ttl: float | None) -> bool:
        return self.store.touch_item(key, ttl)

    async def clear_items(self) -> None:
        self.store.clear_items()


__all__ = ["AsyncMemoryBackend"]
