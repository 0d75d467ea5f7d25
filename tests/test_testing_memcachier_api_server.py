"""The local MemCachier analytics API server, over real loopback HTTP, on a real memcached.

No mocks: requests go through ``requests``, and what the API claims to have done is checked
on the memcached itself over raw sockets (MemCachier-format logins, ``get``, ``stats``).
"""

from __future__ import annotations

import ast
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests

from cacheops.admin.memcachier import STATS_COUNTERS
from cacheops.testing import memcachier_api
from cacheops.testing.memcached import MemcachedServer
from cacheops.testing.memcachier_api import (
    DOCUMENTED_STATS,
    V1_FORBIDDEN,
    V1_NO_CACHE,
    V2_ALERT_NEEDS_TYPE,
    V2_CACHE_NOT_FOUND,
    V2_CONFIG_NEEDS_TYPE,
    V2_FORBIDDEN,
    V2_INVALID_ALERT_ID,
    V2_INVALID_CACHE_ID,
    V2_NAMES_REQUIRED,
    V2_NOT_ALLOWED_TO_MANAGE,
    V2_UNAUTHORIZED,
    MemCachierAPIServer,
)

pytestmark = pytest.mark.memcached

V2_CRED_KEYS = [
    "id",
    "cache_id",
    "sasl_username",
    "sasl_password",
    "write_capability",
    "flush_capability",
    "api_capability",
    "primary",
]
CAPS = ["flush_capability", "write_capability", "api_capability"]


# --------------------------------------------------------------------------- helpers


class Proto:
    """A raw memcache-protocol connection, logged in the MemCachier way."""

    def __init__(self, address: tuple[str, int]) -> None:
        self.sock = socket.create_connection(address, timeout=5)

    def call(self, payload: bytes, terminator: bytes = b"\r\n") -> bytes:
        self.sock.sendall(payload)
        reply = b""
        while not reply.endswith(terminator):
            if reply.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR")) and reply.endswith(
                b"\r\n"
            ):
                break
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            reply += chunk
        return reply

    def login(self, username: str, password: str) -> bytes:
        data = password.encode()
        return self.call(b"set %s 0 0 %d\r\n%s\r\n" % (username.encode(), len(data), data))

    def set(self, key: str, value: bytes) -> bytes:
        return self.call(b"set %s 0 0 %d\r\n%s\r\n" % (key.encode(), len(value), value))

    def get(self, key: str) -> bytes:
        return self.call(b"get " + key.encode() + b"\r\n", b"END\r\n")

    def close(self) -> None:
        self.sock.close()


def login_reply(api: MemCachierAPIServer, username: str, password: str) -> bytes:
    conn = Proto(api.memcached.address)
    try:
        return conn.login(username, password)
    finally:
        conn.close()


@pytest.fixture
def api(memcachier_api: MemCachierAPIServer) -> MemCachierAPIServer:
    return memcachier_api


@pytest.fixture
def http(api: MemCachierAPIServer) -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.auth = api.primary_credentials
        yield session


@pytest.fixture
def mc(api: MemCachierAPIServer) -> Iterator[Proto]:
    conn = Proto(api.memcached.address)
    assert conn.login(*api.primary_credentials) == b"STORED\r\n"
    yield conn
    conn.close()


def v1(api: MemCachierAPIServer, path: str) -> str:
    return f"{api.v1_url}/{api.cache_id}{path}"


def v2(api: MemCachierAPIServer, path: str) -> str:
    return f"{api.v2_url}/caches/{api.cache_id}{path}"


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# --------------------------------------------------------------------------- v1


