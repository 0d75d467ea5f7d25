"""What every part of the suite shares: the backend factory, the per-backend switches and
the fixtures built on them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import ClassVar

import pytest

from ...backend import Backend

MakeBackend = Callable[..., Backend]


class ContractBase:
    """The switches a backend sets and the fixtures every part of the suite uses."""

    #: test name -> why this backend cannot pass it (documented in the contract table).
    expected_failures: ClassVar[Mapping[str, str]] = {}
    #: Whether another process sees this cache (False for an in-process store).
    shared_across_processes: ClassVar[bool] = True
    #: Whether keys outside the portable rule (spaces, non-ASCII) are refused. A backend
    #: that can carry any printable str sets it False and must keep such keys distinct.
    portable_keys_only: ClassVar[bool] = True
    #: Seconds to wait past a 1-second ttl before it must have expired.
    expiry_wait: ClassVar[float] = 2.2

    @pytest.fixture
    def make_backend(self) -> MakeBackend:
        raise NotImplementedError("a conformance test class must provide make_backend")

    @pytest.fixture(autouse=True)
    def _expected_failure(self, request: pytest.FixtureRequest) -> None:
        reason = self.expected_failures.get(request.function.__name__)
        if reason:
            request.node.add_marker(pytest.mark.xfail(reason=reason, strict=True))

    @pytest.fixture
    def backend(self, make_backend: MakeBackend) -> Iterator[Backend]:
        backend = make_backend()
        backend.clear()
        yield backend
        backend.close()


__all__ = ["ContractBase", "MakeBackend"]
