"""cacheops for Flask: the ``Cacheops`` extension, view and function caching, and the
``flask cacheops`` command group.

    from flask import Flask
    from flask_cacheops import Cacheops

    cache = Cacheops()

    def create_app() -> Flask:
        app = Flask(__name__)
        app.config["CACHEOPS_URL"] = "memcachier://USER:PASS@host:11211"
        cache.init_app(app)
        return app

``flask_cacheops.flask_caching.CacheopsCache`` is a Flask-Caching backend on the same
caches, for apps that already use Flask-Caching's decorators.
"""

from __future__ import annotations

from .config import DEFAULT_CACHE, DEFAULT_TTL, CacheSpec
from .extension import DEFAULT, Cacheops, CacheopsState, ConfiguredCache

__all__ = [
    "DEFAULT",
    "DEFAULT_CACHE",
    "DEFAULT_TTL",
    "CacheSpec",
    "Cacheops",
    "CacheopsState",
    "ConfiguredCache",
]
