"""The real `cacheops` process: output, exit codes, and no secret anywhere."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from urllib.parse import quote

import pytest

from cacheops.cli import EXIT_CODES
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    ConfigurationError,
    InvalidKey,
    KeyNotFound,
    NotNumeric,
)
from cacheops.testing.memcached import MemcachedServer
from cacheops.testing.net import free_port
from cacheops.testing.plugin import AUTH_PASSWORD, AUTH_USER


def run(
    *args: str, url: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_"))
    }
    environ.update(env or {})
    if url is not None:
        environ["CACHEOPS_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "cacheops.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
    )


def no_secret(result: subprocess.CompletedProcess[str], *secrets: str) -> None:
    for secret in secrets:
        assert secret not in result.stdout and secret not in result.stderr
    assert "Traceback" not in result.stderr


def test_put_get_incr_delete_round_trip(memcachier_url: str) -> None:
    assert run("put", "greeting", "hello", url=memcachier_url).returncode == 0
    got = run("get", "greeting", url=memcachier_url)
    assert (got.returncode, got.stdout) == (0, "hello\n")
    assert run("put", "n", "41", "--type", "int", url=memcachier_url).returncode == 0
    assert run("incr", "n", url=memcachier_url).stdout == "42\n"
    assert run("incr", "n", "-2", url=memcachier_url).stdout == "40\n"
    as_json = run("--json", "get", "n", url=memcachier_url)
    assert json.loads(as_json.stdout) == {"key": "n", "value": 40}
    assert run("delete", "greeting", url=memcachier_url).returncode == 0
    missing = run("get", "greeting", url=memcachier_url)
    assert missing.returncode == EXIT_CODES[KeyNotFound]
    assert missing.stderr.startswith("cacheops: KeyNotFound: no value under 'greeting'")
    no_secret(missing, AUTH_PASSWORD)


def test_url_option_overrides_the_environment(memcached_url: str) -> None:
    result = run("--url", memcached_url, "put", "k", "v", env={"CACHEOPS_URL": "bogus://"})
    assert result.returncode == 0


def test_flush_is_the_deploy_hook(
    memcachier_url: str, memcached_auth_server: MemcachedServer
) -> None:
    run("put", "stale", "x", url=memcachier_url)
    flushed = run("flush", url=memcachier_url)
    assert flushed.returncode == 0
    assert flushed.stdout.startswith("flushed memcachier://cacheops:***@")
    assert run("get", "stale", url=memcachier_url).returncode == EXIT_CODES[KeyNotFound]
    no_secret(flushed, AUTH_PASSWORD)


def test_stats_table_and_json(memcachier_url: str) -> None:
    run("put", "k", "v", url=memcachier_url)
    run("get", "k", url=memcachier_url)
    table = run("stats", url=memcachier_url)
    assert table.returncode == 0
    assert "hit_rate" in table.stdout and "memcachier" in table.stdout
    data = json.loads(run("--json", "stats", url=memcachier_url).stdout)
    assert data["hits"] >= 1 and len(data["servers"]) == 1
    info = run("--json", "info", url=memcachier_url)
    assert json.loads(info.stdout)["backend"] == "memcachier"
    no_secret(info, AUTH_PASSWORD)


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["get", "a b"], InvalidKey),
        (["incr", "text"], NotNumeric),
    ],
)
def test_bad_input_exit_codes(memcachier_url: str, args: list[str], error: type) -> None:
    run("put", "text", "not a number", url=memcachier_url)
    result = run(*args, url=memcachier_url)
    assert result.returncode == EXIT_CODES[error]
    assert result.stderr.count("\n") == 1
    no_secret(result, AUTH_PASSWORD)


def test_wrong_password_dead_server_and_bad_url(memcached_auth_server: MemcachedServer) -> None:
    wrong = f"{AUTH_USER} not-the-pa55word"
    url = f"memcachier://{AUTH_USER}:{quote(wrong, safe='')}@{memcached_auth_server.server}"
    result = run("stats", url=url)
    assert result.returncode == EXIT_CODES[AuthenticationError]
    no_secret(result, "not-the-pa55word")

    dead = run("get", "k", url=f"memcached://127.0.0.1:{free_port()}")
    assert dead.returncode == EXIT_CODES[BackendUnavailable]
    no_secret(dead)

    bad = run("flush", url="memcachier://user:hunter2@host:notaport")
    assert bad.returncode == EXIT_CODES[ConfigurationError]
    no_secret(bad, "hunter2")


def test_environment_discovery_of_memcachier(memcached_auth_server: MemcachedServer) -> None:
    user, password = memcached_auth_server.memcachier_credentials(AUTH_USER)
    env = {
        "MEMCACHIER_SERVERS": memcached_auth_server.server,
        "MEMCACHIER_USERNAME": user,
        "MEMCACHIER_PASSWORD": password,
    }
    assert run("put", "from-env", "yes", env=env).returncode == 0
    result = run("get", "from-env", env=env)
    assert result.stdout == "yes\n"
    no_secret(run("info", env=env), AUTH_PASSWORD)


def test_help_lists_exit_codes() -> None:
    result = run("--help")
    assert result.returncode == 0
    assert "13 KeyNotFound" in result.stdout.replace("\n", " ")
