"""cacheops on IronCache against the official client and a bare requests.Session.

    python benchmarks/ironcache_bench.py [--rounds 9] [--ops 300] [--rtt-ms 1 5 20] [--no-tls]

All three make the same REST calls to the same local IronCache-compatible server, which
runs in its own process (so it does not share the client's GIL):

- the official client, ``iron-cache`` 0.3.2 on ``iron-core`` 1.2.1, used as shipped: its
  ``get``/``put`` run on Python 3 unchanged (only ``caches()`` is broken there, and it is
  not benchmarked), so no compatibility shim is needed. It calls ``requests.get``/``put``,
  a new session and connection per call: over HTTPS, a TLS handshake per call;
- ``cacheops`` through ``connect(...)``;
- a bare ``requests.Session`` with the same header and timeouts, decoding the same JSON.

get and put are measured with the benchmark and the server process on one CPU (see
``common.one_cpu``), twice: over plain HTTP, and over HTTPS (what ``ironcache://`` and
the real service use) through a TLS-terminating relay in the server's process, with a
throwaway self-signed ECDSA P-256 certificate made by the ``openssl`` command.

get_many of 100 keys is compared with 100 sequential cacheops gets on raw loopback, then
with each ``--rtt-ms`` of latency added by the server to every request, a stand-in for the
round trip to a hosted service (what get_many's concurrency exists to overlap). On loopback
a get costs only CPU: about 350 µs in the client (requests, urllib3 and http.client, in
Python) and 150 µs in the server, measured per call on one CPU. Concurrent requests
cannot share the client's part, which holds the GIL, so on loopback get_many can only
overlap the server's part and the wake-ups between the processes: the raw-loopback figure
is reported, not expected to reach the target.

Targets (issue 4): at least 3x the official client's throughput on get and put, within
1.15x of the bare Session, get_many(100) at least 4x faster than 100 sequential gets.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import select
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import requests

import cacheops
from benchmarks import common
from benchmarks.common import interleaved, one_cpu, ratio, report
from cacheops.testing.ironcache_server import IronCacheServer

CACHE = "bench"
VALUE = "v" * 100


@dataclass(frozen=True)
class Endpoint:
    """Where a server process listens, and with which credentials."""

    port: int
    project_id: str
    token: str
    tls_port: int | None


# -- the server process ----------------------------------------------------------------------


def _relay(tls: ssl.SSLSocket, upstream: socket.socket) -> None:
    """Pump bytes between a TLS client and the plain server until either side closes."""
    try:
        while True:
            readable, _, _ = select.select([tls, upstream], [], [])
            for source in readable:
                target = upstream if source is tls else tls
                data = source.recv(65536)
                # Decrypted bytes can wait in the TLS buffer without the socket being
                # readable: drain them now.
                while source is tls and tls.pending():
                    data += tls.recv(tls.pending())
                if not data:
                    return
                target.sendall(data)
    except OSError:
        pass
    finally:
        tls.close()
        upstream.close()


def _serve_tls(port: int, certfile: str, keyfile: str) -> int:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certfile, keyfile)
    listener = socket.create_server(("127.0.0.1", 0))

    def accept() -> None:
        while True:
            raw, _ = listener.accept()
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=handshake, args=(raw,), daemon=True).start()

    def handshake(raw: socket.socket) -> None:
        try:
            tls = context.wrap_socket(raw, server_side=True)
            upstream = socket.create_connection(("127.0.0.1", port))
            upstream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            raw.close()
            return
        _relay(tls, upstream)

    threading.Thread(target=accept, daemon=True).start()
    return int(listener.getsockname()[1])


def _serve(latency: float, cert: tuple[str, str] | None, conn: Connection) -> None:
    with IronCacheServer() as server:
        server.faults.latency = latency
        tls_port = _serve_tls(server.port, *cert) if cert else None
        conn.send(Endpoint(server.port, server.project_id, server.token, tls_port))
        conn.recv()  # until the parent says stop


@contextmanager
def server_process(latency: float = 0.0, cert: tuple[str, str] | None = None) -> Iterator[Endpoint]:
    parent, child = multiprocessing.Pipe()
    process = multiprocessing.get_context("fork").Process(
        target=_serve, args=(latency, cert, child), daemon=True
    )
    process.start()
    try:
        yield parent.recv()
    finally:
        parent.send("stop")
        process.join(timeout=10)


@contextmanager
def self_signed_certificate() -> Iterator[tuple[str, str] | None]:
    """(certfile, keyfile) for 127.0.0.1, or None without the openssl command."""
    if shutil.which("openssl") is None:
        yield None
        return
    with tempfile.TemporaryDirectory() as folder:
        cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        options = "-x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1"
        subject = ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        subprocess.run(
            ["openssl", "req", *options.split(), "-keyout", key, "-out", cert, *subject],
            check=True,
            capture_output=True,
        )
        yield cert, key


# -- the contenders --------------------------------------------------------------------------


def contenders(
    endpoint: Endpoint, *, tls: bool
) -> tuple[dict[str, Callable[[], object]], dict[str, Callable[[], object]]]:
    """The get and put calls of the three clients, each on its own key."""
    scheme, port = ("https", endpoint.tls_port) if tls else ("http", endpoint.port)
    root = f"{scheme}://127.0.0.1:{port}/1/projects/{endpoint.project_id}"
    url = f"ironcache{'' if tls else '+http'}://{endpoint.project_id}:{endpoint.token}"
    cache = cacheops.connect(f"{url}@127.0.0.1:{port}/{CACHE}")
    options = cache.http.options  # type: ignore[attr-defined]
    timeout = (options.connect_timeout, options.timeout)

    session = requests.Session()
    session.headers["Authorization"] = f"OAuth {endpoint.token}"
    item = f"{root}/caches/{CACHE}/items/bare"

    cache.put("cacheops", VALUE)
    session.put(item, json={"value": VALUE}, timeout=timeout).raise_for_status()
    gets: dict[str, Callable[[], object]] = {
        "bare requests.Session": lambda: session.get(item, timeout=timeout).json()["value"],
        "cacheops": lambda: cache.get("cacheops"),
    }
    puts: dict[str, Callable[[], object]] = {
        "bare requests.Session": lambda: session.put(
            item, json={"value": VALUE}, timeout=timeout
        ).raise_for_status(),
        "cacheops": lambda: cache.put("cacheops", VALUE),
    }
    try:
        import iron_cache
    except ImportError:
        print("iron-cache is not installed (pip install iron-cache==0.3.2 iron-core==1.2.1)")
        return gets, puts
    official = iron_cache.IronCache(
        name=CACHE,
        project_id=endpoint.project_id,
        token=endpoint.token,
        host="127.0.0.1",
        port=port,
        protocol=scheme,
    )
    official.put("official", VALUE)
    gets["official iron_cache"] = lambda: official.get("official").value
    puts["official iron_cache"] = lambda: official.put("official", VALUE)
    return gets, puts


def compare(
    label: str, endpoint: Endpoint, args: argparse.Namespace, *, tls: bool
) -> dict[str, float]:
    gets, puts = contenders(endpoint, tls=tls)
    results = {}
    for name, calls in (("get", gets), ("put", puts)):
        samples = interleaved(calls, rounds=args.rounds, ops=args.ops)
        ratios = report(f"{name}, {label}", samples, "bare requests.Session")
        results[f"{name} vs session"] = ratios["cacheops"]
        if "official iron_cache" in samples:
            # Throughput ratio: the official client's time per call over ours.
            results[f"{name} vs official"] = ratio(samples, "official iron_cache", "cacheops")
    return results


def get_many_speedup(endpoint: Endpoint, label: str, *, rounds: int, ops: int) -> float:
    cache = cacheops.connect(
        f"ironcache+http://{endpoint.project_id}:{endpoint.token}@127.0.0.1:{endpoint.port}/{CACHE}"
    )
    return common.get_many_speedup(cache, VALUE, label=f"100 keys, {label}", rounds=rounds, ops=ops)


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--ops", type=int, default=300)
    parser.add_argument("--rtt-ms", type=float, nargs="+", default=[1.0, 5.0, 20.0])
    parser.add_argument("--no-tls", action="store_true", help="skip the HTTPS comparison")
    args = parser.parse_args(argv)
    results: dict[str, float] = {}

    with one_cpu(), server_process() as endpoint:
        for name, value in compare("plain HTTP, one CPU", endpoint, args, tls=False).items():
            results[f"{name} (http)"] = value
    with server_process() as endpoint:
        results["get_many speedup (loopback)"] = get_many_speedup(
            endpoint, "raw loopback", rounds=args.rounds, ops=max(1, args.ops // 100)
        )
    for rtt in args.rtt_ms:
        with server_process(rtt / 1000) as endpoint:
            results[f"get_many speedup ({rtt:g} ms rtt)"] = get_many_speedup(
                endpoint, f"{rtt:g} ms added per request", rounds=5, ops=1
            )

    if not args.no_tls:
        with self_signed_certificate() as cert:
            if cert is None:
                print("\nno openssl command: the HTTPS comparison is skipped")
            else:
                bundle = os.environ.get("REQUESTS_CA_BUNDLE")
                os.environ["REQUESTS_CA_BUNDLE"] = cert[0]  # all three verify the certificate
                try:
                    with one_cpu(), server_process(cert=cert) as endpoint:
                        for name, value in compare(
                            "HTTPS, one CPU", endpoint, args, tls=True
                        ).items():
                            results[f"{name} (https)"] = value
                finally:
                    if bundle is None:
                        del os.environ["REQUESTS_CA_BUNDLE"]
                    else:
                        os.environ["REQUESTS_CA_BUNDLE"] = bundle

    print("\nsummary (targets: >= 3x the official client's throughput, <= 1.15x the bare")
    print("Session's time, get_many(100) >= 4x faster than 100 gets):")
    for name, value in results.items():
        print(f"  {name:<36} {value:6.2f}x")
    return results


if __name__ == "__main__":
    main()
