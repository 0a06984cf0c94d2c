"""Rehearsal speed and coverage (issue 20). Prints figures; judges nothing; exits 0.

    python bench/rehearse.py            # one rehearsal (median of 5), a 10-configuration manifest
    python bench/rehearse.py --corpus   # also: the corpus survey (how many rehearsed, refused, why)

Targets: one rehearsal (copy, start, probe, stop) <= 2 s; 10 configurations <= 5 s.
Needs root, Dovecot 2.3 (dovecot-imapd) and, for 2.4, the root filesystem of scripts/rootfs24.sh.
"""

from __future__ import annotations

import collections
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from checks.rehearse import rehearsal, server  # noqa: E402
from imap_gate.cli import run_checks  # noqa: E402
from imap_gate.manifest import load_manifest  # noqa: E402

V24 = ("dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\nprotocols = imap\n"
       "ssl = yes\nssl_min_protocol = TLSv1\nauth_allow_cleartext = yes\n")
V23_SECURE = ("protocols = imap\nssl = required\nssl_min_protocol = TLSv1.2\n"
              "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n")


def one(root: Path, entry: str, n: int = 5) -> list[float]:
    times = []
    for _ in range(n):
        out = rehearsal.rehearse(root, entry, "imap-gate.yml")
        assert out.status == "rehearsed", (out.status, out.reason, out.refusal)
        times.append(out.seconds)
    return times


def manifest_of_ten(tmp: Path) -> Path:
    shutil.copytree(REPO / "examples" / "insecure" / "deploy", tmp / "insecure")
    shutil.copytree(REPO / "examples" / "secure" / "deploy", tmp / "secure")
    files = ["insecure/dovecot/dovecot.conf", "secure/dovecot/dovecot.conf"]
    for i in range(8):
        name = f"extra/{i}/dovecot.conf"
        (tmp / name).parent.mkdir(parents=True)
        text = V24 if i % 2 == 0 and server.rootfs24() else V23_SECURE
        (tmp / name).write_text(text)
        files.append(name)
    (tmp / "imap-gate.yml").write_text(
        "version: 1\nconfigs:\n  dovecot:\n" + "".join(f"    - {f}\n" for f in files))
    return tmp / "imap-gate.yml"


def main(argv: list[str]) -> int:
    if server.dovecot23() is None:
        print("Dovecot 2.3 is not installed: nothing to measure")
        return 0
    print("one rehearsal (copy, start, probe, stop), median of 5:")
    t = one(REPO / "examples" / "insecure", "deploy/dovecot/dovecot.conf")
    print(f"  2.3 examples/insecure (imap + imaps)  {statistics.median(t):.2f} s  "
          f"(min {min(t):.2f}, max {max(t):.2f})")
    t = one(REPO / "examples" / "secure", "deploy/dovecot/dovecot.conf")
    print(f"  2.3 examples/secure   (imaps)         {statistics.median(t):.2f} s")
    if server.rootfs24():
        with tempfile.TemporaryDirectory() as d:
            (Path(d) / "dovecot.conf").write_text(V24)
            t = one(Path(d), "dovecot.conf")
        print(f"  2.4 cleartext + TLS 1.0 (imap + imaps) {statistics.median(t):.2f} s")
    with tempfile.TemporaryDirectory() as d:
        path = manifest_of_ten(Path(d))
        manifest = load_manifest(Path(d), path)
        import dataclasses

        manifest = dataclasses.replace(manifest, rehearse=True)
        runs = []
        for _ in range(3):
            start = time.monotonic()
            result = run_checks(Path(d), manifest, "lint", None)
            runs.append(time.monotonic() - start)
        n = sum(1 for f in result.findings if f.rule_id == "REH004")
        print(f"a manifest of 10 configurations (lint + rehearsal), median of 3: "
              f"{statistics.median(runs):.2f} s ({n} rehearsed)")
    if "--corpus" in argv:
        from tests.support.rehearse_corpus import survey

        corpus = REPO.parent / "shared" / "corpus"
        start = time.monotonic()
        cases = survey(corpus)
        took = time.monotonic() - start
        loadable = [c for c in cases if c.loads]
        print(f"corpus: {len(cases)} Dovecot files, doveconf loads {len(loadable)} "
              f"({sum(c.version == '2.3' for c in loadable)} as 2.3, "
              f"{sum(c.version == '2.4' for c in loadable)} as 2.4); {took:.0f} s in all")
        status = collections.Counter((c.version, c.outcome.status if c.outcome else "error")
                                     for c in loadable)
        for (version, st), count in sorted(status.items()):
            print(f"  {version} {st:<11} {count}")
        for c in loadable:
            o = c.outcome
            if o is None or o.status != "rehearsed":
                why = c.error or (o.refusal.message if o and o.refusal else o and o.reason)
                print(f"    {c.local}: {why}")
        slow = max((c.outcome.seconds for c in loadable if c.outcome), default=0.0)
        print(f"  slowest rehearsal (3 at a time): {slow:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
