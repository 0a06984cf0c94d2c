"""What the probe learned about one endpoint, as plain typed data.

The dialog fills these in and never judges; ``judge.py`` reads them and never
touches the network (the sslyze split). ``as_json`` is what lands in
``ctx.facts`` and the JSON report; clock-dependent values sit under "timings"
only, which the report moves out so equal servers give equal reports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Plan:
    """One endpoint to probe, with everything the network layer needs and nothing else."""

    target: str
    host: str
    port: int
    protocol: str              # imap (cleartext + STARTTLS) | imaps (implicit TLS)
    expect: str | None         # closed | open | starttls-required | None
    sni: str
    source: str | None         # local address to bind, or None
    timeout: float             # bounds each protocol step as a whole
    address: str | None = None  # the host's address, resolved once by the engine


@dataclass
class Problem:
    """A phase that could not finish: the endpoint cannot be judged there (IMAP012)."""

    phase: str                 # greeting, capability, auth-probe, starttls, tls-handshake, ...
    reason: str
    evidence: str = ""


@dataclass
class EndpointFacts:
    target: str
    host: str
    port: int
    protocol: str
    expect: str | None = None
    connect: str = "not-tried"           # open | refused | filtered | unreachable | unresolved | error
    connect_detail: str = ""
    local_address: str | None = None
    remote_address: str | None = None
    implicit_tls: str = "not-tried"      # imaps: ok | failed | not-tried
    greeting: str | None = None          # printable, as sent
    greeting_text: str | None = None     # the human text after status and response code
    greeting_status: str | None = None   # OK | PREAUTH | BYE
    caps_before_tls: list[str] | None = None   # imap: the cleartext capability list
    caps_tls: list[str] | None = None          # after STARTTLS, or on an imaps endpoint
    caps_evidence: str = ""              # the line the cleartext capabilities came from
    caps_tls_evidence: str = ""          # the line the TLS capabilities came from
    id_reply: dict[str, str | None] | None = None
    id_evidence: str = ""
    auth_plain: str = "not-tried"        # continuation | refused | not-tried
    auth_plain_evidence: str = ""
    auth_login: str = "not-tried"        # the same for AUTHENTICATE LOGIN (asked if advertised)
    auth_login_evidence: str = ""
    anonymous: str = "not-tried"         # AUTHENTICATE ANONYMOUS, empty trace: accepted | refused
    anonymous_evidence: str = ""
    # ok | refused | handshake-failed | handshake-incomplete | not-offered | not-tried
    starttls: str = "not-tried"
    starttls_evidence: str = ""
    tls_version: str | None = None       # of the dialog's own handshake
    tls_cipher: str | None = None
    injection: str = "not-tried"         # vulnerable | not-vulnerable | rejected | not-tried
    injection_evidence: str = ""
    commands: list[str] = field(default_factory=list)   # what was sent, by command name
    handshakes: int = 0                  # TLS handshakes of the dialog itself
    problems: list[Problem] = field(default_factory=list)
    # seconds per leg (greeting, auth, starttls, injection, tls-handshake: the slowest one;
    # tls: the whole assessment), and "connections": how many the endpoint opened (which
    # depends on timing when a leg turns out moot, so it is no deterministic fact)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return f"{self.target}:{self.port}"

    @property
    def is_open(self) -> bool:
        return self.connect == "open"

    def problem(self, phase: str, reason: str, evidence: str = "") -> None:
        self.problems.append(Problem(phase, reason, evidence))

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["timings"] = {k: round(v, 4) for k, v in self.timings.items()}
        return out
