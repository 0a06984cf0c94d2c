"""Probe many endpoints at once, each bounded in time, the whole run bounded too.

Threads, not asyncio: the ``ssl`` module's handshake and the TLS family's
opener are blocking calls. A thread per endpoint (bounded by
``defaults.concurrency``) queues its IMAP legs, drives its TLS assessment, then
collects the legs; both hand their connections to one ``legs.Scheduler``, which runs them at once
within ``defaults.per_host`` connections per address. An endpoint takes as long
as its slowest leg, a fleet as long as its slowest endpoint.
Every socket operation is armed with a deadline no later than its endpoint's,
so no thread outlives the run by more than one step.

Host names are resolved once per run, before any connection (``checks.net.resolve``,
or the resolver a caller injects): a name that does not resolve is a fact of its own.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import datetime as dt
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from ..net import Deadline, Resolver, Unresolved, resolve
from ..tls import api as tls_api
from . import dialog
from .facts import EndpointFacts, Plan
from .legs import DEFAULT_PER_HOST, EndpointLegs, Scheduler

# An endpoint gets this many step timeouts in all: the dialog (up to ~10 round
# trips), the injection connection and the TLS assessment (up to ~15 handshakes)
# share it. On a LAN they take milliseconds; the budget only stops a server that
# answers every step just before its timeout.
ENDPOINT_STEPS = 6
# Connections in flight at once in a run, a thread each (~60 KiB of memory). Measured with
# bench/scale.py at 200 endpoints (2 cores): 512 threads gave the same wall time as 256 but
# 90 MiB against 75 MiB and ~10% more CPU, spent in GIL hand-offs between runnable threads;
# 128 was 15% slower. Over a slow network a leg waits longer, and 256 legs still cover
# 64 endpoints at the default per_host of 4.
LEG_THREADS = 256


@dataclass
class EndpointResult:
    plan: Plan
    facts: EndpointFacts
    tls: tls_api.TlsAssessment | None = None


@dataclass(frozen=True)
class TlsSettings:
    now: dt.datetime
    cert_expiry_days: int
    ca_files: dict[str, str | None]  # target name -> absolute CA path


def endpoint_budget(timeout: float) -> float:
    """The steps above, and room for the auth leg's long wait (``dialog.AUTH_EXTRA``)."""
    return max(ENDPOINT_STEPS * timeout, 3 * timeout + dialog.AUTH_EXTRA)


def run_budget(plans: list[Plan], concurrency: int) -> float:
    """Enough for every wave of endpoints to use its whole budget, plus one step."""
    if not plans:
        return 0.0
    longest = max(endpoint_budget(p.timeout) for p in plans)
    waves = math.ceil(len(plans) / max(1, concurrency))
    return waves * longest + max(p.timeout for p in plans)


