"""Timing helpers shared by the benchmarks: interleaved rounds, medians, ratios."""

from __future__ import annotations

import contextlib
import os
import socket
import statistics
import threading
import time
from collections.abc import Callable, Iterator, Mapping

from cacheops import Backend


def per_op_us(fn: Callable[[], object], ops: int) -> float:
    """Microseconds per call of ``fn``, over ``ops`` calls."""
    start = time.perf_counter()
    for _ in range(ops):
        fn()
    return (time.perf_counter() - start) / ops * 1e6


Samples = dict[str, list[float]]
"""µs/op of each contender, one sample per round."""


def interleaved(
    contenders: Mapping[str, Callable[[], object]], *, rounds: int, ops: int
) -> Samples:
    """µs/op of each contender, round after round in alternating order, so that machine
    noise falls on all of them alike."""
    samples: Samples = {name: [] for name in contenders}
    names = list(contenders)
    for name in names:  # warm up connections and caches
        per_op_us(contenders[name], max(1, ops // 10))
    for round_number in range(rounds):
        order = names if round_number % 2 == 0 else names[::-1]
        for name in order:
            samples[name].append(per_op_us(contenders[name], ops))
    return samples


def ratio(samples: Samples, name: str, baseline: str) -> float:
    """The median over rounds of ``name``'s time over ``baseline``'s in the same round: a
    slow stretch of the machine lands on both sides of each round's ratio, not on one."""
    return statistics.median(a / b for a, b in zip(samples[name], samples[baseline], strict=True))


def report(title: str, samples: Samples, baseline: str) -> dict[str, float]:
    """Print each contender's median time and its ratio to ``baseline`` (time over time)."""
    print(f"\n{title}")
    ratios = {}
    for name, values in samples.items():
        ratios[name] = ratio(samples, name, baseline)
        print(
            f"  {name:<38} {statistics.median(values):9.1f} µs/op   {ratios[name]:5.2f}x {baseline}"
        )
    return ratios


def get_many_speedup(cache: Backend, value: object, *, label: str, rounds: int, ops: int) -> float:
    """How many times faster one ``get_many`` of 100 keys is than 100 single ``get``s."""
    keys = [f"many:{i}" for i in range(100)]
    cache.put_many({k: value for k in keys})

    def hundred_gets() -> None:
        for key in keys:
            cache.get(key)

    samples = interleaved(
        {
            "100 x cacheops get": hundred_gets,
            "cacheops get_many(100)": lambda: cache.get_many(keys),
        },
        rounds=rounds,
        ops=ops,
    )
    return report(label, samples, "cacheops get_many(100)")["100 x cacheops get"]


@contextlib.contextmanager
def one_cpu() -> Iterator[None]:
    """Run this process, and the servers it starts meanwhile, on one CPU. On a VM, a
    loopback round trip between two vCPUs includes waking the other one (about 100 µs
    here, and very uneven); on one CPU it is a few µs of real work, so per-call overheads
    can be compared. No-op where affinity cannot be set."""
    if not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(before)})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


class DelayProxy:
    """A loopback TCP relay that holds every client-to-server chunk ``delay`` seconds: a
    network round trip, on one machine, for measuring what latency does to each call
    pattern. Both directions are plain copies; only requests wait."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(
                target=self._pump, args=(client, server, self.delay), daemon=True
            ).start()
            threading.Thread(target=self._pump, args=(server, client, 0.0), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket, delay: float) -> None:
        try:
            while chunk := source.recv(65536):
                if delay:
                    time.sleep(delay)
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        self._listener.close()