def test_v1_login_returns_the_cache_id_on_both_documented_paths(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    for url in (f"{api.base_url}/api/v1/login", f"{api.base_url}/api/login"):
        r = http.get(url, timeout=5)
        assert (r.status_code, r.json()) == (200, {"cache_id": api.cache_id})
    user, password = api.primary_credentials
    r = requests.get(f"{api.v1_url}/login", auth=("NOSUCH", password), timeout=5)
    assert (r.status_code, r.json()) == (404, V1_NO_CACHE)
    r = requests.get(f"{api.v1_url}/login", auth=(user, "wrong"), timeout=5)
    assert (r.status_code, r.json()) == (403, V1_FORBIDDEN)
    r = requests.get(f"{api.v1_url}/login", timeout=5)
    assert (r.status_code, r.json()) == (403, V1_FORBIDDEN)
    assert r.headers["Content-Type"] == "application/json"


def test_v1_stats_are_the_real_memcached_counters(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.set("a", b"1")
    mc.set("b", b"22")
    mc.get("a")
    mc.get("missing")
    mc.call(b"delete b\r\n")
    r = http.get(v1(api, "/stats"), timeout=5)
    assert r.status_code == 200
    body = r.json()
    assert list(body) == [api.memcached_server]
    stats = body[api.memcached_server]
    assert list(stats) == list(DOCUMENTED_STATS)
    real = {k: int(v) for k, v in api.memcached.stats().items() if v.isdigit()}
    for name in ("cmd_set", "cmd_get", "get_hits", "get_misses", "delete_hits", "curr_items"):
        assert stats[name] == real[name], name
    assert (stats["cmd_set"], stats["get_hits"], stats["get_misses"]) == (2, 1, 1)
    assert stats["cmd_delete"] == real["delete_hits"] + real["delete_misses"] == 1
    assert stats["expired"] == real["get_expired"]
    assert stats["limit_maxbytes"] == real["limit_maxbytes"] == 64 * 1024 * 1024


def test_v1_history_lists_the_samples(api: MemCachierAPIServer, http: requests.Session) -> None:
    api.sample_now()
    r = http.get(v1(api, "/history"), timeout=5)
    assert r.status_code == 200
    history = r.json()
    samples = api.samples()
    assert len(history) == len(samples) >= 2
    entry = history[-1]
    assert set(entry) == {"memcachier_id", "server", "stats", "timestamp"}
    assert entry["memcachier_id"] == str(api.cache_id)
    assert entry["server"] == api.memcached_server
    assert entry["timestamp"] == str(int(samples[-1].time * 1000))
    assert list(entry["stats"]) == list(DOCUMENTED_STATS)


def test_the_client_and_the_server_list_the_same_documented_stats() -> None:
    """Both lists are written from the documents on their own, so a typo on either side shows."""
    assert STATS_COUNTERS == DOCUMENTED_STATS
    assert len(set(DOCUMENTED_STATS)) == len(DOCUMENTED_STATS) == 31


def test_the_server_takes_nothing_from_the_client() -> None:
    """The server is the oracle the client is tested against: it must not import the client."""
    package = Path(memcachier_api.__file__).parent
    imported: set[str] = set()
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                imported.add(node.module)
            elif isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
    assert imported, "no imports found: the scan is broken"
    assert "cacheops.testing.memcached" in imported
    assert not [m for m in imported if m == "cacheops" or m.startswith("cacheops.admin")]


def test_v1_flush_empties_the_real_memcached(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.set("k", b"v")
    assert mc.get("k") == b"VALUE k 0 1\r\nv\r\nEND\r\n"
    r = http.post(v1(api, "/flush"), timeout=5)
    assert (r.status_code, r.text) == (200, '""')
    assert mc.get("k") == b"END\r\n"
    assert api.memcached.stats()["cmd_flush"] == "1"


def test_v1_flush_from_the_heroku_deploy_hook_url(api: MemCachierAPIServer, mc: Proto) -> None:
    # The article's URL carries the credentials and has "api/v1//<cache_id>/flush".
    mc.set("k", b"v")
    user, password = api.primary_credentials
    netloc = f"{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{api.port}"
    r = requests.post(f"http://{netloc}/api/v1//{api.cache_id}/flush", timeout=5)
    assert r.status_code == 200
    assert mc.get("k") == b"END\r\n"


def test_v1_without_flush_capability_the_flush_is_refused_and_nothing_flushed(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    user, _ = api.primary_credentials
    # The document's example: PATCH with a JSON body sent as curl -d sends it (a form
    # content type), the value a string; omitted capabilities take their default, true.
    r = http.patch(
        v1(api, f"/credentials/{user}"),
        data='{"flush_capability":"false"}',
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=5,
    )
    assert r.status_code == 200
    assert r.json() == {"flush_capability": False, "write_capability": True, "api_capability": True}
    mc.set("keep", b"me")
    r = http.post(v1(api, "/flush"), timeout=5)
    assert (r.status_code, r.json()) == (403, V1_FORBIDDEN)
    assert mc.get("keep") == b"VALUE keep 0 2\r\nme\r\nEND\r\n"


def test_v1_without_api_capability_every_call_is_403(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    user, _ = api.primary_credentials
    api.set_capabilities(user, api=False)
    mc.set("keep", b"me")
    calls = [
        ("GET", f"{api.v1_url}/login"),
        ("GET", v1(api, "/stats")),
        ("GET", v1(api, "/history")),
        ("POST", v1(api, "/flush")),
        ("GET", v1(api, "/credentials")),
        ("POST", v1(api, "/credentials")),
        ("PATCH", v1(api, f"/credentials/{user}")),
        ("POST", v1(api, f"/credentials/primary/{user}")),
        ("DELETE", v1(api, f"/credentials/primary/{user}")),
    ]
    for method, url in calls:
        r = http.request(method, url, timeout=5)
        assert (r.status_code, r.json()) == (403, V1_FORBIDDEN), (method, url)
    assert mc.get("keep") == b"VALUE keep 0 2\r\nme\r\nEND\r\n"
    assert len(api.credentials()) == 1


def test_v1_credentials_list_create_update_promote_delete(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    first_user, first_password = api.primary_credentials
    r = http.get(v1(api, "/credentials"), timeout=5)
    assert r.status_code == 200
    assert r.json() == [
        {
            "cache_id": api.cache_id,
            "flush_capability": True,
            "id": 1,
            "sasl_username": first_user,
            "uuid": None,
            "write_capability": True,
            "api_capability": True,
            "primary": True,
        }
    ]

    r = http.post(v1(api, "/credentials"), timeout=5)
    assert r.status_code == 200
    new = r.json()
    assert list(new) == [
        "cache_id",
        "id",
        "sasl_password",
        "sasl_username",
        "uuid",
        "primary",
        *CAPS,
    ]
    assert (new["id"], new["uuid"], new["primary"]) == (None, None, False)
    assert all(new[c] for c in CAPS)
    user, password = new["sasl_username"], new["sasl_password"]
    assert login_reply(api, user, password) == b"STORED\r\n"  # a memcached login at once

    # Update by the request line's verb (POST) and the "Query Parameters": an omitted
    # capability takes its default, true.
    r = http.post(v1(api, f"/credentials/{user}"), params={"api_capability": "false"}, timeout=5)
    assert r.json() == {"flush_capability": True, "write_capability": True, "api_capability": False}
    r = requests.get(v1(api, "/stats"), auth=(user, password), timeout=5)
    assert (r.status_code, r.json()) == (403, V1_FORBIDDEN)
    r = http.patch(v1(api, f"/credentials/{user}"), json={"api_capability": True}, timeout=5)
    assert r.json()["api_capability"] is True

    r = http.post(v1(api, f"/credentials/primary/{user}"), timeout=5)
    assert r.status_code == 200
    assert r.json() == {
        "cache_id": api.cache_id,
        "id": None,
        "sasl_username": user,
        "uuid": None,
        "primary": True,
        **dict.fromkeys(CAPS, True),
    }
    assert api.primary_credentials == (user, password)
    listed = {c["sasl_username"]: c["primary"] for c in http.get(v1(api, "/credentials")).json()}
    assert listed == {first_user: False, user: True}

    # Back by numeric id (the request lines' <cred_id>); then delete the new one on the
    # document's path for Delete Credentials (the promote path, verb DELETE).
    http.auth = (user, password)
    r = http.post(v1(api, "/credentials/primary/1"), timeout=5)
    assert (r.status_code, r.json()["sasl_username"]) == (200, first_user)
    r = http.delete(v1(api, f"/credentials/primary/{user}"), timeout=5)
    assert (r.status_code, r.text) == (200, '""')
    assert [c.username for c in api.credentials()] == [first_user]
    assert login_reply(api, user, password) == b"CLIENT_ERROR authentication failure\r\n"
    assert login_reply(api, first_user, first_password) == b"STORED\r\n"

    r = requests.delete(
        v1(api, f"/credentials/{first_user}"), auth=(first_user, first_password), timeout=5
    )
    assert r.status_code == 400  # the primary is never deleted


# --------------------------------------------------------------------------- v2


V2_ENDPOINTS = [
    ("GET", "/info"),
    ("GET", "/credentials"),
    ("POST", "/credentials"),
    ("PATCH", "/credentials/X"),
    ("DELETE", "/credentials/X"),
    ("POST", "/credentials/primary/X"),
    ("POST", "/rotate_sso"),
    ("POST", "/enable_cache"),
    ("POST", "/switch_cluster"),
    ("POST", "/flush"),
    ("POST", "/reset_stats"),
    ("GET", "/stats"),
    ("GET", "/insight/processed_stats?names=hit_rate"),
    ("GET", "/insight/processed_stats/per_server?names=hit_rate"),
    ("GET", "/insight/latency"),
    ("GET", "/alerts"),
    ("POST", "/alerts"),
    ("GET", "/alerts/1"),
    ("PUT", "/alerts/1"),
    ("DELETE", "/alerts/1"),
    ("GET", "/alerts/configs"),
    ("POST", "/alerts/configs"),
    ("DELETE", "/alerts/configs/1"),
    ("GET", "/introspection/recent_logs"),
    ("GET", "/introspection/compound_stats"),
    ("GET", "/introspection/popular_items"),
    ("GET", "/introspection/key_stats?key=k"),
    ("GET", "/introspection/prefixes"),
    ("POST", "/introspection/prefixes"),
    ("DELETE", "/introspection/prefixes/1"),
    ("GET", "/introspection/prefixes/1/stats"),
    ("GET", "/introspection/prefixes/1/popular_items"),
]


def test_v2_authentication_and_cache_id_errors(api: MemCachierAPIServer) -> None:
    user, password = api.primary_credentials
    r = requests.get(f"{api.v2_url}/caches/abc/info", auth=(user, password), timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": V2_INVALID_CACHE_ID})
    r = requests.get(v2(api, "/info"), timeout=5)
    assert (r.status_code, r.json()) == (401, {"error": V2_UNAUTHORIZED})
    assert r.headers["WWW-Authenticate"].startswith("Basic")
    r = requests.get(v2(api, "/info"), auth=(user, "wrong"), timeout=5)
    assert r.status_code == 401
    other = f"{api.v2_url}/caches/{api.cache_id + 1}"
    r = requests.get(f"{other}/info", auth=(user, password), timeout=5)
    assert (r.status_code, r.json()) == (403, {"error": V2_FORBIDDEN})
    # The commands and insight document 404 "Cache not found." instead.
    r = requests.get(f"{other}/stats", auth=(user, password), timeout=5)
    assert (r.status_code, r.json()) == (404, {"error": V2_CACHE_NOT_FOUND})


def test_v2_without_api_capability_every_endpoint_is_403(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    user, _ = api.primary_credentials
    api.set_capabilities(user, api=False)
    mc.set("keep", b"me")
    for method, path in V2_ENDPOINTS:
        r = http.request(method, v2(api, path), json={}, timeout=5)
        assert (r.status_code, r.json()) == (403, {"error": V2_FORBIDDEN}), (method, path)
    assert mc.get("keep") == b"VALUE keep 0 2\r\nme\r\nEND\r\n"
    assert api.credential(user).api_capability is False


def test_v2_info(api: MemCachierAPIServer, http: requests.Session) -> None:
    r = http.get(v2(api, "/info"), timeout=5)
    assert r.status_code == 200
    info = r.json()
    assert list(info) == [
        "id",
        "name",
        "label",
        "cache_type",
        "plan",
        "provider",
        "enabled",
        "cluster_name",
        "servers",
        "credentials",
        "can_switch",
        "can_manage_credentials",
        "can_update_capabilities",
    ]
    assert info["id"] == api.cache_id
    assert info["plan"] == 64 * 1024 * 1024
    assert info["servers"] == [api.memcached_server]
    assert info["enabled"] is True
    assert [list(c) for c in info["credentials"]] == [V2_CRED_KEYS]
    assert info["credentials"][0]["sasl_password"] == api.primary_credentials[1]


def test_v2_credentials_list_create_update_promote_delete(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    first_user, _ = api.primary_credentials
    r = http.get(v2(api, "/credentials"), timeout=5)
    assert r.status_code == 200
    assert [c["sasl_username"] for c in r.json()] == [first_user]

    r = http.post(v2(api, "/credentials"), timeout=5)
    assert r.status_code == 201
    new = r.json()
    assert list(new) == V2_CRED_KEYS
    assert (new["cache_id"], new["primary"], new["id"]) == (api.cache_id, False, 2)
    user, password = new["sasl_username"], new["sasl_password"]
    assert login_reply(api, user, password) == b"STORED\r\n"
    assert api.memcached_logins() == [first_user, user]

    # "if you omit a capability from the request body its value will be set to false"
    r = http.patch(v2(api, f"/credentials/{user}"), json={"api_capability": True}, timeout=5)
    assert r.status_code == 200
    assert r.json() == {
        "flush_capability": False,
        "write_capability": False,
        "api_capability": True,
    }
    cred = api.credential(user)
    assert (cred.write_capability, cred.flush_capability, cred.api_capability) == (
        False,
        False,
        True,
    )
    r = http.patch(v2(api, f"/credentials/{user}"), json={"api_capability": "true"}, timeout=5)
    assert r.status_code == 400
    r = http.patch(v2(api, "/credentials/NOSUCH"), json={}, timeout=5)
    assert r.status_code == 404

    r = http.post(v2(api, f"/credentials/primary/{user}"), timeout=5)
    assert r.status_code == 200
    assert r.json() == {
        **new,
        "primary": True,
        "write_capability": False,
        "flush_capability": False,
    }
    assert api.primary_credentials == (user, password)

    http.auth = (user, password)
    r = http.delete(v2(api, f"/credentials/{user}"), timeout=5)
    assert r.status_code == 400  # the primary is never deleted
    r = http.post(v2(api, f"/credentials/primary/{first_user}"), timeout=5)
    assert r.json()["primary"] is True
    r = http.delete(v2(api, f"/credentials/{user}"), timeout=5)
    assert (r.status_code, r.content) == (200, b"")
    assert [c.username for c in api.credentials()] == [first_user]
    assert login_reply(api, user, password) == b"CLIENT_ERROR authentication failure\r\n"


def test_v2_a_development_cache_cannot_manage_credentials(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    api.configure_cache(can_manage_credentials=False)
    user, _ = api.primary_credentials
    for method, path in (
        ("POST", "/credentials"),
        ("PATCH", f"/credentials/{user}"),
        ("DELETE", f"/credentials/{user}"),
    ):
        r = http.request(method, v2(api, path), json={}, timeout=5)
        assert (r.status_code, r.json()) == (403, {"error": V2_NOT_ALLOWED_TO_MANAGE})
    assert http.get(v2(api, "/info"), timeout=5).json()["can_manage_credentials"] is False
    assert len(api.credentials()) == 1


def test_v2_flush_needs_the_flush_capability(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    user, _ = api.primary_credentials
    mc.set("keep", b"me")
    body = {"write_capability": True, "api_capability": True}  # flush omitted: false
    assert http.patch(v2(api, f"/credentials/{user}"), json=body, timeout=5).status_code == 200
    r = http.post(v2(api, "/flush"), timeout=5)
    assert r.status_code == 403
    assert "flush_capability" in r.json()["error"]
    assert mc.get("keep") == b"VALUE keep 0 2\r\nme\r\nEND\r\n"

    body = dict.fromkeys(CAPS, True)
    assert http.patch(v2(api, f"/credentials/{user}"), json=body, timeout=5).status_code == 200
    r = http.post(v2(api, "/flush"), timeout=5)
    assert (r.status_code, r.content) == (204, b"")
    assert mc.get("keep") == b"END\r\n"


def test_v2_stats_and_reset_stats_act_on_memcached(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.set("a", b"1")
    for _ in range(3):
        mc.get("a")
    r = http.get(v2(api, "/stats"), timeout=5)
    assert r.status_code == 200
    stats = r.json()
    assert list(stats) == list(DOCUMENTED_STATS)
    assert (stats["cmd_get"], stats["get_hits"], stats["cmd_set"]) == (3, 3, 1)

    r = http.post(v2(api, "/reset_stats"), timeout=5)
    assert (r.status_code, r.content) == (204, b"")
    real = api.memcached.stats()
    assert (real["cmd_get"], real["get_hits"], real["cmd_set"]) == ("0", "0", "0")
    stats = http.get(v2(api, "/stats"), timeout=5).json()
    assert (stats["cmd_get"], stats["get_hits"], stats["curr_items"]) == (0, 0, 1)


def test_v2_management_endpoints(api: MemCachierAPIServer, http: requests.Session) -> None:
    before = api.sso_secret
    r = http.post(v2(api, "/rotate_sso"), timeout=5)
    assert r.status_code == 200
    assert r.json() == api.sso_secret != before

    api.configure_cache(enabled=False)
    assert http.get(v2(api, "/info"), timeout=5).json()["enabled"] is False
    r = http.post(v2(api, "/enable_cache"), timeout=5)
    assert (r.status_code, r.content) == (200, b"")
    assert api.enabled is True

    r = http.post(v2(api, "/switch_cluster"), timeout=5)
    assert (r.status_code, r.json()) == (200, "local-2")
    assert http.get(v2(api, "/info"), timeout=5).json()["cluster_name"] == "local-2"
    api.configure_cache(can_switch=False)
    assert http.post(v2(api, "/switch_cluster"), timeout=5).status_code == 403


def test_v2_alerts_and_delivery_configs(api: MemCachierAPIServer, http: requests.Session) -> None:
    configs, alerts = v2(api, "/alerts/configs"), v2(api, "/alerts")
    assert http.get(configs, timeout=5).json() == []
    r = http.post(configs, json={"email": "a@b.c"}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": V2_CONFIG_NEEDS_TYPE})
    assert http.post(configs, json={"delivery_type": "email"}, timeout=5).status_code == 400
    slack = {
        "delivery_type": "slack",
        "slack_url": "https://hooks.slack.com/services/x",
        "slack_channel": "#alerts",
    }
    r = http.post(configs, json=slack, timeout=5)
    assert r.status_code == 201
    config = r.json()
    assert config == {"id": 1, **slack, "email": ""}
    assert list(config) == ["id", "delivery_type", "email", "slack_url", "slack_channel"]

    r = http.post(alerts, json={"trigger_threshold": 50}, timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": V2_ALERT_NEEDS_TYPE})
    assert http.post(alerts, json={"trigger_type": "nope"}, timeout=5).status_code == 400
    assert (
        http.post(alerts, json={"trigger_type": "hit_rate", "trigger_threshold": 101}).status_code
        == 400
    )
    new = {
        "trigger_type": "hit_rate",
        "trigger_threshold": 50,
        "delivery_config_id": 1,
        "description": "This is a description.",
        "enabled": True,
    }
    r = http.post(alerts, json=new, timeout=5)
    assert (r.status_code, r.json()) == (201, {"id": 1, **new})
    assert http.get(f"{alerts}/1", timeout=5).json() == {"id": 1, **new}
    r = http.get(f"{alerts}/abc", timeout=5)
    assert (r.status_code, r.json()) == (400, {"error": V2_INVALID_ALERT_ID})
    assert http.get(f"{alerts}/9", timeout=5).status_code == 404

    r = http.put(f"{alerts}/1", json={"id": 1, "enabled": False}, timeout=5)
    assert (r.status_code, r.json()) == (201, {"id": 1, **new, "enabled": False})
    assert http.put(f"{alerts}/1", json={"id": 2}, timeout=5).status_code == 400
    assert http.get(alerts, timeout=5).json() == [{"id": 1, **new, "enabled": False}]

    assert http.delete(f"{configs}/1", timeout=5).status_code == 400  # alert 1 uses it
    r = http.delete(f"{alerts}/1", timeout=5)
    assert (r.status_code, r.content) == (201, b"")
    r = http.delete(f"{configs}/1", timeout=5)
    assert (r.status_code, r.content) == (204, b"")
    assert http.delete(f"{configs}/x", timeout=5).status_code == 400
    assert api.alerts() == [] and api.delivery_configs() == []


def test_v2_introspection_from_memcached_own_log(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.set("user:1", b"hi")
    mc.set("user:2", b"there")
    for _ in range(3):
        mc.get("user:1")
    mc.get("user:2")
    mc.get("nope:1")
    mc.get("nope:1")

    r = http.get(v2(api, "/introspection/popular_items"), timeout=5)
    assert r.status_code == 200
    popular = r.json()
    assert list(popular) == [
        "time_slice",
        "most_hit_keys",
        "most_missed_keys",
        "most_mutated_keys",
        "popular_prefixes",
    ]
    assert isinstance(popular["time_slice"], int) and popular["time_slice"] > 0
    assert popular["most_hit_keys"] == [
        {"name": "user:1", "popularity": 3},
        {"name": "user:2", "popularity": 1},
    ]
    assert popular["most_missed_keys"] == [{"name": "nope:1", "popularity": 2}]
    assert popular["most_mutated_keys"] == [
        {"name": "user:1", "popularity": 1},
        {"name": "user:2", "popularity": 1},
    ]
    assert popular["popular_prefixes"] == [
        {"name": "user:", "popularity": 6},
        {"name": "nope:", "popularity": 2},
    ]

    r = http.get(v2(api, "/introspection/key_stats"), params={"key": "user:1"}, timeout=5)
    assert r.status_code == 200
    [entry] = r.json()
    assert list(entry) == [
        "timestamp",
        "name",
        "size",
        "hit_count",
        "miss_count",
        "mutation_count",
        "in_cache",
    ]
    assert entry["name"] == "user:1"
    assert (entry["size"], entry["hit_count"], entry["miss_count"]) == (2, 3, 0)
    assert (entry["mutation_count"], entry["in_cache"]) == (1, True)
    r = http.get(v2(api, "/introspection/key_stats"), params={"key": "nope:1"}, timeout=5)
    assert r.json()[0]["in_cache"] is False and r.json()[0]["miss_count"] == 2
    assert http.get(v2(api, "/introspection/key_stats"), timeout=5).status_code == 400

    r = http.get(v2(api, "/introspection/recent_logs"), timeout=5)
    assert r.status_code == 200
    logs = r.json()
    assert list(logs) == [api.memcached_server]
    lines = logs[api.memcached_server]
    assert len(lines) <= 100
    assert all(list(line) == ["timestamp", "key", "command", "status", "size"] for line in lines)
    seen = [(line["key"], line["command"], line["status"]) for line in lines]
    assert ("", "STATS", "OK") in seen  # the server's own sampling, as in the document
    assert ("user:1", "SET", "STORED") in seen
    assert ("nope:1", "GET", "NOT_FOUND") in seen
    assert seen.count(("user:1", "SET", "STORED")) == 1  # the set's own lookup is not listed


def test_v2_watched_prefixes_and_their_stats(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    prefixes = v2(api, "/introspection/prefixes")
    assert http.get(prefixes, timeout=5).json() == []
    r = http.post(prefixes, json={"name": "user:"}, timeout=5)
    assert (r.status_code, r.json()) == (200, {"id": 1, "name": "user:"})
    assert http.post(prefixes, json={"name": "user:"}, timeout=5).json()["id"] == 1
    assert http.post(prefixes, json={}, timeout=5).status_code == 400
    assert http.get(prefixes, timeout=5).json() == [{"id": 1, "name": "user:"}]

    api.sample_now()
    mc.set("user:1:name", b"ann")
    mc.set("user:2:name", b"bob")
    mc.set("other", b"x")
    mc.get("user:1:name")
    mc.get("user:3:name")
    api.sample_now()

    r = http.get(f"{prefixes}/1/stats", timeout=5)
    assert r.status_code == 200
    [series] = r.json()
    assert series["name"] == "prefix_stats"
    assert series["columns"] == [
        "time",
        "num_keys",
        "total_size",
        "total_hits_rate",
        "total_misses_rate",
        "total_mutations_rate",
    ]
    row = series["values"][-1]
    assert row[1] == 2  # two keys under "user:" in memcached's own item list
    assert row[2] > 0
    assert row[3] > 0 and row[4] > 0 and row[5] > 0

    r = http.get(f"{prefixes}/1/popular_items", timeout=5)
    assert r.status_code == 200
    popular = r.json()
    assert popular["most_hit_keys"] == [{"name": "user:1:name", "popularity": 1}]
    assert popular["most_missed_keys"] == [{"name": "user:3:name", "popularity": 1}]
    assert {p["name"] for p in popular["popular_prefixes"]} == {"user:1:", "user:2:", "user:3:"}

    assert http.get(f"{prefixes}/x/stats", timeout=5).status_code == 400
    r = http.delete(f"{prefixes}/1", timeout=5)
    assert (r.status_code, r.content) == (204, b"")
    assert http.get(f"{prefixes}/1/stats", timeout=5).status_code == 404
    assert http.get(prefixes, timeout=5).json() == []


def test_v2_insight_series_are_computed_from_samples() -> None:
    clock = FakeClock(1_700_000_000.0)  # 2023-11-14T22:13:20Z
    with MemCachierAPIServer(clock=clock, sample_interval=None) as api:
        conn = Proto(api.memcached.address)
        assert conn.login(*api.primary_credentials) == b"STORED\r\n"
        for key in ("a", "b", "c"):
            conn.set(key, b"v")
        for key in ("a", "b", "x", "y"):
            conn.get(key)
        conn.close()
        clock.now += 10
        api.sample_now()
        session = requests.Session()
        session.auth = api.primary_credentials
        window = {"startTime": "2023-11-14T22:00:00Z", "endTime": "2023-11-14T23:00:00Z"}

        names = "get_rate,get_hit_rate,set_rate,request_rate,items,get_fraction"
        r = session.get(
            v2(api, "/insight/processed_stats"), params={"names": names, **window}, timeout=5
        )
        assert r.status_code == 200
        assert r.json() == [
            {
                "name": "processed_stats",
                "columns": ["time", *names.split(",")],
                "values": [["2023-11-14T22:13:00Z", 0.4, 0.5, 0.3, 0.7, 3, round(4 / 7, 6)]],
            }
        ]

        r = session.get(
            v2(api, "/insight/processed_stats/per_server"),
            params={"names": "hit_rate,max_bytes", **window},
            timeout=5,
        )
        [series] = r.json()
        assert series["tags"] == {"server": api.memcached_server}
        assert series["values"] == [["2023-11-14T22:13:00Z", 0.5, 64 * 1024 * 1024]]

        # Over two days the granularity is 10 minutes; outside the window nothing.
        wide = {"startTime": "2023-11-13T00:00:00Z", "endTime": "2023-11-15T00:00:00Z"}
        r = session.get(
            v2(api, "/insight/processed_stats"), params={"names": "get_rate", **wide}, timeout=5
        )
        assert r.json()[0]["values"] == [["2023-11-14T22:10:00Z", 0.4]]
        early = {"startTime": "2023-11-14T20:00:00Z", "endTime": "2023-11-14T21:00:00Z"}
        r = session.get(
            v2(api, "/insight/processed_stats"), params={"names": "get_rate", **early}, timeout=5
        )
        assert r.json()[0]["values"] == []

        r = session.get(v2(api, "/insight/latency"), params=window, timeout=5)
        [latency] = r.json()
        assert (latency["name"], latency["columns"]) == ("latency", ["time", "duration"])
        assert latency["tags"] == {"server": api.memcached_server}
        [[when, duration]] = latency["values"]  # both samples in one 20 s bucket
        assert when == "2023-11-14T22:13:20Z" and duration > 0

        r = session.get(v2(api, "/introspection/compound_stats"), params=window, timeout=5)
        [compound] = r.json()
        assert compound["name"] == "compound_stats"
        assert compound["values"] == [
            ["2023-11-14T22:13:00Z", 3, compound["values"][0][2], 0.2, 0.2, 0.3]
        ]
        assert compound["values"][0][2] == int(api.memcached.stats()["bytes"])

        errors: list[tuple[dict[str, str], Any]] = [
            ({}, {"error": V2_NAMES_REQUIRED}),
            ({"names": "bogus"}, None),
            ({"names": "hit_rate", "startTime": "yesterday"}, None),
            ({"names": "hit_rate", **window, "startTime": "2023-11-15T00:00:00Z"}, None),
        ]
        for params, expected in errors:
            r = session.get(v2(api, "/insight/processed_stats"), params=params, timeout=5)
            assert r.status_code == 400, params
            if expected is not None:
                assert r.json() == expected
        session.close()


def test_unknown_route_and_wrong_verb_in_each_version_shape(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    r = http.get(v1(api, "/nope"), timeout=5)
    assert r.status_code == 404 and isinstance(r.json(), str)
    r = http.get(v2(api, "/nope"), timeout=5)
    assert r.status_code == 404 and "error" in r.json()
    r = http.get(v1(api, "/flush"), timeout=5)
    assert (r.status_code, r.headers["Allow"]) == (405, "POST")
    assert isinstance(r.json(), str)
    r = http.delete(v2(api, "/info"), timeout=5)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET")
    assert "error" in r.json()


def test_faults_request_log_and_no_secret_anywhere(
    api: MemCachierAPIServer, http: requests.Session
) -> None:
    user, password = api.primary_credentials
    api.faults.fail_next(1, 503, retry_after=2)
    r = http.get(v2(api, "/info"), timeout=5)
    assert (r.status_code, r.headers["Retry-After"]) == (503, "2")
    assert "error" in r.json()
    assert http.get(v2(api, "/info"), timeout=5).status_code == 200
    api.faults.latency = 0.05
    started = time.monotonic()
    assert http.get(f"{api.v1_url}/login", timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.05
    api.faults.latency = 0

    log = api.requests
    assert [(rec.method, rec.status, rec.fault) for rec in log] == [
        ("GET", 503, "fail_next"),
        ("GET", 200, None),
        ("GET", 200, None),
    ]
    assert (log[1].user, log[1].api, log[1].route) == (user, "v2", "v2_info")
    assert (log[2].api, log[2].route) == ("v1", "v1_login")
    secret = password.split(" ", 1)[1]
    for text in (repr(log), repr(api), repr(api.credentials()), repr(api.faults)):
        assert secret not in text


def test_credentials_beyond_memcached_eight_logins_stay_api_only() -> None:
    users = {f"user{i}": f"secret{i}" for i in range(7)}
    with MemcachedServer(users=users) as memcached:
        with MemCachierAPIServer(memcached, sample_interval=None) as api:
            assert api.primary_credentials == ("user0", "user0 secret0")
            assert [c.username for c in api.credentials()] == list(users)
            session = requests.Session()
            session.auth = api.primary_credentials
            eighth = session.post(v2(api, "/credentials"), timeout=5).json()
            ninth = session.post(v2(api, "/credentials"), timeout=5).json()
            assert login_reply(api, eighth["sasl_username"], eighth["sasl_password"]) == (
                b"STORED\r\n"
            )
            assert api.credential(ninth["sasl_username"]).memcached_login is False
            assert login_reply(api, ninth["sasl_username"], ninth["sasl_password"]) == (
                b"CLIENT_ERROR authentication failure\r\n"
            )
            r = requests.get(
                v2(api, "/info"), auth=(ninth["sasl_username"], ninth["sasl_password"]), timeout=5
            )
            assert r.status_code == 200  # an API credential all the same

            # A freed slot goes to the oldest API-only credential.
            session.delete(v2(api, f"/credentials/{eighth['sasl_username']}"), timeout=5)
            assert login_reply(api, ninth["sasl_username"], ninth["sasl_password"]) == (
                b"STORED\r\n"
            )
            session.close()
        assert memcached.running  # a memcached passed in is not stopped with the API server


def test_reset_forgets_events_logged_before_it(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.get("old:1")
    mc.get("old:1")
    api.reset()  # does not wait for memcached's log stream to catch up
    mc.get("new:1")
    r = http.get(v2(api, "/introspection/popular_items"), timeout=5)
    assert r.json()["most_missed_keys"] == [{"name": "new:1", "popularity": 1}]


def test_a_write_applied_then_the_answer_lost(
    api: MemCachierAPIServer, http: requests.Session, mc: Proto
) -> None:
    mc.set("k", b"v")
    api.faults.drop_after_apply(1, methods=["POST"])
    with pytest.raises(requests.ConnectionError):
        http.post(v2(api, "/flush"), timeout=5)
    assert mc.get("k") == b"END\r\n"
    assert api.requests[-1].fault == "drop_after_apply"


def test_memcached_down_gives_the_documented_server_errors() -> None:
    with MemCachierAPIServer(sample_interval=None) as api:
        session = requests.Session()
        session.auth = api.primary_credentials
        api.memcached.kill()
        r = session.get(v1(api, "/stats"), timeout=5)
        assert (r.status_code, r.json()) == (500, f"Server error: {api.memcached_server}")
        assert session.post(v1(api, "/flush"), timeout=5).status_code == 500
        for method, path, message in (
            ("POST", "/flush", "Failed to flush cache."),
            ("POST", "/reset_stats", "Failed to reset stats."),
            ("GET", "/stats", "Failed to get stats."),
        ):
            r = session.request(method, v2(api, path), timeout=5)
            assert (r.status_code, r.json()) == (400, {"error": message})
        with pytest.raises(Exception, match="stats failed"):
            api.sample_now()
        session.close()