def probe_all(plans: list[Plan], concurrency: int, tls: TlsSettings | None,
              assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment]
              | None = None, on_done: Callable[[], None] | None = None, *,
              per_host: int = DEFAULT_PER_HOST,
              resolver: Resolver | None = None) -> list[EndpointResult]:
    """Results in the order of ``plans``, whatever order the endpoints finished in.

    ``concurrency`` endpoints at once, each with up to ``per_host`` connections open to
    its address (shared with every other endpoint on that address). ``on_done`` is called
    (from a probe thread) as each endpoint finishes: a progress count."""
    if not plans:
        return []
    assess = assess or tls_api.assess
    # An endpoint thread beyond LEG_THREADS // per_host would only wait for leg slots,
    # holding its memory (bench/scale.py, 200 endpoints: 76 -> 67 MiB, the same time).
    workers = max(1, min(concurrency, len(plans), LEG_THREADS // max(1, per_host)))
    run_deadline = Deadline.after(run_budget(plans, workers))
    sched = Scheduler(per_host, workers=min(LEG_THREADS, workers * max(1, per_host)))
    names = _Names(resolver or resolve)
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap-probe")
    try:
        futures = [pool.submit(probe_one, p, run_deadline, tls, assess, sched, names)
                   for p in plans]
        if on_done is not None:
            for fut in futures:
                fut.add_done_callback(lambda _f: on_done())
        cf.wait(futures, timeout=max(0.0, run_deadline.remaining()) + 1.0)
        out: list[EndpointResult] = []
        for plan, fut in zip(plans, futures, strict=True):
            if fut.done() and not fut.cancelled():
                out.append(fut.result())
            else:
                fut.cancel()
                facts = EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)
                facts.connect = "error"
                facts.connect_detail = "the run's deadline passed before this endpoint finished"
                out.append(EndpointResult(plan, facts))
        return out
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        sched.shutdown()


class _Names:
    """Each host name resolved once per run, however many endpoints name it."""

    def __init__(self, resolver: Resolver) -> None:
        self.resolver = resolver
        self.lock = threading.Lock()
        self.done: dict[tuple[str, bool], cf.Future] = {}

    def address(self, host: str, ipv6: bool) -> str:
        key = (host, ipv6)
        with self.lock:
            fut = self.done.get(key)
            mine = fut is None
            if mine:
                fut = self.done[key] = cf.Future()
        assert fut is not None
        if mine:
            try:
                fut.set_result(self.resolver(host, ipv6))
            except Exception as exc:  # handed to every endpoint of that host
                fut.set_exception(exc)
        return fut.result()


def probe_one(plan: Plan, run_deadline: Deadline, tls: TlsSettings | None,
              assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment],
              sched: Scheduler | None = None, names: _Names | None = None) -> EndpointResult:
    deadline = Deadline.after(endpoint_budget(plan.timeout)).sooner(run_deadline)
    start = time.monotonic()
    names = names or _Names(resolve)
    try:
        addr = names.address(plan.host, bool(plan.source and ":" in plan.source))
    except Unresolved as exc:
        facts = EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)
        facts.connect, facts.connect_detail = "unresolved", str(exc)
        return EndpointResult(plan, facts)
    own_sched = sched is None
    sched = sched or Scheduler(DEFAULT_PER_HOST, workers=DEFAULT_PER_HOST)
    try:
        # The cap is per target host: a target's ports (143 and 993 of one server) share it.
        return _probe_legs(dataclasses.replace(plan, address=addr), plan, deadline, tls, assess,
                           sched.endpoint(f"{plan.target}@{addr}", deadline), start)
    finally:
        if own_sched:
            sched.shutdown()


def _probe_legs(plan: Plan, original: Plan, deadline: Deadline, tls: TlsSettings | None,
                assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment],
                legs: EndpointLegs, start: float) -> EndpointResult:
    """The IMAP legs and, beside them in the same thread, the TLS assessment (speculatively:
    it is dropped when the endpoint turns out to offer no TLS), both through ``legs``."""
    assessed: list[tuple[tls_api.TlsAssessment, float]] = []

    def run_tls() -> None:
        if tls is not None:
            assessed.append(_assess(plan, deadline, tls, assess, legs))

    try:
        facts = dialog.probe(plan, deadline, legs, run_tls)
    except Exception as exc:  # a bug of ours hit by what a server sent: this endpoint fails closed
        facts = EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)
        facts.connect = "open"
        facts.problem("internal", f"internal error while probing: {type(exc).__name__}: {exc}")
        legs.drop("tls", "the IMAP dialog failed")
        return EndpointResult(original, facts)
    result = EndpointResult(original, facts)
    if assessed:
        result.tls, facts.timings["tls"] = assessed[0]
    usable = facts.implicit_tls == "ok" if plan.protocol == "imaps" else facts.starttls == "ok"
    if not usable:
        result.tls = None
    facts.timings["connections"] = legs.connections
    facts.timings["total"] = time.monotonic() - start
    return result


def _assess(plan: Plan, deadline: Deadline, tls: TlsSettings,
            assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment],
            legs: EndpointLegs) -> tuple[tls_api.TlsAssessment, float]:
    start = time.monotonic()
    target = tls_api.TlsTarget(
        host=plan.host, port=plan.port, sni=plan.sni, starttls=plan.protocol == "imap",
        timeout=plan.timeout, deadline=deadline, now=tls.now,
        ca_file=tls.ca_files.get(plan.target), cert_expiry_days=tls.cert_expiry_days, legs=legs)
    try:
        out = assess(target, dialog.opener(plan, legs))
    except Exception as exc:  # a bug or an escaped error in the TLS family: fail closed
        out = tls_api.TlsAssessment(
            incomplete=f"the TLS assessment stopped: {type(exc).__name__}: {exc}")
    return out, time.monotonic() - start
