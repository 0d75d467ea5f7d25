"""Django settings for the Django integration tests, and their fixtures.

Settings are configured when pytest collects this directory (plain pytest, no
pytest-django): an sqlite file database for the cached_db sessions, the session middleware,
and ``djcacheops_support`` as the URLconf. Each test gets its caches through
``override_settings(CACHES=...)``, parametrized over the backends it must pass on.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest
from django.conf import settings

_DB_DIR = Path(tempfile.mkdtemp(prefix="cacheops-django-tests-"))
atexit.register(shutil.rmtree, _DB_DIR, ignore_errors=True)

if not settings.configured:
    settings.configure(
        SECRET_KEY="cacheops-django-tests-not-a-secret",
        ALLOWED_HOSTS=["testserver"],
        INSTALLED_APPS=[
            "django.contrib.contenttypes",
            "django.contrib.sessions",
            "django_cacheops",
        ],
        DATABASES={
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_DB_DIR / "db.sqlite3")}
        },
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
        ROOT_URLCONF="djcacheops_support",
        CACHES={"default": {"BACKEND": "django_cacheops.CacheopsCache", "LOCATION": "memory://"}},
        USE_TZ=True,
        DEFAULT_AUTO_FIELD="django.db.models.AutoField",
    )
    django.setup()

from django.core.cache import caches  # noqa: E402
from django.core.cache.backends.base import BaseCache  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from djcacheops_support import cache_settings  # noqa: E402

#: memory:// tests use one named store, so caches with different OPTIONS share it as caches
#: with different OPTIONS on one memcached do.


@pytest.fixture
def location(any_cache_url: str) -> str:
    """The cacheops URL of an empty cache: in-process, authenticated memcached, IronCache."""
    return any_cache_url


@pytest.fixture
def django_caches(location: str) -> Iterator[Any]:
    """Django's ``caches`` with the aliases of :func:`cache_settings` on ``location``."""
    with override_settings(CACHES=cache_settings(location)):
        yield caches


@pytest.fixture
def cache(django_caches: Any) -> BaseCache:
    result: BaseCache = django_caches["default"]
    return result


@pytest.fixture(scope="session")
def database() -> None:
    """The tables of the installed apps (sessions, for cached_db)."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
