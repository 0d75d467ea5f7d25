"""``flask cacheops flush|stats``: the app's caches from the command line.

Errors are one line on stderr, without a traceback or a secret, and each failure class has
its own exit status, the same as the ``cacheops`` command's (:data:`cacheops.cli.EXIT_CODES`),
so a deploy hook can tell "the cache is down" from "the configuration is wrong".
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import NoReturn

import click
from flask import current_app
from flask.cli import AppGroup

import cacheops
from cacheops.admin.base import Stats
from cacheops.cli import exit_code

from .config import DEFAULT_CACHE
from .extension import EXTENSION_KEY, CacheopsState

EXIT_UNEXPECTED = 1
#: click's usage error, and an unknown ``--cache`` name.
EXIT_USAGE = 2

cacheops_cli = AppGroup("cacheops", help="Flush the app's caches or show their statistics.")


def _state() -> CacheopsState:
    state = current_app.extensions[EXTENSION_KEY]
    assert isinstance(state, CacheopsState)
    return state


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return " ".join(text.split())  # one line


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"Error: {message}", err=True)
    sys.exit(code)


@contextmanager
def _reported(action: str, cache: str) -> Iterator[None]:
    """Turn any error into one scrubbed line and its exit status."""
    try:
        yield
    except cacheops.CacheError as exc:
        code = exit_code(exc)
        _fail(_scrub(f"{action} cache {cache!r}: {exc}", _state().secrets()), code)
    except Exception as exc:
        _fail(
            _scrub(
                f"{action} cache {cache!r}: unexpected {type(exc).__name__}: {exc}",
                _state().secrets(),
            ),
            EXIT_UNEXPECTED,
        )


def _names(requested: Sequence[str], every: bool) -> list[str]:
    state = _state()
    if every:
        return list(state.caches)
    names = list(dict.fromkeys(requested)) or [DEFAULT_CACHE]
    unknown = [n for n in names if n not in state.caches]
    if unknown:
        _fail(
            f"no cache named {', '.join(map(repr, unknown))}; "
            f"configured: {', '.join(state.caches)}",
            EXIT_USAGE,
        )
    return names


_cache_option = click.option(
    "--cache",
    "requested",
    multiple=True,
    metavar="NAME",
    help="A configured cache (repeatable); default: the default cache.",
)
_all_option = click.option("--all", "every", is_flag=True, help="Every configured cache.")
_json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")


@cacheops_cli.command("flush")
@_cache_option
@_all_option
@_json_option
def flush_command(requested: tuple[str, ...], every: bool, as_json: bool) -> None:
    """Remove every item from a cache (the deploy hook).

    On memcached and MemCachier this empties the whole server, whatever the key prefix.
    """
    state = _state()
    flushed = []
    for name in _names(requested, every):
        backend = state.caches[name].backend
        with _reported("flushing", name):
            backend.admin.flush()
        flushed.append({"cache": name, "location": backend.location})
    if as_json:
        click.echo(json.dumps({"flushed": flushed}))
    else:
        for entry in flushed:
            click.echo(f"flushed {entry['cache']} ({entry['location']})")


def _percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"


def _size(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1024:
        return f"{value} B"
    size, unit = value / 1024, "KiB"
    for bigger in ("MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, bigger
    return f"{size:.1f} {unit}"


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


_COLUMNS: tuple[tuple[str, Callable[[str, str, Stats], str]], ...] = (
    ("CACHE", lambda name, location, s: name),
    ("BACKEND", lambda name, location, s: s.backend),
    ("HIT RATE", lambda name, location, s: _percent(s.hit_rate)),
    ("HITS", lambda name, location, s: _count(s.hits)),
    ("MISSES", lambda name, location, s: _count(s.misses)),
    ("ITEMS", lambda name, location, s: _count(s.items)),
    ("SIZE", lambda name, location, s: _size(s.bytes)),
    ("LIMIT", lambda name, location, s: _size(s.limit)),
    ("EVICTIONS", lambda name, location, s: _count(s.evictions)),
    ("LOCATION", lambda name, location, s: location),
)


def table(rows: Sequence[tuple[str, str, Stats]]) -> str:
    """The stats as an aligned text table, one row per cache."""
    cells = [[title for title, _ in _COLUMNS]]
    cells += [[cell(*row) for _, cell in _COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )


@cacheops_cli.command("stats")
@_cache_option
@_json_option
def stats_command(requested: tuple[str, ...], as_json: bool) -> None:
    """Show hit rate, items, size and evictions (every configured cache by default)."""
    state = _state()
    names = _names(requested, every=not requested)
    rows = []
    for name in names:
        backend = state.caches[name].backend
        with _reported("reading stats of", name):
            rows.append((name, backend.location, backend.admin.stats()))
    if as_json:
        document = {name: {"location": loc, **stats.as_dict()} for name, loc, stats in rows}
        click.echo(json.dumps(document, indent=2, default=str))
    else:
        click.echo(table(rows))
