"""What the firewall lint leaves for correlation: per file, the exposure of any port.

``ctx.artefacts.get(artefact.VERDICTS)`` maps each linted file (path relative to the root) to a
``FirewallVerdict``. DRIFT rules ask ``verdict.exposure(143, "ipv4")`` and compare
the answer with what the live probe saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .evaluate import CLOSED, OPEN, RESTRICTED, UNKNOWN, Exposure, PortReport, evaluate
from .model import Parsed, no_cyclic_gc

__all__ = ["CLOSED", "OPEN", "RESTRICTED", "UNKNOWN", "Exposure", "FirewallVerdict"]


@dataclass
class FirewallVerdict:
    path: str                    # relative to the root
    format: str | None           # detected or declared format; None when unknown
    parsed: Parsed | None = None
    _cache: dict[tuple[str, int], PortReport] = field(default_factory=dict, repr=False)

    @property
    def families(self) -> tuple[str, ...]:
        return tuple(self.parsed.rulesets) if self.parsed else ()

    def report(self, port: int, family: str) -> PortReport | None:
        if self.parsed is None or family not in self.parsed.rulesets:
            return None
        key = (family, port)
        if key not in self._cache:
            with no_cyclic_gc():
                self._cache[key] = evaluate(self.parsed.rulesets[family], port)
        return self._cache[key]

    def exposure(self, port: int, family: str) -> Exposure:
        """open-world | restricted | closed | unknown for a new TCP connection to ``port``."""
        if family not in ("ipv4", "ipv6"):
            raise ValueError(f"family must be 'ipv4' or 'ipv6', not {family!r}")
        rep = self.report(port, family)
        if rep is None:
            why = "the format of this file is not known" if self.format is None else \
                f"this file says nothing about {family}"
            return Exposure(UNKNOWN, None, reason=why)
        return rep.exposure
