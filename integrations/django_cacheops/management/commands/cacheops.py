"""``manage.py cacheops flush|stats|credentials``: the cacheops admin for a Django cache.

The cache is a ``CACHES`` alias (``--cache``, default ``default``) whose backend is
``django_cacheops.CacheopsCache``. Errors are one line on stderr, without a traceback or a
secret, and exit with the same code per failure class as the ``cacheops`` command.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cacheops import CacheError, ConfigurationError
from cacheops.cli import (
    analytics_api,
    credentials_table,
    exit_code,
    stats_table,
)

from ...cache import CacheopsCache


def _fail(exc: CacheError) -> CommandError:
    return CommandError(f"{type(exc).__name__}: {exc}", returncode=exit_code(exc))


class Command(BaseCommand):
    help = (
        "Admin of a CacheopsCache: 'flush' removes every item (the deploy hook), 'stats' "
        "shows hit rate, items, bytes and evictions, 'credentials' lists the MemCachier "
        "credentials of the cache."
    )
    # Works when the database (or anything else) is broken: that is when ops need it.
    requires_system_checks: ClassVar[list[str]] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("action", choices=["flush", "stats", "credentials"])
        parser.add_argument(
            "--cache",
            default=DEFAULT_CACHE_ALIAS,
            metavar="ALIAS",
            help=f"The CACHES alias to work on (default: {DEFAULT_CACHE_ALIAS}).",
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="Machine-readable output."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        actions: dict[str, Callable[[CacheopsCache, bool], None]] = {
            "flush": self.flush,
            "stats": self.stats,
            "credentials": self.credentials,
        }
        cache = self._cache(options["cache"])
        try:
            actions[options["action"]](cache, options["as_json"])
        except CacheError as exc:
            raise _fail(exc) from None

    def _cache(self, alias: str) -> CacheopsCache:
        try:
            cache = caches[alias]
        except InvalidCacheBackendError:
            raise _fail(ConfigurationError(f"no cache {alias!r} in settings.CACHES")) from None
        except ImproperlyConfigured as exc:
            raise _fail(ConfigurationError(str(exc))) from None
        if not isinstance(cache, CacheopsCache):
            raise _fail(
                ConfigurationError(
                    f"cache {alias!r} is a {type(cache).__module__}.{type(cache).__name__}; "
                    "manage.py cacheops works on django_cacheops.CacheopsCache caches"
                )
            )
        return cache

    def _emit(self, as_json: bool, data: Any, text: str) -> None:
        self.stdout.write(json.dumps(data, sort_keys=True, default=str) if as_json else text)

    def flush(self, cache: CacheopsCache, as_json: bool) -> None:
        location = cache.backend.location
        cache.backend.admin.flush()
        self._emit(as_json, {"flushed": location}, f"flushed {location}")

    def stats(self, cache: CacheopsCache, as_json: bool) -> None:
        data = cache.backend.admin.stats().as_dict()
        self._emit(as_json, data, stats_table(data))

    def credentials(self, cache: CacheopsCache, as_json: bool) -> None:
        """List the cache's MemCachier credentials (never a password)."""
        with analytics_api(cache.backend) as api:
            rows = [c.public() for c in api.credentials()]
        self._emit(as_json, rows, credentials_table(rows))
