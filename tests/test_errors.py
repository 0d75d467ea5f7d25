"""The error tree: what each error says and what it is, for code that catches it."""

from __future__ import annotations

import pickle

import cacheops
from cacheops import errors


def test_errors_carry_context_in_their_message() -> None:
    exc = errors.AuthenticationError(
        "login refused", backend="memcachier", server="mc1:11211", server_message="CLIENT_ERROR"
    )
    assert str(exc) == (
        "login refused (backend=memcachier, server=mc1:11211, server said: 'CLIENT_ERROR')"
    )


def test_every_error_is_a_cache_error_and_the_value_errors_are_value_errors() -> None:
    for name in errors.__all__:
        assert issubclass(getattr(errors, name), cacheops.CacheError)
    for cls in (errors.InvalidKey, errors.ConfigurationError, errors.ValueTooLarge):
        assert issubclass(cls, ValueError)
    assert issubclass(errors.KeyNotFound, KeyError)
    assert issubclass(errors.UnknownOutcome, errors.BackendUnavailable)


def test_key_not_found_reads_like_a_sentence_not_a_repr() -> None:
    assert str(errors.KeyNotFound("no value under 'k'")) == "no value under 'k'"


def test_errors_survive_pickling_with_their_context() -> None:
    exc = errors.BackendUnavailable("down", backend="ironcache", status=503)
    copy = pickle.loads(pickle.dumps(exc))
    assert type(copy) is errors.BackendUnavailable
    assert (copy.backend, copy.status, str(copy)) == ("ironcache", 503, str(exc))
