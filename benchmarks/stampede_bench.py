"""One hot key under many callers: cacheops get_or_compute against plain get-then-set and
dogpile.cache, on memcached and on the local IronCache server.

    python benchmarks/stampede_bench.py [--duration 30] [--ttl 2] [--compute-ms 200]
        [--processes 4] [--threads 8] [--outage-duration 12]

Targets (issue 13): exactly one computation per expiry, and a p99 caller latency under
10 ms (no caller waits for a recomputation while a value exists); with the server killed
mid-run, 100% of calls served (``fail_safe`` within ``grace``).

``--processes`` processes of ``--threads`` threads each (32 callers by default) call for
one key in a loop, for ``--duration`` seconds; ``compute`` sleeps ``--compute-ms`` (a slow
query) and logs when it ran. Every contender runs in the same worker processes, one after
the other, on its own key. A computation is *redundant* when it starts while another is
running: the stampede itself. dogpile.cache runs as its documentation advises for several
processes: its pymemcache backend with ``distributed_lock`` (a lease taken with ``add``).
It has no IronCache backend, so on IronCache the comparison is plain vs cacheops.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import cacheops
from cacheops.testing.ironcache_server import IronCacheServer
from cacheops.testing.memcached import MemcachedServer

PLAIN, DOGPILE = "plain get-then-set", "dogpile.cache region"
OURS, OURS_NO_EARLY = "cacheops get_or_compute", "cacheops, beta=0"
CONTENDERS = (PLAIN, DOGPILE, OURS, OURS_NO_EARLY)


@dataclass(frozen=True)
class Scenario:
    """One contender on one server, as every worker runs it."""

    label: str  # where: "memcached", "IronCache", "memcached killed"...
    contender: str
    url: str  # a cacheops URL
    address: str  # host:port, for dogpile
    key: str
    duration: float
    outage: bool  # the server is killed at a third of the run


@dataclass(frozen=True)
class Settings:
    ttl: float
    grace: float
    compute_s: float
    think_s: float
    threads: int
    log: str  # computations are appended here, one "key start end" line each


def _caller(scenario: Scenario, settings: Settings) -> Callable[[], object]:
    """What one call of ``scenario``'s contender does."""
    fd = os.open(settings.log, os.O_WRONLY | os.O_APPEND)

    def compute() -> dict[str, Any]:
        start = time.time()
        time.sleep(settings.compute_s)
        # One write of a short line to an O_APPEND file: lines from processes never mix.
        os.write(fd, f"{scenario.key} {start:.6f} {time.time():.6f}\n".encode())
        return {"computed": start, "payload": "x" * 100}

    if scenario.contender == DOGPILE:
        from dogpile.cache import make_region

        region = make_region().configure(
            "dogpile.cache.pymemcache",
            expiration_time=settings.ttl,
            arguments={"url": [scenario.address], "distributed_lock": True, "lock_timeout": 30},
        )
        return lambda: region.get_or_create(scenario.key, compute)
    cache = cacheops.connect(scenario.url)
    if scenario.contender in (OURS, OURS_NO_EARLY):
        return lambda: cache.get_or_compute(
            scenario.key,
            compute,
            settings.ttl,
            grace=settings.grace,
            beta=0.0 if scenario.contender == OURS_NO_EARLY else 1.0,
            fail_safe=scenario.outage,
        )

    def plain() -> object:
        value = cache.get(scenario.key)
        if value is None:
            value = compute()
            cache.put(scenario.key, value, settings.ttl)
        return value

    return plain


def _worker(
    scenarios: list[Scenario],
    settings: Settings,
    barrier: Barrier,
    outage_at: Any,
    results: Any,
) -> None:
    """Run every scenario, in step with the other workers; put a :class:`Tally` for each."""
    # fail_safe logs a WARNING per value it serves: tens of thousands here.
    logging.getLogger("cacheops").setLevel(logging.ERROR)
    for scenario in scenarios:
        call = _caller(scenario, settings)
        tallies = [Tally() for _ in range(settings.threads)]
        threads = [
            threading.Thread(
                target=_hammer, args=(call, scenario.duration, settings, outage_at, tally)
            )
            for tally in tallies
        ]
        barrier.wait()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for tally in tallies[1:]:
            tallies[0].merge(tally)
        results.put(tallies[0])


