"""URLconf, views and helpers for the Django integration tests."""

from __future__ import annotations

import itertools
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.cache import cache_page

_renders = itertools.count(1)

BACKEND = "django_cacheops.CacheopsCache"
SECRET = "a-signing-secret-of-32-bytes-ok!"


def cache_settings(location: str, **default: Any) -> dict[str, dict[str, Any]]:
    """CACHES with several aliases on one location (the set Django's own suite uses, plus
    the timeouts, key policy and signing cases)."""
    base = {"BACKEND": BACKEND, "LOCATION": location}
    return {
        "default": {**base, **default},
        "prefix": {**base, "KEY_PREFIX": "cacheprefix"},
        "v2": {**base, "VERSION": 2},
        "custom_key": {**base, "KEY_FUNCTION": custom_key_func},
        "custom_key2": {**base, "KEY_FUNCTION": "djcacheops_support.custom_key_func"},
        "short": {**base, "TIMEOUT": 1},
        "forever": {**base, "TIMEOUT": None},
        "strict": {**base, "OPTIONS": {"key_policy": "strict"}},
        "signed": {**base, "OPTIONS": {"secret": SECRET}},
    }


def custom_key_func(key: str, key_prefix: str, version: Any) -> str:
    return "CUSTOM-" + "-".join([key_prefix, str(version), str(key)])


@cache_page(60)
def cached(request: HttpRequest) -> HttpResponse:
    """Each render has a new number, so a cached response shows an old one."""
    return HttpResponse(f"render {next(_renders)}")


def counter(request: HttpRequest) -> HttpResponse:
    """Counts visits in the session."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(str(request.session["visits"]))


def plain(request: HttpRequest) -> HttpResponse:
    from django.core.cache import cache

    cache.set("plain", cache.get("plain", 0) + 1)
    return HttpResponse(str(cache.get("plain")))


async def async_counter(request: HttpRequest) -> HttpResponse:
    """An async view counting on the cache with the async API."""
    from django.core.cache import cache

    await cache.aadd("async-visits", 0)
    return HttpResponse(str(await cache.aincr("async-visits")))


urlpatterns = [
    path("async/", async_counter),
    path("cached/", cached),
    path("counter/", counter),
    path("plain/", plain),
]
