"""Severities, their order, and how SARIF and GitHub see them."""

from __future__ import annotations

import enum


class Severity(enum.IntEnum):
    """Ordered so that ``a >= b`` means "at least as serious"."""

    NOTE = 1
    LOW = 2
    MEDIUM = 3
    HIGH = 4
    CRITICAL = 5

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            choices = ", ".join(s.label for s in reversed(cls))
            raise ValueError(f"unknown severity {text!r} (choose one of {choices})") from None

    @property
    def security_severity(self) -> str:
        """GitHub maps this CVSS-like score to its own critical/high/medium/low."""
        return {
            Severity.CRITICAL: "9.5",
            Severity.HIGH: "8.0",
            Severity.MEDIUM: "5.5",
            Severity.LOW: "2.0",
            Severity.NOTE: "0.0",
        }[self]

    @property
    def sarif_level(self) -> str:
        if self >= Severity.HIGH:
            return "error"
        if self == Severity.MEDIUM:
            return "warning"
        return "note"


FAIL_ON_CHOICES = ("critical", "high", "medium", "low", "note", "never")


def parse_fail_on(text: str) -> Severity | None:
    """``never`` gives None: no finding fails the gate."""
    if text.strip().lower() == "never":
        return None
    return Severity.parse(text)
