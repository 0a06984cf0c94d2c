"""Dovecot corpus coverage against the real doveconf of each file's version.

Run as root from the repository root: ``python bench/dovecot_corpus.py [-v]``. Each corpus
file is linted alone (as a fragment, the way the oracle test reads it) and loaded by
``doveconf -n`` of the version the linter decides (2.3 on the host, 2.4 in the Debian 13
root filesystem). Per version: files; judged (doveconf loads it, no DOV013/DOV015 at medium
or above); faithful can't-judge (doveconf refuses it too, and the gate says so); gap
(doveconf loads it but the gate cannot judge it, or doveconf refuses it and the gate is
silent); crashes. ``-v`` lists every file that is not plainly judged.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import yaml

from checks.dovecot.check import lint_file
from imap_gate.severity import Severity
from tests.support import rootfs24
from tests.support.doveconf import (
    Doveconf,
    environmental,
    stage,
    template_refusal,
    with_local_users,
)

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus"


def cant_judge(findings) -> list:
    return [f for f in findings if f.rule_id in ("DOV013", "DOV015") and
            f.sev >= Severity.MEDIUM]


def classify(path: Path, oracles: dict[str, Doveconf]) -> tuple[str, str, str, str]:
    """(version, category, doveconf's reason, the gate's first can't-judge message)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / path.name).write_bytes(path.read_bytes())
        try:
            _, eff, _ = lint_file(root, path.name)
        except Exception as exc:
            return "?", "crash", "", repr(exc)
    version = eff.info.version
    oracle = oracles.get(version)
    if oracle is None:
        return version, "no-oracle", "", ""
    with oracle.staging() as st:
        staged = stage(path.parent, path.name, Path(st), alone=True)
        res = with_local_users(oracle, staged)      # the same bytes for both
        findings, _, _ = lint_file(Path(st), staged.name)
        templated = not res.ok and template_refusal(staged, res.reason, findings)
    ours = cant_judge(findings)
    first = ours[0].message if ours else ""
    if res.ok or environmental(res.reason):
        return version, ("gap" if ours else "judged"), "", first
    # doveconf refusing the unrendered template on a template line the gate reported is
    # faithful too: a template construct is not a config error (README, "Templates")
    return version, ("faithful" if ours or templated else "gap"), res.reason, first


def main() -> int:
    verbose = "-v" in sys.argv
    index = CORPUS / "INDEX.yaml"
    if not index.is_file():
        print("corpus absent")
        return 0
    oracles = {"2.3": Doveconf("2.3")}
    root24 = rootfs24.root()
    if root24 is not None:
        oracles["2.4"] = Doveconf("2.4", root24)
    entries = [e for e in yaml.safe_load(index.read_text())["files"] if e["format"] == "dovecot"]
    table: dict[str, dict[str, int]] = {}
    for e in entries:
        version, cat, reason, ours = classify(CORPUS / e["local_file"], oracles)
        row = table.setdefault(version, {"files": 0, "judged": 0, "faithful": 0, "gap": 0,
                                         "crash": 0, "no-oracle": 0})
        row["files"] += 1
        row[cat] += 1
        hint = (e.get("hints") or {}).get("dovecot_version")
        if verbose and cat != "judged":
            print(f"{cat:9} {version} (hint {hint}) {e['local_file']}\n"
                  f"          doveconf: {reason}\n          gate:     {ours[:200]}")
    print("| version | files | judged | faithful can't-judge | gap | crashes |")
    print("|---|---|---|---|---|---|")
    for v, row in sorted(table.items()):
        print(f"| {v} | {row['files']} | {row['judged']} | {row['faithful']} | {row['gap']} | "
              f"{row['crash']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
