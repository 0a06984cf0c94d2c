"""Corpus coverage: how much of what real repositories commit imap-gate judges, per format.

For every file of the shared corpus (``../shared/corpus``, ``INDEX.yaml`` names each) it runs
the project's lint entry points (``checks.firewall.check.lint_text`` + ``judge``,
``checks.dovecot.check.lint_file``) and, for each file it cannot judge (FW006 / DOV013), asks
the real tool whether it loads the file:

- dovecot: ``doveconf -n`` 2.3 (this machine), and 2.4 (``chroot ROOT doveconf``, the root
  filesystem ``scripts/rootfs24.sh`` prepares) for 2.4 files and files of no known version,
  each file alone as imap-gate reads it: an absolute ``!include`` is pointed into the empty
  staging directory (``/etc/x`` -> ``STAGE/host/etc/x``), so that doveconf never reads this
  machine's files and, like imap-gate (``checks.dovecot.loader.repo_places``), finds only what
  the repository holds: a required one that the repository does not hold is refused, an
  ``!include_try`` skipped; a relative one must exist, as for doveconf;
- iptables-save, ufw-rules: ``iptables-restore --test`` / ``ip6tables-restore --test``;
- nftables: ``nft -c -f`` in a throwaway network namespace;
- firewalld-zone: firewalld's own zone reader (``firewall.core.io.zone.zone_reader`` from
  Debian's python3-firewall, unpacked into a temporary directory, never installed) and the
  stock service list of the firewalld packages (``checks/firewall/firewalld_services.json``);
- iptables-script, ufw-script: no oracle (running a stranger's script is not an option).

Columns: files; judged; can't judge where the tool refuses too (faithful); can't judge where
the tool loads the file (imap-gate's gap); can't judge with no oracle; crashes. Prints a
Markdown table; ``--gaps`` lists the gap files with imap-gate's first can't-judge message.
Needs root (namespaces, chroot). Run: ``python bench/corpus.py [--corpus DIR] [--gaps]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from checks.dovecot.check import lint_file  # noqa: E402
from checks.firewall.check import RootReader, lint_text  # noqa: E402
from checks.firewall.iptables_save import guess_family  # noqa: E402
from checks.firewall.judge import judge  # noqa: E402

FORMATS = ("dovecot", "iptables-save", "iptables-script", "nftables", "ufw-rules", "ufw-script",
           "firewalld-zone")
CANT = {"FW006", "DOV013"}
ROOTFS24 = Path(os.environ.get("IMAP_GATE_ROOTFS24") or "/var/cache/imap-gate/trixie-dovecot24")
ABS_INCLUDE = re.compile(r"^([ \t]*!include(?:_try)?[ \t]+['\"]?)/", re.M)
ZONE_READER = r"""
import os, sys
from firewall.core.io.zone import zone_reader
z = zone_reader(os.path.basename(sys.argv[1]), os.path.dirname(sys.argv[1]))
names = set(z.services)
for r in z.rules:
    el = getattr(r, "element", None)
    if el is not None and type(el).__name__ == "Rich_Service":
        names.add(el.name)
