from __future__ import annotations

from django.apps import AppConfig


class CacheopsConfig(AppConfig):
    """Installing the app adds ``manage.py cacheops``; it has no models."""

    name = "django_cacheops"
    verbose_name = "cacheops"


__all__ = ["CacheopsConfig"]
