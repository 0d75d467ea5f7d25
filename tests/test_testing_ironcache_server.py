"""The local IronCache server, exercised over real loopback HTTP with ``requests``."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import pytest
import requests

from cacheops.testing.ironcache_server import (
    DEFAULT_PROJECT_ID,
    MAX_BODY_BYTES,
    MAX_EXPIRES_IN,
    IronCacheServer,
)

TOKEN = "tok-123"
PROJECT = "5f00000000000000000000aa"


class FakeClock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock) -> Iterator[IronCacheServer]:
    with IronCacheServer(token=TOKEN, project_id=PROJECT, clock=clock) as srv:
        yield srv


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        session.headers["Authorization"] = f"OAuth {TOKEN}"
        yield session


def caches_url(server: IronCacheServer) -> str:
    return f"{server.base_url}/projects/{PROJECT}/caches"


def cache_url(server: IronCacheServer, cache: str) -> str:
    return f"{caches_url(server)}/{quote(cache, safe='')}"


def item_url(server: IronCacheServer, cache: str, key: str) -> str:
    return f"{cache_url(server, cache)}/items/{quote(key, safe='')}"


def put(
    http: requests.Session, server: IronCacheServer, key: str, cache: str = "c", **body: object
) -> requests.Response:
    return http.put(item_url(server, cache, key), json=body, timeout=5)


def get(
    http: requests.Session, server: IronCacheServer, key: str, cache: str = "c"
) -> requests.Response:
    return http.get(item_url(server, cache, key), timeout=5)


def incr(
    http: requests.Session, server: IronCacheServer, key: str, body: object, cache: str = "c"
) -> requests.Response:
    return http.post(item_url(server, cache, key) + "/increment", json=body, timeout=5)


def assert_msg(resp: requests.Response, status: int) -> str:
    assert resp.status_code == status, resp.text
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert isinstance(body, dict) and isinstance(body["msg"], str) and body["msg"]
    return str(body["msg"])


# --------------------------------------------------------------------------- basics


def test_addresses_and_repr() -> None:
    srv = IronCacheServer(token="s3cret-token-xyz")
    assert re.fullmatch(r"[0-9a-f]{24}", DEFAULT_PROJECT_ID)
    assert srv.project_id == DEFAULT_PROJECT_ID
    assert "s3cret" not in repr(srv)
    with pytest.raises(RuntimeError):
        _ = srv.port
    with srv:
        port = srv.port
        assert srv.host == "127.0.0.1"
        assert srv.base_url == f"http://127.0.0.1:{port}/1"
        assert srv.url() == (
            f"ironcache+http://{DEFAULT_PROJECT_ID}:s3cret-token-xyz@127.0.0.1:{port}/cache"
        )
        assert srv.url("sessions").endswith(f"@127.0.0.1:{port}/sessions")
        assert "s3cret" not in repr(srv) and str(port) in repr(srv)
        assert srv.start() is srv  # already running: no-op
    assert not srv.running
    srv.stop()  # twice is fine
    with pytest.raises(RuntimeError):
        srv.start()


def test_put_get_roundtrip_shapes(server: IronCacheServer, http: requests.Session) -> None:
    resp = put(http, server, "k", value="hello")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.json() == {"msg": "Stored."}

    resp = get(http, server, "k")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    body = resp.json()
    assert set(body) == {"cache", "key", "value", "cas", "flags", "expires"}
    assert body["cache"] == "c" and body["key"] == "k" and body["value"] == "hello"
    assert type(body["cas"]) is int and body["flags"] == 0 and body["expires"] is None
    assert server.items("c") == {"k": "hello"}
    assert server.items("nope") == {}


def test_list_caches_and_info(server: IronCacheServer, http: requests.Session) -> None:
    resp = http.get(caches_url(server), timeout=5)
    assert resp.status_code == 200 and resp.json() == []
    put(http, server, "a", cache="one", value="x")
    put(http, server, "b", cache="one", value=1)
    put(http, server, "a", cache="two", value="y")
    resp = http.get(caches_url(server), timeout=5)
    assert resp.json() == [
        {"project_id": PROJECT, "name": "one"},
        {"project_id": PROJECT, "name": "two"},
    ]
    resp = http.get(cache_url(server, "one"), timeout=5)
    assert resp.status_code == 200 and resp.json() == {"size": 2}
    assert_msg(http.get(cache_url(server, "missing"), timeout=5), 404)


def test_paging_over_more_than_100_caches(server: IronCacheServer, http: requests.Session) -> None:
    names = [f"cache{i:03d}" for i in range(150)]
    for name in names:
        assert put(http, server, "k", cache=name, value="v").status_code == 200

    def page(**params: int | str) -> list[str]:
        resp = http.get(caches_url(server), params=params, timeout=5)
        assert resp.status_code == 200, resp.text
        return [c["name"] for c in resp.json()]

    assert page() == names[:100]  # "100 caches are listed at a time"
    assert page(page=1) == names[100:]
    assert page(page=2) == []
    assert page(per_page=30) == names[:30]
    assert page(per_page=30, page=4) == names[120:150]
    assert page(per_page=100, page=100) == []
    for bad in ({"page": 101}, {"page": -1}, {"per_page": 101}, {"per_page": 0}, {"page": "x"}):
        assert_msg(http.get(caches_url(server), params=bad, timeout=5), 400)


def test_delete_and_clear_cache(server: IronCacheServer, http: requests.Session) -> None:
    put(http, server, "a", value="x")
    put(http, server, "b", value="y")
    resp = http.post(cache_url(server, "c") + "/clear", timeout=5)
    assert resp.status_code == 201 and resp.json() == {"msg": "Cleared."}
    assert http.get(cache_url(server, "c"), timeout=5).json() == {"size": 0}
    assert server.caches() == ["c"]  # cleared, not deleted
    assert_msg(get(http, server, "a"), 404)

    resp = http.delete(cache_url(server, "c"), timeout=5)
    assert resp.status_code == 200 and resp.json() == {"msg": "Deleted."}
    assert server.caches() == []
    assert_msg(http.delete(cache_url(server, "c"), timeout=5), 404)
    assert_msg(http.post(cache_url(server, "c") + "/clear", timeout=5), 404)


def test_delete_and_get_items(server: IronCacheServer, http: requests.Session) -> None:
    assert_msg(get(http, server, "k", cache="nocache"), 404)
    assert_msg(http.delete(item_url(server, "nocache", "k"), timeout=5), 404)
    put(http, server, "k", value="v")
    assert_msg(get(http, server, "other"), 404)
    resp = http.delete(item_url(server, "c", "k"), timeout=5)
    assert resp.status_code == 200 and resp.json() == {"msg": "Deleted."}
    assert_msg(get(http, server, "k"), 404)
    assert_msg(http.delete(item_url(server, "c", "k"), timeout=5), 404)


# --------------------------------------------------------------------------- auth, paths


def test_auth(server: IronCacheServer) -> None:
    url = caches_url(server)
    assert_msg(requests.get(url, timeout=5), 401)
    for header in (f"Oauth {TOKEN}", f"OAuth {TOKEN}x", f"Bearer {TOKEN}", TOKEN, "OAuth"):
        assert_msg(requests.get(url, headers={"Authorization": header}, timeout=5), 401)
    assert_msg(requests.get(url, params={"oauth": "wrong"}, timeout=5), 401)

    assert requests.get(url, headers={"Authorization": f"OAuth {TOKEN}"}, timeout=5).ok
    assert requests.get(url, params={"oauth": TOKEN}, timeout=5).status_code == 200
    assert [r.auth for r in server.requests[-2:]] == ["header", "query"]
    # a 401 does not apply anything
    requests.put(item_url(server, "c", "k"), json={"value": "v"}, timeout=5)
    assert server.caches() == []


def test_unknown_project_is_404(server: IronCacheServer, http: requests.Session) -> None:
    base = f"{server.base_url}/projects/5f00000000000000000000bb/caches"
    assert_msg(http.get(base, timeout=5), 404)
    assert_msg(http.put(base + "/c/items/k", json={"value": "v"}, timeout=5), 404)
    assert_msg(requests.get(base, timeout=5), 404)  # even without a token
    assert server.caches() == []


def test_unknown_paths_and_wrong_verbs(server: IronCacheServer, http: requests.Session) -> None:
    root = f"http://127.0.0.1:{server.port}"
    for path in (
        "/",
        "/1",
        "/2/projects/{p}/caches",
        "/1/projects/{p}",
        "/1/projects/{p}/caches/",
        "/1/projects/{p}/caches/c/items",
        "/1/projects/{p}/caches/c/items/",
        "/1/projects/{p}/caches/c/other",
        "/1/projects/{p}/caches/c/items/k/decrement",
        "/1/projects/{p}/caches/c/items/k/increment/x",
    ):
        assert_msg(http.get(root + path.format(p=PROJECT), timeout=5), 404)

    cases = [
        ("POST", caches_url(server), "GET"),
        ("PUT", cache_url(server, "c"), "GET, DELETE"),
        ("GET", cache_url(server, "c") + "/clear", "POST"),
        ("POST", item_url(server, "c", "k"), "GET, PUT, DELETE"),
        ("GET", item_url(server, "c", "k") + "/increment", "POST"),
        ("PATCH", item_url(server, "c", "k"), "GET, PUT, DELETE"),
    ]
    for method, url, allow in cases:
        resp = http.request(method, url, json={"value": "v", "amount": 1}, timeout=5)
        assert_msg(resp, 405)
        assert resp.headers["Allow"] == allow
    resp = http.head(item_url(server, "c", "k"), timeout=5)
    assert resp.status_code == 405 and resp.content == b""
    assert server.caches() == []


def test_percent_encoding_gives_distinct_keys(
    server: IronCacheServer, http: requests.Session
) -> None:
    base = cache_url(server, "c") + "/items/"
    raw_paths = {
        "a%20b": "a b",
        "a+b": "a+b",
        "a%2Bb": "a+b",  # the same key as the literal +
        "a%2Fb": "a/b",
        "a%252Fb": "a%2Fb",  # decoded exactly once
        quote("ключ☃", safe=""): "ключ☃",
        "ab": "ab",
    }
    for i, raw in enumerate(raw_paths):
        assert http.put(base + raw, json={"value": f"v{i}"}, timeout=5).status_code == 200
    assert server.items("c") == {
        "a b": "v0",
        "a+b": "v2",
        "a/b": "v3",
        "a%2Fb": "v4",
        "ключ☃": "v5",
        "ab": "v6",
    }
    records = server.requests
    assert [r.key for r in records] == list(raw_paths.values())
    assert records[0].path.endswith("/items/a%20b")  # the raw path, as received
    assert http.get(base + "a%2Fb", timeout=5).json()["key"] == "a/b"
    assert http.get(base + "a+b", timeout=5).json()["value"] == "v2"
    # an unencoded / is a different path, not the key a/b
    assert_msg(http.get(base + "a/b", timeout=5), 404)
    assert_msg(http.get(base + "%FF", timeout=5), 400)  # not UTF-8

    put(http, server, "k", cache="my cache/x+y", value="v")
    assert server.items("my cache/x+y") == {"k": "v"}
    names = [c["name"] for c in http.get(caches_url(server), timeout=5).json()]
    assert "my cache/x+y" in names


def test_key_length_limit(server: IronCacheServer, http: requests.Session) -> None:
    assert put(http, server, "k" * 250, value="v").status_code == 200
    assert_msg(put(http, server, "k" * 251, value="v"), 400)


# --------------------------------------------------------------------------- values


def test_value_types(server: IronCacheServer, http: requests.Session) -> None:
    assert put(http, server, "s", value="5").status_code == 200
    assert put(http, server, "i", value=-42).status_code == 200
    assert put(http, server, "e", value="").status_code == 200
    assert get(http, server, "s").json()["value"] == "5"
    assert get(http, server, "i").json()["value"] == -42
    for bad in (1.5, 2.0, True, None, [1], {"a": 1}):
        assert_msg(put(http, server, "bad", value=bad), 400)
    assert "bad" not in server.items("c")

    assert_msg(put(http, server, "k", expires_in=10), 406)  # value missing
    url = item_url(server, "c", "k")
    assert_msg(http.put(url, data=b"{not json", timeout=5), 400)
    assert_msg(http.put(url, data=b"", timeout=5), 400)
    assert_msg(http.put(url, json=["value", "x"], timeout=5), 400)
    assert_msg(http.put(url, data=b'{"value": NaN}', timeout=5), 400)
    assert_msg(put(http, server, "k", value="v", replace="yes"), 400)
    assert_msg(put(http, server, "k", value="v", expires_in=1.5), 400)
    assert_msg(put(http, server, "k", value="v", cas="123"), 400)


def test_bad_json_bodies_say_what_is_wrong(server: IronCacheServer, http: requests.Session) -> None:
    """Bodies are read by the helper both local API servers share, with its messages."""
    url = item_url(server, "c", "k")
    for body, says in (
        (b"", "Invalid JSON: a JSON object body is required."),
        (b"  ", "Invalid JSON: a JSON object body is required."),
        (b'["value", "x"]', "Invalid JSON: the body must be a JSON object."),
        (b'{"value": NaN}', "Invalid JSON: NaN is not JSON"),
        (b"\xff", "Invalid JSON: 'utf-8' codec can't decode"),
    ):
        assert assert_msg(http.put(url, data=body, timeout=5), 400).startswith(says), body
    assert server.items("c") == {}


def test_body_size_limit(server: IronCacheServer, http: requests.Session) -> None:
    def body_of(size: int) -> bytes:
        data = json.dumps({"value": "x" * (size - 13)}).encode()
        assert len(data) == size
        return data

    url = item_url(server, "c", "big")
    assert http.put(url, data=body_of(MAX_BODY_BYTES), timeout=10).status_code == 200
    assert len(server.items("c")["big"]) == MAX_BODY_BYTES - 13
    msg = assert_msg(http.put(url, data=body_of(MAX_BODY_BYTES + 1), timeout=10), 400)
    assert "large" in msg
    assert len(server.items("c")["big"]) == MAX_BODY_BYTES - 13  # unchanged
    # the connection is still usable afterwards
    assert get(http, server, "big").status_code == 200


def test_chunked_body(server: IronCacheServer, http: requests.Session) -> None:
    def chunks() -> Iterator[bytes]:
        yield b'{"value": '
        yield b'"chunked"}'

    resp = http.put(item_url(server, "c", "k"), data=chunks(), timeout=5)
    assert resp.status_code == 200, resp.text
    assert server.items("c") == {"k": "chunked"}


# --------------------------------------------------------------------------- increment


def test_increment(server: IronCacheServer, http: requests.Session) -> None:
    resp = incr(http, server, "n", {"amount": 5}, cache="fresh")
    assert resp.status_code == 201 and resp.json() == {"msg": "Added", "value": 5}
    assert server.items("fresh") == {"n": 5}  # cache and key created, value = amount
    assert incr(http, server, "n", {"amount": 10}, cache="fresh").json()["value"] == 15
    assert incr(http, server, "n", {"amount": -20}, cache="fresh").json()["value"] == -5
    assert incr(http, server, "m", {"amount": -3}, cache="fresh").json()["value"] == -3
    assert get(http, server, "n", cache="fresh").json()["value"] == -5

    put(http, server, "s", value="hello")
    put(http, server, "digits", value="5")
    for key in ("s", "digits"):
        resp = incr(http, server, key, {"amount": 1})
        assert resp.status_code == 400
        assert resp.json() == {"msg": "Cannot increment or decrement non-numeric value"}
    assert server.items("c") == {"s": "hello", "digits": "5"}

    assert_msg(incr(http, server, "n", {}), 406)
    for bad in ({"amount": 1.5}, {"amount": "1"}, {"amount": True}, [1]):
        assert_msg(incr(http, server, "n", bad), 400)


def test_concurrent_increments_are_atomic(server: IronCacheServer) -> None:
    url = item_url(server, "c", "counter") + "/increment"
    headers = {"Authorization": f"OAuth {TOKEN}"}

    def worker() -> None:
        with requests.Session() as s:
            for _ in range(25):
                assert s.post(url, json={"amount": 1}, headers=headers, timeout=5).ok

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert server.items("c") == {"counter": 200}


# --------------------------------------------------------------------------- add/replace/cas


def test_add_replace_cas(server: IronCacheServer, http: requests.Session) -> None:
    assert put(http, server, "k", value="first", add=True).status_code == 200
    assert_msg(put(http, server, "k", value="second", add=True), 409)
    assert server.items("c") == {"k": "first"}

    assert_msg(put(http, server, "new", value="v", replace=True), 404)
    assert "new" not in server.items("c")
    assert put(http, server, "k", value="replaced", replace=True).status_code == 200
    assert put(http, server, "k", value="plain", replace=False, add=False).status_code == 200

    cas = get(http, server, "k").json()["cas"]
    assert_msg(put(http, server, "k", value="stale", cas=cas + 2), 409)
    assert server.items("c") == {"k": "plain"}
    assert put(http, server, "k", value="swapped", cas=cas).status_code == 200
    assert server.items("c") == {"k": "swapped"}
    assert_msg(put(http, server, "k", value="again", cas=cas), 409)  # cas changed
    assert_msg(put(http, server, "missing", value="v", cas=cas), 404)

    assert_msg(put(http, server, "k", value="v", add=True, replace=True), 400)
    assert_msg(put(http, server, "k", value="v", add=True, cas=cas), 400)


def test_big_cas_round_trip_is_exact(server: IronCacheServer, http: requests.Session) -> None:
    put(http, server, "k", value="v")
    resp = get(http, server, "k")
    cas = resp.json()["cas"]
    assert cas > 2**53
    assert int(float(cas)) != cas  # a float64 client would corrupt it
    assert f'"cas": {cas}' in resp.text
    put(http, server, "k", value="w")
    cas2 = get(http, server, "k").json()["cas"]
    assert cas2 != cas and cas2 > 2**53
    # echoed back unchanged as a JSON integer, it matches exactly; one off does not
    assert_msg(put(http, server, "k", value="x", cas=int(float(cas2))), 409)
    assert put(http, server, "k", value="x", cas=cas2).status_code == 200
    assert incr(http, server, "n", {"amount": 1}).status_code == 201
    cas3 = get(http, server, "n").json()["cas"]
    assert cas3 > 2**53 and cas3 not in (cas, cas2)


# --------------------------------------------------------------------------- expiry


def test_expiry_with_injected_clock(
    server: IronCacheServer, http: requests.Session, clock: FakeClock
) -> None:
    clock.now = 1_700_000_000.0  # 2023-11-14T22:13:20Z
    assert put(http, server, "k", value="v", expires_in=10).status_code == 200
    assert put(http, server, "forever", value="v", expires_in=0).status_code == 200
    body = get(http, server, "k").json()
    assert body["expires"] == "2023-11-14T22:13:30Z"
    assert get(http, server, "forever").json()["expires"] is None

    clock.now += 9.9
    assert get(http, server, "k").status_code == 200
    assert incr(http, server, "k2", {"amount": 1}).ok
    clock.now += 0.1
    assert_msg(get(http, server, "k"), 404)
    assert server.items("c") == {"forever": "v", "k2": 1}
    assert http.get(cache_url(server, "c"), timeout=5).json() == {"size": 2}
    # an expired item counts as missing for add / replace / delete
    assert_msg(http.delete(item_url(server, "c", "k"), timeout=5), 404)
    assert put(http, server, "k", value="again", add=True).status_code == 200


def test_increment_keeps_expiry(
    server: IronCacheServer, http: requests.Session, clock: FakeClock
) -> None:
    put(http, server, "n", value=1, expires_in=60)
    clock.now += 30
    assert incr(http, server, "n", {"amount": 1}).json()["value"] == 2
    clock.now += 30
    assert_msg(get(http, server, "n"), 404)
    assert incr(http, server, "n", {"amount": 7}).json()["value"] == 7  # recreated


def test_expires_in_limits(server: IronCacheServer, http: requests.Session) -> None:
    assert put(http, server, "k", value="v", expires_in=MAX_EXPIRES_IN).status_code == 200
    assert_msg(put(http, server, "k2", value="v", expires_in=MAX_EXPIRES_IN + 1), 400)
    assert_msg(put(http, server, "k2", value="v", expires_in=-1), 400)
    assert "k2" not in server.items("c")


# --------------------------------------------------------------------------- faults


def test_fail_next_burst_with_retry_after(server: IronCacheServer, http: requests.Session) -> None:
    server.faults.fail_next(3, retry_after=0)
    for _ in range(3):
        resp = put(http, server, "k", value="v")
        assert_msg(resp, 503)
        assert resp.headers["Retry-After"] == "0"
    assert server.items("c") == {}  # nothing applied
    assert put(http, server, "k", value="v").status_code == 200
    assert [r.fault for r in server.requests] == ["fail_next"] * 3 + [None]

    server.faults.fail_next(1, status=500, retry_after=2)
    resp = get(http, server, "k")
    assert_msg(resp, 500)
    assert resp.headers["Retry-After"] == "2"
    server.faults.fail_next(1)
    resp = get(http, server, "k")
    assert resp.status_code == 503 and "Retry-After" not in resp.headers
    # The other form RFC 9110 allows: an HTTP-date, always in GMT.
    eastern = timezone(timedelta(hours=-5))
    server.faults.fail_next(1, retry_after=datetime(1994, 11, 6, 3, 49, 37, tzinfo=eastern))
    resp = get(http, server, "k")
    assert resp.headers["Retry-After"] == "Sun, 06 Nov 1994 08:49:37 GMT"
    for bad in (0.05, -1, datetime(1994, 11, 6)):  # a fraction, a negative, no timezone
        with pytest.raises(ValueError, match="retry_after"):
            server.faults.fail_next(1, retry_after=bad)  # type: ignore[arg-type]
    assert get(http, server, "k").status_code == 200


def test_latency(server: IronCacheServer, http: requests.Session) -> None:
    server.faults.latency = 0.2
    start = time.monotonic()
    assert http.get(caches_url(server), timeout=5).status_code == 200
    assert time.monotonic() - start >= 0.2
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(caches_url(server), timeout=0.05)
    server.faults.clear()
    start = time.monotonic()
    assert http.get(caches_url(server), timeout=5).status_code == 200
    assert time.monotonic() - start < 0.2


def test_drop_after_apply(server: IronCacheServer, http: requests.Session) -> None:
    server.faults.drop_after_apply()
    assert get(http, server, "n").status_code == 404  # GET is not a matching method
    with pytest.raises(requests.exceptions.ConnectionError):
        incr(http, server, "n", {"amount": 3})
    assert server.items("c") == {"n": 3}  # applied, though the client saw no answer
    assert server.requests[-1].fault == "drop_after_apply"
    assert server.requests[-1].status == 201
    assert incr(http, server, "n", {"amount": 1}).json()["value"] == 4  # only once

    server.faults.drop_after_apply(2, methods=("PUT",))
    for value in ("a", "b"):
        with pytest.raises(requests.exceptions.ConnectionError):
            put(http, server, "p", value=value)
        assert server.items("c")["p"] == value
    assert server.faults.pending["drop_after_apply"] == 0


def raw_exchange(server: IronCacheServer, method: str, path: str, body: bytes = b"") -> bytes:
    """Everything the server sends for one request, up to the close, as bytes."""
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: OAuth {TOKEN}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        )
        sock.sendall(head.encode() + body)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_cut_reply_sends_part_of_the_answer_after_applying(server: IronCacheServer) -> None:
    path = f"/1/projects/{PROJECT}/caches/c/items/n"
    server.faults.cut_reply(methods=("POST",))
    server.faults.cut_reply(at="headers")
    cut_body = raw_exchange(server, "POST", path + "/increment", b'{"amount": 3}')
    head, _, body = cut_body.partition(b"\r\n\r\n")
    length = int(re.search(rb"Content-Length: (\d+)", head)[1])  # type: ignore[index]
    assert head.startswith(b"HTTP/1.1 201") and 0 < len(body) < length
    assert server.items("c") == {"n": 3}  # applied once, answer cut
    cut_head = raw_exchange(server, "GET", path)
    assert cut_head.startswith(b"HTTP/1.1 200") and b"\r\n\r\n" not in cut_head
    assert b"Content-Length" not in cut_head
    assert [r.fault for r in server.requests] == ["cut_reply"] * 2
    assert server.faults.pending["cut_reply"] == 0


def test_cut_reply_can_stall_before_closing(server: IronCacheServer) -> None:
    server.faults.cut_reply(stall=0.3)
    start = time.monotonic()
    raw_exchange(server, "GET", f"/1/projects/{PROJECT}/caches")
    assert time.monotonic() - start >= 0.3
    with pytest.raises(ValueError, match="at must be"):
        server.faults.cut_reply(at="trailers")


def test_the_request_log_is_bounded(http: requests.Session) -> None:
    with IronCacheServer(token=TOKEN, project_id=PROJECT, log_limit=5) as srv:
        for i in range(12):
            assert put(http, srv, f"k{i}", value="x" * 100_000).status_code == 200
        log = srv.requests
        assert [r.key for r in log] == [f"k{i}" for i in range(7, 12)]
        assert all(len(r.body) == IronCacheServer.log_body_limit for r in log)
        assert srv.items("c")["k11"] == "x" * 100_000  # the server itself got every byte


def test_drop_before(server: IronCacheServer, http: requests.Session) -> None:
    server.faults.drop_before(2)
    with pytest.raises(requests.exceptions.ConnectionError):
        put(http, server, "k", value="v")
    with pytest.raises(requests.exceptions.ConnectionError):
        incr(http, server, "n", {"amount": 1})
    assert server.items("c") == {} and server.caches() == []
    assert [(r.fault, r.status) for r in server.requests] == [("drop_before", None)] * 2
    assert put(http, server, "k", value="v").status_code == 200


def test_reset(server: IronCacheServer, http: requests.Session) -> None:
    put(http, server, "k", value="v")
    server.faults.fail_next(5)
    server.faults.latency = 1.0
    server.reset()
    assert server.caches() == [] and server.requests == []
    assert server.faults.pending == {
        "fail_next": 0,
        "drop_before": 0,
        "drop_after_apply": 0,
        "cut_reply": 0,
    }
    assert server.faults.latency == 0.0
    assert http.get(caches_url(server), timeout=5).json() == []


def test_stop_closes_idle_keep_alive_connections(http: requests.Session) -> None:
    srv = IronCacheServer(token=TOKEN, project_id=PROJECT).start()
    assert http.get(caches_url(srv), timeout=5).status_code == 200  # leaves a pooled conn
    start = time.monotonic()
    srv.stop()
    assert time.monotonic() - start < 2.0
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(caches_url(srv), timeout=2)
