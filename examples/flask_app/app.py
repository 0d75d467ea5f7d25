"""A Flask app on cacheops: a page served from the cache, its hit rate, a flush button.

Run it (on an in-process memory:// cache unless CACHEOPS_URL, MEMCACHIER_* or IRON_* say
otherwise), then open http://127.0.0.1:5000/:

    flask --app examples/flask_app/app.py run

- ``/``: a report that takes a while to compute, cached for a minute by ``@cache.cached``.
  Reload it: the "computed at" stamp stays the same while the page comes from the cache.
- ``/stats``: the cache's hit rate and counters, read through ``cache.admin.stats()``.
- the "Flush the cache" button there posts to ``/flush``, which calls
  ``cache.admin.flush()``; the next load of ``/`` is computed afresh.
"""

from __future__ import annotations

import datetime
import itertools
import time
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, abort, current_app, redirect, render_template_string, request
from werkzeug.wrappers import Response

from flask_cacheops import Cacheops

cache = Cacheops()
pages = Blueprint("example", __name__)

#: Embedded defaults; CACHEOPS_URL is left to the environment (memory:// when unset).
DEFAULTS: Mapping[str, Any] = {
    "CACHEOPS_KEY_PREFIX": "example:",
    "CACHEOPS_DEFAULT_TTL": 60,
    "EXAMPLE_COMPUTE_SECONDS": 0.5,
}

LAYOUT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>cacheops example: {{ title }}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 40rem; margin: 2rem auto; }
dt { font-weight: bold; } nav a { margin-right: 1rem; }
</style></head>
<body>
<nav><a href="{{ url_for('example.report') }}">Report</a>
<a href="{{ url_for('example.stats') }}">Cache stats</a></nav>
<h1>{{ title }}</h1>
{{ body | safe }}
</body></html>
"""

REPORT = """
<p>This page took {{ seconds }} s to compute and is cached for {{ ttl }} s.
Reload it: while it comes from the cache, the stamp below does not change.</p>
<dl>
<dt>Computed at</dt><dd id="computed-at">{{ computed_at }}</dd>
<dt>Computation</dt><dd>#<span id="computation">{{ computation }}</span></dd>
<dt>Cache</dt><dd id="location">{{ location }}</dd>
</dl>
"""

STATS = """
{% if flushed %}<p id="flushed"><strong>The cache was flushed.</strong></p>{% endif %}
<dl>
<dt>Hit rate</dt><dd id="hit-rate">{{ hit_rate }}</dd>
<dt>Hits</dt><dd id="hits">{{ stats.hits if stats.hits is not none else "unknown" }}</dd>
<dt>Misses</dt><dd id="misses">{{ stats.misses if stats.misses is not none else "unknown" }}</dd>
<dt>Items</dt><dd id="items">{{ stats.items if stats.items is not none else "unknown" }}</dd>
<dt>Backend</dt><dd id="backend">{{ stats.backend }} at {{ location }}</dd>
</dl>
<form method="post" action="{{ url_for('example.flush') }}">
<button id="flush" type="submit">Flush the cache</button>
</form>
"""


def _page(title: str, body: str, **context: Any) -> str:
    return render_template_string(LAYOUT, title=title, body=render_template_string(body, **context))


@pages.get("/")
@cache.cached()
def report() -> str:
    seconds = float(current_app.config["EXAMPLE_COMPUTE_SECONDS"])
    time.sleep(seconds)  # stands in for slow queries
    counter: itertools.count[int] = current_app.extensions["cacheops_example"]
    return _page(
        "A slow report",
        REPORT,
        seconds=seconds,
        ttl=current_app.config["CACHEOPS_DEFAULT_TTL"],
        computed_at=datetime.datetime.now().isoformat(sep=" ", timespec="microseconds"),
        computation=next(counter),
        location=cache.backend.location,
    )


@pages.get("/stats")
def stats() -> str:
    current = cache.admin.stats()
    rate = current.hit_rate
    return _page(
        "Cache stats",
        STATS,
        stats=current,
        hit_rate="no lookups yet" if rate is None else f"{rate:.1%}",
        location=cache.backend.location,
        flushed=request.args.get("flushed") == "1",
    )


@pages.post("/flush")
def flush() -> Response:
    # A cross-site form must not empty the cache: browsers send Origin with a POST.
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        abort(403)
    cache.admin.flush()
    return redirect("/stats?flushed=1", code=303)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """The app, on the embedded defaults updated by ``config``."""
    app = Flask(__name__)
    app.config.update(DEFAULTS)
    app.config.update(config or {})
    cache.init_app(app)
    app.extensions["cacheops_example"] = itertools.count(1)
    app.register_blueprint(pages)
    return app


if __name__ == "__main__":
    create_app().run()
