"""Legs: the independent connections one endpoint's assessment is made of, and the
scheduler that runs them under a per-host connection cap.

An endpoint's checks share no state across connections (the greeting, capabilities and
STARTTLS; the cleartext-auth probe; the injection test; every TLS handshake), so they run
at once and the endpoint takes as long as its slowest leg, not their sum. Two rules keep
that polite and safe:

- at most ``per_host`` connections are open to one address at a time, across every
  endpoint and target of the run: servers limit connections per client address
  (imap4d, Courier's ``-maxperip``, Dovecot's ``mail_max_userip_connections``), and a
  probe that trips the limit judges the limit, not the server;
- until the endpoint has shown it speaks (a greeting, a TLS handshake), no more than one
  wave of ``per_host`` legs starts, and legs that only make sense on a live server wait.
  A port that stalls costs one step timeout, not one per leg. When the first leg finds
  nothing to talk to (refused, silent, PREAUTH, BYE), the waiting legs are not tried.

Legs are dispatched by priority (the greeting first, then the TLS handshakes, which form
the longest chain, then the other IMAP legs), each in a worker thread that holds its slot
from connect to close.
"""

from __future__ import annotations

import concurrent.futures as cf
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..net import Deadline, ProbeError, Timeout

DEFAULT_PER_HOST = 4

GREETING, TLS, IMAP, LATE = 0, 1, 2, 3   # priorities: lower runs first
STALLED = "the server stopped answering on another connection"


class NotTried(ProbeError):
    """The leg never ran: the endpoint did not answer, or its answer made the leg moot."""


@dataclass(order=True)
class _Pending:
    priority: int
    seq: int
    leg: _Leg = field(compare=False)


@dataclass
class _Leg:
    endpoint: EndpointLegs
    name: str
    fn: Callable[[], Any]
    needs_alive: bool
    group: str
    future: cf.Future


class Scheduler:
    """Every leg of a run: per-host slots, a priority queue per host, one thread pool."""

    def __init__(self, per_host: int = DEFAULT_PER_HOST, workers: int = 64) -> None:
        self.per_host = max(1, per_host)
        self.pool = cf.ThreadPoolExecutor(max_workers=max(1, workers),
                                          thread_name_prefix="imap-leg")
        self.lock = threading.Lock()
        self.busy: dict[str, int] = {}
        self.queues: dict[str, list[_Pending]] = {}
        self.peak: dict[str, int] = {}
        self.seq = itertools.count()

    def endpoint(self, host_key: str, deadline: Deadline) -> EndpointLegs:
        return EndpointLegs(self, host_key, deadline)

    def shutdown(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # -------------------------------------------------------------- under self.lock

    def _enqueue(self, leg: _Leg, priority: int) -> None:
        heapq.heappush(self.queues.setdefault(leg.endpoint.host, []),
                       _Pending(priority, next(self.seq), leg))
        self._dispatch(leg.endpoint.host)

    def _dispatch(self, host: str) -> None:
        queue = self.queues.get(host) or []
        held: list[_Pending] = []
        while queue and self.busy.get(host, 0) < self.per_host:
            item = heapq.heappop(queue)
            leg = item.leg
            if leg.future.done():       # cancelled while it waited
                continue
            verdict = leg.endpoint._admit(leg)
            if verdict == "wait":
                held.append(item)
                continue
            if verdict == "drop":
                leg.future.set_exception(NotTried(leg.endpoint.why_not(leg)))
                continue
            self.busy[host] = self.busy.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.busy[host])
            leg.endpoint.started += 1
            self.pool.submit(self._run, leg)
        for item in held:
            heapq.heappush(queue, item)

    def _run(self, leg: _Leg) -> None:
        start = time.monotonic()
        try:
            if leg.endpoint.deadline.expired():
                raise Timeout(f"the endpoint's deadline passed before the {leg.name} leg started")
            result = leg.fn()
        except BaseException as exc:  # handed to whoever waits on the leg
            leg.endpoint._timed(leg.name, time.monotonic() - start)
            _settle(leg.future, exc=exc)
        else:
            leg.endpoint._timed(leg.name, time.monotonic() - start)
            _settle(leg.future, result=result)
        finally:
            with self.lock:
                self.busy[leg.endpoint.host] -= 1
                self._dispatch(leg.endpoint.host)

    def _redispatch(self, host: str) -> None:
        with self.lock:
            self._dispatch(host)


def _settle(fut: cf.Future, result: Any = None, exc: BaseException | None = None) -> None:
    """Hand over a leg's outcome, unless its waiter gave up on it (deadline) already."""
    try:
        if exc is not None:
            fut.set_exception(exc)
        else:
            fut.set_result(result)
    except cf.InvalidStateError:
        pass


