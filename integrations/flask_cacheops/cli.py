"""``flask cacheops flush|stats``: the app's caches from the command line.

Output is :mod:`cacheops.report`'s, the same as ``cacheops`` and ``manage.py cacheops``
print. Errors are one line on stderr, without a traceback or a secret, and each failure
class has its own exit status (:data:`cacheops.report.EXIT_CODES`), so a deploy hook can
tell "the cache is down" from "the configuration is wrong". The group is also a
``flask.commands`` entry point, so it exists when the app itself fails to load (a bad
``CACHEOPS_URL``): that too is one line and exit 3.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup

import cacheops
from cacheops import report
from cacheops.config import require_environment
from cacheops.redact import redact

from .config import DEFAULT_CACHE
from .extension import EXTENSION_KEY, CacheopsState

_JSON_KEY = "flask_cacheops.json"


def _state() -> CacheopsState:
    state = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(state, CacheopsState):
        raise cacheops.ConfigurationError(
            f"flask_cacheops is not initialised on app {current_app.name!r}: call "
            "Cacheops(app) or ext.init_app(app)"
        )
    return state


def _scrub(text: str) -> str:
    try:
        secrets = _state().secrets()
    except (RuntimeError, cacheops.ConfigurationError):  # no app, or no extension on it
        secrets = []
    return " ".join(redact(text, secrets).split())  # one line


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {_scrub(message)}", err=True)
    sys.exit(code)


class _Group(AppGroup):
    """Any cacheops error, loading the app included, is one scrubbed line and its exit
    status; cacheops warnings (a flush that used the memcache protocol) one line each."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            with report.warnings_to(lambda line: click.echo(f"Warning: {line}", err=True)):
                return super().invoke(ctx)
        except cacheops.CacheError as exc:
            _fail(report.error_line(exc), report.exit_code(exc))


@contextmanager
def _reported(action: str, cache: str) -> Iterator[None]:
    """Name the cache in any error; anything unexpected is one scrubbed line too."""
    try:
        yield
    except cacheops.CacheError as exc:
        _fail(f"{action} cache {cache!r}: {report.error_line(exc)}", report.exit_code(exc))
    except Exception as exc:
        _fail(
            f"{action} cache {cache!r}: unexpected {type(exc).__name__}: {exc}",
            report.EXIT_GENERIC,
        )


def _names(requested: Sequence[str], every: bool) -> list[str]:
    state = _state()
    if every:
        names = list(state.caches)
    else:
        names = list(dict.fromkeys(requested)) or [DEFAULT_CACHE]
        unknown = [n for n in names if n not in state.caches]
        if unknown:
            _fail(
                f"no cache named {', '.join(map(repr, unknown))}; "
                f"configured: {', '.join(state.caches)}",
                report.EXIT_USAGE,
            )
    for name in names:
        if state.caches[name].spec.url is None:
            # From the environment; with nothing there the backend is this process's own
            # empty memory://, which no ops command should pretend to flush or read.
            with _reported("finding", name):
                require_environment()
    return names


def _set_json(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta[_JSON_KEY] = True


def _as_json() -> bool:
    return bool(click.get_current_context().meta.get(_JSON_KEY))


_json_option = click.option(
    "--json",
    is_flag=True,
    expose_value=False,
    callback=_set_json,
    help="Print JSON for machines, one object per cache (before or after the command).",
)


@click.group("cacheops", cls=_Group)
@_json_option
def cacheops_cli() -> None:
    """Flush the app's caches or show their statistics."""


_cache_option = click.option(
    "--cache",
    "requested",
    multiple=True,
    metavar="NAME",
    help="A configured cache (repeatable); default: the default cache.",
)
_all_option = click.option("--all", "every", is_flag=True, help="Every configured cache.")


def _emit(records: list[dict[str, Any]], text: str) -> None:
    click.echo(report.json_lines(records) if _as_json() else text)


@cacheops_cli.command("flush")
@_cache_option
@_all_option
@_json_option
def flush_command(requested: tuple[str, ...], every: bool) -> None:
    """Remove every item from a cache (the deploy hook).

    On memcached and MemCachier this empties the whole server, whatever the key prefix.
    """
    state = _state()
    records = []
    for name in _names(requested, every):
        backend = state.caches[name].backend
        with _reported("flushing", name):
            backend.admin.flush()
        records.append(report.flush_record(name, backend.location))
    _emit(records, "\n".join(map(report.flush_text, records)))


@cacheops_cli.command("stats")
@_cache_option
@_json_option
def stats_command(requested: tuple[str, ...]) -> None:
    """Show hit rate, items, size and evictions (every configured cache by default)."""
    state = _state()
    records = []
    for name in _names(requested, every=not requested):
        backend = state.caches[name].backend
        with _reported("reading stats of", name):
            records.append(report.stats_record(name, backend.location, backend.admin.stats()))
    _emit(records, report.blocks(map(report.stats_text, records)))


__all__ = ["cacheops_cli", "flush_command", "stats_command"]
