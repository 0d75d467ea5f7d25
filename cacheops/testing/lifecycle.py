"""The start/stop protocol every local server in :mod:`cacheops.testing` follows.

A server is started with ``start()`` (which returns the server, so that
``server = Server().start()`` reads naturally) and stopped with ``stop()``; used as a
context manager it is started on entry and stopped on exit, whatever happened inside.
"""

from __future__ import annotations

from types import TracebackType
from typing import TypeVar

__all__ = ["StartStop"]

_S = TypeVar("_S", bound="StartStop")


class StartStop:
    """Mixin: ``with server:`` calls :meth:`start` and, on the way out, :meth:`stop`.

    Subclasses implement both; ``start`` returns ``self``.
    """

    def start(self: _S) -> _S:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self: _S) -> _S:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
