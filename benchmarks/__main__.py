"""Run every benchmark in turn: ``python -m benchmarks``."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path


def main() -> None:
    here = Path(__file__).parent
    for module in sorted(m.name for m in pkgutil.iter_modules([str(here)])):
        if module.endswith("_bench"):
            print(f"\n######## {module}")
            importlib.import_module(f"benchmarks.{module}").main([])


if __name__ == "__main__":
    main()
