"""Admin interfaces: flush, stats and info for every backend, plus the cloud services' APIs."""

from __future__ import annotations

from typing import Any

from .base import Admin, ServerStats, Stats


def for_url(url: str | None = None, **options: Any) -> Admin:
    """The admin interface of the cache at ``url`` (or the one ``connect()`` would find)."""
    from .. import connect

    return connect(url, **options).admin


__all__ = ["Admin", "ServerStats", "Stats", "for_url"]
