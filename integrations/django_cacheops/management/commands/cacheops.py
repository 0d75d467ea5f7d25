"""``manage.py cacheops flush|stats|credentials``: the cacheops admin for a Django cache.

The cache is a ``CACHES`` alias (``--cache``, default ``default``) whose backend is
``django_cacheops.CacheopsCache``. Output is :mod:`cacheops.report`'s, as for ``cacheops``
and ``flask cacheops``. Errors are one line on stderr, without a traceback or a secret,
and exit with the same code per failure class as the ``cacheops`` command.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cacheops import CacheError, ConfigurationError, report
from cacheops.admin import analytics_api
from cacheops.config import require_environment

from ...cache import CacheopsCache


def _fail(exc: CacheError) -> CommandError:
    return CommandError(report.error_line(exc), returncode=report.exit_code(exc))


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
        actions: dict[str, Callable[[str, CacheopsCache, bool], None]] = {
            "flush": self.flush,
            "stats": self.stats,
            "credentials": self.credentials,
        }
        alias = options["cache"]
        try:
            cache = self._cache(alias)
            with report.warnings_to(lambda line: self.stderr.write(f"warning: {line}")):
                actions[options["action"]](alias, cache, options["as_json"])
        except CacheError as exc:
            raise _fail(exc) from None

    def _cache(self, alias: str) -> CacheopsCache:
        try:
            cache = caches[alias]
        except InvalidCacheBackendError:
            raise ConfigurationError(f"no cache {alias!r} in settings.CACHES") from None
        except ImproperlyConfigured as exc:
            raise ConfigurationError(str(exc)) from None
        if not isinstance(cache, CacheopsCache):
            raise ConfigurationError(
                f"cache {alias!r} is a {type(cache).__module__}.{type(cache).__name__}; "
                "manage.py cacheops works on django_cacheops.CacheopsCache caches"
            )
        if not settings.CACHES[alias].get("LOCATION"):
            # The environment decides; with nothing there the cache is this process's own
            # empty memory://, which no ops command should pretend to flush.
            require_environment()
        return cache

    def _emit(self, as_json: bool, data: Any, text: str) -> None:
        self.stdout.write(report.to_json(data) if as_json else text)

    def flush(self, alias: str, cache: CacheopsCache, as_json: bool) -> None:
        cache.backend.admin.flush()
        record = report.flush_record(alias, cache.backend.location)
        self._emit(as_json, record, report.flush_text(record))

    def stats(self, alias: str, cache: CacheopsCache, as_json: bool) -> None:
        backend = cache.backend
        record = report.stats_record(alias, backend.location, backend.admin.stats())
        self._emit(as_json, record, report.stats_text(record))

    def credentials(self, alias: str, cache: CacheopsCache, as_json: bool) -> None:
        """List the cache's MemCachier credentials (never a password)."""
        with analytics_api(cache.backend) as api:
            rows = [c.public() for c in api.credentials()]
        self._emit(as_json, rows, report.credentials_text(rows))


__all__ = ["Command"]
