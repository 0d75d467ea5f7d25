"""``manage.py cacheops flush|stats|credentials``: in process through call_command, and as a
real ``manage.py`` process of the example project."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test.utils import override_settings

from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    ConfigurationError,
    NotSupported,
)
from cacheops.report import EXIT_CODES
from cacheops.testing.memcached import MemcachedServer
from cacheops.testing.net import free_port
from cacheops.testing.plugin import AUTH_PASSWORD

MANAGE = Path(__file__).resolve().parents[2] / "examples" / "django_project" / "manage.py"


def run(*args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command("cacheops", *args, stdout=out, **options)
    return out.getvalue()


def test_flush_empties_the_cache(django_caches: Any) -> None:
    cache = django_caches["default"]
    cache.set_many({"a": 1, "b": 2})
    django_caches["v2"].set("c", 3)
    out = run("flush")
    assert out.strip() == f"flushed default ({cache.backend.location})"
    assert cache.get_many(["a", "b"]) == {}
    assert django_caches["v2"].get("c") is None


def test_flush_json_and_another_alias(django_caches: Any) -> None:
    prefixed = django_caches["prefix"]
    prefixed.set("a", 1)
    out = run("flush", "--cache", "prefix", "--json")
    assert json.loads(out) == {
        "cache": "prefix",
        "location": prefixed.backend.location,
        "flushed": True,
    }
    assert prefixed.get("a") is None


def test_stats_table_and_json(django_caches: Any) -> None:
    cache = django_caches["default"]
    cache.set("a", 1)
    text = run("stats")
    rows = dict(line.split(None, 1) for line in text.strip().splitlines())
    assert set(rows) == {"cache", "location", "backend", "hits", "misses", "hit_rate"} | {
        "items",
        "bytes",
        "limit",
        "evictions",
        "servers",
    }
    assert rows["cache"] == "default"
    assert rows["backend"] == cache.backend.admin.stats().backend
    data = json.loads(run("stats", json=True))
    assert data["backend"] == rows["backend"]
    assert data["items"] is None or data["items"] >= 1
    if data["hits"] is not None:  # IronCache keeps no hit counters
        before = data["hits"]
        cache.get("a")
        cache.get("a")
        assert json.loads(run("stats", "--json"))["hits"] == before + 2


def test_unknown_alias_and_foreign_caches_are_one_line_errors(django_caches: Any) -> None:
    with pytest.raises(CommandError) as raised:
        run("stats", "--cache", "nope")
    assert str(raised.value) == "ConfigurationError: no cache 'nope' in settings.CACHES"
    assert raised.value.returncode == 3
    foreign = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    with override_settings(CACHES=foreign), pytest.raises(CommandError) as raised:
        run("flush")
    assert "LocMemCache" in str(raised.value)
    assert "django_cacheops.CacheopsCache" in str(raised.value)
    assert raised.value.returncode == 3


def test_credentials_lists_memcachier_credentials_without_passwords(
    memcachier_url: str, memcachier_api: Any
) -> None:
    output = manage("credentials", "--json", url=memcachier_url)
    assert output.returncode == 0, output.stderr
    rows = json.loads(output.stdout)
    username, password = memcachier_api.primary_credentials
    assert [r["username"] for r in rows if r["primary"]] == [username]
    assert password not in output.stdout + output.stderr
    assert set(rows[0]) == {"username", "primary", "write", "flush", "api"}


def test_a_cache_nothing_configures_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """LOCATION left out and nothing in the environment: the backend is this process's own
    empty memory://, which flush would "flush" with success."""
    for name in list(os.environ):
        if name.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IRON_TOKEN", "half-of-ironcache")
    unconfigured = {"default": {"BACKEND": "django_cacheops.CacheopsCache"}}
    with override_settings(CACHES=unconfigured):
        for action in ("flush", "stats"):
            with pytest.raises(CommandError) as raised:
                run(action)
            assert raised.value.returncode == EXIT_CODES[ConfigurationError]
            assert "IRON_PROJECT_ID is not" in str(raised.value)
            assert "half-of-ironcache" not in str(raised.value)
    explicit = {"default": {"BACKEND": "django_cacheops.CacheopsCache", "LOCATION": "memory://"}}
    with override_settings(CACHES=explicit):
        assert run("flush", "--json")


def test_credentials_on_a_cache_that_is_not_memcachier(memcached_url: str) -> None:
    result = manage("credentials", url=memcached_url)
    assert result.returncode == EXIT_CODES[NotSupported]
    assert "memcachier://" in result.stderr


# -- the real manage.py ------------------------------------------------------------------


def manage(*args: str, url: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCACHIER_", "IRON_"))}
    env.pop("CACHEOPS_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    if url is not None:
        env["CACHEOPS_URL"] = url
    return subprocess.run(
        [sys.executable, str(MANAGE), "cacheops", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def test_manage_py_stats_and_flush_on_memcachier(
    memcachier_url: str, memcached_auth_server: MemcachedServer
) -> None:
    import cacheops

    backend = cacheops.connect(memcachier_url)
    backend.put("example:1:page", "cached")
    stats = manage("stats", "--json", url=memcachier_url)
    assert stats.returncode == 0, stats.stderr
    data = json.loads(stats.stdout)
    assert data["backend"] == "memcachier"
    assert data["items"] >= 1
    flushed = manage("flush", url=memcachier_url)
    assert flushed.returncode == 0, flushed.stderr
    assert flushed.stdout.startswith("flushed default (memcachier://")
    assert backend.get("example:1:page") is None
    for output in (stats.stdout, stats.stderr, flushed.stdout, flushed.stderr):
        assert AUTH_PASSWORD not in output


def test_manage_py_errors_are_one_line_with_an_exit_code_per_class(
    memcachier_url: str,
) -> None:
    secret = "not-the-password-x9"
    wrong = memcachier_url.replace(quote(AUTH_PASSWORD), quote(secret))
    assert wrong != memcachier_url
    dead = f"memcached://127.0.0.1:{free_port()}"
    cases = [
        # MemCachier's v1 /login answers 403 to a wrong password as to a missing capability;
        # flush then tries the memcache protocol, whose login says which it is
        (wrong, EXIT_CODES[AuthenticationError], "AuthenticationError"),
        (dead, EXIT_CODES[BackendUnavailable], "BackendUnavailable"),
        ("memcachier://no-host-here", EXIT_CODES[ConfigurationError], "ConfigurationError"),
    ]
    for url, code, kind in cases:
        result = manage("flush", url=url)
        assert result.returncode == code, (kind, result.stderr)
        assert result.stdout == ""
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        assert lines[0].startswith(f"CommandError: {kind}: ")
        assert "Traceback" not in result.stderr
        assert secret not in result.stderr


def test_the_example_project_serves_cached_pages_and_sessions(memcachier_url: str) -> None:
    script = (
        "from django.test import Client\n"
        "c = Client()\n"
        "first, second = c.get('/').content, c.get('/').content\n"
        "assert first == second, (first, second)\n"
        "print(first.decode().strip())\n"
        "print(c.get('/visits/').content.decode().strip(), c.get('/visits/').content.decode())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEMCACHIER_", "IRON_"))}
    env["CACHEOPS_URL"] = memcachier_url
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, str(MANAGE), "shell", "--verbosity", "0", "-c", script],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "cached for 30 s in memcachier://cacheops:***@" in lines[0]
    assert lines[1].split() == ["visits:", "1", "visits:", "2"]
    assert AUTH_PASSWORD not in result.stdout + result.stderr
