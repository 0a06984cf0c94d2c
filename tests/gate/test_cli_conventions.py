"""The conventions users bring from ruff, zizmor, checkov, pip-audit: -q, --list-rules,
--explain, --manifest -, one --manifest, merge in --help, colour and progress on a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from imap_gate import catalogue
from imap_gate.cli import main
from imap_gate.docs import RULES_DOC
from tests.conftest import REPO
from tests.support.dovecot import free_port

ENTRYPOINT = REPO / "entrypoint.py"
INSECURE = REPO / "examples" / "insecure"
ESC = "\x1b["


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "INPUT_")) and k not in ("NO_COLOR", "FORCE_COLOR")}
    env["TERM"] = "xterm"
    env.update(extra)
    return env


def _cli(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([sys.executable, str(ENTRYPOINT), *args], capture_output=True, text=True,
                          input=stdin, env=_env(**env), timeout=120, cwd=REPO)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def _on_tty(args: list[str], tty: str, **env: str) -> tuple[int, str, str]:
    """Run with stdout or stderr (``tty``) on a pseudo-terminal, the other stream in a file."""
    master, slave = pty.openpty()
    with open(os.devnull, "rb") as devnull, \
            tempfile.TemporaryFile() as other:
        proc = subprocess.Popen([sys.executable, str(ENTRYPOINT), *args], stdin=devnull,
                                stdout=slave if tty == "stdout" else other,
                                stderr=slave if tty == "stderr" else other,
                                env=_env(**env), cwd=REPO)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:      # EIO: the child closed the terminal
                break
            if not data:
                break
            chunks.append(data)
        code = proc.wait(timeout=120)
        os.close(master)
        other.seek(0)
        return code, b"".join(chunks).decode(errors="replace"), other.read().decode(errors="replace")


# ------------------------------------------------------------------ -q, --help

def test_dash_q_is_quiet(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["-q", "--root", str(INSECURE), "--only", "lint"])
    out = capsys.readouterr().out
    assert code == 1
    assert out.count("\n") == 1 and out.startswith("imap-gate: gate FAILED")


def test_main_help_mentions_merge() -> None:
    proc = _cli("--help")
    assert proc.returncode == 0
    assert "merge A.sarif B.sarif" in proc.stdout and "--list-rules" in proc.stdout


# ------------------------------------------------------------------ rules

def test_list_rules_text_and_json() -> None:
    text = _cli("--list-rules")
    assert text.returncode == 0
    rules = list(catalogue.catalogue().values())
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["id", "name", "severity", "family"]
    assert [ln.split()[0] for ln in lines[1:]] == [r.id for r in rules]
    assert lines[1].split() == ["IMAP001", "preauth-greeting", "critical", "imap"]
    doc = json.loads(_cli("--list-rules", "--format", "json").stdout)
    assert [d["id"] for d in doc] == [r.id for r in rules]
    by_id = {d["id"]: d for d in doc}
    assert by_id["DOV001"] == {**by_id["DOV001"], "name": "ssl-disabled", "severity": "high",
                               "family": "dovecot"}
    assert {d["family"] for d in doc} == {"imap", "tls", "dovecot", "firewall", "drift", "rehearse",
                                              "policy"}


def test_explain_prints_the_rule_as_the_docs_do() -> None:
    proc = _cli("--explain", "IMAP004")
    assert proc.returncode == 0
    docs = RULES_DOC.read_text(encoding="utf-8")
    section = docs[docs.index("## IMAP004"):docs.index("## IMAP005")].strip()
    assert proc.stdout.startswith(section)
    assert "docs/rules.md#imap004" in proc.stdout
    assert _cli("--explain", "cleartext-auth").stdout == proc.stdout
    data = json.loads(_cli("--explain", "imap004", "--format", "json").stdout)
    assert data["id"] == "IMAP004" and data["remediation"]


def test_explain_unknown_rule_is_exit_2_with_a_hint() -> None:
    proc = _cli("--explain", "IMAP0004")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "imap-gate: --explain: no rule 'IMAP0004'; did you mean 'IMAP004'?"


# ------------------------------------------------------------------ --manifest

MANIFEST = "version: 1\nname: piped\ndefaults:\n  timout: 3\n"


@pytest.mark.parametrize("name", ["-", "/dev/stdin"])
def test_manifest_from_stdin(tmp_path: Path, name: str) -> None:
    good = _cli("--root", str(tmp_path), "--manifest", name, "--only", "lint", "--format", "json",
                stdin="version: 1\nname: piped\n")
    assert good.returncode == 0, good.stderr
    assert json.loads(good.stdout)["gate"] == "pass"
    bad = _cli("--root", str(tmp_path), "--manifest", name, "--only", "lint", stdin=MANIFEST)
    assert bad.returncode == 2
    assert bad.stderr.strip() == ("imap-gate: stdin:4:3: defaults: unknown key 'timout'; "
                                  "did you mean 'timeout'?")


def test_manifest_given_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text("version: 1\n")
    (tmp_path / "b.yml").write_text("version: 1\n")
    proc = _cli("--root", str(tmp_path), "--manifest", "a.yml", "--manifest", "b.yml")
    assert proc.returncode == 2
    assert "--manifest is given twice ('a.yml' and 'b.yml')" in proc.stderr


def test_format_json_prints_the_json_report(tmp_path: Path) -> None:
    out = tmp_path / "r.json"
    proc = _cli("--root", str(INSECURE), "--only", "lint", "--format", "json", "--json", str(out))
    assert proc.returncode == 1
    printed, written = json.loads(proc.stdout), json.loads(out.read_text())
    assert printed["findings"] == written["findings"] and printed["gate"] == "fail"


# ------------------------------------------------------------------ colour

def test_no_colour_in_a_pipe_unless_forced() -> None:
    args = ("--root", str(INSECURE), "--only", "lint")
    assert ESC not in _cli(*args).stdout
    forced = _cli(*args, FORCE_COLOR="1").stdout
    assert f"{ESC}1;31mHIGH{ESC}0m" in forced and f"{ESC}1;31mgate FAILED{ESC}0m" in forced
    assert ESC not in _cli(*args, FORCE_COLOR="1", NO_COLOR="1").stdout


def test_colour_on_a_terminal_unless_no_color() -> None:
    args = ["--root", str(INSECURE), "--only", "lint"]
    code, tty, _ = _on_tty(args, "stdout")
    assert code == 1
    assert f"{ESC}1;31mgate FAILED{ESC}0m" in tty and f"{ESC}33mMEDIUM{ESC}0m" in tty
    code, tty, _ = _on_tty(args, "stdout", NO_COLOR="1")
    assert code == 1 and ESC not in tty and "gate FAILED" in tty


# ------------------------------------------------------------------ progress

def _probe_root(tmp_path: Path) -> Path:
    ports = [free_port("127.0.0.1") for _ in range(3)]
    lines = ["version: 1", "defaults: {timeout: 2}", "targets:"]
    for i, p in enumerate(ports):
        lines += [f"  - name: gone{i}", "    host: 127.0.0.1",
                  f"    ports: [{{port: {p}, protocol: imap}}]", f"    expect: {{\"{p}\": closed}}"]
    (tmp_path / "imap-gate.yml").write_text("\n".join(lines) + "\n")
    return tmp_path


def test_progress_on_a_terminal_only(tmp_path: Path) -> None:
    root = _probe_root(tmp_path)
    args = ["--root", str(root), "--only", "probe"]
    code, tty, out = _on_tty(args, "stderr")
    assert code == 0, tty
    assert "imap-gate: probing endpoints 3/3" in tty
    assert tty.rstrip("\r\n").endswith("\r\x1b[K"), repr(tty[-80:])   # the line is cleared
    assert "gate passed" in out and ESC not in out
    code, tty, _ = _on_tty([*args, "-q"], "stderr")
    assert code == 0 and tty == ""
    piped = _cli(*args)
    assert piped.returncode == 0 and piped.stderr == ""
    code, tty, _ = _on_tty(args, "stderr", GITHUB_ACTIONS="true")
    assert "probing" not in tty


# ------------------------------------------------------------------ merge

def test_merge_refuses_reports_of_different_manifests(tmp_path: Path) -> None:
    sarifs = []
    for name in ("alpha", "beta"):
        root = tmp_path / name
        root.mkdir()
        (root / "imap-gate.yml").write_text(f"version: 1\nname: {name}\n")
        sarifs.append(str(tmp_path / f"{name}.sarif"))
        assert main(["-q", "--root", str(root), "--only", "lint", "--sarif", sarifs[-1]]) == 0
    out = tmp_path / "all.sarif"
    proc = _cli("merge", *sarifs, "-o", str(out))
    assert proc.returncode == 2 and not out.exists()
    assert "different manifests (imap-gate/alpha/, imap-gate/beta/)" in proc.stderr
    proc = _cli("merge", *sarifs, "-o", str(out), "--category", "imap-gate/fleet")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    assert doc["runs"][0]["automationDetails"]["id"] == "imap-gate/fleet/"
