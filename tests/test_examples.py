"""The README's demo command, run as a user runs it: no configuration at all; and the
examples' Procfiles, whose commands are run as Heroku runs them, from the example's folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import cacheops

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
DEMO = EXAMPLES / "demo.py"
DEPLOYABLE = {"django_project": "cacheops[django]", "flask_app": "cacheops[flask]"}

# Calls the WSGI callable a Procfile's web line names, as gunicorn would, with GET /.
SERVE_ONE_REQUEST = """
import importlib, sys, wsgiref.util
module, _, attr = sys.argv[1].partition(":")
application = getattr(importlib.import_module(module), attr or "application")
environ = {}
wsgiref.util.setup_testing_defaults(environ)
seen = []
body = b"".join(application(environ, lambda status, headers, exc=None: seen.append(status)))
print(seen[0])
print(body.decode())
"""


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_", "DJANGO_", "PYTHONPATH"))
    }
    return {**env, **extra}


def _procfile(folder: Path) -> dict[str, str]:
    lines = (folder / "Procfile").read_text().splitlines()
    processes = dict(line.split(":", 1) for line in lines if line.strip())
    return {name.strip(): command.strip() for name, command in processes.items()}


def test_demo_runs_the_same_worker_on_every_local_backend() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CACHEOPS_", "MEMCACHIER_", "IRON_"))
    }
    result = subprocess.run(
        [sys.executable, str(DEMO)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for section in (
        "in-process memory cache",
        "local IronCache-compatible server",
        "MemCachier's login",
    ):
        assert section in out
    assert out.count("10 from cache, 0 computed") == 3
    assert out.count("0 from cache, 10 computed") == 3
    assert out.count("jobs done (atomic counter): 10") == 3
    assert out.count("is now None") == 3
    assert "demo-password" not in out + result.stderr


@pytest.mark.parametrize("example", sorted(DEPLOYABLE))
def test_the_release_phase_flushes_the_cache_with_the_console_script(
    example: str, memcached_url: str
) -> None:
    folder = EXAMPLES / example
    release = _procfile(folder)["release"]
    assert release == "cacheops flush"
    scripts = {ep.name for ep in entry_points(group="console_scripts")}
    assert "cacheops" in scripts and shutil.which("cacheops") is not None
    cache = cacheops.connect(memcached_url)
    cache.put("before-deploy", "stale")
    result = subprocess.run(
        release.split(),
        cwd=folder,
        env=_clean_environment(CACHEOPS_URL=memcached_url),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert cache.get("before-deploy") is None


@pytest.mark.parametrize("example", sorted(DEPLOYABLE))
def test_the_web_process_names_a_wsgi_app_that_serves_the_example(example: str) -> None:
    folder = EXAMPLES / example
    program, target = _procfile(folder)["web"].split()
    assert program == "gunicorn"
    requirements = (folder / "requirements.txt").read_text().split()
    assert any(r.startswith(DEPLOYABLE[example]) for r in requirements)
    assert any(r.startswith("gunicorn") for r in requirements)
    result = subprocess.run(
        [sys.executable, "-c", SERVE_ONE_REQUEST, target],
        cwd=folder,
        env=_clean_environment(CACHEOPS_URL="memory://", PYTHONPATH=str(folder)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    status, _, body = result.stdout.partition("\n")
    assert status == "200 OK", result.stdout + result.stderr
    assert "memory://" in body  # the page names the cache it came from


def test_the_readme_set_up_matches_the_project() -> None:
    """A fresh Debian machine refuses pip outside a venv; the README's Python and its tox
    line must match pyproject.toml."""
    import tomllib

    root = EXAMPLES.parent
    readme = (root / "README.md").read_text()
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert readme.index("python3 -m venv .venv && . .venv/bin/activate") < readme.index(
        "pip install -e . && python examples/demo.py"
    )
    minimum = project["requires-python"].removeprefix(">=")
    assert f"Python {minimum} or newer" in readme
    if "`tox`" in readme:
        assert any(r.startswith("tox") for r in project["optional-dependencies"]["dev"])
