"""The ``cacheops`` command: ops work on any cache, such as flushing it on every deploy.

Every command reads ``--url`` or, without it, the same environment as ``connect()``.
Errors are one line on stderr, never a traceback and never a secret, and each class of
failure has its own exit code (``cacheops --help`` lists them), so deploy scripts can tell
a wrong password from an outage.
"""

from __future__ import annotations

import json
import secrets
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click

from . import errors
from .backend import Backend

if TYPE_CHECKING:
    from .admin.memcachier import MemCachierAPI

#: Exit code by error class; the most specific class wins.
EXIT_CODES: dict[type[errors.CacheError], int] = {
    errors.ConfigurationError: 3,
    errors.BackendUnavailable: 4,
    errors.UnknownOutcome: 5,
    errors.AuthenticationError: 6,
    errors.PermissionDenied: 7,
    errors.InvalidKey: 8,
    errors.InvalidTTL: 9,
    errors.ValueTooLarge: 10,
    errors.SerializationError: 11,
    errors.NotNumeric: 12,
    errors.KeyNotFound: 13,
    errors.NotSupported: 14,
}
EXIT_GENERIC = 1

_EPILOG = "Exit codes: 0 ok, 1 other cache error, 2 usage, " + ", ".join(
    f"{code} {cls.__name__}" for cls, code in EXIT_CODES.items()
)


def exit_code(exc: errors.CacheError) -> int:
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_GENERIC


def fail(exc: errors.CacheError) -> NoReturn:
    click.echo(f"cacheops: {type(exc).__name__}: {exc}", err=True)
    sys.exit(exit_code(exc))


class _Group(click.Group):
    """Turns cacheops errors into one line and an exit code, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except errors.CacheError as exc:
            fail(exc)


class Settings:
    def __init__(self, url: str | None, as_json: bool) -> None:
        self.url = url
        self.as_json = as_json

    @contextmanager
    def backend(self) -> Iterator[Backend]:
        from . import connect

        backend = connect(self.url)
        try:
            yield backend
        finally:
            backend.close()


pass_settings = click.make_pass_decorator(Settings)


@click.group(cls=_Group, epilog=_EPILOG)
@click.option(
    "--url",
    envvar="CACHEOPS_URL",
    help="Cache URL; default: CACHEOPS_URL, MEMCACHIER_*, IRON_* (as connect()).",
)
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.version_option(package_name="cacheops")
@click.pass_context
def cli(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Cache operations on memory, memcached, MemCachier and IronCache."""
    ctx.obj = Settings(url, as_json)


def _emit(settings: Settings, data: Any, text: Callable[[], str]) -> None:
    click.echo(json.dumps(data, sort_keys=True, default=str) if settings.as_json else text())


@cli.command()
@pass_settings
def flush(settings: Settings) -> None:
    """Remove every item (the deploy hook: Heroku `release: cacheops flush`)."""
    with settings.backend() as backend:
        backend.admin.flush()
        _emit(settings, {"flushed": backend.location}, lambda: f"flushed {backend.location}")


def stats_table(data: dict[str, Any]) -> str:
    """``Stats.as_dict()`` as aligned rows, for people."""

    def show(value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.1%}"
        return str(value)

    rows = [
        (name, show(data[name]))
        for name in (
            "backend",
            "hits",
            "misses",
            "hit_rate",
            "items",
            "bytes",
            "limit",
            "evictions",
        )
    ]
    rows.append(("servers", ", ".join(data["servers"]) or "-"))
    width = max(len(name) for name, _ in rows)
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in rows)


@cli.command()
@pass_settings
def stats(settings: Settings) -> None:
    """Hit rate, items, bytes and evictions, in aggregate (per server with --json)."""
    with settings.backend() as backend:
        data = backend.admin.stats().as_dict()
        _emit(settings, data, lambda: stats_table(data))


@cli.command()
@pass_settings
def info(settings: Settings) -> None:
    """What the cache is: backend, location, servers, limits."""
    with settings.backend() as backend:
        data = backend.admin.info()
        _emit(settings, data, lambda: "\n".join(f"{k}: {v}" for k, v in data.items()))


def _show_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    return json.dumps(value)


