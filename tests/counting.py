"""Helpers shared by the framework tests."""

from __future__ import annotations

import threading


class Calls:
    """Counts calls, so tests can tell a computed result from a cached one."""

    def __init__(self) -> None:
        self.count = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.count += 1
            return self.count
