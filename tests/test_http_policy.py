"""The retry policy of the HTTP layer, on its own: pure functions, so no server and no
sleeping. (tests/test_http.py runs the same rules over real loopback HTTP.)"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from cacheops.http import HTTPOptions
from cacheops.http.mapping import FAILURES
from cacheops.http.policy import (
    MAX_WAIT,
    Outcome,
    backoff,
    next_wait,
    parse_retry_after,
    status_outcome,
)

NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
OPTIONS = HTTPOptions(retries=3, retry_deadline=10.0, backoff_factor=0.1)
UNAVAILABLE = Outcome(retryable=True, applied=False)  # a 503, a refused connection
LOST = Outcome(retryable=True, applied=True)  # sent, then no reply / a cut reply
FINAL = Outcome(retryable=False, applied=True)  # a TLS failure


def wait(outcome: Outcome = UNAVAILABLE, **given: object) -> float | None:
    args: dict[str, object] = {
        "attempts": 1,
        "idempotent": True,
        "time_left": 10.0,
        "now": NOW,
        "jitter": 0.0,
    }
    args.update(given)
    return next_wait(OPTIONS, outcome, **args)  # type: ignore[arg-type]


# -- Retry-After, as RFC 9110 10.2.3 has it ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("  7 ", 7.0),
        ("120", 120.0),
        ("007", 7.0),
        ("100000", MAX_WAIT),  # capped
        ("9" * 5000, MAX_WAIT),  # more digits than int() takes: capped, not an error
        ("Fri, 01 Mar 2024 12:00:05 GMT", 5.0),  # IMF-fixdate
        ("Friday, 01-Mar-24 12:00:30 GMT", 30.0),  # obsolete RFC 850 form
        ("Fri Mar  1 12:01:00 2024", 60.0),  # obsolete asctime form, GMT
        ("Fri, 01 Mar 2024 11:59:00 GMT", 0.0),  # in the past
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),
        ("Sat, 01 Mar 2025 12:00:00 GMT", MAX_WAIT),  # a year away: capped
    ],
)
def test_retry_after_values_the_rfc_defines(value: str, seconds: float) -> None:
    assert parse_retry_after(value, NOW) == seconds


@pytest.mark.parametrize(
    "value", ["", " ", "0.5", "1.5", "-1", "+1", "1e3", "\u0661", "soon", "5 seconds", "0x10"]
)
def test_retry_after_values_outside_the_rfc_are_ignored(value: str) -> None:
    # Fractions, signs and non-ASCII digits are not delay-seconds; none is a date either.
    assert parse_retry_after(value, NOW) is None


# -- what is retried -----------------------------------------------------------------------


@pytest.mark.parametrize("status", [200, 201, 204, 400, 401, 403, 404, 413, 500, 502, 504])
def test_only_429_and_503_may_be_retried(status: int) -> None:
    assert status_outcome(status, "1") is None


@pytest.mark.parametrize("status", [429, 503])
def test_429_and_503_mean_not_applied(status: int) -> None:
    # Only a 503 says the service is down (it opens the breaker); a 429 is its answer.
    expected = Outcome(retryable=True, applied=False, retry_after="2", outage=status == 503)
    assert status_outcome(status, "2") == expected


def test_not_applied_is_retried_for_every_method() -> None:
    assert wait(UNAVAILABLE, idempotent=True) == pytest.approx(0.1)
    assert wait(UNAVAILABLE, idempotent=False) == pytest.approx(0.1)


def test_a_request_that_may_have_been_applied_is_resent_only_if_idempotent() -> None:
    assert wait(LOST, idempotent=True) == pytest.approx(0.1)
    assert wait(LOST, idempotent=False) is None


def test_a_failure_another_attempt_cannot_mend_is_not_retried() -> None:
    assert wait(FINAL, idempotent=True) is None


def test_the_failure_table_agrees_with_the_policy() -> None:
    # What was never sent can have applied nothing, so it is retried whatever the method.
    for _, failure in FAILURES:
        if not failure.sent and failure.transient:
            assert wait(failure.outcome, idempotent=False) is not None, failure
        if failure.sent:
            assert wait(failure.outcome, idempotent=False) is None, failure


# -- how many and how long -----------------------------------------------------------------


def test_retries_are_bounded_by_count() -> None:
    assert wait(attempts=3) is not None  # the third retry follows the third attempt
    assert wait(attempts=4) is None
    assert (
        next_wait(
            HTTPOptions(retries=0), UNAVAILABLE, attempts=1, idempotent=True, time_left=9, now=NOW
        )
        is None
    )


def test_backoff_grows_exponentially_with_jitter_from_the_first_retry() -> None:
    for attempts, low in ((1, 0.1), (2, 0.2), (3, 0.4), (4, 0.8)):
        assert backoff(OPTIONS, attempts) == pytest.approx(low)
        assert backoff(OPTIONS, attempts, jitter=0.5) == pytest.approx(low + 0.05)
        assert backoff(OPTIONS, attempts, jitter=0.999) < low + 0.1
    assert backoff(OPTIONS, 40) == MAX_WAIT
    assert wait(attempts=2, jitter=0.5) == pytest.approx(0.25)


def test_no_wait_runs_past_the_deadline() -> None:
    # A wait that would end past it is not started; the jitter is cut to what is left.
    assert wait(attempts=3, time_left=0.39) is None
    assert wait(attempts=3, time_left=0.45, jitter=0.9) == pytest.approx(0.45)
    assert wait(time_left=0.0) is None
    assert wait(time_left=-1.0) is None


def test_retry_after_is_the_wait_when_it_asks_for_one() -> None:
    assert wait(Outcome(True, False, "2"), jitter=0.9) == 2.0  # exact: no jitter added
    later = (NOW + timedelta(seconds=3)).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert wait(Outcome(True, False, later)) == 3.0


def test_a_retry_after_past_the_deadline_gives_up_at_once() -> None:
    assert wait(Outcome(True, False, "30"), time_left=2.0) is None
    assert wait(Outcome(True, False, "100000"), time_left=200.0) == MAX_WAIT


@pytest.mark.parametrize("value", ["0", "1.5", "soon", "Sun, 06 Nov 1994 08:49:37 GMT"])
def test_a_retry_after_asking_no_wait_or_unreadable_falls_back_to_backoff(value: str) -> None:
    assert wait(Outcome(True, False, value), attempts=2) == pytest.approx(0.2)
