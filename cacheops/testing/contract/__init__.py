"""The backend conformance suite: the executable definition of the Backend contract.

Any backend, ours or a third party's, proves it keeps the contract by subclassing
:class:`BackendContract` in a test module and providing one fixture, ``make_backend``: a
factory that takes contract options (``key_prefix``, ``key_policy``, ``serializer``,
``secret``, ...) and returns a backend on the cache under test. Backends made by one
factory must reach the same cache, so two prefixes can be seen to stay apart::

    import pytest
    from cacheops.testing.contract import BackendContract

    class TestMyBackend(BackendContract):
        @pytest.fixture
        def make_backend(self, my_server):
            return lambda **options: MyBackend(my_server.address, **options)

Where a backend cannot honour part of the contract, it names the test in
``expected_failures`` with the reason; the test is then a strict xfail for that backend only,
so it fails loudly the day the backend starts to pass.

The suite is composed of parts, each a mixin pinning one side of the contract (its module
says which); :class:`BackendContract` is all of them, and what a backend subclasses.
"""

from __future__ import annotations

from .base import ContractBase, MakeBackend
from .compute import ComputeContract
from .keys import ADVERSARIAL_KEYS, BAD_KEYS, NON_PORTABLE_KEYS, KeysContract
from .lifecycle import LifecycleContract
from .values import VALUES, Point, ValuesContract
from .writes import WritesContract


class BackendContract(
    ValuesContract, KeysContract, WritesContract, ComputeContract, LifecycleContract
):
    """Subclass, provide ``make_backend``; every test here must pass."""


__all__ = [
    "ADVERSARIAL_KEYS",
    "BAD_KEYS",
    "NON_PORTABLE_KEYS",
    "VALUES",
    "BackendContract",
    "ComputeContract",
    "ContractBase",
    "KeysContract",
    "LifecycleContract",
    "MakeBackend",
    "Point",
    "ValuesContract",
    "WritesContract",
]
