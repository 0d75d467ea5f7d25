"""Reproducible benchmarks: cacheops against the peers named in the issues, side by side."""
