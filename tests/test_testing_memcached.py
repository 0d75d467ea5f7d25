"""cacheops.testing.memcached against the real memcached binary, over raw sockets only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest

from cacheops.testing.memcached import (
    MemcachedCluster,
    MemcachedError,
    MemcachedNotInstalled,
    MemcachedServer,
    find_memcached,
)

pytestmark = [
    pytest.mark.memcached,
    pytest.mark.skipif(find_memcached() is None, reason="memcached binary not installed"),
]

USERS = {"alice": "secret", "bob": "hunter2"}


def talk(sock: socket.socket, data: bytes, end: bytes = b"\r\n") -> bytes:
    """Send ``data`` and read until the reply ends with ``end`` (or is an error line)."""
    sock.sendall(data)
    reply = b""
    while not reply.endswith(end) and not (b"ERROR" in reply and reply.endswith(b"\r\n")):
        chunk = sock.recv(65536)
        if not chunk:
            break
        reply += chunk
    return reply


def connect(server: MemcachedServer) -> socket.socket:
    return socket.create_connection(server.address, timeout=5)


def memcachier_login(sock: socket.socket, username: str, password: str) -> bytes:
    """The MemCachier ASCII login, byte for byte: key = username, data = password."""
    data = password.encode()
    return talk(sock, b"set %s 0 0 %d\r\n%s\r\n" % (username.encode(), len(data), data))


@pytest.fixture
def plain() -> Iterator[MemcachedServer]:
    with MemcachedServer() as server:
        yield server


@pytest.fixture
def authed() -> Iterator[MemcachedServer]:
    with MemcachedServer(users=USERS) as server:
        yield server


def test_start_and_stop() -> None:
    server = MemcachedServer()
    assert not server.running
    assert server.start() is server
    assert server.running
    assert isinstance(server.pid, int)
    assert server.host == "127.0.0.1"
    assert server.address == ("127.0.0.1", server.port)
    assert server.server == f"127.0.0.1:{server.port}"
    assert server.url == f"memcached://127.0.0.1:{server.port}"
    with connect(server) as sock:
        assert talk(sock, b"version\r\n").startswith(b"VERSION 1.")
    server.stop()
    assert not server.running
    assert server.pid is None
    with pytest.raises(OSError):
        connect(server)
    server.stop()  # idempotent


def test_set_and_get_over_raw_socket(plain: MemcachedServer) -> None:
    with connect(plain) as sock:
        assert talk(sock, b"set greeting 5 0 5\r\nhello\r\n") == b"STORED\r\n"
        reply = talk(sock, b"get greeting\r\n", b"END\r\n")
    assert reply == b"VALUE greeting 5 5\r\nhello\r\nEND\r\n"


def test_auth_server_refuses_commands_before_login(authed: MemcachedServer) -> None:
    with connect(authed) as sock:
        assert talk(sock, b"get k\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
        assert talk(sock, b"stats\r\n") == b"CLIENT_ERROR unauthenticated\r\n"


def test_memcachier_format_login_is_accepted(authed: MemcachedServer) -> None:
    username, password = authed.memcachier_credentials("alice")
    assert (username, password) == ("alice", "alice secret")
    with connect(authed) as sock:
        assert memcachier_login(sock, username, password) == b"STORED\r\n"
        assert talk(sock, b"set k 0 0 1\r\nv\r\n") == b"STORED\r\n"
        assert talk(sock, b"get k\r\n", b"END\r\n") == b"VALUE k 0 1\r\nv\r\nEND\r\n"
    # The key of the login set is ignored by memcached: only the data carries the identity.
    with connect(authed) as sock:
        assert memcachier_login(sock, "whatever", "bob hunter2") == b"STORED\r\n"


def test_bad_password_is_refused(authed: MemcachedServer) -> None:
    with connect(authed) as sock:
        reply = memcachier_login(sock, "alice", "alice wrong")
        assert reply == b"CLIENT_ERROR authentication failure\r\n"
        assert talk(sock, b"get k\r\n") == b"CLIENT_ERROR unauthenticated\r\n"
        # A MemCachier password used as-is (no "user " prefix) is not memcached's format.
        reply = memcachier_login(sock, "alice", "secret")
        assert reply == b"CLIENT_ERROR bad authentication token format\r\n"


def test_kill_then_restart_on_same_port_loses_data(plain: MemcachedServer) -> None:
    with connect(plain) as sock:
        assert talk(sock, b"set k 0 0 1\r\nv\r\n") == b"STORED\r\n"
    port, pid = plain.port, plain.pid
    plain.kill()
    assert not plain.running
    with pytest.raises(OSError):
        connect(plain)
    assert plain.restart() is plain
    assert plain.running
    assert plain.port == port
    assert plain.pid != pid
    with connect(plain) as sock:
        assert talk(sock, b"get k\r\n", b"END\r\n") == b"END\r\n"


def test_restart_waits_for_a_busy_port(plain: MemcachedServer) -> None:
    port = plain.port
    plain.kill()
    holder = socket.socket()
    holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    holder.bind(("127.0.0.1", port))
    holder.listen()
    release = threading.Timer(0.3, holder.close)
    release.start()
    try:
        plain.restart()
    finally:
        release.cancel()
        holder.close()
    assert plain.port == port
    assert plain.stats()["pid"] == str(plain.pid)


def test_restart_of_live_auth_server_keeps_port_and_users(authed: MemcachedServer) -> None:
    port = authed.port
    authed.restart()
    assert authed.port == port
    with connect(authed) as sock:
        assert memcachier_login(sock, *authed.memcachier_credentials("bob")) == b"STORED\r\n"


def test_cluster_of_three() -> None:
    with MemcachedCluster(3) as cluster:
        assert len(cluster.servers) == 3
        ports = {server.port for server in cluster.servers}
        assert len(ports) == 3
        assert all(server.running for server in cluster.servers)
        assert cluster.server_list == [f"127.0.0.1:{s.port}" for s in cluster.servers]
        assert cluster.url == "memcached://" + ",".join(cluster.server_list)
    assert not any(server.running for server in cluster.servers)


def test_cluster_with_users_gives_memcachier_url() -> None:
    with MemcachedCluster(2, users={"u/1": "p@ss"}) as cluster:
        hosts = ",".join(cluster.server_list)
        assert cluster.url == f"memcachier://u%2F1:u%2F1%20p%40ss@{hosts}"
        for server in cluster.servers:
            with connect(server) as sock:
                assert memcachier_login(sock, "u/1", "u/1 p@ss") == b"STORED\r\n"


def test_urls_are_percent_encoded(authed: MemcachedServer) -> None:
    expected = f"memcachier://alice:alice%20secret@127.0.0.1:{authed.port}"
    assert authed.url == expected
    assert authed.memcachier_url("alice") == expected
    assert authed.memcachier_url("bob").startswith("memcachier://bob:bob%20hunter2@")
    with pytest.raises(KeyError):
        authed.memcachier_credentials("mallory")


def test_stats_and_flush_all_log_in_first(authed: MemcachedServer) -> None:
    stats = authed.stats()
    assert stats["pid"] == str(authed.pid)
    assert int(stats["auth_cmds"]) >= 1
    assert stats["auth_errors"] == "0"
    with connect(authed) as sock:
        memcachier_login(sock, *authed.memcachier_credentials("alice"))
        talk(sock, b"set k 0 0 1\r\nv\r\n")
        authed.flush_all()
        assert talk(sock, b"get k\r\n", b"END\r\n") == b"END\r\n"


def test_stats_without_auth(plain: MemcachedServer) -> None:
    stats = plain.stats()
    assert stats["pid"] == str(plain.pid)
    assert stats["auth_cmds"] == "0"


def test_reload_auth_applies_new_users(authed: MemcachedServer) -> None:
    authed.reload_auth({"carol": "c4rol"})
    with connect(authed) as sock:
        assert memcachier_login(sock, "carol", "carol c4rol") == b"STORED\r\n"
    with connect(authed) as sock:
        reply = memcachier_login(sock, "alice", "alice secret")
        assert reply == b"CLIENT_ERROR authentication failure\r\n"
    assert authed.url.startswith("memcachier://carol:")


def test_authfile_is_private(authed: MemcachedServer) -> None:
    assert authed._tempdir is not None
    authfile = authed._tempdir / "authfile"
    assert authfile.stat().st_mode & 0o777 == 0o600
    assert authfile.read_text() == "alice:secret\nbob:hunter2\n"
    tempdir = authed._tempdir
    authed.stop()
    assert not tempdir.exists()


def test_missing_binary_raises_not_installed() -> None:
    with pytest.raises(MemcachedNotInstalled, match="apt-get install -y memcached"):
        MemcachedServer(binary="/nonexistent/bin/memcached")
    with pytest.raises(MemcachedNotInstalled):
        MemcachedCluster(2, binary="/nonexistent/bin/memcached")
    assert issubclass(MemcachedNotInstalled, RuntimeError)


def test_start_failure_reports_memcacheds_output() -> None:
    server = MemcachedServer(max_item_size="2k")  # below memcached's slab chunk size
    with pytest.raises(MemcachedError, match="slab_chunk_max"):
        server.start()
    assert not server.running


def test_busy_explicit_port_is_an_error() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        with pytest.raises(MemcachedError, match="Address already in use"):
            MemcachedServer(port=port).start()


@pytest.mark.parametrize(
    "users",
    [
        {f"u{i}": "p" for i in range(9)},
        {},
        {"a:b": "p"},
        {"alice": "se cret"},
        {"alice": ""},
        {"alice": "x" * 250},
    ],
)
def test_users_memcached_would_mishandle_are_refused(users: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        MemcachedServer(users=users)


def test_eight_users_all_log_in() -> None:
    users = {f"user{i}": f"pw{i}" for i in range(8)}
    with MemcachedServer(users=users) as server, connect(server) as sock:
        assert memcachier_login(sock, "user7", "user7 pw7") == b"STORED\r\n"
