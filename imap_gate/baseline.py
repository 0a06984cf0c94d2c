"""Baselines: accept the findings of an earlier run, gate only on new ones.

A baseline is a SARIF or JSON report that imap-gate wrote; findings are
matched by fingerprint, which never contains a line number or a manifest
position, so moved lines and re-ordered targets stay matched.
"""

from __future__ import annotations

import json
from pathlib import Path

from imap_gate.errors import InputError
from imap_gate.findings import Finding

FP_KEY = "imapGateFingerprint/v1"
MAX_BASELINE_BYTES = 256 * 1024 * 1024


def read_fingerprints(path: Path) -> set[str]:
    doc = _read_json(path)
    if isinstance(doc, dict) and isinstance(doc.get("runs"), list):
        return _sarif_fingerprints(doc["runs"])
    if isinstance(doc, dict) and doc.get("schema_version") == 1 and \
            isinstance(doc.get("findings"), list):
        return {f["fingerprint"] for f in doc["findings"]
                if isinstance(f, dict) and isinstance(f.get("fingerprint"), str)}
    raise InputError("the baseline is not a JSON or SARIF report written by imap-gate", str(path), 1)


def _sarif_fingerprints(runs: list) -> set[str]:
    """Every result's fingerprint in a SARIF report; a result without one (another tool's,
    or cut short) matches nothing rather than failing the run."""
    fps = set()
    for run in runs:
        for res in (run or {}).get("results") or []:
            fp = ((res or {}).get("partialFingerprints") or {}).get(FP_KEY)
            if isinstance(fp, str):
                fps.add(fp)
    return fps


def _read_json(path: Path) -> object:
    """The baseline's JSON; unreadable, too large or not JSON is bad input, on its line."""
    try:
        if path.stat().st_size > MAX_BASELINE_BYTES:
            raise InputError("the baseline is larger than 256 MiB", str(path))
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read the baseline: {exc.strerror}", str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        line = getattr(exc, "lineno", None)
        raise InputError("the baseline is not a JSON or SARIF report written by imap-gate",
                         str(path), line) from None


def apply(findings: list[Finding], fingerprints: set[str]) -> list[Finding]:
    return [f.in_baseline() if f.fingerprint in fingerprints else f for f in findings]
