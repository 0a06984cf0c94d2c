"""The wheel installs one top-level package, ``imap_gate`` (issue 19).

``checks/`` and ``schemas/`` stay at the top of the repository (the design card) and go into
the wheel as ``imap_gate.checks`` and ``imap_gate/schemas``; ``imap_gate/layout.py`` finds
either. The wheel is built from this checkout, installed into a temporary directory and run
from outside the checkout, where a stray ``import checks`` would fail.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from imap_gate import catalogue
from tests.conftest import REPO

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    build = tmp_path_factory.mktemp("build")
    shutil.copytree(REPO, build / "src", ignore=shutil.ignore_patterns(
        ".venv", ".git", "__pycache__", "tests", "bench", "*.egg-info", "build"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w",
                           str(out), str(build / "src")], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (found,) = out.glob("imap_gate-*.whl")
    return found


def _run(target: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    code = ("import sys, imap_gate.cli as cli; code = cli.main(sys.argv[1:]); "
            "stray = [m for m in sys.modules if m == 'checks' or m.startswith('checks.')]; "
            "print('STRAY', stray, file=sys.stderr); sys.exit(code)")
    env = {**os.environ, "PYTHONPATH": str(target), "SOURCE_DATE_EPOCH": "1700000000"}
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_wheel_has_no_top_level_checks_or_schemas(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"imap_gate", wheel.name.split("-py3")[0]
                                                + ".dist-info"}
    for needed in ("imap_gate/checks/registry.py", "imap_gate/checks/imap/engine.py",
                   "imap_gate/schemas/manifest.schema.json",
                   "imap_gate/checks/dovecot/known_settings.json",
                   "imap_gate/checks/firewall/firewalld_services.json"):
        assert needed in names, needed


def test_the_installed_wheel_runs_from_outside_the_checkout(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                           "--target", str(target), str(wheel)], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    rules = _run(target, tmp_path, "--list-rules", "--format", "json")
    assert rules.returncode == 0, rules.stderr
    assert [r["id"] for r in json.loads(rules.stdout)] == list(catalogue.catalogue())
    shutil.copytree(REPO / "examples" / "insecure", tmp_path / "insecure")
    report = tmp_path / "out.json"
    lint = _run(target, tmp_path, "--root", str(tmp_path / "insecure"), "--only", "lint",
                "--json", str(report), "-q")
    assert lint.returncode == 1, lint.stderr
    assert "STRAY []" in lint.stderr
    got = sorted((f["rule_id"], f["path"], f["line"]) for f in json.loads(report.read_text())
                 ["findings"])
    want = json.loads((REPO / "tests" / "golden" / "insecure-lint" / "json").read_text())
    assert got == sorted((f["rule_id"], f["path"], f["line"]) for f in want["findings"])
