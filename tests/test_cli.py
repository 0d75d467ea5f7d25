"""The real `cacheops` process: output, exit codes, and no secret anywhere."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from urllib.parse import quote

import pytest

import cacheops
from cacheops.cli import EXIT_CODES
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    ConfigurationError,
    InvalidKey,
    KeyNotFound,
    NotNumeric,
    NotSupported,
    PermissionDenied,
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


def test_wrong_password_dead_server_and_bad_url(
    memcached_auth_server: MemcachedServer, memcachier_url: str
) -> None:
    wrong = f"{AUTH_USER} not-the-pa55word"
    url = memcachier_url.replace(
        quote(f"{AUTH_USER} {AUTH_PASSWORD}", safe=""), quote(wrong, safe="")
    )
    assert url != memcachier_url
    refused = run("get", "k", url=url)  # the memcache login
    assert refused.returncode == EXIT_CODES[AuthenticationError], refused.stderr
    no_secret(refused, "not-the-pa55word")
    # The analytics API finds the cache id with v1 /login, which answers 403 both to a wrong
    # password and to a credential without the API capability: the message says so.
    refused = run("flush", url=url)
    assert refused.returncode == EXIT_CODES[PermissionDenied], refused.stderr
    assert "password is wrong" in refused.stderr
    no_secret(refused, "not-the-pa55word")

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


# -- MemCachier credentials, through the local analytics API ---------------------------------


def test_credentials_lifecycle(memcachier_url: str, memcachier_api: object) -> None:
    listed = run("credentials", "list", url=memcachier_url)
    assert listed.returncode == 0, listed.stderr
    assert AUTH_USER in listed.stdout and "primary" in listed.stdout
    no_secret(listed, AUTH_PASSWORD)

    created = json.loads(run("--json", "credentials", "create", url=memcachier_url).stdout)
    new_user, new_password = created["username"], created["password"]
    assert created["api"] and created["flush"] and created["write"]
    # the new credential works over the memcache protocol too
    host = memcachier_url.split("@", 1)[1].split("?", 1)[0]
    fresh = run(
        "put", "k", "v", url=f"memcachier://{new_user}:{quote(new_password, safe='')}@{host}"
    )
    assert fresh.returncode == 0, fresh.stderr

    updated = run("credentials", "update", new_user, "--no-flush", url=memcachier_url)
    assert updated.returncode == 0, updated.stderr
    rows = json.loads(run("--json", "credentials", "list", url=memcachier_url).stdout)
    mine = next(r for r in rows if r["username"] == new_user)
    assert (mine["write"], mine["flush"], mine["api"]) == (True, False, True)

    promoted = run("credentials", "promote", new_user, url=memcachier_url)
    assert promoted.returncode == 0, promoted.stderr
    rows = json.loads(run("--json", "credentials", "list", url=memcachier_url).stdout)
    assert [r["username"] for r in rows if r["primary"]] == [new_user]
    run("credentials", "promote", AUTH_USER, url=memcachier_url)

    deleted = run("credentials", "delete", new_user, url=memcachier_url)
    assert deleted.returncode == 0, deleted.stderr
    rows = json.loads(run("--json", "credentials", "list", url=memcachier_url).stdout)
    assert new_user not in [r["username"] for r in rows]


def test_flush_without_the_flush_capability_is_refused_and_flushes_nothing(
    memcachier_url: str, memcachier_api: object
) -> None:
    created = json.loads(run("--json", "credentials", "create", url=memcachier_url).stdout)
    run("credentials", "update", created["username"], "--no-flush", url=memcachier_url)
    run("put", "survivor", "yes", url=memcachier_url)
    host_and_query = memcachier_url.split("@", 1)[1]
    limited = (
        f"memcachier://{created['username']}:{quote(created['password'], safe='')}@{host_and_query}"
    )
    refused = run("flush", url=limited)
    assert refused.returncode == EXIT_CODES[PermissionDenied], refused.stderr
    assert "flush" in refused.stderr
    no_secret(refused, created["password"])
    assert run("get", "survivor", url=memcachier_url).stdout == "yes\n"


def test_credentials_need_memcachier() -> None:
    result = run("credentials", "list", url="memory://")
    assert result.returncode == EXIT_CODES[NotSupported]
    assert "memcachier://" in result.stderr


def test_serve_starts_the_local_servers_and_stops_on_ctrl_c() -> None:
    environ = {
        k: v for k, v in os.environ.items() if not k.startswith(("CACHEOPS_", "MEMCACHIER_"))
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cacheops.cli", "--json", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        assert proc.stdout is not None
        urls = json.loads(proc.stdout.readline())
        memcachier = cacheops.connect(urls["memcachier"])
        memcachier.put("served", "yes")
        assert memcachier.get("served") == "yes"
        assert memcachier.admin.stats().items == 1
        iron = cacheops.connect(urls["ironcache"])
        iron.put("served", 1)
        assert iron.increment("served") == 2
        port = int(urls["MEMCACHIER_SERVERS"].rsplit(":", 1)[1])
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
    finally:
        if proc.poll() is None:
            proc.kill()
