"""Redaction masks a secret where it stands as a credential, and nowhere else."""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING

import pytest

from cacheops.admin.memcachier import MemCachierAPI
from cacheops.errors import AuthenticationError
from cacheops.redact import BARE_MIN_LENGTH, redact

if TYPE_CHECKING:
    from cacheops.testing.memcachier_api import MemCachierAPIServer
from cacheops.testing.memcachier_api import MemCachierAPIServer

LONG = "a28d6403c20ac1dfc4680114d15f8c0c"


@pytest.mark.parametrize(
    ("text", "secret", "redacted"),
    [
        ("memcachier://user:wrong@host:11211", "wrong", "memcachier://user:***@host:11211"),
        ("echo OAuth wrong", "wrong", "echo OAuth ***"),
        ("Authorization: Bearer wrong.", "wrong", "Authorization: Bearer ***."),
        ("Basic dXNlcjpwYXNz", "dXNlcjpwYXNz", "Basic ***"),
        ("GET /x?token=wrong&page=1", "wrong", "GET /x?token=***&page=1"),
        ('{"password": "wrong"}', "wrong", '{"password": "***"}'),
        ("api_key: wrong", "wrong", "api_key: ***"),
        ("user:a%20b@host", "a b", "user:***@host"),  # percent-encoded, as in a URL
        (f"echo {LONG} and x{LONG}", LONG, "echo *** and x***"),  # long: everywhere
    ],
)
def test_a_secret_in_a_credential_position_is_masked(text: str, secret: str, redacted: str) -> None:
    assert redact(text, [secret]) == redacted


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("the password is wrong", "wrong"),
        ("Unauthorized: the OAuth token is either not provided or invalid.", "invalid"),
        ("password=wrongful", "wrong"),  # another value, not the secret
        ("wrong token", "wrong"),
        ("You are not authorized to perform this action.", "authorized"),
        ("no secrets here", ""),
    ],
)
def test_a_secret_that_is_a_plain_word_in_prose_is_left_alone(text: str, secret: str) -> None:
    assert len(secret) < BARE_MIN_LENGTH
    assert redact(text, [secret, None]) == text


def test_a_longer_secret_is_masked_before_its_parts() -> None:
    password = f"user {LONG}"
    assert redact(f"login=user%20{LONG}", [password, LONG]) == "login=***"


def test_a_password_that_is_a_word_of_the_servers_message_is_not_masked_there(
    memcachier_api: MemCachierAPIServer,
) -> None:
    # The local MemCachier API answers a wrong password with "Unauthorized to access
    # cache with this ID."; a password equal to one of its words must not mask it.
    username, _ = memcachier_api.primary_credentials
    api = MemCachierAPI(
        username, "Unauthorized", cache_id=memcachier_api.cache_id, base_url=memcachier_api.base_url
    )
    with api, pytest.raises(AuthenticationError) as info:
        api.info()
    assert info.value.server_message == "Unauthorized to access cache with this ID."
    token = base64.b64encode(f"{username}:Unauthorized".encode()).decode()
    assert token not in str(info.value)
