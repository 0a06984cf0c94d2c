"""Byte-for-byte: what users and code scanning see stays what it was.

Issue 19 moves code around; it must not change one byte of output. These tests run
the real CLI on the bundled examples and on every lint fixture and compare stdout,
the exit code, the SARIF and the JSON report with the files in ``tests/golden/``.
Only what differs between two runs of the same inputs is normalised: probe timings
and the temporary paths in ``commandLine``.

An intended change of output regenerates the files, to be reviewed in the diff::

    IMAP_GATE_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/gate/test_golden.py
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
GOLDEN = REPO / "tests" / "golden"
FIXTURES = REPO / "tests" / "fixtures"
UPDATE = bool(os.environ.get("IMAP_GATE_UPDATE_GOLDEN"))


def _fixture_files() -> list[str]:
    """Every top-level lint fixture, as a path relative to tests/fixtures."""
    out = [p for sub in ("dovecot", "firewall") for p in sorted((FIXTURES / sub).iterdir())
           if p.is_file() and not p.name.endswith((".txt", ".py"))]
    return [p.relative_to(FIXTURES).as_posix() for p in out]


def _fixtures_manifest(tmp: Path) -> Path:
    files = _fixture_files()
    dovecot = [f for f in files if f.startswith("dovecot/")]
    firewall = [f for f in files if f.startswith("firewall/")]
    text = ("version: 1\nname: golden-fixtures\ntargets: []\nconfigs:\n  dovecot:\n"
            + "".join(f"    - {f}\n" for f in dovecot) + "  firewall:\n"
            + "".join(f"    - {f}\n" for f in firewall))
    path = tmp / "fixtures.yml"
    path.write_text(text, encoding="utf-8")
    return path


CASES: dict[str, list[str]] = {
    "secure-text": ["--root", "examples/secure", "--format", "text"],
    "secure-markdown": ["--root", "examples/secure", "--format", "markdown"],
    "insecure-text": ["--root", "examples/insecure", "--format", "text"],
    "insecure-markdown": ["--root", "examples/insecure", "--format", "markdown"],
    "insecure-json": ["--root", "examples/insecure", "--format", "json"],
    "insecure-lint": ["--root", "examples/insecure", "--only", "lint"],
    "insecure-probe": ["--root", "examples/insecure", "--only", "probe"],
    "insecure-never": ["--root", "examples/insecure", "--fail-on", "never", "-q"],
    "fixtures-lint": ["--root", "tests/fixtures", "--manifest", "@fixtures", "--only", "lint"],
    "list-rules": ["--list-rules"],
    "list-rules-json": ["--list-rules", "--format", "json"],
    "explain": ["--explain", "IMAP004"],
    "explain-name": ["--explain", "exposed-cleartext"],
}

def _untimed(value: object) -> object:
    """Probe timings (which phases ran, and how long) differ from run to run."""
    if isinstance(value, dict):
        return {k: "<timings>" if k == "timings" else _untimed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untimed(v) for v in value]
    return value


def _normalise(part: str, text: str, tmp: Path) -> str:
    text = text.replace(str(tmp), "<TMP>").replace(str(REPO), "<REPO>")
    if part in ("sarif", "json") or (part == "stdout" and text.startswith("{")):
        return json.dumps(_untimed(json.loads(text)), indent=2, ensure_ascii=False) + "\n"
    return text


def _run(name: str, tmp: Path) -> dict[str, str]:
    args = [a if a != "@fixtures" else str(_fixtures_manifest(tmp)) for a in CASES[name]]
    reports = []
    if not args[0].startswith("--list") and args[0] != "--explain":
        reports = ["--sarif", str(tmp / "out.sarif"), "--json", str(tmp / "out.json")]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "RUNNER_", "IMAP_GATE_", "INPUT_"))}
    env.update(SOURCE_DATE_EPOCH="1700000000", NO_COLOR="1", COLUMNS="100")
    proc = subprocess.run([sys.executable, str(REPO / "entrypoint.py"), *args, *reports],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    out = {"stdout": proc.stdout, "stderr": proc.stderr, "exit": f"{proc.returncode}\n"}
    for ext in ("sarif", "json"):
        path = tmp / f"out.{ext}"
        if path.exists():
            out[ext] = path.read_text(encoding="utf-8")
    return {k: _normalise(k, v, tmp) for k, v in out.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_output_is_unchanged(name: str, tmp_path: Path) -> None:
    got = _run(name, tmp_path)
    folder = GOLDEN / name
    if UPDATE:
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.iterdir():
            old.unlink()
        for part, text in got.items():
            (folder / part).write_text(text, encoding="utf-8")
    want = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}
    assert sorted(got) == sorted(want), f"{name}: different outputs were written"
    for part in sorted(want):
        assert got[part] == want[part], (
            f"{name}/{part} changed; if intended: IMAP_GATE_UPDATE_GOLDEN=1 pytest {__file__}")


def test_golden_files_are_json_where_they_should_be() -> None:
    """The stored reports are themselves valid JSON: a truncated golden file cannot pass."""
    stored = sorted(GOLDEN.glob("*/sarif")) + sorted(GOLDEN.glob("*/json"))
    assert len(stored) >= 8
    for path in stored:
        json.loads(path.read_text(encoding="utf-8"))
