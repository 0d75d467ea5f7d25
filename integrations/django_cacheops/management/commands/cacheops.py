"""``manage.py cacheops flush|stats|credentials``: the cacheops admin for a Django cache.

The cache is a ``CACHES`` alias (``--cache``, default ``default``) whose backend is
``django_cacheops.CacheopsCache``. Errors are one line on stderr, without a traceback or a
secret, and exit with the same code per failure class as the ``cacheops`` command.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import json
from collections.abc import Callable
from typing import Any, ClassVar

from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.cache.backends.base import InvalidCacheBackendError
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from cacheops import CacheError, ConfigurationError, NotSupported
from cacheops.cli import exit_code
from cacheops.config import CacheConfig, from_environment, parse_url

from ...cache import CacheopsCache

_STATS_ROWS = ("backend", "hits", "misses", "hit_rate", "items", "bytes", "limit", "evictions")
_SECRET_FIELDS = frozenset({"password", "token", "secret"})
_MEMCACHIER_API = "cacheops.admin.memcachier"


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

        def show(value: Any) -> str:
            if value is None:
                return "-"
            return f"{value:.1%}" if isinstance(value, float) else str(value)

        rows = [(name, show(data[name])) for name in _STATS_ROWS]
        rows.append(("servers", ", ".join(data["servers"]) or "-"))
        width = max(len(name) for name, _ in rows)
        self._emit(as_json, data, "\n".join(f"{name.ljust(width)}  {v}" for name, v in rows))

    def credentials(self, cache: CacheopsCache, as_json: bool) -> None:
        """List the cache's MemCachier credentials (passwords left out)."""
        if importlib.util.find_spec(_MEMCACHIER_API) is None:
            raise NotSupported(
                "'credentials' needs the MemCachier admin API (cacheops.admin.memcachier), "
                "which this installation of cacheops does not include"
            )
        config = _config(cache)
        if config.scheme != "memcachier" or not config.username or config.password is None:
            raise NotSupported(
                f"'credentials' is for MemCachier caches; this one is {cache.backend.location}"
            )
        api = importlib.import_module(_MEMCACHIER_API).MemCachierAPI(
            config.username, config.password
        )
        records = [_public(record) for record in api.list_credentials()]
        text = "\n".join(
            " ".join(f"{k}={v}" for k, v in sorted(record.items())) for record in records
        )
        self._emit(as_json, records, text or "no credentials")


def _config(cache: CacheopsCache) -> CacheConfig:
    location = cache._location
    config = from_environment() if location is None else parse_url(location)
    if config is None:
        raise NotSupported("no cache is configured in the environment (memory:// is in use)")
    return config


def _public(record: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(record) and not isinstance(record, type):
        fields = dataclasses.asdict(record)
    else:
        fields = dict(record)
    return {k: v for k, v in fields.items() if k not in _SECRET_FIELDS}
