#!/usr/bin/env python3
"""Start-up and footprint figures for the Action's image (issue 7).

Measures, on this machine:
- ``entrypoint.py --version`` start time (``python -I`` as in the image), median of N runs;
- a lint-only run's wall time and peak memory (RSS of the child), as the CLI and as the Action
  (GITHUB_ACTIONS=true with the runner's env files), on a small workspace made here;
- what the image adds on top of the slim Python base: the installed size of the locked runtime
  dependencies (from the installed distributions, or a venv given with --venv) and of the app.

No Docker engine is needed or used; the base image's own size is not measured.
Run: ``python bench/startup.py [--runs 10] [--venv DIR] [--json out.json]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / "entrypoint.py"
APP_PARTS = ("entrypoint.py", "imap_gate", "checks", "schemas")

MANIFEST = """\
version: 1
name: bench
configs:
  dovecot: [deploy/dovecot/**/*.conf]
  firewall: [deploy/firewall/rules.v4]
"""
DOVECOT = "ssl = required\nssl_min_protocol = TLSv1.2\nauth_allow_cleartext = no\n"
RULES = "*filter\n:INPUT DROP [0:0]\n-A INPUT -p tcp --dport 993 -j ACCEPT\nCOMMIT\n"


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}


def timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS in KiB, exit code of one child process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode


def workspace(base: Path) -> Path:
    ws = base / "ws"
    (ws / "deploy" / "dovecot" / "conf.d").mkdir(parents=True)
    (ws / "deploy" / "firewall").mkdir(parents=True)
    (ws / "imap-gate.yml").write_text(MANIFEST)
    (ws / "deploy" / "dovecot" / "dovecot.conf").write_text(DOVECOT)
    (ws / "deploy" / "dovecot" / "conf.d" / "10-ssl.conf").write_text(DOVECOT)
    (ws / "deploy" / "firewall" / "rules.v4").write_text(RULES)
    return ws


def series(argv: list[str], env: dict[str, str], cwd: Path, runs: int) -> dict[str, object]:
    walls, rss, codes = [], [], set()
    timed(argv, env, cwd)  # warm the page cache and bytecode
    for _ in range(runs):
        w, r, c = timed(argv, env, cwd)
        walls.append(w)
        rss.append(r)
        codes.add(c)
    return {"median_ms": round(statistics.median(walls) * 1000, 1),
            "min_ms": round(min(walls) * 1000, 1), "max_ms": round(max(walls) * 1000, 1),
            "peak_rss_mib": round(max(rss) / 1024, 1), "exit_codes": sorted(codes), "runs": runs}


def tree_size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts)


def locked_names() -> list[str]:
    text = (REPO / "requirements.lock").read_text()
    return [m.group(1) for m in re.finditer(r"^([A-Za-z0-9_.-]+)==", text, re.M)]


def installed_deps_size() -> tuple[int, list[str]]:
    """Bytes of the locked distributions as installed for this interpreter (wheels, no cache)."""
    total, missing = 0, []
    for name in locked_names():
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            missing.append(name)
            continue
        for f in dist.files or ():
            p = Path(str(dist.locate_file(f)))
            if p.is_file() and "__pycache__" not in p.parts:
                total += p.stat().st_size
    return total, missing


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=10)
    ap.add_argument("--venv", type=Path, help="a venv with requirements.lock installed: measure "
                                              "its site-packages instead of this interpreter's")
    ap.add_argument("--json", type=Path, help="also write the figures here")
    args = ap.parse_args()
    # As pip and the Docker image do: measure start-up with byte-compiled modules, even where
    # PYTHONDONTWRITEBYTECODE is set and each run would otherwise compile them again.
    import compileall

    for part in ("imap_gate", "checks"):
        compileall.compile_dir(str(ENTRY.parent / part), quiet=1)

    out: dict[str, object] = {"python": sys.version.split()[0], "cpus": os.cpu_count(),
                              "load_1min": round(os.getloadavg()[0], 2)}
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        ws = workspace(base)
        env = clean_env()
        py = [sys.executable, "-I", str(ENTRY)]
        out["version_start"] = series([*py, "--version"], env, ws, args.runs)
        out["lint_only_cli"] = series([*py, "--only", "lint", "--sarif", str(base / "o.sarif"),
                                       "--json", str(base / "o.json")], env, ws, args.runs)
        gh = dict(env, GITHUB_ACTIONS="true", GITHUB_WORKSPACE=str(ws),
                  GITHUB_OUTPUT=str(base / "output"), GITHUB_STEP_SUMMARY=str(base / "summary"),
                  **{"INPUT_ONLY": "lint", "INPUT_SARIF-FILE": "imap-gate.sarif",
                     "INPUT_ANNOTATIONS": "true", "INPUT_SUMMARY": "true"})
        out["lint_only_action"] = series(py, gh, ws, args.runs)

    if args.venv:
        site = next((args.venv / "lib").glob("python3*/site-packages"))
        deps, missing = tree_size(site), []
        out["deps_source"] = f"venv {args.venv} (site-packages, pip included if present)"
    else:
        deps, missing = installed_deps_size()
        out["deps_source"] = "installed distributions of this interpreter named in requirements.lock"
    app = sum(tree_size(REPO / p) for p in APP_PARTS)
    out["image_added"] = {"deps_mib": round(deps / 2**20, 1), "app_kib": round(app / 1024, 1),
                          "deps_missing": missing,
                          "note": "on top of the python:3.11-slim base (not measured: no Docker "
                                  "engine here); pip/setuptools/wheel are removed in the image"}
    text = json.dumps(out, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
