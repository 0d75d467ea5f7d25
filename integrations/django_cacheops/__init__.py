"""Django integration for cacheops.

- ``django_cacheops.CacheopsCache``: a ``CACHES`` backend over any cacheops URL.
- ``INSTALLED_APPS += ["django_cacheops"]``: ``manage.py cacheops flush|stats|credentials``.
"""

from __future__ import annotations

from .cache import CacheopsCache

__all__ = ["CacheopsCache"]