@cli.command()
@click.argument("key")
@pass_settings
def get(settings: Settings, key: str) -> None:
    """Print the value under KEY (exit 13 when there is none)."""
    with settings.backend() as backend:
        missing = object()
        value = backend.get(key, missing)
        if value is missing:
            raise errors.KeyNotFound(f"no value under {key!r}", backend=backend.scheme)
        _emit(settings, {"key": key, "value": value}, lambda: _show_value(value))


_PARSERS: dict[str, Callable[[str], Any]] = {
    "str": str,
    "int": int,
    "json": json.loads,
    "bytes": lambda text: text.encode("utf-8"),
}


@cli.command()
@click.argument("key")
@click.argument("value")
@click.option("--ttl", type=float, default=None, help="Seconds to keep it; default: forever.")
@click.option(
    "--type",
    "kind",
    type=click.Choice(list(_PARSERS)),
    default="str",
    show_default=True,
    help="How to read VALUE.",
)
@pass_settings
def put(settings: Settings, key: str, value: str, ttl: float | None, kind: str) -> None:
    """Store VALUE under KEY."""
    try:
        parsed = _PARSERS[kind](value)
    except ValueError as exc:
        raise click.BadParameter(f"not a valid {kind}: {exc}", param_hint="VALUE") from None
    with settings.backend() as backend:
        backend.put(key, parsed, ttl=ttl)
        _emit(settings, {"stored": key}, lambda: f"stored {key}")


@cli.command()
@click.argument("key")
@pass_settings
def delete(settings: Settings, key: str) -> None:
    """Remove KEY (exit 13 when there was nothing)."""
    with settings.backend() as backend:
        if not backend.delete(key):
            raise errors.KeyNotFound(f"no value under {key!r}", backend=backend.scheme)
        _emit(settings, {"deleted": key}, lambda: f"deleted {key}")


@cli.command(context_settings={"ignore_unknown_options": True})
@click.argument("key")
@click.argument("delta", type=int, default=1)
@click.option(
    "--default",
    "start",
    type=int,
    default=0,
    show_default=True,
    help="Start value of a missing counter.",
)
@click.option("--must-exist", is_flag=True, help="Fail (exit 13) instead of starting a counter.")
@pass_settings
def incr(settings: Settings, key: str, delta: int, start: int, must_exist: bool) -> None:
    """Add DELTA (negative to subtract) to the counter KEY, atomically; print the result."""
    with settings.backend() as backend:
        value = backend.increment(key, delta, default=None if must_exist else start)
        _emit(settings, {"key": key, "value": value}, lambda: str(value))


# -- MemCachier credentials --------------------------------------------------------------


def analytics_api(backend: Backend) -> MemCachierAPI:
    """The MemCachier analytics API of ``backend``; NotSupported for other caches."""
    from .backends.memcache import MemcacheBackend

    if not isinstance(backend, MemcacheBackend) or backend.username is None:
        raise errors.NotSupported(
            "credentials are managed through MemCachier's analytics API: give a "
            "memcachier:// URL, or set MEMCACHIER_SERVERS/_USERNAME/_PASSWORD",
            backend=backend.scheme,
        )
    return backend.analytics_api()


@contextmanager
def _analytics_api(settings: Settings) -> Iterator[MemCachierAPI]:
    with settings.backend() as backend, analytics_api(backend) as api:
        yield api


def credentials_table(rows: list[dict[str, Any]]) -> str:
    header = ("username", "primary", "write", "flush", "api")
    width = max([len("username")] + [len(r["username"]) for r in rows])
    lines = [f"{header[0].ljust(width)}  primary  write  flush  api"]
    for row in rows:
        flags = "  ".join(("yes" if row[k] else "no").ljust(len(k)) for k in header[1:])
        lines.append(f"{row['username'].ljust(width)}  {flags}".rstrip())
    return "\n".join(lines)


@cli.group()
def credentials() -> None:
    """MemCachier credentials, through its analytics API (the credential needs `api`)."""


@credentials.command("list")
@pass_settings
def credentials_list(settings: Settings) -> None:
    """Every credential of the cache, with its capabilities (never a password)."""
    with _analytics_api(settings) as api:
        rows = [c.public() for c in api.credentials()]
    _emit(settings, rows, lambda: credentials_table(rows))