def _hammer(
    call: Callable[[], object], duration: float, settings: Settings, outage_at: Any, tally: Tally
) -> None:
    """One caller: ``call()`` in a loop for ``duration`` seconds."""
    end = time.monotonic() + duration
    while time.monotonic() < end:
        during = 0.0 < outage_at.value <= time.time()
        started = time.perf_counter()
        try:
            call()
            failed = False
        except Exception:  # a call not served: counted, as the figure is about them
            failed = True
        tally.add(time.perf_counter() - started, failed, during)
        if settings.think_s:
            time.sleep(settings.think_s)


@dataclass
class Tally:
    """Calls of one scenario: latencies (s), failures, and those while the server was down."""

    latencies: list[float] = field(default_factory=list)
    failed: int = 0
    during: int = 0
    failed_during: int = 0

    def add(self, latency: float, failed: bool, during: bool) -> None:
        self.latencies.append(latency)
        self.failed += failed
        self.during += during
        self.failed_during += failed and during

    def merge(self, other: Tally) -> None:
        self.latencies.extend(other.latencies)
        self.failed += other.failed
        self.during += other.during
        self.failed_during += other.failed_during


@dataclass
class Outcome:
    tally: Tally
    computations: int
    redundant: int

    @property
    def served(self) -> float:
        """The fraction of calls served: while the server was down, for an outage run."""
        t = self.tally
        calls, failed = (t.during, t.failed_during) if t.during else (len(t.latencies), t.failed)
        return 1 - failed / calls if calls else 0.0

    def percentile_ms(self, q: int) -> float:
        cuts = statistics.quantiles(self.tally.latencies, n=100, method="inclusive")
        return cuts[q - 1] * 1000


def _computations(log: Path, key: str) -> tuple[int, int]:
    """How many computations of ``key`` ran, and how many started while another ran."""
    spans = sorted(
        (float(start), float(end))
        for line in log.read_text().splitlines()
        for k, start, end in [line.split()]
        if k == key
    )
    redundant, running_until = 0, 0.0
    for start, end in spans:
        if start < running_until:
            redundant += 1
        running_until = max(running_until, end)
    return len(spans), redundant


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=float, default=30.0)
    parser.add_argument("--ttl", type=float, default=2.0)
    parser.add_argument("--grace", type=float, default=60.0)
    parser.add_argument("--compute-ms", type=float, default=200.0)
    parser.add_argument("--think-ms", type=float, default=0.0, help="pause between calls")
    parser.add_argument("--processes", type=int, default=4)
    parser.add_argument("--threads", type=int, default=8, help="per process")
    parser.add_argument("--outage-duration", type=float, default=12.0)
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp, "computations")
        log.touch()
        settings = Settings(
            ttl=args.ttl,
            grace=args.grace,
            compute_s=args.compute_ms / 1000,
            think_s=args.think_ms / 1000,
            threads=args.threads,
            log=str(log),
        )
        servers: list[Any] = []
        scenarios: list[tuple[Scenario, Any]] = []  # with the server an outage kills

        def add(label: str, contenders: tuple[str, ...], *, outage: bool, iron: bool) -> None:
            for contender in contenders:
                server: Any
                if iron:
                    server = IronCacheServer().start()
                    url = server.url("stampede")
                    address = ""
                else:
                    server = MemcachedServer().start()
                    url, address = server.url, server.server
                servers.append(server)
                key = f"hot-{len(scenarios)}"
                duration = args.outage_duration if outage else args.duration
                scenario = Scenario(label, contender, url, address, key, duration, outage)
                scenarios.append((scenario, server if outage else None))

        no_dogpile = (PLAIN, OURS, OURS_NO_EARLY)
        try:
            import dogpile.cache  # noqa: F401
        except ImportError:
            print("dogpile.cache is not installed (pip install -e '.[bench]'): skipped")
            on_memcached = no_dogpile
        else:
            on_memcached = CONTENDERS
        add("memcached", on_memcached, outage=False, iron=False)
        add("IronCache", no_dogpile, outage=False, iron=True)
        survivors = tuple(c for c in on_memcached if c != OURS_NO_EARLY)
        add("memcached killed", survivors, outage=True, iron=False)
        add("IronCache stopped", (PLAIN, OURS), outage=True, iron=True)
        try:
            outcomes = _run(scenarios, settings, args.processes, log)
        finally:
            for server in servers:
                server.stop()
    return _report(outcomes, args)


