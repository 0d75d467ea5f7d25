"""Settings of the example project: the cache is a cacheops URL.

LOCATION is left out, so the cache is the one the environment names, as
``cacheops.connect()`` reads it: ``CACHEOPS_URL``, else Heroku's ``MEMCACHIER_SERVERS`` /
``MEMCACHIER_USERNAME`` / ``MEMCACHIER_PASSWORD``, else ``IRON_*``, else ``memory://`` (with a
logged warning that it is not shared between processes).
"""

from __future__ import annotations

import os

# Debug locally; on Heroku (which sets DYNO) only when DJANGO_DEBUG=1 says so.
DEBUG = os.environ.get("DJANGO_DEBUG", "0" if "DYNO" in os.environ else "1") == "1"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "example-only-not-a-secret-change-me")
ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", ".herokuapp.com", "testserver"]

INSTALLED_APPS = [
    "django.contrib.sessions",
    "django_cacheops",  # manage.py cacheops flush|stats|credentials
]
MIDDLEWARE = ["django.contrib.sessions.middleware.SessionMiddleware"]
ROOT_URLCONF = "example_site.urls"
DATABASES: dict[str, dict[str, str]] = {}  # no database: sessions live in the cache
USE_TZ = True

CACHES = {
    "default": {
        "BACKEND": "django_cacheops.CacheopsCache",
        # No LOCATION: the environment (above), so no password sits in settings, which
        # Django's debug page and admin error e-mails print. "env:NAME" reads another variable.
        "TIMEOUT": 300,
        "KEY_PREFIX": "example",
        "OPTIONS": {
            # Pickles are signed: a cache someone else can write to cannot run code here.
            "secret": os.environ.get("CACHE_SIGNING_SECRET", SECRET_KEY),
        },
    }
}
SESSION_ENGINE = "django.contrib.sessions.backends.cache"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"cacheops": {"handlers": ["console"], "level": "WARNING"}},
}
