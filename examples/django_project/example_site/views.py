"""Two views: a page cached whole with cache_page, and a counter kept in the session."""

from __future__ import annotations

import time

from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_page


@cache_page(30)
def index(request: HttpRequest) -> HttpResponse:
    """Rendered at most once every 30 seconds; reload it and the time does not change."""
    time.sleep(0.5)  # stands in for slow work
    backend = cache.backend.location
    return HttpResponse(
        f"rendered at {time.strftime('%H:%M:%S')} and cached for 30 s in {backend}\n",
        content_type="text/plain",
    )


def visits(request: HttpRequest) -> HttpResponse:
    """A per-visitor counter in a cache-backed session."""
    request.session["visits"] = request.session.get("visits", 0) + 1
    return HttpResponse(f"visits: {request.session['visits']}\n", content_type="text/plain")
