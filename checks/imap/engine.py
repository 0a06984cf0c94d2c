"""Probe many endpoints at once, each bounded in time, the whole run bounded too.

Threads, not asyncio: the ``ssl`` module's handshake and the TLS family's
opener are blocking calls, and a thread per endpoint (bounded by
``defaults.concurrency``) keeps a fleet close to its slowest endpoint.
Every socket operation is armed with a deadline no later than its endpoint's,
so no thread outlives the run by more than one step.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from checks.imap import dialog
from checks.imap.facts import EndpointFacts, Plan
from checks.net import Deadline
from checks.tls import api as tls_api

# An endpoint gets this many step timeouts in all: the dialog (up to ~10 round
# trips), the injection connection and the TLS assessment (up to ~15 handshakes)
# share it. On a LAN they take milliseconds; the budget only stops a server that
# answers every step just before its timeout.
ENDPOINT_STEPS = 6


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
    return ENDPOINT_STEPS * timeout


def run_budget(plans: list[Plan], concurrency: int) -> float:
    """Enough for every wave of endpoints to use its whole budget, plus one step."""
    if not plans:
        return 0.0
    longest = max(endpoint_budget(p.timeout) for p in plans)
    waves = math.ceil(len(plans) / max(1, concurrency))
    return waves * longest + max(p.timeout for p in plans)


def probe_all(plans: list[Plan], concurrency: int, tls: TlsSettings | None,
              assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment]
              | None = None, on_done: Callable[[], None] | None = None) -> list[EndpointResult]:
    """Results in the order of ``plans``, whatever order the endpoints finished in.

    ``on_done`` is called (from a probe thread) as each endpoint finishes: a progress count."""
    if not plans:
        return []
    assess = assess or tls_api.assess
    run_deadline = Deadline.after(run_budget(plans, concurrency))
    workers = max(1, min(concurrency, len(plans)))
    pool = cf.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="imap-probe")
    try:
        futures = [pool.submit(probe_one, p, run_deadline, tls, assess) for p in plans]
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


def probe_one(plan: Plan, run_deadline: Deadline, tls: TlsSettings | None,
              assess: Callable[[tls_api.TlsTarget, tls_api.Opener], tls_api.TlsAssessment]
              ) -> EndpointResult:
    deadline = Deadline.after(endpoint_budget(plan.timeout)).sooner(run_deadline)
    try:
        facts = dialog.probe(plan, deadline)
    except Exception as exc:  # a bug of ours hit by what a server sent: this endpoint fails closed
        facts = EndpointFacts(plan.target, plan.host, plan.port, plan.protocol, plan.expect)
        facts.connect = "open"
        facts.problem("internal", f"internal error while probing: {type(exc).__name__}: {exc}")
        return EndpointResult(plan, facts)
    result = EndpointResult(plan, facts)
    usable = facts.implicit_tls == "ok" if plan.protocol == "imaps" else facts.starttls == "ok"
    if tls is None or not usable:
        return result
    start = time.monotonic()
    target = tls_api.TlsTarget(
        host=plan.host, port=plan.port, sni=plan.sni, starttls=plan.protocol == "imap",
        timeout=plan.timeout, deadline=deadline, now=tls.now,
        ca_file=tls.ca_files.get(plan.target), cert_expiry_days=tls.cert_expiry_days)
    try:
        result.tls = assess(target, dialog.opener(plan))
    except Exception as exc:  # a bug or an escaped error in the TLS family: fail closed
        result.tls = tls_api.TlsAssessment(
            incomplete=f"the TLS assessment stopped: {type(exc).__name__}: {exc}")
    facts.timings["tls"] = time.monotonic() - start
    facts.timings["total"] = facts.timings.get("total", 0.0) + facts.timings["tls"]
    return result
