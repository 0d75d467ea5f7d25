"""The real `cacheops` process: output, exit codes, and no secret anywhere."""

from __future__ import annotations

import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import quote

import pytest

import cacheops
import cacheops.config
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
from cacheops.testing.memcachier_api import MemCachierAPIServer
from cacheops.testing.net import free_port
from cacheops.testing.plugin import AUTH_PASSWORD, AUTH_USER


def clean_environment() -> dict[str, str]:
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_"))
    }


def run(
    *args: str, url: str | None = None, env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    environ = clean_environment()
    environ.update(env or {})
    if url is not None:
        environ["CACHEOPS_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "cacheops.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=60,
        cwd=cwd,
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
    # The analytics API's v1 /login answers 403 both to a wrong password and to a credential
    # without the API capability, so flush tries the memcache protocol, whose login says
    # which it is.
    refused = run("flush", url=url)
    assert refused.returncode == EXIT_CODES[AuthenticationError], refused.stderr
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


# -- hardening -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "hint"),
    [
        ({}, "looked for CACHEOPS_URL"),
        ({"MEMCACHIER_SERVER": "127.0.0.1:11211"}, "did you mean MEMCACHIER_SERVERS?"),
        ({"IRON_TOKEN": "tok"}, "IRON_PROJECT_ID is not"),
        ({"CACHEOPS_URL": ""}, "CACHEOPS_URL is set but empty"),
        (
            {"MEMCACHIER_SERVERS": "127.0.0.1:11211", "MEMCACHIER_USERNAME": "u"},
            "MEMCACHIER_PASSWORD is not",
        ),
    ],
)
def test_no_usable_configuration_is_an_error_not_a_fresh_memory_cache(
    tmp_path: Path, env: dict[str, str], hint: str
) -> None:
    for command in (["flush"], ["stats", "--json"]):
        result = run(*command, env={**env, "HOME": str(tmp_path)}, cwd=str(tmp_path))
        assert result.returncode == EXIT_CODES[ConfigurationError], result.stdout
        assert result.stdout == ""
        assert hint in result.stderr and len(result.stderr.splitlines()) == 1
    # an explicit memory:// is what the user asked for
    assert run("flush", url="memory://", cwd=str(tmp_path)).returncode == 0


def test_json_goes_before_or_after_the_command(memcachier_url: str, memcachier_api: object) -> None:
    for command in (["stats"], ["info"], ["flush"], ["credentials", "list"]):
        before = run("--json", *command, url=memcachier_url)
        after = run(*command, "--json", url=memcachier_url)
        assert before.returncode == after.returncode == 0, (before.stderr, after.stderr)
        first, second = json.loads(before.stdout), json.loads(after.stdout)
        assert type(first) is type(second)
        if isinstance(first, dict):
            assert set(first) == set(second)
    flushed = json.loads(run("flush", "--json", url=memcachier_url).stdout)
    assert flushed == {"cache": None, "location": flushed["location"], "flushed": True}


def test_flush_without_the_api_capability_uses_the_protocol(
    memcachier_url: str, memcachier_api: MemCachierAPIServer
) -> None:
    created = json.loads(run("--json", "credentials", "create", url=memcachier_url).stdout)
    updated = run("credentials", "update", created["username"], "--no-api", url=memcachier_url)
    assert updated.returncode == 0, updated.stderr
    host_and_query = memcachier_url.split("@", 1)[1]
    no_api = (
        f"memcachier://{created['username']}:{quote(created['password'], safe='')}@{host_and_query}"
    )
    assert run("stats", url=no_api).returncode == EXIT_CODES[PermissionDenied]
    run("put", "stale", "x", url=memcachier_url)
    flushed = run("flush", url=no_api)
    assert flushed.returncode == 0, flushed.stderr
    assert flushed.stdout.startswith("flushed memcachier://")
    lines = flushed.stderr.splitlines()
    assert len(lines) == 1 and "memcache protocol's flush_all" in lines[0], flushed.stderr
    assert "no api capability" in lines[0]
    no_secret(flushed, created["password"])
    # gone from the real memcached (flush_all counted there; get is a protocol read)
    assert memcachier_api.memcached.stats()["cmd_flush"] != "0"
    assert run("get", "stale", url=memcachier_url).returncode == EXIT_CODES[KeyNotFound]


def _serve(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    """``cacheops serve`` in text mode, and its stdout lines up to the last export."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "cacheops.cli", "serve", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_environment(),
    )
    assert proc.stdout is not None
    watchdog = threading.Timer(30, proc.kill)  # never wait forever for a line
    watchdog.start()
    lines: list[str] = []
    try:
        while not lines or not lines[-1].startswith("export MEMCACHIER_API_URL="):
            line = proc.stdout.readline()
            if not line:
                proc.kill()
                raise AssertionError(f"serve stopped after printing {lines}")
            lines.append(line.rstrip("\n"))
    finally:
        watchdog.cancel()
    return proc, lines


def _stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


def test_serve_prints_export_lines_that_work_in_a_shell() -> None:
    proc, lines = _serve()
    try:
        url = next(line.split(": ", 1)[1] for line in lines if line.startswith("# memcachier: "))
        api = next(line.split(": ", 1)[1] for line in lines if line.startswith("# memcachier_api"))
        password = cacheops.config.parse_url(url).password
        assert password is not None and " " in password  # the quoting matters
        printed = "\n".join(lines)
        echo = subprocess.run(
            [
                "bash",
                "-c",
                printed + '\nprintf "%s\\n" "$MEMCACHIER_PASSWORD" "$MEMCACHIER_API_URL"',
            ],
            capture_output=True,
            text=True,
            env=clean_environment(),
            check=True,
        )
        assert echo.stdout.splitlines() == [password, api]
        # The exported variables alone reach the local analytics API, not MemCachier's host.
        cacheops.connect(url).put("served", "yes")
        command = f"{sys.executable} -m cacheops.cli"
        script = f"{printed}\n{command} --json info && {command} flush"
        used = subprocess.run(
            ["bash", "-c", script], capture_output=True, text=True, env=clean_environment()
        )
        assert used.returncode == 0, used.stderr
        info_line, flushed = used.stdout.splitlines()
        assert json.loads(info_line)["api_url"] == api
        assert flushed.startswith("flushed memcachier://dev:***@")
        assert "warning" not in used.stderr  # the API flushed: no protocol fallback
        assert cacheops.connect(url).get("served") is None
    finally:
        _stop(proc)


def test_serve_on_ipv6_loopback_from_a_given_port() -> None:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        pytest.skip("no IPv6 loopback (::1) on this machine")
    base = free_port("::1")
    proc, lines = _serve("--host", "::1", "--port", str(base))
    try:
        exports = dict(
            shlex.split(line)[1].split("=", 1) for line in lines if line.startswith("export ")
        )
        assert exports["MEMCACHIER_SERVERS"] == f"[::1]:{base}"
        assert exports["MEMCACHIER_API_URL"] == f"http://[::1]:{base + 1}"
        iron = next(line.split(": ", 1)[1] for line in lines if line.startswith("# ironcache: "))
        assert f"@[::1]:{base + 2}/" in iron
        url = next(line.split(": ", 1)[1] for line in lines if line.startswith("# memcachier: "))
        backend = cacheops.connect(url)
        backend.put("v6", "yes")
        assert backend.get("v6") == "yes"
        assert backend.admin.stats().items == 1  # through the analytics API on ::1
    finally:
        _stop(proc)


def test_serve_refuses_a_port_that_is_taken() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        result = run("serve", "--port", str(taken.getsockname()[1]))
    assert result.returncode == EXIT_CODES[ConfigurationError], result.stderr
    assert "Traceback" not in result.stderr


MANAGE = Path(__file__).resolve().parents[1] / "examples" / "django_project" / "manage.py"
FLASK_APP = (
    "from flask import Flask\nfrom flask_cacheops import Cacheops\n"
    "app = Flask('shapes')\nCacheops(app)\n"
)


def test_cacheops_manage_py_and_flask_print_the_same(memcachier_url: str, tmp_path: Path) -> None:
    """One formatter and one JSON shape for the same cache, whichever command prints it."""
    (tmp_path / "shapes.py").write_text(FLASK_APP)
    env = {**clean_environment(), "CACHEOPS_URL": memcachier_url}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    commands = {
        "cacheops": [sys.executable, "-m", "cacheops.cli"],
        "django": [sys.executable, str(MANAGE), "cacheops"],
        "flask": [sys.executable, "-m", "flask", "--app", "shapes", "cacheops"],
    }

    def output(name: str, *args: str) -> str:
        result = subprocess.run(
            [*commands[name], *args], capture_output=True, text=True, env=env, cwd=tmp_path
        )
        assert result.returncode == 0, (name, args, result.stderr)
        no_secret(result, AUTH_PASSWORD)
        return result.stdout

    for args in (["stats", "--json"], ["flush", "--json"]):
        records = {name: json.loads(output(name, *args)) for name in commands}
        assert records["cacheops"]["cache"] is None
        assert records["django"]["cache"] == records["flask"]["cache"] == "default"
        shapes = {name: sorted(record) for name, record in records.items()}
        assert shapes["cacheops"] == shapes["django"] == shapes["flask"], shapes
        assert len({record["location"] for record in records.values()}) == 1
    texts = {name: output(name, "stats").splitlines() for name in commands}
    names = {name: [line.split()[0] for line in lines] for name, lines in texts.items()}
    assert names["django"] == names["flask"] == ["cache", *names["cacheops"]]
    assert names["cacheops"][:3] == ["location", "backend", "hit_rate"]
    flushed = {name: output(name, "flush").strip() for name in commands}
    location = records["cacheops"]["location"]
    assert flushed["cacheops"] == f"flushed {location}"
    assert flushed["django"] == flushed["flask"] == f"flushed default ({location})"
