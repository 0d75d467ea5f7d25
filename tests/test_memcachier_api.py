"""cacheops.admin.memcachier over real HTTP against the local MemCachier API server.

No mocks: every call crosses loopback HTTP to :class:`MemCachierAPIServer`, whose commands
act on a real memcached; what a call claims to have done is checked on the server's state
and on the memcached itself (through a cacheops ``memcachier://`` backend or raw ``stats``).
"""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
import requests

from cacheops import connect
from cacheops.admin.memcachier import (
    DEFAULT_BASE_URL,
    Alert,
    CacheInfo,
    CacheStats,
    Capabilities,
    Credential,
    DeliveryConfig,
    HistoryEntry,
    KeyStats,
    LogLine,
    MemCachierAdmin,
    MemCachierAPI,
    PopularItems,
    Popularity,
    Prefix,
    Series,
    format_time,
)
from cacheops.backend import Backend
from cacheops.errors import (
    AuthenticationError,
    BackendUnavailable,
    CacheError,
    ConfigurationError,
    PermissionDenied,
    UnknownOutcome,
)
from cacheops.testing.memcachier_api import (
    V1_FORBIDDEN,
    V2_CACHE_NOT_FOUND,
    V2_FORBIDDEN,
    V2_NOT_ALLOWED_TO_MANAGE,
    V2_UNAUTHORIZED,
    MemCachierAPIServer,
    RecordedRequest,
)

pytestmark = pytest.mark.memcached

# --------------------------------------------------------------------------- helpers


@pytest.fixture
def server(memcachier_api: MemCachierAPIServer) -> MemCachierAPIServer:
    return memcachier_api


def client(server: MemCachierAPIServer, username: str, password: str, **kw: Any) -> MemCachierAPI:
    options: dict[str, Any] = {"base_url": server.base_url, "retry_deadline": 5.0, **kw}
    return MemCachierAPI(username, password, **options)


@pytest.fixture
def api(server: MemCachierAPIServer) -> Iterator[MemCachierAPI]:
    with client(server, *server.primary_credentials) as c:
        yield c


@pytest.fixture
def cache(memcachier_url: str) -> Iterator[Backend]:
    """A cacheops memcachier:// backend on the same memcached (primary credential)."""
    with connect(memcachier_url) as backend:
        yield backend


def memcached_stats(server: MemCachierAPIServer) -> dict[str, int]:
    return {k: int(v) for k, v in server.memcached.stats().items() if v.lstrip("-").isdigit()}


def memcachier_url_for(server: MemCachierAPIServer, username: str, password: str) -> str:
    userinfo = f"{quote(username, safe='')}:{quote(password, safe='')}"
    return f"memcachier://{userinfo}@{server.memcached.server}"


def restricted(owner: MemCachierAPI, **caps: bool) -> Credential:
    """A credential created through the API, then restricted through the API."""
    created = owner.create_credential()
    owner.update_credential(created.username, **caps)
    assert created.password is not None
    return created


def assert_no_secret(things: list[object], *secrets: str) -> None:
    for thing in things:
        texts = [str(thing), repr(thing)]
        if isinstance(thing, BaseException):
            texts += [repr(arg) for arg in thing.args]
            texts += [repr(v) for v in vars(thing).values()]
        for text in texts:
            for secret in secrets:
                assert secret not in text, f"secret leaked in {text!r}"


def last(server: MemCachierAPIServer, route: str) -> RecordedRequest:
    return [r for r in server.requests if r.route == route][-1]


# --------------------------------------------------------------------------- v1


def test_login_discovers_the_cache_id_once(server: MemCachierAPIServer) -> None:
    with client(server, *server.primary_credentials) as api:
        assert "cache_id=?" in repr(api)
        api.info()
        api.v1.stats()
        assert api.cache_id == server.cache_id
        assert f"cache_id={server.cache_id}" in repr(api)
    logins = [r for r in server.requests if r.route == "v1_login"]
    assert len(logins) == 1 and logins[0].path == "/api/v1/login"
    # A cache id given: no /login at all; login() still answers it.
    server.clear_requests()
    with client(server, *server.primary_credentials, cache_id=server.cache_id) as api:
        api.stats()
        assert not [r for r in server.requests if r.route == "v1_login"]
        assert api.login() == server.cache_id


