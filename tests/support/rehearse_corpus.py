"""The corpus of real Dovecot files, rehearsed: which ones doveconf (2.3 or 2.4) loads, and
what a rehearsal of each of those did. Shared by ``tests/rehearse/test_rehearse_corpus.py`` and
``bench/rehearse.py`` (the figures)."""

from __future__ import annotations

import concurrent.futures as cf
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

from checks.rehearse import rehearsal, server


@dataclass
class Case:
    local: str                 # the corpus file, relative to the corpus
    version: str               # what the parser says the file is written for
    loads: bool                # doveconf of that version loads it
    doveconf: str = ""         # doveconf's complaint when it does not
    outcome: rehearsal.Outcome | None = None
    error: str | None = None   # an exception out of the rehearsal: a bug


def dovecot_files(corpus: Path) -> list[str]:
    data = yaml.safe_load((corpus / "INDEX.yaml").read_text(encoding="utf-8"))
    return [e["local_file"] for e in data["files"] if e.get("format") == "dovecot"]


def _doveconf(version: str, conf: Path) -> tuple[bool, str]:
    if version == "2.4":
        root = server.rootfs24()
        if root is None:
            return False, "no 2.4 root filesystem"
        where = root / "tmp" / f"imap-gate-doveconf-{uuid.uuid4().hex[:8]}"
        where.mkdir(parents=True)
        try:
            shutil.copy(conf, where / "dovecot.conf")
            p = subprocess.run(["chroot", str(root), "doveconf", "-n", "-c",
                                f"/tmp/{where.name}/dovecot.conf"],
                               capture_output=True, text=True, timeout=30)
        finally:
            shutil.rmtree(where, ignore_errors=True)
    else:
        p = subprocess.run(["doveconf", "-n", "-c", str(conf)], capture_output=True, text=True,
                           timeout=30)
    return p.returncode == 0, (p.stderr.strip().splitlines() or [""])[-1]


def survey(corpus: Path, workers: int = 3) -> list[Case]:
    """Every corpus Dovecot file: does doveconf load it, and if so, rehearse it."""
    cases: list[Case] = []
    with tempfile.TemporaryDirectory(prefix="imap-gate-corpus-") as tmp:
        for n, local in enumerate(dovecot_files(corpus)):
            root = Path(tmp) / str(n)
            root.mkdir()
            shutil.copy(corpus / local, root / "dovecot.conf")
            _, eff = rehearsal.read(root, "dovecot.conf")
            ok, why = _doveconf(eff.info.version, root / "dovecot.conf")
            cases.append(Case(local, eff.info.version, ok, why))

        def one(n: int, case: Case) -> None:
            try:
                case.outcome = rehearsal.rehearse(Path(tmp) / str(n), "dovecot.conf",
                                                  "imap-gate.yml")
            except Exception as exc:  # the test reports these as failures
                case.error = f"{type(exc).__name__}: {exc}"

        with cf.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda nc: one(*nc), [(n, c) for n, c in enumerate(cases) if c.loads]))
    return cases
