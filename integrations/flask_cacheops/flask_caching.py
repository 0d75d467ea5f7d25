"""A Flask-Caching backend on any cacheops cache.

    app.config["CACHE_TYPE"] = "flask_cacheops.flask_caching.CacheopsCache"
    app.config["CACHEOPS_URL"] = "memcachier://USER:PASS@host:11211"  # or the environment
    cache = flask_caching.Cache(app)

Flask-Caching's own decorators and settings keep their meaning:

- ``CACHE_DEFAULT_TIMEOUT`` is the default timeout, and timeouts follow Flask-Caching's
  rule (``None``: the default; ``0``: never expire; below 0: expire at once), translated to
  cacheops' (``None``: never; ``<= 0``: at once); a timeout over what the backend can
  store (IronCache: 30 days) is shortened to that maximum;
- ``CACHE_KEY_PREFIX`` is the key prefix (it wins over a ``key_prefix`` option);
- ``CACHE_OPTIONS`` are passed to :func:`cacheops.connect`, e.g.
  ``{"secret": "...", "on_error": "miss"}``; ``CACHE_ARGS`` may hold the URL instead of
  ``CACHEOPS_URL``.

Flask-Caching stores arbitrary objects (a view's ``Response``, any memoized result), so
values are pickled (``serializer="pickle"``) unless the options say otherwise; give a
``secret`` to sign them, so that a cache others can write to cannot run code here. Keys
are any str (``key_policy="hash"`` stores long or unusual ones under a digest).
"""

from __future__ import annotations

import datetime
import logging
from typing import Any

from flask import Flask
from flask_caching.backends.base import BaseCache

import cacheops
from cacheops.admin.base import Admin
from cacheops.config import parse_url

log = logging.getLogger("flask_cacheops")

_MISSING: Any = object()


class CacheopsCache(BaseCache):
    """Flask-Caching's ``BaseCache`` API on a cacheops backend (see the module docs)."""

    def __init__(
        self,
        url: str | None = None,
        default_timeout: int | None = 300,
        ignore_delete_many_errors: bool = False,
        **options: Any,
    ) -> None:
        super().__init__(
            # None (not a Flask-Caching value) is taken as cacheops' None: never expire.
            default_timeout=0 if default_timeout is None else default_timeout,
            ignore_delete_many_errors=ignore_delete_many_errors,
        )
        options.setdefault("serializer", "pickle")
        options.setdefault("key_policy", "hash")
        try:
            location = None if not url else parse_url(url, source="CACHEOPS_URL")
            self.backend: cacheops.Backend = cacheops.connect(location, **options)
        except cacheops.ConfigurationError as exc:
            raise cacheops.ConfigurationError(f"CacheopsCache: {exc.message}") from None

    @classmethod
    def factory(
        cls,
        app: Flask,
        config: dict[str, Any],
        args: list[Any],
        kwargs: dict[str, Any],
    ) -> CacheopsCache:
        """Flask-Caching's constructor hook: ``kwargs`` holds ``default_timeout``,
        ``ignore_delete_many_errors`` and ``CACHE_OPTIONS``; ``args`` is ``CACHE_ARGS``."""
        if len(args) > 1:
            raise cacheops.ConfigurationError(
                "CacheopsCache: CACHE_ARGS takes at most one item, the cache URL"
            )
        url = args[0] if args else config.get("CACHEOPS_URL")
        prefix = config.get("CACHE_KEY_PREFIX")
        options = dict(kwargs)
        if prefix is not None:
            options["key_prefix"] = prefix
        return cls(url, **options)

    @property
    def admin(self) -> Admin:
        """Flush, stats and info for the same cache."""
        return self.backend.admin

    def __repr__(self) -> str:
        return f"<CacheopsCache {self.backend.location}>"

    def _ttl(self, timeout: int | datetime.timedelta | None) -> float | None:
        seconds = self._normalize_timeout(timeout)
        if seconds == 0:
            return None  # Flask-Caching: 0 = never expire
        return self.backend.capped_ttl(seconds) if seconds > 0 else 0.0  # below 0: at once

    # -- reads ----------------------------------------------------------------------------

    def get(self, key: str) -> Any:
        try:
            return self.backend.get(key)
        except cacheops.SerializationError as exc:
            # Unreadable (for instance an unsigned or foreign pickle): a miss, which the
            # caller's next set overwrites.
            log.warning("treating an unreadable cached value as a miss: %s", exc)
            return None

    def get_many(self, *keys: str) -> list[Any]:
        try:
            found = self.backend.get_many(keys)
        except cacheops.SerializationError:
            return [self.get(key) for key in keys]
        return [found.get(key) for key in keys]

    def has(self, key: str) -> bool:
        try:
            return self.backend.get(key, _MISSING) is not _MISSING
        except cacheops.SerializationError:
            return True

    # -- writes ---------------------------------------------------------------------------

    def set(
        self, key: str, value: Any, timeout: int | datetime.timedelta | None = None
    ) -> bool | None:
        self.backend.put(key, value, self._ttl(timeout))
        return True

    def add(self, key: str, value: Any, timeout: int | datetime.timedelta | None = None) -> bool:
        return self.backend.add(key, value, self._ttl(timeout))

    def set_many(
        self, mapping: dict[str, Any], timeout: int | datetime.timedelta | None = None
    ) -> list[Any]:
        failed = set(self.backend.put_many(mapping, self._ttl(timeout)))
        return [key for key in mapping if key not in failed]

    def delete(self, key: str) -> bool:
        return self.backend.delete(key)

    def delete_many(self, *keys: str) -> list[Any]:
        self.backend.delete_many(keys)
        return list(keys)

    def clear(self) -> bool:
        """Empty the cache: on memcached, the whole server, whatever the prefix."""
        self.backend.clear()
        return True

    def inc(self, key: str, delta: int = 1) -> int | None:
        return self.backend.increment(key, delta)

    def dec(self, key: str, delta: int = 1) -> int | None:
        return self.backend.decrement(key, delta)


__all__ = ["CacheopsCache"]