class EndpointLegs:
    """One endpoint's view of the scheduler: its liveness, its legs, their timings."""

    def __init__(self, scheduler: Scheduler, host: str, deadline: Deadline) -> None:
        self.scheduler = scheduler
        self.host = host
        self.deadline = deadline
        self.alive = False
        self.dead = False
        self.stalled = threading.Event()      # a leg timed out on a server that greeted
        self.dropped: set[str] = set()
        self.reasons: dict[str, str] = {}
        self.started = 0
        self.connections = 0
        self.timings: dict[str, float] = {}
        self._lock = threading.Lock()
        self._handshake_socks: list[socket.socket] = []

    @property
    def per_host(self) -> int:
        return self.scheduler.per_host

    # -------------------------------------------------------------- submitting

    def run(self, name: str, priority: int, fn: Callable[[], Any], *, needs_alive: bool = False,
            group: str = "") -> cf.Future:
        """Queue ``fn`` as one leg; it runs holding one of the host's connection slots."""
        fut: cf.Future = cf.Future()
        leg = _Leg(self, name, fn, needs_alive, group, fut)
        with self.scheduler.lock:
            self.scheduler._enqueue(leg, priority)
        return fut

    def map(self, fns: list[Callable[[], Any]], name: str = "tls", group: str = "tls-hello",
            priority: int = TLS) -> list[Any]:
        """Run ``fns`` as legs at once; their results (or exceptions) in order."""
        futures = [self.run(name, priority, fn, group=group) for fn in fns]
        out: list[Any] = []
        for fut in futures:
            out.append(self.wait(fut))
        return out

    def call(self, fn: Callable[[], Any], name: str = "tls", group: str = "tls-hello") -> Any:
        [res] = self.map([fn], name, group)
        if isinstance(res, BaseException):
            raise res
        return res

    def wait(self, fut: cf.Future) -> Any:
        """The leg's result or exception, never later than the deadline plus a grace."""
        try:
            return fut.result(timeout=max(0.0, self.deadline.remaining()) + 1.0)
        except cf.TimeoutError:
            fut.cancel()
            return Timeout("the endpoint's deadline passed while this leg waited")
        except BaseException as exc:  # the leg's own exception, as a value
            return exc

    # -------------------------------------------------------------- what legs report

    def mark_alive(self) -> None:
        if not self.alive:
            self.alive = True
            self.scheduler._redispatch(self.host)

    def mark_dead(self, why: str) -> None:
        """The first leg found nothing to talk to: every waiting leg is not tried."""
        if not self.alive and not self.dead:
            self.dead = True
            self.reasons[""] = why
            self.scheduler._redispatch(self.host)

    def drop(self, group: str, why: str) -> None:
        """Legs of ``group`` not yet started are moot (e.g. TLS after STARTTLS was refused).
        Dropping "tls" drops the TLS handshakes ("tls-hello") too."""
        groups = {group, "tls-hello"} if group == "tls" else {group}
        with self._lock:
            self.dropped |= groups
            for g in groups:
                self.reasons[g] = why
        self.scheduler._redispatch(self.host)

    def stall(self) -> None:
        """A step timed out on a server that greeted: it stalls, so every leg not yet started
        would only wait for the same timeout. None of them is tried (the merge reports what is
        missing), and the auth leg stops waiting for a deliberate delay."""
        self.stalled.set()
        self.drop("*", STALLED)
        with self._lock:
            socks, self._handshake_socks = self._handshake_socks, []
        for sock in socks:   # TLS handshakes in flight would only wait for the same timeout
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def track(self, sock: socket.socket) -> None:
        """A TLS-handshake connection, cut short if the server turns out to stall."""
        with self._lock:
            self._handshake_socks = [s for s in self._handshake_socks if s.fileno() >= 0]
            self._handshake_socks.append(sock)

    def connected(self) -> None:
        with self._lock:
            self.connections += 1

    def why_not(self, leg: _Leg) -> str:
        if "*" in self.dropped:
            return self.reasons["*"]
        if leg.group in self.dropped:
            return self.reasons.get(leg.group, "moot")
        return self.reasons.get("", "the endpoint did not answer")

    def _timed(self, name: str, seconds: float) -> None:
        with self._lock:
            self.timings[name] = max(self.timings.get(name, 0.0), seconds)

    def _admit(self, leg: _Leg) -> str:
        """run | wait | drop, under the scheduler's lock."""
        if (leg.group and leg.group in self.dropped) or "*" in self.dropped:
            return "drop"
        if self.dead:
            return "drop"
        if self.alive:
            return "run"
        if leg.needs_alive or self.started >= self.per_host:
            return "wait"
        return "run"
