"""The ``cacheops`` command: ops work on any cache, such as flushing it on every deploy.

Every command reads ``--url`` or, without it, the same environment as ``connect()``.
Errors are one line on stderr, never a traceback and never a secret, and each class of
failure has its own exit code (``cacheops --help`` lists them), so deploy scripts can tell
a wrong password from an outage.
"""

from __future__ import annotations

import json
import secrets
import shlex
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import quote

import click

from . import errors, report
from .admin import analytics_api
from .backend import Backend
from .report import EXIT_CODES, exit_code

if TYPE_CHECKING:
    from .admin.memcachier import MemCachierAPI

__all__ = ["EXIT_CODES", "analytics_api", "cli", "exit_code", "main"]


def fail(exc: errors.CacheError) -> NoReturn:
    click.echo(f"cacheops: {report.error_line(exc)}", err=True)
    sys.exit(exit_code(exc))


def _warn(line: str) -> None:
    click.echo(f"cacheops: warning: {line}", err=True)


class _Group(click.Group):
    """Turns cacheops errors into one line and an exit code, and cacheops warnings into
    one line each, for every subcommand."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with report.warnings_to(_warn):
                return super().invoke(ctx)
        except errors.CacheError as exc:
            fail(exc)


class Settings:
    def __init__(self, url: str | None, as_json: bool) -> None:
        self.url = url
        self.as_json = as_json

    @contextmanager
    def backend(self) -> Iterator[Backend]:
        """The cache of ``--url`` or the environment; never a fresh in-process cache that
        would let a misconfigured deploy hook "flush" nothing and succeed."""
        from . import connect
        from .config import require_environment

        backend = connect(self.url if self.url is not None else require_environment())
        try:
            yield backend
        finally:
            backend.close()


pass_settings = click.make_pass_decorator(Settings)


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    settings = ctx.find_object(Settings)
    if value and settings is not None:
        settings.as_json = True


_JSON_HELP = "Machine-readable output (before or after the command)."


def _json_after_every_command(group: click.Group) -> None:
    """``cacheops stats --json`` as well as ``cacheops --json stats``."""
    for command in group.commands.values():
        if isinstance(command, click.Group):
            _json_after_every_command(command)
        else:
            command.params.append(
                click.Option(
                    ["--json"],
                    is_flag=True,
                    expose_value=False,
                    callback=_set_json,
                    help=_JSON_HELP,
                )
            )


@click.group(cls=_Group, epilog=report.EXIT_CODES_TEXT)
@click.option(
    "--url",
    envvar="CACHEOPS_URL",
    help="Cache URL; default: CACHEOPS_URL, MEMCACHIER_*, IRON_* (as connect()).",
)
@click.option("--json", "as_json", is_flag=True, help=_JSON_HELP)
@click.version_option(package_name="cacheops")
@click.pass_context
def cli(ctx: click.Context, url: str | None, as_json: bool) -> None:
    """Cache operations on memory, memcached, MemCachier and IronCache."""
    ctx.obj = Settings(url, as_json)


def _emit(settings: Settings, data: Any, text: Callable[[], str]) -> None:
    click.echo(report.to_json(data) if settings.as_json else text())


@cli.command()
@pass_settings
def flush(settings: Settings) -> None:
    """Remove every item (the deploy hook: Heroku `release: cacheops flush`)."""
    with settings.backend() as backend:
        backend.admin.flush()
        record = report.flush_record(None, backend.location)
        _emit(settings, record, lambda: report.flush_text(record))


@cli.command()
@pass_settings
def stats(settings: Settings) -> None:
    """Hit rate, items, bytes and evictions, in aggregate (per server with --json)."""
    with settings.backend() as backend:
        record = report.stats_record(None, backend.location, backend.admin.stats())
        _emit(settings, record, lambda: report.stats_text(record))


@cli.command()
@pass_settings
def info(settings: Settings) -> None:
    """What the cache is: backend, location, servers, limits."""
    with settings.backend() as backend:
        data = backend.admin.info()
        _emit(settings, data, lambda: report.info_text(data))


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
        _emit(settings, {"key": key, "value": value}, lambda: report.value_text(value))


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


@contextmanager
def _analytics_api(settings: Settings) -> Iterator[MemCachierAPI]:
    with settings.backend() as backend, analytics_api(backend) as api:
        yield api


@cli.group()
def credentials() -> None:
    """MemCachier credentials, through its analytics API (the credential needs `api`)."""


@credentials.command("list")
@pass_settings
def credentials_list(settings: Settings) -> None:
    """Every credential of the cache, with its capabilities (never a password)."""
    with _analytics_api(settings) as api:
        rows = [c.public() for c in api.credentials()]
    _emit(settings, rows, lambda: report.credentials_text(rows))


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


def _shell_lines(urls: dict[str, str]) -> str:
    """Comments and ``export`` lines that work when pasted into a POSIX shell."""
    lines = [f"# {name}: {value}" for name, value in urls.items() if not name.isupper()]
    lines += [f"export {name}={shlex.quote(v)}" for name, v in urls.items() if name.isupper()]
    return "\n".join(lines)


@cli.command()
@click.option(
    "--host", default="127.0.0.1", show_default=True, help="Loopback address to bind (or ::1)."
)
@click.option(
    "--port",
    type=click.IntRange(1, 65533),
    default=None,
    help="memcached's port; the MemCachier API listens on PORT+1 and IronCache on PORT+2. "
    "Default: free ports.",
)
@pass_settings
def serve(settings: Settings, host: str, port: int | None) -> None:
    """Start a local memcached with MemCachier's login, the MemCachier analytics API over it,
    and an IronCache-compatible server; print their URLs and the MEMCACHIER_* variables
    (shell-quoted export lines); stop cleanly on Ctrl-C."""
    from .config import Server

    if not Server(host, 0).is_loopback:
        raise click.BadParameter("the local servers only listen on loopback", param_hint="--host")
    from .testing.ironcache_server import IronCacheServer
    from .testing.memcached import MemcachedError, MemcachedServer
    from .testing.memcachier_api import MemCachierAPIServer

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        with (
            MemcachedServer(users={"dev": secrets.token_hex(8)}, host=host, port=port) as memcached,
            MemCachierAPIServer(memcached, host=host, port=port + 1 if port else 0) as analytics,
            IronCacheServer(
                host=host, port=port + 2 if port else 0, token=secrets.token_hex(12)
            ) as iron,
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
                "MEMCACHIER_API_URL": api_url,
            }
            # These are throwaway local credentials, made for this run: printing them is the
            # point of the command.
            _emit(settings, urls, lambda: _shell_lines(urls))
            sys.stdout.flush()
            if not settings.as_json:
                click.echo("serving; Ctrl-C to stop", err=True)
            stop.wait()
    except MemcachedError as exc:
        raise errors.ConfigurationError(str(exc)) from None
    except OSError as exc:  # a port given with --port that is taken
        raise errors.ConfigurationError(f"cannot listen on {host}: {exc.strerror}") from None
    click.echo("stopped", err=True)


_json_after_every_command(cli)


def main() -> None:
    cli(prog_name="cacheops")


if __name__ == "__main__":
    main()