def _run(
    scenarios: list[tuple[Scenario, Any]], settings: Settings, processes: int, log: Path
) -> dict[Scenario, Outcome]:
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes + 1)
    outage_at = context.RawValue("d", 0.0)  # when the server went down (Unix time)
    results = context.Queue()
    plan = [scenario for scenario, _ in scenarios]
    workers = [
        context.Process(
            target=_worker, args=(plan, settings, barrier, outage_at, results), daemon=True
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = {}
    try:
        for scenario, victim in scenarios:
            outage_at.value = 0.0
            barrier.wait()
            if victim is not None:
                time.sleep(scenario.duration / 3)
                if isinstance(victim, MemcachedServer):
                    victim.kill()
                else:
                    victim.stop()
                outage_at.value = time.time()
            tally = Tally()
            for _ in workers:
                tally.merge(results.get(timeout=scenario.duration + 120))
            outcomes[scenario] = Outcome(tally, *_computations(log, scenario.key))
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()
    return outcomes


def _report(outcomes: dict[Scenario, Outcome], args: argparse.Namespace) -> dict[str, float]:
    expiries = args.duration / args.ttl
    print(
        f"\n{args.processes * args.threads} callers ({args.processes} processes x "
        f"{args.threads} threads), one key, compute {args.compute_ms:g} ms, ttl {args.ttl:g} s, "
        f"{args.duration:g} s ({expiries:g} expiries). Outage runs: {args.outage_duration:g} s, "
        "the server killed at a third; 'served' counts the calls made while it was down."
    )
    print(
        f"  {'server':<18} {'contender':<24} {'calls':>8} {'served':>8} {'computed':>8} "
        f"{'per expiry':>10} {'redundant':>9} {'p50 ms':>8} {'p99 ms':>8}"
    )
    results: dict[str, float] = {}
    for scenario, o in outcomes.items():
        name = f"{scenario.label}: {scenario.contender}"
        results[f"{name} served"] = o.served
        results[f"{name} per expiry"] = per_expiry = o.computations / expiries
        results[f"{name} redundant"] = o.redundant
        results[f"{name} p99"] = p99 = o.percentile_ms(99)
        print(
            f"  {scenario.label:<18} {scenario.contender:<24} {len(o.tally.latencies):>8} "
            f"{o.served:>8.2%} {o.computations:>8} "
            f"{'' if scenario.outage else f'{per_expiry:.2f}':>10} {o.redundant:>9} "
            f"{o.percentile_ms(50):>8.2f} {p99:>8.2f}"
        )
    parts = []
    for label in ("memcached", "IronCache"):
        figures = []
        for contender in CONTENDERS:
            name = f"{label}: {contender}"
            if f"{name} p99" in results:
                figures.append(
                    f"{contender} {results[f'{name} per expiry']:.2f} per expiry "
                    f"({results[f'{name} redundant']:.0f} redundant), p99 "
                    f"{results[f'{name} p99']:.2f} ms"
                )
        peer = DOGPILE if f"{label}: {DOGPILE} p99" in results else PLAIN
        ratio = results[f"{label}: {OURS} p99"] / results[f"{label}: {peer} p99"]
        parts.append(f"{label}: {'; '.join(figures)}; p99 {ratio:.2f}x {peer}'s")
    served = ", ".join(
        f"{s.label} {s.contender} {o.served:.2%}" for s, o in outcomes.items() if s.outage
    )
    print("\nsummary: " + "\n  ".join(parts) + f"\n  calls served with the server down: {served}")
    return results


if __name__ == "__main__":
    main()
