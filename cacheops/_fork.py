"""One fork hook for every object that holds what a forked child must not use (sockets,
locks another thread may have held, event loops whose thread did not survive the fork)."""

from __future__ import annotations

import os
import weakref
from typing import Protocol


class ForkAware(Protocol):
    def after_fork(self) -> None:
        """Called in a forked child, before it runs anything else: drop, never close or
        reuse, what the parent holds."""


# Weak, so registering never keeps an object alive.
_registered: weakref.WeakSet[ForkAware] = weakref.WeakSet()


def reset_in_child(obj: ForkAware) -> None:
    """Have ``obj.after_fork()`` called in every forked child of this process while ``obj``
    lives."""
    _registered.add(obj)


def _after_fork_in_child() -> None:
    for obj in list(_registered):
        obj.after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["ForkAware", "reset_in_child"]
