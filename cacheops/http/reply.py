"""An HTTP answer as the REST clients see it, and the hook that maps it to an error."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import CacheError

__all__ = ["MESSAGE_LIMIT", "ErrorHook", "Reply"]

#: The most characters of a server's words kept in a message.
MESSAGE_LIMIT = 300


@dataclass(frozen=True)
class Reply:
    """An HTTP answer: status, decoded JSON body (None when the body is not JSON) and
    headers."""

    status: int
    data: Any = None
    text: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def message(self) -> str | None:
        """The server's own words: ``{"msg": ...}`` when it sent one, else the start of
        the body."""
        if isinstance(self.data, dict) and isinstance(self.data.get("msg"), str):
            return str(self.data["msg"])[:MESSAGE_LIMIT]
        text = self.text.strip()
        return text[:MESSAGE_LIMIT] or None


#: ``hook(reply, method, path)``: a service-specific error for a non-2xx reply, or None
#: to fall through to the ``allow`` list and then to the standard mapping.
ErrorHook = Callable[[Reply, str, str], "CacheError | None"]
