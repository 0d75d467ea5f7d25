"""The README's demo command, run as a user runs it: no configuration at all."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "examples" / "demo.py"


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