def test_login_with_an_unknown_username_is_an_authentication_error(
    server: MemCachierAPIServer,
) -> None:
    with (
        client(server, "NOSUCHUSER", "NOSUCHUSER some-secret-value") as api,
        pytest.raises(AuthenticationError) as info,
    ):
        api.login()
    assert info.value.status == 404 and info.value.server_message == "No cache found."
    assert "unknown username" in str(info.value)


def test_v1_and_v2_stats_agree_with_memcached(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    cache.put_many({"a": 1, "b": "two", "c": [3]})
    assert cache.get("a") == 1
    assert cache.get("missing") is None
    truth = memcached_stats(server)
    per_server = api.v1.stats()
    both = (per_server[server.memcached_server], api.stats())
    after = memcached_stats(server)
    assert list(per_server) == [server.memcached_server]
    for stats in both:
        assert isinstance(stats, CacheStats)
        for name in (
            "get_hits",
            "get_misses",
            "cmd_get",
            "cmd_set",
            "total_items",
            "limit_maxbytes",
            "evictions",
        ):
            assert getattr(stats, name) == truth[name], name
        # memcached's LRU crawler reclaims expired items (other tests' leases) in the
        # background, so these may only fall while the three reads are made.
        for name in ("curr_items", "bytes"):
            assert after[name] <= getattr(stats, name) <= truth[name], name
        # curr_items is memcached's own count (a flush reclaims items lazily).
        assert (stats.get_hits, stats.get_misses) == (1, 1)
        assert stats.raw["get_hits"] == 1 and abs(stats.at.timestamp() - truth["time"]) < 5


def test_v1_history(api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend) -> None:
    cache.put("k", "v")
    server.sample_now()
    history = api.v1.history()
    samples = server.samples()
    assert len(history) == len(samples) >= 2
    assert all(isinstance(h, HistoryEntry) for h in history)
    newest = history[-1]
    assert newest.memcachier_id == str(server.cache_id)
    assert newest.server == server.memcached_server
    assert newest.stats.curr_items == samples[-1].stats[server.memcached_server]["curr_items"]
    assert newest.stats.cmd_set == 1
    assert newest.timestamp.tzinfo is not None
    assert abs(newest.timestamp.timestamp() - samples[-1].time) < 0.01


def test_v1_flush_empties_memcached(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    cache.put_many({"x": 1, "y": 2})
    api.v1.flush()
    assert cache.get_many(["x", "y"]) == {}
    assert last(server, "v1_flush").method == "POST"


def test_v1_credentials_create_list_update_promote_delete(
    api: MemCachierAPI, server: MemCachierAPIServer
) -> None:
    primary_user = server.primary_credentials[0]
    created = api.v1.create_credential()
    assert created.id is None  # v1 answers "id": null
    assert created.password == server.credential(created.username).password
    assert created.capabilities == Capabilities(write=True, flush=True, api=True)

    listed = {c.username: c for c in api.v1.credentials()}
    assert set(listed) == {c.username for c in server.credentials()}
    assert all(c.password is None for c in listed.values())  # v1 lists no passwords
    assert listed[primary_user].primary and not listed[created.username].primary
    created_id = server.credential(created.username).id
    assert listed[created.username].id == created_id

    # By username: only flush changes; the body and the query carry all three.
    caps = api.v1.update_credential(created.username, flush=False)
    assert caps == Capabilities(write=True, flush=False, api=True)
    record = last(server, "v1_credential")
    assert record.method == "PATCH"
    assert json.loads(record.body) == {
        "write_capability": "true",
        "flush_capability": "false",
        "api_capability": "true",
    }
    assert "flush_capability=false" in record.path
    # By id: only write changes, flush stays off.
    caps = api.v1.update_credential(created_id, write=False)
    assert caps == Capabilities(write=False, flush=False, api=True)
    snapshot = server.credential(created.username)
    assert (snapshot.write_capability, snapshot.flush_capability, snapshot.api_capability) == (
        False,
        False,
        True,
    )

    promoted = api.v1.promote_credential(created.username)
    assert promoted.primary and promoted.username == created.username
    assert server.primary_credentials[0] == created.username
    api.v1.promote_credential(primary_user)

    # The document's path first (DELETE on .../credentials/primary/<cred>); a 405 there
    # (injected here) sends it to .../credentials/<cred>.
    server.faults.fail_next(1, status=405)
    api.v1.delete_credential(created.username)
    assert [c.username for c in server.credentials()] == [primary_user]
    base = f"/api/v1/{server.cache_id}/credentials"
    assert [(r.path, r.status) for r in server.requests if r.method == "DELETE"] == [
        (f"{base}/primary/{created.username}", 405),
        (f"{base}/{created.username}", 200),
    ]


# --------------------------------------------------------------------------- v2: credentials


def test_v2_info(api: MemCachierAPI, server: MemCachierAPIServer) -> None:
    info = api.info()
    assert isinstance(info, CacheInfo)
    assert info.id == server.cache_id
    assert info.servers == [server.memcached_server]
    assert info.cluster_name == server.cluster_name and info.enabled
    assert info.plan == memcached_stats(server)["limit_maxbytes"]
    assert [(c.username, c.password) for c in info.credentials] == [server.primary_credentials]
    assert info.credentials[0].primary
    assert info.can_switch and info.can_manage_credentials and info.can_update_capabilities
    assert server.primary_credentials[1] not in repr(info)


def test_v2_credentials_create_list_update_promote_delete(
    api: MemCachierAPI, server: MemCachierAPIServer
) -> None:
    primary_user = server.primary_credentials[0]
    created = api.create_credential()
    assert isinstance(created, Credential) and created.password is not None
    assert created.id == server.credential(created.username).id
    assert created.cache_id == server.cache_id
    listed = api.credentials()
    assert [(c.username, c.password) for c in listed] == [
        (c.username, c.password) for c in server.credentials()
    ]

    # One capability changed: the other two keep their values, and all three are sent.
    assert api.update_credential(created.username, api=False) == Capabilities(
        write=True, flush=True, api=False
    )
    assert json.loads(last(server, "v2_credential").body) == {
        "write_capability": True,
        "flush_capability": True,
        "api_capability": False,
    }
    api.update_credential(created.username, write=False)
    snapshot = server.credential(created.username)
    assert (snapshot.write_capability, snapshot.flush_capability, snapshot.api_capability) == (
        False,
        True,
        False,
    )
    # All three given: no read first.
    server.clear_requests()
    api.update_credential(created.username, write=True, flush=True, api=True)
    assert [r.route for r in server.requests] == ["v2_credential"]

    promoted = api.promote_credential(created.username)
    assert promoted.primary and promoted.password == created.password
    assert server.primary_credentials == (created.username, created.password)
    api.promote_credential(primary_user)
    api.delete_credential(created.username)
    assert [c.username for c in server.credentials()] == [primary_user]


def test_created_credential_logs_in_over_the_memcache_protocol(
    api: MemCachierAPI, server: MemCachierAPIServer
) -> None:
    created = api.create_credential()
    assert created.password is not None
    assert created.username in server.memcached_logins()
    with connect(memcachier_url_for(server, created.username, created.password)) as backend:
        backend.put("made-by-new-credential", {"ok": True})
        assert backend.get("made-by-new-credential") == {"ok": True}


def test_update_of_an_unknown_credential(api: MemCachierAPI) -> None:
    with pytest.raises(CacheError) as info:
        api.update_credential("NOSUCH", flush=False)
    assert info.value.status == 404 and "no credential 'NOSUCH'" in str(info.value)
    with pytest.raises(CacheError) as info:
        api.promote_credential("NOSUCH")
    assert info.value.status == 404 and "no credential 'NOSUCH'" in str(info.value)


def test_credential_management_refused_on_a_development_cache(
    api: MemCachierAPI, server: MemCachierAPIServer
) -> None:
    server.configure_cache(can_manage_credentials=False, can_update_capabilities=False)
    with pytest.raises(PermissionDenied) as v2:
        api.create_credential()
    assert v2.value.server_message == V2_NOT_ALLOWED_TO_MANAGE
    assert "not allowed to manage credentials" in str(v2.value)
    with pytest.raises(PermissionDenied) as v1:
        api.v1.create_credential()
    assert "not allowed to manage credentials" in str(v1.value)
    assert len(server.credentials()) == 1


# --------------------------------------------------------------------------- capabilities


def test_credential_without_api_capability_is_refused(
    api: MemCachierAPI, server: MemCachierAPIServer
) -> None:
    cred = restricted(api, api=False)
    assert cred.password is not None
    with client(server, cred.username, cred.password) as limited:
        with pytest.raises(PermissionDenied) as login:
            limited.cache_id  # noqa: B018 - discovery goes through /login
        assert "lacks api_capability" in str(login.value)
    with client(server, cred.username, cred.password, cache_id=server.cache_id) as limited:
        with pytest.raises(PermissionDenied) as v2:
            limited.info()
        assert v2.value.status == 403 and v2.value.server_message == V2_FORBIDDEN
        assert "lacks api_capability" in str(v2.value)
        with pytest.raises(PermissionDenied) as v1:
            limited.v1.stats()
        assert v1.value.server_message == V1_FORBIDDEN
        assert "lacks api_capability (or the password is wrong" in str(v1.value)
        assert_no_secret([login.value, v2.value, v1.value, limited], cred.password)


def test_credential_without_flush_capability_flushes_nothing(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    cred = restricted(api, flush=False)
    assert cred.password is not None
    cache.put_many({"keep-1": 1, "keep-2": 2})
    flushes = memcached_stats(server)["cmd_flush"]
    with client(server, cred.username, cred.password) as limited:
        with pytest.raises(PermissionDenied) as v2:
            limited.flush()
        assert "lacks flush_capability" in str(v2.value) and v2.value.status == 403
        with pytest.raises(PermissionDenied) as v1:
            limited.v1.flush()
        assert "lacks flush_capability" in str(v1.value)
        limited.stats()  # everything else still works
    assert cache.get_many(["keep-1", "keep-2"]) == {"keep-1": 1, "keep-2": 2}
    assert memcached_stats(server)["cmd_flush"] == flushes


def test_wrong_password_never_shows_the_password(
    server: MemCachierAPIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user, password = server.primary_credentials
    wrong = f"{user} not-the-right-secret-42"
    token = base64.b64encode(f"{user}:{wrong}".encode()).decode()
    errors: list[BaseException] = []
    with client(server, user, wrong, cache_id=server.cache_id) as api:
        with pytest.raises(AuthenticationError) as v2:
            api.stats()
        assert v2.value.status == 401 and v2.value.server_message == V2_UNAUTHORIZED
        with pytest.raises(PermissionDenied) as v1:
            api.v1.stats()  # v1 documents no 401: its 403
        assert "the password is wrong" in str(v1.value)
        with pytest.raises(PermissionDenied) as login:
            api.login()
        errors += [v2.value, v1.value, login.value]
        assert_no_secret([*errors, api, api.v1], wrong, token, "not-the-right-secret-42")
    with pytest.raises(ConfigurationError) as insecure:
        MemCachierAPI(user, wrong, base_url="http://cache.example.com")
    assert_no_secret([insecure.value], wrong, token)
    # The real credential's repr never shows its password either.
    with client(server, user, password) as api:
        assert_no_secret([api, api.v1, api.info(), *api.credentials()], password)
        api.deploy_hook_url()
    for secret in (wrong, token, password, password.split()[-1]):
        assert secret not in caplog.text


def test_unknown_cache_id_is_a_configuration_error(server: MemCachierAPIServer) -> None:
    with client(server, *server.primary_credentials, cache_id=999) as api:
        with pytest.raises(ConfigurationError) as info:
            api.stats()
        assert "cache 999 not found" in str(info.value)
        assert info.value.server_message == V2_CACHE_NOT_FOUND
        with pytest.raises(PermissionDenied) as other:
            api.info()  # documented as 403 there
        assert "cache 999 is not this credential's cache" in str(other.value)


# --------------------------------------------------------------------------- transport


def test_a_503_burst_is_retried(api: MemCachierAPI, server: MemCachierAPIServer) -> None:
    api.stats()
    server.clear_requests()
    server.faults.fail_next(2, 503, retry_after=0)
    assert api.stats().limit_maxbytes > 0
    assert [r.status for r in server.requests] == [503, 503, 200]
    server.faults.fail_next(1, 503, retry_after=0)
    api.flush()  # a POST too: a 503 applied nothing
    with client(server, *server.primary_credentials, retries=1) as impatient:
        impatient.cache_id  # noqa: B018
        server.faults.fail_next(5, 503, retry_after=0)
        with pytest.raises(BackendUnavailable) as info:
            impatient.stats()
    server.faults.clear()
    assert info.value.status == 503 and "injected fault" in (info.value.server_message or "")


def test_only_safe_posts_are_resent_after_a_lost_reply(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    api.stats()
    cache.put("gone", 1)
    server.faults.drop_after_apply(1, methods=["POST"])
    api.flush()  # applied, reply lost, resent: safe
    assert cache.get("gone") is None
    assert [r.fault for r in server.requests if r.route == "v2_flush"] == [
        "drop_after_apply",
        None,
    ]
    server.faults.drop_after_apply(1, methods=["POST"])
    with pytest.raises(UnknownOutcome):
        api.create_alert("hit_rate", 10)
    assert len(server.alerts()) == 1  # applied once, never twice
    cluster = server.cluster_name
    server.faults.drop_after_apply(1, methods=["POST"])
    with pytest.raises(UnknownOutcome):
        api.switch_cluster()
    assert server.cluster_name != cluster  # switched once


def test_base_url_default_and_api_suffix(server: MemCachierAPIServer) -> None:
    assert DEFAULT_BASE_URL == "https://analytics.memcachier.com"
    assert MemCachierAPI("u", "u secret").base_url == DEFAULT_BASE_URL
    with client(server, *server.primary_credentials, base_url=server.base_url + "/api/v2/") as api:
        assert api.base_url == server.base_url
        assert api.login() == server.cache_id


# --------------------------------------------------------------------------- v2: commands


def test_v2_flush_empties_memcached(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    cache.put_many({f"k{i}": i for i in range(10)})
    api.flush()
    assert cache.get_many([f"k{i}" for i in range(10)]) == {}
    assert memcached_stats(server)["get_misses"] == 10  # read back as misses


def test_v2_reset_stats(api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend) -> None:
    cache.put("a", 1)
    cache.get("a")
    cache.get("b")
    assert api.stats().get_hits == 1
    api.reset_stats()
    truth = memcached_stats(server)
    assert truth["get_hits"] == truth["get_misses"] == 0
    assert api.stats().get_hits == 0


def test_v2_management(api: MemCachierAPI, server: MemCachierAPIServer) -> None:
    old_secret = server.sso_secret
    secret = api.rotate_sso()
    assert secret == server.sso_secret != old_secret
    old_cluster = server.cluster_name
    assert api.switch_cluster() == server.cluster_name != old_cluster
    server.configure_cache(enabled=False)
    assert not api.info().enabled
    api.enable_cache()
    assert server.enabled and api.info().enabled


# --------------------------------------------------------------------------- v2: insight


def test_v2_insight_series(api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend) -> None:
    server.sample_now()
    cache.put_many({"a": 1, "b": 2})
    cache.get("a")
    cache.get("nope")
    server.sample_now()
    now = datetime.now(timezone.utc)
    start, end = now - timedelta(hours=1), now + timedelta(minutes=1)
    names = ["hit_rate", "items", "get_rate"]

    (aggregate,) = api.processed_stats(names, start, end)
    assert isinstance(aggregate, Series) and aggregate.name == "processed_stats"
    assert aggregate.columns == ["time", *names] and aggregate.tags == {}
    rows = aggregate.rows()
    assert rows and all(start - timedelta(minutes=1) <= r["time"] <= end for r in rows)
    items = memcached_stats(server)["curr_items"]
    assert rows[-1]["items"] == items >= 2
    assert rows[-1]["hit_rate"] == 0.5
    record = last(server, "v2_processed_stats")
    query = unquote(record.path.partition("?")[2])
    assert f"names={','.join(names)}" in query
    assert f"startTime={format_time(start)}" in query and f"endTime={format_time(end)}" in query
    assert format_time(start).endswith("Z") and len(format_time(start)) == 20

    (per_server,) = api.processed_stats_per_server(names, start, end)
    assert per_server.tags == {"server": server.memcached_server}
    assert per_server.rows()[-1]["items"] == items

    (latency,) = api.latency(start, end)
    assert latency.name == "latency" and latency.columns == ["time", "duration"]
    assert latency.tags == {"server": server.memcached_server}
    assert latency.rows() and all(r["duration"] > 0 for r in latency.rows())

    (compound,) = api.compound_stats(start, end)
    assert compound.name == "compound_stats"
    assert compound.rows()[-1]["num_keys"] == items

    # Naive datetimes are UTC; without start/end the server's defaults (24 h) apply.
    naive = now.replace(tzinfo=None) - timedelta(hours=2)
    api.processed_stats(["items"], naive)
    query = unquote(last(server, "v2_processed_stats").path)
    assert f"startTime={format_time(now - timedelta(hours=2))}" in query
    assert "endTime" not in query
    assert api.processed_stats(["items"])[0].values


def test_v2_insight_errors(api: MemCachierAPI) -> None:
    with pytest.raises(CacheError) as info:
        api.processed_stats(["no_such_stat"])
    assert info.value.status == 400 and "no_such_stat" in (info.value.server_message or "")
    later = datetime.now(timezone.utc)
    with pytest.raises(CacheError):
        api.latency(later, later - timedelta(hours=1))


# --------------------------------------------------------------------------- v2: alerts


def test_v2_alerts_and_delivery_configs(api: MemCachierAPI, server: MemCachierAPIServer) -> None:
    email = api.create_delivery_config("email", email="ops@example.com")
    slack = api.create_delivery_config(
        "slack", slack_url="https://hooks.slack.com/services/T/B/X", slack_channel="#alerts"
    )
    assert isinstance(email, DeliveryConfig) and email.email == "ops@example.com"
    assert slack.slack_channel == "#alerts" and "hooks.slack.com" not in repr(slack)
    assert api.delivery_configs() == [email, slack]
    assert [c["id"] for c in server.delivery_configs()] == [email.id, slack.id]

    alert = api.create_alert("hit_rate", 50, email.id, "low hit rate")
    assert alert == Alert(alert.id, "hit_rate", 50, email.id, "low hit rate", True)
    assert api.alerts() == [alert] and api.alert(alert.id) == alert

    # One field changed: the whole documented body goes out, the rest kept.
    updated = api.update_alert(alert.id, enabled=False)
    assert updated == Alert(alert.id, "hit_rate", 50, email.id, "low hit rate", False)
    assert server.alerts() == [
        {
            "id": alert.id,
            "trigger_type": "hit_rate",
            "trigger_threshold": 50,
            "delivery_config_id": email.id,
            "description": "low hit rate",
            "enabled": False,
        }
    ]
    assert set(json.loads(last(server, "v2_alert").body)) == {
        "id",
        "trigger_type",
        "trigger_threshold",
        "delivery_config_id",
        "description",
        "enabled",
    }
    with pytest.raises(TypeError):
        api.update_alert(alert.id, colour="red")

    with pytest.raises(CacheError) as in_use:
        api.delete_delivery_config(email.id)
    assert in_use.value.status == 400 and in_use.value.server_message
    api.delete_alert(alert.id)
    assert api.alerts() == [] and server.alerts() == []
    with pytest.raises(CacheError) as gone:
        api.alert(alert.id)
    assert gone.value.status == 404 and f"no alert {alert.id}" in str(gone.value)
    api.delete_delivery_config(email.id)
    api.delete_delivery_config(slack.id)
    assert api.delivery_configs() == [] and server.delivery_configs() == []

    with pytest.raises(CacheError) as bad:
        api.create_alert("sunshine", 50)
    assert bad.value.status == 400 and "trigger_type" in (bad.value.server_message or "")


# --------------------------------------------------------------------------- v2: introspection


def test_v2_introspection(api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend) -> None:
    watched = api.watch_prefix("user:")
    assert isinstance(watched, Prefix) and watched.name == "user:"
    assert api.prefixes() == [watched] and server.watched_prefixes() == {watched.id: "user:"}
    server.sample_now()
    cache.put_many({"user:1": "alice", "user:2": "bob", "other": 0})
    assert cache.get("user:1") == "alice"
    assert cache.get("user:1") == "alice"
    assert cache.get("user:404") is None
    server.sample_now()
    hot, missing = cache.make_key("user:1"), cache.make_key("user:404")

    logs = api.recent_logs()
    assert list(logs) == [server.memcached_server]
    lines = logs[server.memcached_server]
    assert all(isinstance(line, LogLine) and line.timestamp.tzinfo for line in lines)
    assert [(line.command, line.status) for line in lines if line.key == hot] == [
        ("SET", "STORED"),
        ("GET", "FOUND"),
        ("GET", "FOUND"),
    ]

    popular = api.popular_items()
    assert isinstance(popular, PopularItems) and popular.time_slice > 0
    assert popular.most_hit_keys[0] == Popularity(hot, 2)
    assert Popularity(missing, 1) in popular.most_missed_keys
    assert {p.name for p in popular.most_mutated_keys} >= {hot, cache.make_key("user:2")}
    assert popular.popular_prefixes[0].name == cache.make_key("user:")

    (prefix_series,) = api.prefix_stats(watched.id)
    assert prefix_series.name == "prefix_stats"
    assert prefix_series.rows()[-1]["num_keys"] == 2
    prefix_popular = api.prefix_popular_items(watched.id)
    assert prefix_popular.most_hit_keys == [Popularity(hot, 2)]

    # key_stats last: the local server reads the item with memcached's `me`, which
    # memcached's log stream then reports as one more lookup of the key.
    (stats,) = api.key_stats(hot)
    assert isinstance(stats, KeyStats) and stats.name == hot and stats.in_cache
    assert (stats.hit_count, stats.miss_count, stats.mutation_count) == (2, 0, 1)
    assert stats.size > 0
    (absent,) = api.key_stats(missing)
    assert not absent.in_cache and absent.miss_count == 1

    api.unwatch_prefix(watched.id)
    assert api.prefixes() == [] and server.watched_prefixes() == {}
    with pytest.raises(CacheError) as gone:
        api.prefix_stats(watched.id)
    assert gone.value.status == 404 and f"no watched prefix {watched.id}" in str(gone.value)


# --------------------------------------------------------------------------- deploy hook


def test_deploy_hook_url_flushes(
    api: MemCachierAPI, server: MemCachierAPIServer, cache: Backend
) -> None:
    url = api.deploy_hook_url()
    parts = urlsplit(url)
    user, password = server.primary_credentials
    assert (unquote(parts.username or ""), unquote(parts.password or "")) == (user, password)
    assert parts.path == f"/api/v1/{server.cache_id}/flush"
    cache.put("stale", "data")
    # What Heroku's deploy-hooks add-on does: POST to the URL, credentials from it.
    assert requests.post(url, timeout=5).status_code == 200
    assert cache.get("stale") is None


# --------------------------------------------------------------------------- backend.admin


def test_backend_admin_is_the_analytics_api(
    memcachier_url: str, server: MemCachierAPIServer
) -> None:
    with connect(memcachier_url) as backend:
        admin = backend.admin
        assert isinstance(admin, MemCachierAdmin)
        assert admin.api.base_url == server.base_url
        backend.put_many({"a": 1, "b": 2})
        backend.get("a")
        backend.get("zzz")
        stats = admin.stats()
        truth = memcached_stats(server)
        assert stats.backend == "memcachier"
        assert (stats.hits, stats.misses) == (1, 1)
        assert (stats.hits, stats.misses, stats.items) == (
            truth["get_hits"],
            truth["get_misses"],
            truth["curr_items"],
        )
        assert stats.limit == truth["limit_maxbytes"] and stats.bytes == truth["bytes"]
        assert stats.evictions == 0 and stats.hit_rate == 0.5
        assert [s.server for s in stats.servers] == [server.memcached_server]
        assert stats.servers[0].raw["cmd_set"] == truth["cmd_set"]

        info = admin.info()
        password = server.primary_credentials[1]
        dumped = json.dumps(info)
        assert password not in dumped and password.split()[-1] not in dumped
        assert "sasl_password" not in dumped
        assert info["cache_id"] == server.cache_id
        assert info["credentials"] == [
            {
                "username": server.primary_credentials[0],
                "primary": True,
                "write": True,
                "flush": True,
                "api": True,
            }
        ]
        assert_no_secret([admin, admin.api], password)

        admin.reset_stats()
        assert memcached_stats(server)["get_hits"] == 0
        admin.flush()
        assert backend.get_many(["a", "b"]) == {}
        assert last(server, "v2_flush").status == 204