print("\n".join(sorted(names)))
"""


class Oracles:
    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.ns = f"igcorpus-{secrets.token_hex(3)}"
        subprocess.run(["ip", "netns", "add", self.ns], check=True, capture_output=True)
        self.firewall_py = self._python3_firewall()
        cat = json.loads((REPO / "checks/firewall/firewalld_services.json").read_text())
        self.stock_services = set(cat["services"])

    def close(self) -> None:
        subprocess.run(["ip", "netns", "del", self.ns], capture_output=True, timeout=30)

    def _python3_firewall(self) -> Path | None:
        where = self.tmp / "pyfw"
        where.mkdir()
        got = subprocess.run(["apt-get", "-qq", "download", "python3-firewall"], cwd=where,
                             capture_output=True, text=True)
        debs = list(where.glob("python3-firewall_*.deb"))
        if got.returncode != 0 or not debs:
            return None
        subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(where / "x")], check=True)
        return where / "x/usr/lib/python3/dist-packages"

    def _ns(self, *argv: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.ns, *argv], capture_output=True, text=True,
                              timeout=60, input=stdin)

    def loads(self, fmt: str, path: Path, corpus: Path) -> bool | None:
        """True: the real tool loads the file; False: it refuses; None: no oracle."""
        if fmt == "nftables":
            p = self._ns("nft", "-c", "-I", str(path.parent), "-f", str(path))
            return p.returncode == 0 or "Interface does not exist" in p.stderr
        if fmt in ("iptables-save", "ufw-rules"):
            text = path.read_text(errors="replace")
            tool = "iptables-restore" if guess_family(text, path.name) == "ipv4" else "ip6tables-restore"
            p = self._ns(tool, "--test", str(path))
            return p.returncode == 0
        if fmt == "firewalld-zone":
            return self._zone_loads(path)
        if fmt == "dovecot":
            return self._doveconf_loads(path, corpus)
        return None

    def _zone_loads(self, path: Path) -> bool | None:
        if self.firewall_py is None:
            return None
        d = self.tmp / f"zone-{secrets.token_hex(3)}"
        d.mkdir()
        name = re.sub(r"[^A-Za-z0-9_-]", "", path.name.rsplit("__", 1)[-1].removesuffix(".xml"))[:17]
        dest = d / f"{name or 'zone'}.xml"
        shutil.copyfile(path, dest)
        env = dict(os.environ, PYTHONPATH=str(self.firewall_py))
        p = subprocess.run(["python3", "-c", ZONE_READER, str(dest)], capture_output=True, text=True,
                           env=env, timeout=60)
        if p.returncode != 0:
            return False
        # firewalld refuses a zone naming a service it does not have (INVALID_SERVICE).
        return all(s in self.stock_services for s in p.stdout.split())

    def _doveconf_loads(self, path: Path, corpus: Path) -> bool:
        index_hint = getattr(self, "hints", {}).get(path.name, "")
        tries = ["2.4"] if index_hint.startswith("2.4") else ["2.3"]
        if index_hint in ("", "unknown", "2.x"):
            tries.append("2.4")
        return any(self._doveconf(v, path) for v in tries)

    def _doveconf(self, version: str, path: Path) -> bool:
        if version == "2.4":
            if not (ROOTFS24 / ".imap-gate-ready").is_file():
                return False
            base = Path(tempfile.mkdtemp(prefix="igcorpus-", dir=ROOTFS24 / "tmp"))
        else:
            base = Path(tempfile.mkdtemp(prefix="igcorpus-", dir=self.tmp))
        try:
            dest = base / path.name
            text = path.read_bytes().decode("utf-8", errors="surrogateescape")
            seen = "/" + str(base.relative_to(ROOTFS24)) if version == "2.4" else str(base)
            staged = ABS_INCLUDE.sub(lambda m: f"{m.group(1)}{seen}/host/", text)
            dest.write_bytes(staged.encode("utf-8", errors="surrogateescape"))
            if version == "2.4":
                inside = "/" + str(dest.relative_to(ROOTFS24))
                argv = ["chroot", str(ROOTFS24), "doveconf", "-n", "-c", inside]
            else:
                argv = ["doveconf", "-n", "-c", str(dest)]
            return subprocess.run(argv, capture_output=True, timeout=60).returncode == 0
        finally:
            shutil.rmtree(base, ignore_errors=True)


def lint(fmt: str, corpus: Path, rel: str) -> list:
    if fmt == "dovecot":
        one = Path(tempfile.mkdtemp(prefix="igcorpus-dov-"))
        try:
            shutil.copyfile(corpus / rel, one / Path(rel).name)
            findings, _, _ = lint_file(one, Path(rel).name)
        finally:
            shutil.rmtree(one, ignore_errors=True)
        return findings
    text = (corpus / rel).read_bytes().decode("utf-8", errors="replace")
    v = lint_text(text, rel, None, RootReader(corpus))
    return judge(v, [v])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--gaps", action="store_true", help="list the gap files")
    args = ap.parse_args(argv)
    index = yaml.safe_load((args.corpus / "INDEX.yaml").read_text(encoding="utf-8"))
    rows = {f: {"files": 0, "judged": 0, "faithful": 0, "gap": 0, "no-oracle": 0, "crash": 0}
            for f in FORMATS}
    gaps: list[str] = []
    with tempfile.TemporaryDirectory(prefix="igcorpus-") as t:
        oracles = Oracles(Path(t))
        oracles.hints = {Path(e["local_file"]).name: str((e.get("hints") or {}).get("dovecot_version", ""))
                         for e in index["files"]}
        try:
            for e in index["files"]:
                fmt, rel = e["format"], e["local_file"]
                row = rows[fmt]
                row["files"] += 1
                try:
                    findings = lint(fmt, args.corpus, rel)
                except Exception as exc:  # a crash is what this report is for
                    row["crash"] += 1
                    gaps.append(f"CRASH {rel}: {type(exc).__name__}: {exc}")
                    continue
                cant = [f for f in findings if f.rule_id in CANT]
                if not cant:
                    row["judged"] += 1
                    continue
                loads = oracles.loads(fmt, args.corpus / rel, args.corpus)
                if loads is None:
                    row["no-oracle"] += 1
                elif loads:
                    row["gap"] += 1
                    gaps.append(f"GAP {rel}: line {cant[0].location.line}: {cant[0].message[:200]}")
                else:
                    row["faithful"] += 1
        finally:
            oracles.close()
    print("| format | files | judged | can't judge, tool refuses too | can't judge, tool loads (gap) "
          "| can't judge, no oracle | crashes |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    total = {k: 0 for k in rows["dovecot"]}
    for f in FORMATS:
        r = rows[f]
        for k in total:
            total[k] += r[k]
        print(f"| {f} | {r['files']} | {r['judged']} | {r['faithful']} | {r['gap']} | "
              f"{r['no-oracle']} | {r['crash']} |")
    print(f"| **all** | {total['files']} | {total['judged']} | {total['faithful']} | {total['gap']} | "
          f"{total['no-oracle']} | {total['crash']} |")
    if args.gaps:
        print()
        for g in gaps:
            print(f"- {g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
