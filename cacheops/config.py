"""Where the cache is: URL and environment parsing.

``parse_url`` turns a cacheops URL into a :class:`CacheConfig`; ``from_environment`` finds
one the way ``connect()`` documents (``CACHEOPS_URL``, then ``MEMCACHIER_*``, then the
IronCache settings the official client reads, else none). Nothing here opens a socket.

Error messages are built from parsed parts only, never from the raw URL, so a password or
token cannot end up in one.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from .errors import ConfigurationError

MEMCACHE_PORT = 11211
IRON_HOST = "cache-aws-us-east-1.iron.io"
IRON_API_VERSION = "1"
DEFAULT_IRON_CACHE_NAME = "cache"
#: Where MemCachier's analytics API lives (its v1 and v2 paths are below it).
MEMCACHIER_API_URL = "https://analytics.memcachier.com"

SCHEMES = ("memory", "memcached", "memcachier", "ironcache", "ironcache+http")
_DEFAULT_PORTS = {
    "memcached": MEMCACHE_PORT,
    "memcachier": MEMCACHE_PORT,
    "ironcache": 443,
    "ironcache+http": 80,
}
_SECRET_OPTIONS = frozenset({"secret", "password", "token"})
_IRON_KEYS = ("host", "port", "protocol", "api_version", "project_id", "token", "cache_name")
_IRON_ENV_KEYS = tuple(k.upper() for k in _IRON_KEYS)


@dataclass(frozen=True)
class Server:
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@dataclass(frozen=True)
class CacheConfig:
    """A parsed location: which backend, which servers, which credentials, which options."""

    scheme: str
    servers: tuple[Server, ...] = ()
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    name: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    source: str = "argument"

    def redacted_url(self) -> str:
        """The URL with its secret replaced by ``***``: safe for logs, errors and output."""
        user = ""
        if self.username is not None:
            user = quote(self.username, safe="")
            if self.password is not None:
                user += ":***"
            user += "@"
        hosts = ",".join(str(s) for s in self.servers)
        path = f"/{quote(self.name, safe='')}" if self.name else ""
        query = "&".join(
            f"{k}={'***' if k in _SECRET_OPTIONS else v}" for k, v in self.options.items()
        )
        return f"{self.scheme}://{user}{hosts}{path}{'?' + query if query else ''}"

    def __repr__(self) -> str:
        return f"CacheConfig({self.redacted_url()!r}, source={self.source!r})"


def _parse_port(text: str, scheme: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise ConfigurationError(f"{scheme}:// URL has a port that is not 1-65535: {text!r}")
    return int(text)


def parse_servers(text: str, scheme: str, default_port: int | None) -> tuple[Server, ...]:
    """``host``, ``host:port``, ``[v6]:port``, comma-separated."""
    servers = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if part.startswith("["):
            host, sep, rest = part[1:].partition("]")
            if not sep or (rest and not rest.startswith(":")):
                raise ConfigurationError(f"{scheme}:// URL has a malformed IPv6 host {part!r}")
            port_text = rest[1:]
        else:
            host, _, port_text = part.partition(":")
        if not host:
            raise ConfigurationError(f"{scheme}:// URL has an empty host in {part!r}")
        if port_text:
            port = _parse_port(port_text, scheme)
        elif default_port is None:
            raise ConfigurationError(f"{scheme}:// URL needs a port for host {host!r}")
        else:
            port = default_port
        servers.append(Server(host, port))
    return tuple(servers)


def parse_url(url: str, *, source: str = "argument") -> CacheConfig:
    """Parse a cacheops URL. Raises :class:`ConfigurationError` naming what is wrong."""
    if not isinstance(url, str):
        raise ConfigurationError(f"a cache URL must be a str, not {type(url).__name__}")
    scheme, sep, _ = url.partition("://")
    scheme = scheme.lower()
    if not sep:
        raise ConfigurationError(
            f"{source}: not a cache URL (expected scheme://...; schemes: {', '.join(SCHEMES)})"
        )
    if scheme not in SCHEMES:
        raise ConfigurationError(
            f"{source}: unknown scheme {scheme!r}; use one of {', '.join(SCHEMES)}"
        )
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        # urllib's messages can quote the netloc, which may hold the password.
        what = "malformed IPv6 host" if "IPv6" in str(exc) else "malformed URL"
        raise ConfigurationError(f"{source}: {scheme}:// URL has a {what}") from None
    netloc = parts.netloc
    options = dict(parse_qsl(parts.query, keep_blank_values=True))
    if scheme == "memory":
        # memory://NAME names a process-wide shared store; it is a name, not a host.
        name = unquote(netloc + parts.path).strip("/")
        if "@" in netloc:
            raise ConfigurationError(f"{source}: memory:// takes no credentials, only a name")
        return CacheConfig(scheme, name=name, options=options, source=source)
    if "@" in url and "@" not in netloc:
        # An unencoded '/', '?' or '#' in the password split the URL early: say so without
        # echoing any of it.
        raise ConfigurationError(
            f"{source}: the user:password part of the {scheme}:// URL holds a reserved "
            "character; percent-encode it (e.g. urllib.parse.quote(password, safe=''))"
        )
    if "@" in url[len(scheme) + len("://") + len(netloc) :]:
        # "user:p@ss/word@host": the URL splits at the first '/', so "ss" would become the
        # host, be looked up in DNS and be shown in errors.
        raise ConfigurationError(
            f"{source}: the {scheme}:// URL has an '@' after its host part: an unencoded '@' "
            "then '/' in the password splits it in the wrong place. Percent-encode the "
            "password ('@' as %40, '/' as %2F: urllib.parse.quote(password, safe='')), and "
            "any '@' in the path or query"
        )
    username = password = None
    userinfo, at, hosts = netloc.rpartition("@")
    if at:
        user_text, colon, pass_text = userinfo.partition(":")
        username = unquote(user_text)
        password = unquote(pass_text) if colon else None
    try:
        servers = parse_servers(hosts, scheme, _DEFAULT_PORTS.get(scheme, 443))
    except ConfigurationError as exc:
        raise ConfigurationError(f"{source}: {exc.message}") from None
    name = unquote(parts.path.lstrip("/"))
    config = CacheConfig(scheme, servers, username, password, name, options, source)
    _check(config)
    return config


def _check(config: CacheConfig) -> None:
    where = f"{config.source}: {config.scheme}://"
    if config.scheme in ("memcached", "memcachier") and not config.servers:
        raise ConfigurationError(f"{where} URL needs at least one host")
    if config.scheme == "memcachier" and (not config.username or config.password is None):
        raise ConfigurationError(f"{where} URL needs USERNAME:PASSWORD@ before the hosts")
    if config.scheme == "memcached" and config.username is not None:
        raise ConfigurationError(
            f"{where} URL has credentials; use memcachier:// for servers that need a login"
        )
    if config.scheme.startswith("ironcache"):
        if not config.username or not config.password:
            raise ConfigurationError(f"{where} URL needs PROJECT_ID:TOKEN@ before the host")
        if not config.name or "/" in config.name:
            raise ConfigurationError(f"{where} URL needs one cache name as its path: /CACHE_NAME")
        if len(config.servers) > 1:
            raise ConfigurationError(f"{where} URL takes one host")


def ironcache_config(
    environ: Mapping[str, str] | None = None,
    *,
    cwd: Path | None = None,
    home: Path | None = None,
    config_file: str | Path | None = None,
    **overrides: Any,
) -> CacheConfig | None:
    """IronCache settings found as the official ``iron_core`` client finds them.

    Lowest to highest: defaults, ``~/.iron.json``, ``IRON_*``, ``IRON_CACHE_*``,
    ``./iron.json``, ``config_file``, keyword arguments. In a file, an ``"iron_cache"``
    object overrides the top-level keys. The cache name is the ``cache_name`` key, which the
    ``IRON_`` prefix makes ``IRON_CACHE_NAME``. None when no token and project id are found.
    """
    environ = os.environ if environ is None else environ
    cwd = Path.cwd() if cwd is None else cwd
    home = Path.home() if home is None else home
    keys = _IRON_KEYS
    settings: dict[str, Any] = {
        "host": IRON_HOST,
        "port": None,
        "protocol": "https",
        "api_version": IRON_API_VERSION,
        "project_id": None,
        "token": None,
        "cache_name": None,
    }

    def from_file(path: Path | None) -> None:
        if path is None or not path.is_file():
            return
        try:
            raw = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigurationError(
                f"{path}: not readable JSON ({exc.__class__.__name__})"
            ) from None
        if not isinstance(raw, dict):
            raise ConfigurationError(f"{path}: expected a JSON object")
        for layer in (raw, raw.get("iron_cache") or {}):
            settings.update({k: layer[k] for k in keys if k in layer})

    def from_env(prefix: str) -> None:
        settings.update(
            {
                k: environ[f"{prefix}_{k.upper()}"]
                for k in keys
                if f"{prefix}_{k.upper()}" in environ
            }
        )

    from_file(home / ".iron.json")
    from_env("IRON")
    from_env("IRON_CACHE")
    from_file(cwd / "iron.json")
    from_file(Path(config_file) if config_file else None)
    settings.update({k: v for k, v in overrides.items() if v is not None})
    if not settings["token"] or not settings["project_id"]:
        return None
    protocol = str(settings["protocol"]).lower()
    if protocol not in ("https", "http"):
        raise ConfigurationError(f"IronCache protocol must be https or http, not {protocol!r}")
    port = int(settings["port"]) if settings["port"] else (443 if protocol == "https" else 80)
    config = CacheConfig(
        scheme="ironcache" if protocol == "https" else "ironcache+http",
        servers=(Server(str(settings["host"]), port),),
        username=str(settings["project_id"]),
        password=str(settings["token"]),
        name=str(settings["cache_name"] or DEFAULT_IRON_CACHE_NAME),
        options={"api_version": str(settings["api_version"])},
        source="IronCache settings (iron.json / IRON_* environment)",
    )
    _check(config)
    return config


def memcachier_api_url(environ: Mapping[str, str] | None = None) -> str:
    """MemCachier's analytics API root: ``MEMCACHIER_API_URL``, else MemCachier's own."""
    environ = os.environ if environ is None else environ
    return environ.get("MEMCACHIER_API_URL") or MEMCACHIER_API_URL


def from_environment(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, home: Path | None = None
) -> CacheConfig | None:
    """The configuration ``connect()`` uses when given no URL, or None for the memory fallback."""
    environ = os.environ if environ is None else environ
    url = environ.get("CACHEOPS_URL")
    if url:
        return parse_url(url, source="CACHEOPS_URL")
    servers = environ.get("MEMCACHIER_SERVERS")
    if servers:
        username = environ.get("MEMCACHIER_USERNAME")
        password = environ.get("MEMCACHIER_PASSWORD")
        source = "MEMCACHIER_SERVERS"
        parsed = parse_servers(servers, "memcachier", MEMCACHE_PORT)
        if not parsed:
            raise ConfigurationError(f"{source} is set but names no server")
        if bool(username) != bool(password):
            # Half a login would silently become a plain memcached client without one.
            have, lack = (
                ("MEMCACHIER_USERNAME", "MEMCACHIER_PASSWORD")
                if username
                else ("MEMCACHIER_PASSWORD", "MEMCACHIER_USERNAME")
            )
            raise ConfigurationError(
                f"{source} and {have} are set but {lack} is not (or is empty): set both for "
                "MemCachier, or neither for a plain memcached"
            )
        if not username or not password:
            # MemCachier always issues credentials; plain memcached servers named this way
            # (a local dev setup) run without a login.
            return CacheConfig("memcached", parsed, source=source)
        return CacheConfig("memcachier", parsed, username, password, source=source)
    return ironcache_config(environ, cwd=cwd, home=home)


_KNOWN_VARIABLES = (
    "CACHEOPS_URL",
    "MEMCACHIER_SERVERS",
    "MEMCACHIER_USERNAME",
    "MEMCACHIER_PASSWORD",
    "MEMCACHIER_API_URL",
    *(f"{prefix}_{key}" for prefix in ("IRON", "IRON_CACHE") for key in _IRON_ENV_KEYS),
)


def _why_nothing_found(environ: Mapping[str, str]) -> list[str]:
    """What in ``environ`` looks like a cache configuration gone wrong."""
    hints = []
    if "CACHEOPS_URL" in environ and not environ["CACHEOPS_URL"].strip():
        hints.append("CACHEOPS_URL is set but empty")
    for name in sorted(environ):
        if name.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_")) and name not in (
            _KNOWN_VARIABLES
        ):
            close = difflib.get_close_matches(name, _KNOWN_VARIABLES, n=1, cutoff=0.8)
            if close:
                hints.append(f"{name} is set: did you mean {close[0]}?")
    if any(environ.get(k) for k in ("MEMCACHIER_USERNAME", "MEMCACHIER_PASSWORD")) and not (
        environ.get("MEMCACHIER_SERVERS")
    ):
        hints.append("MEMCACHIER_USERNAME/_PASSWORD are set but MEMCACHIER_SERVERS is not")
    token = environ.get("IRON_TOKEN") or environ.get("IRON_CACHE_TOKEN")
    project = environ.get("IRON_PROJECT_ID") or environ.get("IRON_CACHE_PROJECT_ID")
    if bool(token) != bool(project):
        have, lack = (
            ("IRON_TOKEN", "IRON_PROJECT_ID") if token else ("IRON_PROJECT_ID", "IRON_TOKEN")
        )
        hints.append(f"{have} is set but {lack} is not (IronCache needs both)")
    return hints


def require_environment(
    environ: Mapping[str, str] | None = None, *, cwd: Path | None = None, home: Path | None = None
) -> CacheConfig:
    """:func:`from_environment` for ops commands, which must never flush or read a fresh
    in-process cache: no configuration is a :class:`ConfigurationError` naming what was
    looked for and what looks misspelt or incomplete."""
    environ = os.environ if environ is None else environ
    found = from_environment(environ, cwd=cwd, home=home)
    if found is not None:
        return found
    hints = _why_nothing_found(environ)
    raise ConfigurationError(
        "no cache configured: looked for CACHEOPS_URL, MEMCACHIER_SERVERS (with "
        "MEMCACHIER_USERNAME and MEMCACHIER_PASSWORD), IRON_TOKEN with IRON_PROJECT_ID, and "
        "iron.json" + (f"; {'; '.join(hints)}" if hints else "")
    )


# -- options ---------------------------------------------------------------------------

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _coerce(name: str, value: str, hint: Any) -> Any:
    shown = "***" if name in _SECRET_OPTIONS else repr(value)
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and value.lower() in ("", "none", "null"):
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(name, value, arg)
            except ConfigurationError as exc:
                errors.append(exc)
        raise errors[0] if errors else ConfigurationError(f"option {name}={shown} is invalid")
    if origin is Literal:
        if value in args:
            return value
        raise ConfigurationError(
            f"option {name}={shown} must be one of {', '.join(map(repr, args))}"
        )
    if hint is bool:
        if value.lower() in _TRUE:
            return True
        if value.lower() in _FALSE:
            return False
        raise ConfigurationError(f"option {name}={shown} must be true or false")
    if hint in (int, float):
        try:
            return hint(value)
        except ValueError:
            raise ConfigurationError(f"option {name}={shown} must be a number") from None
    if hint in (str, bytes, Any):
        return value
    raise ConfigurationError(f"option {name} cannot be given as text; pass it to connect()")


def coerce_options(target: Callable[..., Any] | type, options: Mapping[str, Any]) -> dict[str, Any]:
    """Check option names against ``target``'s keyword parameters (a class: its ``__init__``
    and those of its bases) and convert text values (from a query string) to their types."""
    hints: dict[str, Any] = {}
    inits = (
        [
            k.__dict__["__init__"]
            for k in reversed(target.__mro__)
            if "__init__" in k.__dict__ and k is not object
        ]
        if isinstance(target, type)
        else [target]
    )
    for init in inits:
        hints.update(typing.get_type_hints(init))
    hints.pop("return", None)
    result = {}
    for name, value in options.items():
        if name not in hints:
            allowed = ", ".join(sorted(hints))
            raise ConfigurationError(f"unknown option {name!r}; this backend takes: {allowed}")
        result[name] = _coerce(name, value, hints[name]) if isinstance(value, str) else value
    return result


__all__ = [
    "DEFAULT_IRON_CACHE_NAME",
    "IRON_API_VERSION",
    "IRON_HOST",
    "MEMCACHE_PORT",
    "MEMCACHIER_API_URL",
    "SCHEMES",
    "CacheConfig",
    "Server",
    "coerce_options",
    "from_environment",
    "ironcache_config",
    "memcachier_api_url",
    "parse_servers",
    "parse_url",
    "require_environment",
]
