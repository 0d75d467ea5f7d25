"""Test ground: real local servers, a pytest plugin, and the backend conformance suite.

- :mod:`cacheops.testing.contract`: the conformance suite every backend passes.
- :mod:`cacheops.testing.plugin`: pytest fixtures; enable with
  ``pytest_plugins = ["cacheops.testing.plugin"]`` in your ``conftest.py``.
"""

__all__: list[str] = []
