"""Reading an app's ``CACHEOPS_*`` settings: one :class:`CacheSpec` per named cache.

Nothing here opens a connection: :func:`build_cache` calls :func:`cacheops.connect`, which
only validates. Every error is a :class:`cacheops.ConfigurationError` that names the
setting at fault and never repeats a password, token or signing secret.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import cacheops
from cacheops.backend import TTL
from cacheops.config import CacheConfig, parse_url

#: The name of the cache that ``ext.backend``, ``ext.admin`` and the decorators use unless
#: told otherwise.
DEFAULT_CACHE = "default"
#: The decorators' ttl when neither the decorator nor the configuration names one.
DEFAULT_TTL = 300

_TOP_LEVEL = ("CACHEOPS_URL", "CACHEOPS_OPTIONS", "CACHEOPS_KEY_PREFIX", "CACHEOPS_DEFAULT_TTL")
_ENTRY_KEYS = ("url", "options", "key_prefix", "default_ttl")
_SECRET_OPTIONS = ("secret", "password", "token")


@dataclass(frozen=True)
class CacheSpec:
    """One named cache as configured: where it is and how the decorators use it."""

    name: str
    #: The setting that names its URL, for messages: ``CACHEOPS_URL`` or
    #: ``CACHEOPS_CACHES['x']['url']``.
    source: str
    #: None: the environment, as :func:`cacheops.connect` reads it.
    url: str | None = field(default=None, repr=False)
    options: Mapping[str, Any] = field(default_factory=dict, repr=False)
    default_ttl: TTL = DEFAULT_TTL

    def secrets(self) -> list[str]:
        """The secret strings in this spec, so that output can be scrubbed of them."""
        found = [str(self.options[k]) for k in _SECRET_OPTIONS if self.options.get(k)]
        if self.url:
            try:
                password = parse_url(self.url).password
            except cacheops.ConfigurationError:
                password = None
            if password:
                found.append(password)
        return found


def _fail(message: str) -> cacheops.ConfigurationError:
    return cacheops.ConfigurationError(message)


def _url(value: object, where: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise _fail(f"{where} must be a cacheops URL (a str), not {type(value).__name__}")
    return value


def _options(value: object, where: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise _fail(f"{where} must be a dict of connect() options, not {type(value).__name__}")
    for key in value:
        if not isinstance(key, str):
            raise _fail(f"{where} has a key of type {type(key).__name__}; option names are str")
    return dict(value)


def _ttl(value: object, where: str) -> TTL:
    if value is None or isinstance(value, datetime.timedelta):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return value
    raise _fail(
        f"{where} must be a number of seconds, a datetime.timedelta or None (no expiry), "
        f"not {value!r}"
    )


def _spec(
    name: str,
    source: str,
    url: object,
    options: object,
    key_prefix: object,
    default_ttl: object,
    *,
    names: tuple[str, str, str, str],
) -> CacheSpec:
    url_name, options_name, prefix_name, ttl_name = names
    opts = _options(options, options_name)
    if key_prefix is not None:
        if not isinstance(key_prefix, str):
            raise _fail(f"{prefix_name} must be a str, not {type(key_prefix).__name__}")
        if "key_prefix" in opts:
            raise _fail(
                f"the key prefix is set twice, in {prefix_name} and in {options_name}; keep one"
            )
        opts["key_prefix"] = key_prefix
    return CacheSpec(
        name=name,
        source=source,
        url=_url(url, url_name),
        options=opts,
        default_ttl=_ttl(default_ttl, ttl_name),
    )


def read_specs(config: Mapping[str, Any]) -> dict[str, CacheSpec]:
    """Every cache the app configures, by name; ``"default"`` is always among them.

    - ``CACHEOPS_URL``, ``CACHEOPS_OPTIONS``, ``CACHEOPS_KEY_PREFIX`` and
      ``CACHEOPS_DEFAULT_TTL`` describe the default cache;
    - ``CACHEOPS_CACHES = {name: {"url", "options", "key_prefix", "default_ttl"}}`` adds
      named caches; one without a ``url`` is where the default cache is. An entry named
      ``"default"`` describes the default cache instead of the top-level settings, which
      must then be left unset.
    """
    caches = config.get("CACHEOPS_CACHES") or {}
    if not isinstance(caches, Mapping):
        raise _fail(
            f"CACHEOPS_CACHES must be a dict of name -> settings, not {type(caches).__name__}"
        )
    specs: dict[str, CacheSpec] = {}
    for name, entry in caches.items():
        if not isinstance(name, str) or not name:
            raise _fail(f"CACHEOPS_CACHES has a cache name {name!r}; names are non-empty str")
        where = f"CACHEOPS_CACHES[{name!r}]"
        if not isinstance(entry, Mapping):
            raise _fail(
                f"{where} must be a dict with keys {', '.join(_ENTRY_KEYS)}, "
                f"not {type(entry).__name__}"
            )
        unknown = sorted(str(k) for k in entry if k not in _ENTRY_KEYS)
        if unknown:
            raise _fail(
                f"{where} has unknown setting(s) {', '.join(map(repr, unknown))}; "
                f"use {', '.join(_ENTRY_KEYS)}"
            )
        specs[name] = _spec(
            name,
            f"{where}['url']",
            entry.get("url"),
            entry.get("options"),
            entry.get("key_prefix"),
            entry.get("default_ttl", DEFAULT_TTL),
            names=(
                f"{where}['url']",
                f"{where}['options']",
                f"{where}['key_prefix']",
                f"{where}['default_ttl']",
            ),
        )
    top_level = [k for k in _TOP_LEVEL if config.get(k) is not None]
    if DEFAULT_CACHE in specs:
        if top_level:
            raise _fail(
                f"the default cache is configured twice: in CACHEOPS_CACHES['default'] and "
                f"in {', '.join(top_level)}; keep one"
            )
    else:
        specs = {
            DEFAULT_CACHE: _spec(
                DEFAULT_CACHE,
                "CACHEOPS_URL",
                config.get("CACHEOPS_URL"),
                config.get("CACHEOPS_OPTIONS"),
                config.get("CACHEOPS_KEY_PREFIX"),
                config.get("CACHEOPS_DEFAULT_TTL", DEFAULT_TTL),
                names=_TOP_LEVEL,
            ),
            **specs,
        }
    # A named cache without a URL is where the default cache is (with its own options).
    default = specs[DEFAULT_CACHE]
    return {
        name: spec
        if spec.url is not None
        else replace(spec, url=default.url, source=default.source)
        for name, spec in specs.items()
    }


def build_backend(spec: CacheSpec) -> cacheops.Backend:
    """The backend for ``spec``, without touching the network. Errors name the setting."""
    try:
        location: CacheConfig | None = (
            None if spec.url is None else parse_url(spec.url, source=spec.source)
        )
        return cacheops.connect(location, **spec.options)
    except cacheops.ConfigurationError as exc:
        raise cacheops.ConfigurationError(f"cache {spec.name!r}: {exc.message}") from None


__all__ = ["DEFAULT_CACHE", "DEFAULT_TTL", "CacheSpec", "build_backend", "read_specs"]
