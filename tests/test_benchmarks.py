"""Each benchmark runs to its summary with tiny settings (its own process: the Django one
configures Django's settings). This checks that they work, not how fast anything is: the
figures come from full runs, see benchmarks/README.md."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

RUNS = {
    "aio_ironcache_bench": ["--rounds", "1", "--ops", "1", "--rtt-ms", "0.2"],
    "aio_bench": ["--rounds", "1", "--concurrency", "20", "--connections", "2"],
    "memcache_bench": ["--rounds", "1", "--ops", "20", "--rtt-ms", "0.2"],
    "ironcache_bench": ["--rounds", "1", "--ops", "10", "--rtt-ms", "0.2", "--no-tls"],
    "django_bench": ["--rounds", "1", "--ops", "20"],
    "stampede_bench": [
        *("--duration", "1", "--outage-duration", "0.6", "--ttl", "0.25"),
        *("--compute-ms", "20", "--processes", "2", "--threads", "2"),
    ],
}


@pytest.mark.parametrize("name", sorted(RUNS))
def test_benchmark_runs_to_its_summary(name: str) -> None:
    done = subprocess.run(
        [sys.executable, f"benchmarks/{name}.py", *RUNS[name]],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    summary = done.stdout[done.stdout.index("summary") :]
    assert re.search(r"\d+\.\d\dx", summary), summary


def test_every_benchmark_is_covered() -> None:
    found = {path.stem for path in (ROOT / "benchmarks").glob("*_bench.py")}
    assert found == set(RUNS)
