"""When to resend a request, and after how long: pure decisions, no I/O and no clock.

The sending loop (:class:`~cacheops.http.client.HTTPClient`, or any other transport, sync
or async) reports what an attempt came to as an :class:`Outcome` and asks :func:`next_wait`
whether to try again. Everything that varies comes in as an argument (the attempts made,
the time left, the current date, a random draw for the jitter), so the same decision is
made by every transport and can be tested without sockets or sleeping.

The rules:

- Retried, for every method: an answer that means "not applied, come back later" (429,
  503) and a failure before the request was sent (connection refused, connect timeout).
- Retried only when the request is idempotent: a failure after it was sent (no reply in
  time, connection closed, reply cut off). A non-idempotent request may have been
  applied, so it is never resent.
- Bounded by count (``retries``) and by time: no wait runs, and so no attempt starts,
  past ``retry_deadline``. A wait that would end past it is not started at all.
- The wait before retry *n* is ``backoff_factor * 2**(n-1)`` plus up to
  ``backoff_factor`` of jitter, unless the server asked for a wait with ``Retry-After``
  (RFC 9110 §10.2.3: whole seconds, or an HTTP-date). No wait is longer than
  :data:`MAX_WAIT`. A ``Retry-After`` of 0, or a date already past, asks for no
  particular wait: the backoff applies, so that a busy server is not hammered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from .options import HTTPOptions

__all__ = [
    "IDEMPOTENT_METHODS",
    "MAX_WAIT",
    "RETRY_STATUSES",
    "Outcome",
    "backoff",
    "next_wait",
    "parse_retry_after",
    "status_outcome",
]

#: Methods that may be resent after a broken connection unless the caller says otherwise.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
#: Answers that mean "not applied, come back later".
RETRY_STATUSES = frozenset({429, 503})
#: The longest single wait, whatever the backoff or the server asks for (seconds).
MAX_WAIT = 120.0

_DELAY_SECONDS = re.compile(r"[0-9]+")  # RFC 9110 delay-seconds: 1*DIGIT, ASCII only


@dataclass(frozen=True)
class Outcome:
    """What one attempt came to, as far as resending it goes."""

    retryable: bool  # another attempt may succeed
    applied: bool  # the request may have reached the server and been applied
    retry_after: str | None = None  # the server's Retry-After header, as sent
    # The service looks unreachable (no connection, no reply in time, 503): a request that
    # ends so opens the client's circuit breaker (cacheops.http.breaker).
    outage: bool = False


def status_outcome(status: int, retry_after: str | None = None) -> Outcome | None:
    """The outcome of an answer with ``status``: None when the answer is final (the
    caller returns or raises it), else an outcome that may be retried."""
    if status not in RETRY_STATUSES:
        return None
    # A 429 is the service answering (about this client): only a 503 says it is down.
    return Outcome(retryable=True, applied=False, retry_after=retry_after, outage=status == 503)


def parse_retry_after(value: str, now: datetime) -> float | None:
    """Seconds to wait by a ``Retry-After`` value, or None when it says nothing usable.

    ``delay-seconds`` (a non-negative integer) or an ``HTTP-date`` (IMF-fixdate and the
    two obsolete forms, always GMT), per RFC 9110. A date in the past is 0. Anything else
    (fractions, signs, words) is ignored. ``now`` is an aware datetime.
    """
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        # Digits beyond what any wait could use are not converted (nor is a 5000-digit
        # number, which int() refuses).
        return MAX_WAIT if len(text) > 9 else float(min(int(text), MAX_WAIT))
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # "-0000" or an asctime date: HTTP-dates are GMT
        when = when.replace(tzinfo=timezone.utc)
    return min(max(0.0, (when - now).total_seconds()), MAX_WAIT)


def backoff(options: HTTPOptions, attempts: int, jitter: float = 0.0) -> float:
    """The wait after ``attempts`` failed attempts; ``jitter`` is a draw from [0, 1)."""
    factor = options.backoff_factor
    return min(MAX_WAIT, factor * 2.0 ** (attempts - 1) + jitter * factor)


def next_wait(
    options: HTTPOptions,
    outcome: Outcome,
    *,
    attempts: int,
    idempotent: bool,
    time_left: float,
    now: datetime,
    jitter: float = 0.0,
) -> float | None:
    """Seconds to wait before resending, or None when the request is not resent.

    ``attempts``: the attempts made so far (the one that came to ``outcome`` included);
    ``time_left``: seconds until ``retry_deadline``; ``now``: the current date (for an
    HTTP-date ``Retry-After``); ``jitter``: a random draw from [0, 1).
    """
    if not outcome.retryable or (outcome.applied and not idempotent):
        return None
    if attempts > options.retries:
        return None
    asked = None
    if outcome.retry_after is not None:
        asked = parse_retry_after(outcome.retry_after, now)
    planned = asked or backoff(options, attempts)
    if planned > time_left:
        return None  # it would end past the deadline: give up now rather than sleep and fail
    if asked:
        return asked
    # The deadline was checked before the jitter, which only ever adds to the wait.
    return min(backoff(options, attempts, jitter), time_left)
