"""Real memcached processes on loopback, for tests: ours and our users'.

Why real processes and not mocks: the bugs that matter in a memcache client (a login that is
never read back, a stale socket after a server restart, a dead node in a hash ring, a value
just over the item size) only show up against the real wire protocol and a real server.

:class:`MemcachedServer` runs one memcached (with users: memcached's ASCII authentication,
reached with MemCachier's login format), :class:`MemcachedCluster` several.  What a raw
socket says to them, the login included, is :mod:`cacheops.testing.memcached_wire`'s.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from urllib.parse import quote

from cacheops.testing.lifecycle import StartStop
from cacheops.testing.memcached_wire import (
    MemcachedError,
    check_users,
    login_payload,
    request,
)
from cacheops.testing.net import free_port, wait_for_port

__all__ = [
    "MemcachedCluster",
    "MemcachedError",
    "MemcachedNotInstalled",
    "MemcachedServer",
    "find_memcached",
]

INSTALL_HINT = "install it: apt-get install -y memcached"

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0
SOCKET_TIMEOUT = 5.0
RELOAD_TIMEOUT = 5.0
_FRESH_PORT_ATTEMPTS = 5
_FALLBACK_PATHS = ("/usr/bin/memcached", "/usr/local/bin/memcached")


class MemcachedNotInstalled(MemcachedError):
    """The memcached binary is missing: tests that need it cannot run on this machine."""


def find_memcached() -> str | None:
    """Path of the memcached binary, or ``None``.

    Looks on ``PATH`` first, then at the usual install locations, because test runners
    (tox, IDEs, CI) often start with a trimmed ``PATH``.
    """
    found = shutil.which("memcached")
    if found:
        return found
    for candidate in _FALLBACK_PATHS:
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _resolve_binary(binary: str | None) -> str:
    """The binary to run; raises :class:`MemcachedNotInstalled` with the fix in the message."""
    if binary is None:
        found = find_memcached()
        if found is None:
            raise MemcachedNotInstalled(f"memcached binary not found; {INSTALL_HINT}")
        return found
    resolved = shutil.which(binary) if os.sep not in binary else binary
    if resolved is None or not (os.path.isfile(resolved) and os.access(resolved, os.X_OK)):
        raise MemcachedNotInstalled(f"memcached binary not found at {binary!r}; {INSTALL_HINT}")
    return resolved


def _pid_listens_on(pid: int, port: int) -> bool | None:
    """Whether process ``pid`` holds a socket listening on TCP ``port``; ``None`` without /proc.

    A successful connect alone does not prove memcached is up: another process may hold the
    port, and memcached only exits (with "Address already in use") a moment later.
    """
    listening: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            # fields: sl, local_address (hex ip:port), rem_address, st (0A = LISTEN), ..., inode
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                listening.add(f"socket:[{fields[9]}]")
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for fd in fds:
        with contextlib.suppress(OSError):
            if os.readlink(f"/proc/{pid}/fd/{fd}") in listening:
                return True
    return False


_LIVE: set[MemcachedServer] = set()


def _stop_all_servers() -> None:
    """atexit hook: no memcached started here may outlive the test run."""
    for server in list(_LIVE):
        with contextlib.suppress(Exception):
            server.stop()


atexit.register(_stop_all_servers)


class MemcachedServer(StartStop):
    """One real memcached on loopback, started in the foreground under :mod:`subprocess`.

    Use it as a context manager, or call :meth:`start` and :meth:`stop`. The port is picked
    at the first start and kept, so :meth:`restart` brings the server back where clients
    expect it.
    """

    def __init__(
        self,
        *,
        users: Mapping[str, str] | None = None,
        memory_mb: int = 64,
        max_item_size: str | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        threads: int = 2,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        """Check everything that can be checked before a process exists.

        ``users`` maps user name to password (at most 8); with users the server requires
        memcached's ASCII authentication. ``max_item_size`` is memcached's ``-I`` (``"1m"``,
        ``"2m"``). ``extra_args`` go on the command line as-is. ``binary`` overrides the
        memcached found on the machine. Raises :class:`MemcachedNotInstalled` at once, so a
        fixture can skip before starting anything.
        """
        if memory_mb < 1:
            raise ValueError(f"memory_mb must be at least 1, got {memory_mb}")
        if threads < 1:
            raise ValueError(f"threads must be at least 1, got {threads}")
        self._binary = _resolve_binary(binary)
        self._users: dict[str, str] | None = None if users is None else check_users(users)
        self._memory_mb = memory_mb
        self._max_item_size = max_item_size
        self._host = host
        self._port: int | None = port
        self._port_given = port is not None
        self._threads = threads
        self._extra_args = tuple(extra_args)
        self._proc: subprocess.Popen[bytes] | None = None
        self._tempdir: Path | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> MemcachedServer:
        """Start memcached and wait until it accepts connections; returns ``self``.

        Without an explicit port a free one is picked (and a new one tried if another process
        takes it first). A second call while running does nothing. Raises
        :class:`MemcachedError` with memcached's own output when it does not come up.
        """
        if self.running:
            return self
        self._reap()
        if self._port is not None:
            # A port the caller chose and is in use: say so at once. Our own port from an
            # earlier run: it may take a moment to be free again, so retry.
            deadline = time.monotonic() + START_TIMEOUT
            self._spawn_on(self._port, deadline=deadline, retry=not self._port_given)
            return self
        for attempt in range(_FRESH_PORT_ATTEMPTS):
            port = free_port(self._host)
            last = attempt == _FRESH_PORT_ATTEMPTS - 1
            deadline = time.monotonic() + START_TIMEOUT
            if self._spawn_on(port, deadline=deadline, retry=False, raise_if_busy=last):
                self._port = port
                return self
        raise AssertionError("unreachable")  # pragma: no cover

    def stop(self) -> None:
        """Stop memcached (SIGTERM, then SIGKILL after a timeout) and remove its tempdir.

        memcached only notices SIGTERM when its main event loop wakes: on the next
        one-second clock tick, or on a new connection (the main thread accepts them). So a
        throwaway connection follows the signal, and stop takes milliseconds, not a second.
        """
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            if self._port is not None:
                with contextlib.suppress(OSError):
                    socket.create_connection((self._host, self._port), timeout=0.5).close()
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self._remove_tempdir()
        _LIVE.discard(self)

    def kill(self) -> None:
        """SIGKILL memcached, as a crashed or unplugged node would vanish.

        Nothing is cleaned up beyond reaping the process, so :meth:`restart` (or
        :meth:`stop`) still works afterwards.
        """
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()

    def restart(self) -> MemcachedServer:
        """Stop, then start again on the same port, empty; for "server restarted" tests.

        memcached sets SO_REUSEADDR, so the port is normally free at once; if another socket
        holds it, binding is retried for up to ~10 s before :class:`MemcachedError`.
        """
        port = self._port
        self.stop()
        if port is None:
            return self.start()
        self._spawn_on(port, deadline=time.monotonic() + START_TIMEOUT, retry=True)
        return self

    def reload_auth(self, users: Mapping[str, str]) -> None:
        """Replace the users of a running server: rewrite the authfile and send SIGHUP.

        memcached applies a SIGHUP on its next one-second clock tick, so this waits until a
        probe login shows the new file is in force. The probes count in ``auth_cmds`` (and a
        probe with a removed password in ``auth_errors``).
        """
        new = check_users(users)
        if self._users is None:
            raise MemcachedError("this server was started without users; SIGHUP cannot add auth")
        proc = self._require_running()
        old = self._users
        self._write_authfile(new)
        os.kill(proc.pid, signal.SIGHUP)
        self._users = new
        added = [(u, p) for u, p in new.items() if old.get(u) != p]
        removed = [(u, p) for u, p in old.items() if new.get(u) != p]
        if added:
            probe, want = added[0], True
        elif removed:
            probe, want = removed[0], False
        else:
            return
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while self._try_login(*probe) != want:
            if time.monotonic() > deadline:
                raise MemcachedError(
                    f"memcached did not apply the new authfile within {RELOAD_TIMEOUT} s"
                )
            time.sleep(0.05)

    # -- where and how to reach it ----------------------------------------------------------

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        """The TCP port; known once the server has been started (or was given)."""
        if self._port is None:
            raise MemcachedError("the server has no port yet: start() it first")
        return self._port

    @property
    def address(self) -> tuple[str, int]:
        return (self._host, self.port)

    @property
    def server(self) -> str:
        """``host:port`` (``[v6]:port``), as in ``MEMCACHIER_SERVERS`` or a cacheops URL."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        """Process id of the running memcached, ``None`` when it is not running."""
        return self._proc.pid if self._proc is not None and self.running else None

    @property
    def users(self) -> dict[str, str]:
        """A copy of the configured users (empty without authentication)."""
        return dict(self._users or {})

    @property
    def url(self) -> str:
        """``memcached://host:port``, or a ``memcachier://`` URL for the first user."""
        if self._users:
            return self.memcachier_url(next(iter(self._users)))
        return f"memcached://{self.server}"

    def memcachier_credentials(self, username: str) -> tuple[str, str]:
        """``(username, "username password")``: what to configure a MemCachier client with.

        The MemCachier login then sends ``set username 0 0 N`` with data
        ``username password``, which is memcached's own login (see the module docstring).
        """
        users = self._users or {}
        if username not in users:
            raise KeyError(f"no user {username!r} on this server; users: {sorted(users)}")
        return username, f"{username} {users[username]}"

    def memcachier_url(self, username: str) -> str:
        """``memcachier://USER:PASS@host:port`` with both parts percent-encoded."""
        return _memcachier_url(self.memcachier_credentials(username), [self.server])

    # -- raw-socket admin -------------------------------------------------------------------

    def stats(self) -> dict[str, str]:
        """memcached's ``stats``, read over a raw socket (logged in as the first user)."""
        with self._session() as sock:
            reply = request(sock, b"stats\r\n", b"END\r\n")
        if not reply.startswith((b"STAT ", b"END")):
            raise MemcachedError(f"unexpected reply to stats: {reply!r}")
        stats: dict[str, str] = {}
        for line in reply.decode().split("\r\n"):
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "STAT":
                stats[parts[1]] = parts[2]
        return stats

    def flush_all(self) -> None:
        """Empty the cache, over a raw socket (logged in as the first user)."""
        with self._session() as sock:
            reply = request(sock, b"flush_all\r\n")
        if reply != b"OK\r\n":
            raise MemcachedError(f"unexpected reply to flush_all: {reply!r}")

    def __repr__(self) -> str:
        where = self.server if self._port is not None else "no port yet"
        state = "running" if self.running else "stopped"
        auth = f", users={sorted(self._users)}" if self._users else ""
        return f"<MemcachedServer {where} {state}{auth}>"

    # -- internals --------------------------------------------------------------------------

    def _command(self, port: int, authfile: Path | None) -> list[str]:
        cmd = [self._binary, "-l", self._host, "-p", str(port), "-U", "0"]
        cmd += ["-m", str(self._memory_mb), "-t", str(self._threads)]
        if self._max_item_size is not None:
            cmd += ["-I", self._max_item_size]
        if authfile is not None:
            cmd += ["-Y", str(authfile)]
        if os.geteuid() == 0:
            # memcached refuses to run as root without -u, and reads the authfile after
            # dropping privileges: stay root so the 0600 file stays readable.
            cmd += ["-u", "root"]
        cmd += self._extra_args
        return cmd

    def _spawn_on(
        self, port: int, *, deadline: float, retry: bool, raise_if_busy: bool = True
    ) -> bool:
        """Run memcached on ``port`` until it listens; ``False`` if the port was busy.

        With ``retry`` a busy port is tried again until ``deadline``. Otherwise a busy port
        raises when ``raise_if_busy``, else returns ``False`` for the caller to pick another.
        """
        tempdir = self._make_tempdir()
        authfile = self._write_authfile(self._users) if self._users is not None else None
        log_path = tempdir / "memcached.log"
        cmd = self._command(port, authfile)
        while True:
            with open(log_path, "wb") as log:
                try:
                    proc = subprocess.Popen(
                        cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                    )
                except FileNotFoundError as exc:
                    self._remove_tempdir()
                    raise MemcachedNotInstalled(
                        f"memcached binary not found at {self._binary!r}; {INSTALL_HINT}"
                    ) from exc
            self._proc = proc
            _LIVE.add(self)
            if self._wait_listening(proc, port, deadline):
                return True
            timed_out = time.monotonic() >= deadline
            output = log_path.read_text(errors="replace").strip()
            busy = "Address already in use" in output
            if busy and retry and time.monotonic() < deadline:
                time.sleep(0.1)
                continue
            self.stop()
            if busy and not raise_if_busy:
                return False
            if busy:
                why = f"port {port} stayed in use"
            elif timed_out:
                why = f"no connection accepted within {START_TIMEOUT} s"
            else:
                why = f"exit status {proc.returncode}"
            raise MemcachedError(
                f"memcached did not start on {self._host}:{port} ({why}).\n"
                f"command: {' '.join(cmd)}\nmemcached said: {output or '(nothing)'}"
            )

    def _wait_listening(self, proc: subprocess.Popen[bytes], port: int, deadline: float) -> bool:
        """``True`` once ``proc`` accepts connections; ``False`` if it exits or time runs out."""
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                return False
            if wait_for_port(self._host, port, timeout=0.1):
                ours = _pid_listens_on(proc.pid, port)
                if ours is None:  # no /proc: best effort, memcached exits fast when port busy
                    time.sleep(0.05)
                    ours = proc.poll() is None
                if ours:
                    return True
                time.sleep(0.02)  # someone else listens there; memcached is about to exit
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        return False

    def _reap(self) -> None:
        """Forget a process that died on its own (or by :meth:`kill`), and its tempdir."""
        if self._proc is not None and self._proc.poll() is not None:
            self.stop()

    def _make_tempdir(self) -> Path:
        if self._tempdir is None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="cacheops-memcached-"))
        return self._tempdir

    def _remove_tempdir(self) -> None:
        tempdir, self._tempdir = self._tempdir, None
        if tempdir is not None:
            shutil.rmtree(tempdir, ignore_errors=True)

    def _write_authfile(self, users: Mapping[str, str]) -> Path:
        """Write ``user:pass`` lines (mode 0600, newline-terminated) by atomic replace."""
        path = self._make_tempdir() / "authfile"
        tmp = path.with_suffix(".tmp")
        text = "".join(f"{user}:{password}\n" for user, password in users.items())
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
        return path

    def _require_running(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            raise MemcachedError(f"{self!r} is not running")
        return self._proc

    def _connect(self) -> socket.socket:
        return socket.create_connection(self.address, timeout=SOCKET_TIMEOUT)

    def _try_login(self, user: str, password: str) -> bool:
        with self._connect() as sock:
            return request(sock, login_payload(user, password)) == b"STORED\r\n"

    @contextlib.contextmanager
    def _session(self) -> Iterator[socket.socket]:
        """A raw socket, logged in as the first user when the server has users."""
        self._require_running()
        with self._connect() as sock:
            if self._users:
                user, password = next(iter(self._users.items()))
                reply = request(sock, login_payload(user, password))
                if reply != b"STORED\r\n":
                    raise MemcachedError(f"login as {user!r} refused: {reply!r}")
            yield sock


def _memcachier_url(credentials: tuple[str, str], servers: Sequence[str]) -> str:
    user, password = (quote(part, safe="") for part in credentials)
    return f"memcachier://{user}:{password}@{','.join(servers)}"


class MemcachedCluster(StartStop):
    """``n`` independent memcached servers with the same settings, for multi-node tests."""

    def __init__(
        self,
        n: int,
        *,
        users: Mapping[str, str] | None = None,
        memory_mb: int = 64,
        max_item_size: str | None = None,
        host: str = "127.0.0.1",
        threads: int = 2,
        extra_args: Sequence[str] = (),
        binary: str | None = None,
    ) -> None:
        """Takes the keyword arguments of :class:`MemcachedServer` except ``port``."""
        if n < 1:
            raise ValueError(f"a cluster needs at least one server, got {n}")
        self.servers: list[MemcachedServer] = [
            MemcachedServer(
                users=users,
                memory_mb=memory_mb,
                max_item_size=max_item_size,
                host=host,
                threads=threads,
                extra_args=extra_args,
                binary=binary,
            )
            for _ in range(n)
        ]

    def start(self) -> MemcachedCluster:
        """Start every server; if one fails, stop those already started and re-raise."""
        try:
            for server in self.servers:
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers:
            server.stop()

    def __len__(self) -> int:
        return len(self.servers)

    @property
    def server_list(self) -> list[str]:
        """``["host:port", ...]`` in server order."""
        return [server.server for server in self.servers]

    @property
    def url(self) -> str:
        """``memcached://h:p1,h:p2,...``, or ``memcachier://USER:PASS@h:p1,...`` with users."""
        users = self.servers[0].users
        if users:
            return self.memcachier_url(next(iter(users)))
        return f"memcached://{','.join(self.server_list)}"

    def memcachier_url(self, username: str) -> str:
        """A ``memcachier://`` URL naming every server, for ``username``."""
        credentials = self.servers[0].memcachier_credentials(username)
        return _memcachier_url(credentials, self.server_list)