@credentials.command("create")
@pass_settings
def credentials_create(settings: Settings) -> None:
    """Create a credential; its password is printed once, here, and nowhere else."""
    with _analytics_api(settings) as api:
        created = api.create_credential()
    row = {**created.public(), "password": created.password}
    _emit(
        settings,
        row,
        lambda: (
            f"created {created.username}\npassword: {created.password}\n"
            "(store it now: it is not shown again; new credentials can take minutes to work)"
        ),
    )


def _capability(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return click.option(
        f"--{name}/--no-{name}", default=None, help=f"Grant or revoke {name}; default: unchanged."
    )


@credentials.command("update")
@click.argument("username")
@_capability("write")
@_capability("flush")
@_capability("api")
@pass_settings
def credentials_update(
    settings: Settings, username: str, write: bool | None, flush: bool | None, api: bool | None
) -> None:
    """Change USERNAME's capabilities; the ones not given keep their value."""
    if write is None and flush is None and api is None:
        raise click.UsageError(
            "give at least one of --write/--no-write, --flush/--no-flush, --api/--no-api"
        )
    with _analytics_api(settings) as client:
        caps = client.update_credential(username, write=write, flush=flush, api=api)
    data = {"username": username, "write": caps.write, "flush": caps.flush, "api": caps.api}
    _emit(
        settings,
        data,
        lambda: f"updated {username}: write={caps.write} flush={caps.flush} api={caps.api}",
    )


@credentials.command("delete")
@click.argument("username")
@pass_settings
def credentials_delete(settings: Settings, username: str) -> None:
    """Delete USERNAME (the primary credential cannot be deleted)."""
    with _analytics_api(settings) as api:
        api.delete_credential(username)
    _emit(settings, {"deleted": username}, lambda: f"deleted {username}")


@credentials.command("promote")
@click.argument("username")
@pass_settings
def credentials_promote(settings: Settings, username: str) -> None:
    """Make USERNAME the primary credential."""
    with _analytics_api(settings) as api:
        promoted = api.promote_credential(username)
    _emit(settings, promoted.public(), lambda: f"promoted {promoted.username}")


# -- local servers ------------------------------------------------------------------------


@cli.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Loopback address to bind.")
@pass_settings
def serve(settings: Settings, host: str) -> None:
    """Start a local memcached with MemCachier's login, the MemCachier analytics API over it,
    and an IronCache-compatible server; print their URLs; stop cleanly on Ctrl-C."""
    from .config import Server

    if not Server(host, 0).is_loopback:
        raise click.BadParameter("the local servers only listen on loopback", param_hint="--host")
    from .testing.ironcache_server import IronCacheServer
    from .testing.memcached import MemcachedError, MemcachedServer
    from .testing.memcachier_api_server import MemCachierAPIServer

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with (
            MemcachedServer(users={"dev": secrets.token_hex(8)}, host=host) as memcached,
            MemCachierAPIServer(memcached, host=host) as analytics,
            IronCacheServer(host=host, token=secrets.token_hex(12)) as iron,
        ):
            username, password = memcached.memcachier_credentials("dev")
            api_url = analytics.base_url
            urls = {
                "memcachier": f"{memcached.memcachier_url('dev')}?api_url="
                f"{quote(api_url, safe='')}",
                "memcachier_api": api_url,
                "ironcache": iron.url("cache"),
                "MEMCACHIER_SERVERS": memcached.server,
                "MEMCACHIER_USERNAME": username,
                "MEMCACHIER_PASSWORD": password,
            }
            # These are throwaway local credentials, made for this run: printing them is the
            # point of the command.
            _emit(settings, urls, lambda: "\n".join(f"{k}={v}" for k, v in urls.items()))
            if not settings.as_json:
                click.echo("serving; Ctrl-C to stop", err=True)
            sys.stdout.flush()
            stop.wait()
    except MemcachedError as exc:
        raise errors.ConfigurationError(str(exc)) from None
    click.echo("stopped", err=True)


def main() -> None:
    cli(prog_name="cacheops")


if __name__ == "__main__":
    main()
