"""The shape of a rule.

Each family of checks defines its rules once, as ``Rule`` values in its own
``rules.py``; ``imap_gate.catalogue`` gathers them. SARIF ``tool.driver.rules``,
the README table, waivers, ``--fail-on`` and the tests all read from there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from imap_gate.severity import Severity

if TYPE_CHECKING:
    from imap_gate.findings import Finding, Location


@dataclass(frozen=True)
class Rule:
    id: str                  # stable public id, e.g. IMAP004
    name: str                # kebab-case name, e.g. cleartext-auth
    severity: Severity       # default severity; a finding may raise or lower it
    short: str               # one sentence, SARIF shortDescription
    full: str                # SARIF fullDescription: what and why it matters
    remediation: str         # Markdown: the concrete line to write
    references: tuple[str, ...] = field(default_factory=tuple)
    kind: str = "probe"      # probe | lint | policy | correlation
    precision: str = "high"  # SARIF precision: very-high | high | medium | low

    def issue(self, message: str, *, evidence: str = "", severity: Severity | None = None,
              port: int | None = None, detail: str = "") -> Issue:
        """What a live check found, before it is placed (``IMAP004.issue(msg, port=143)``):
        the probe's judges return these, the family's check turns them into findings at the
        target's manifest line (``Context.live_finding``)."""
        return Issue(self, message, evidence, severity, port, detail)

    def finding(self, message: str, location: Location, *, evidence: str = "",
                severity: Severity | None = None, related: tuple[Location, ...] = (),
                key: str | None = None, **identity: object) -> Finding:
        """The one place a rule becomes a finding (``DOV013.finding(msg, loc, file=path,
        setting=name)``): the rule is a name checked at import, not a string, and the
        fingerprint key is made here from what identifies the finding, in the order given
        (``file=...;setting=...``), never from a line number. ``key=`` passes a key a family
        composes itself (a helper shared by several rules). Findings about a live endpoint are
        built by ``Context.live_finding``; so ``port=``, ``target=`` here are identity."""
        from imap_gate.findings import Finding

        if identity:
            key = ";".join(f"{k}={v}" for k, v in identity.items())
        return Finding(self.id, message, location, severity=severity, evidence=evidence,
                       key=key, related=related)

    @property
    def help_text(self) -> str:
        return f"{self.full}\n\nRemediation: {_strip_md(self.remediation)}"

    @property
    def help_markdown(self) -> str:
        refs = "".join(f"\n- <{r}>" for r in self.references)
        more = f"\n\n**References**{refs}" if refs else ""
        return f"{self.full}\n\n**Remediation**\n\n{self.remediation}{more}"


@dataclass(frozen=True)
class Issue:
    """One thing a live check judged, with the rule it breaks: the one issue type of the IMAP
    and TLS judges. ``port`` None: about the whole target (or the endpoint the caller knows);
    ``detail`` tells apart findings of one rule on one endpoint (the fingerprint key);
    ``severity`` None: the rule's own."""

    rule: Rule
    message: str
    evidence: str = ""
    severity: Severity | None = None
    port: int | None = None
    detail: str = ""

    @property
    def rule_id(self) -> str:
        return self.rule.id


def doc_url(rule_id: str) -> str:
    """Where a rule is documented (docs/rules.md is generated from the catalogue)."""
    from imap_gate import INFORMATION_URI

    return f"{INFORMATION_URI}/blob/main/docs/rules.md#{rule_id.lower()}"


def _strip_md(text: str) -> str:
    return text.replace("`", "")
