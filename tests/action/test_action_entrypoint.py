"""``entrypoint.py`` run the way GitHub runs the Docker action: INPUT_* (with action.yml's
defaults), GITHUB_* variables, and the runner's env files; every file written is checked."""

from __future__ import annotations

import base64
import gzip
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from pytest_httpserver import HTTPServer

from imap_gate.github import outputs
from tests.action.test_action_annotations import parse_command
from tests.support.sarif_check import assert_valid_sarif

REPO = Path(__file__).resolve().parents[2]
ENTRY = REPO / "entrypoint.py"
TOKEN = "ghs_s3cr3t_t0ken_for_tests_only"
# %, LF, ':' and ',' must survive annotations; a forged command inside must stay inert
TRICKY = "50% of logins: plain, over\nthe wire\n::warning::pwned"
MANIFEST = """\
version: 1
name: lab
targets:
  - name: mail
    host: 127.0.0.1
    ports: [{port: 1, protocol: imap}]
    expect: {"1": closed}    # closed on purpose: a target where nothing answers fails (IMAP016)
"""
HOST_LINE = 5

# Replaces the check families with one that yields known findings and facts, so that what the
# Action shows can be asserted exactly while the real families are still being built.
INJECT = """\
import runpy, sys
sys.path.insert(0, {repo!r})
import checks
from checks import Check
from imap_gate.findings import Finding, Location
from imap_gate.severity import Severity

def run(ctx):
    import os
    from imap_gate.errors import GateError
    if os.environ.get("IMAP_GATE_FAKE_ERROR"):
        raise GateError("deploy/fw.rules: cannot read the firewall file")
    if os.environ.get("IMAP_GATE_FAKE_LOCATED_ERROR"):
        from imap_gate.errors import InputError
        raise InputError("configs.firewall: cannot judge this file", ctx.manifest.path, 3, 9)
    t = ctx.manifest.targets[0]
    ctx.facts["mail:1"] = {{"protocol": "imap", "connect": "open", "starttls": "not-offered",
                           "auth_plain": "refused", "caps_before_tls": ["IMAP4rev1", "STARTTLS"],
                           "greeting_status": "OK", "greeting_text": "ready"}}
    extra = [Finding("POL002", "advice: tcp dport 143 ip6 saddr 2001:db8::/32 accept",
                     Location("deploy/fw.nft", 4), severity=Severity.LOW, key="fw")] \
        if os.environ.get("IMAP_GATE_FAKE_ADVICE") else []
    return extra + [
        ctx.live_finding("POL001", t, 1, {tricky!r}, severity=Severity.HIGH),
        Finding("POL002", "waiver for deploy/old.conf matches nothing", Location(ctx.manifest.path, 2),
                key="waiver=0"),
        ctx.live_finding("POL002", t, 1, "waived one", severity=Severity.CRITICAL,
                         key="w").with_waiver("legacy scanners until March"),
    ]

checks.all_checks = lambda *args, **kwargs: [Check("fake", "lint", run)]
sys.argv = [{entry!r}, *sys.argv[1:]]
runpy.run_path({entry!r}, run_name="__main__")
"""


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)


def action_defaults() -> dict[str, str]:
    """INPUT_* as the runner sets them from action.yml when the workflow gives no `with:`."""
    meta = yaml.safe_load((REPO / "action.yml").read_text())
    out = {}
    for name, spec in meta["inputs"].items():
        value = str(spec.get("default", ""))
        out[name] = TOKEN if value == "${{ github.token }}" else value
    return out


@dataclass
class GhRun:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path

    def commands(self, name: str) -> list[tuple[dict[str, str], str]]:
        """The workflow commands the runner would act on (it ignores them after stop-commands)."""
        out = []
        resume = None
        for line in self.stdout.splitlines():
            if resume is not None:
                if line == f"::{resume}::":
                    resume = None
                continue
            if line.startswith("::stop-commands::"):
                resume = line.split("::")[2]
                continue
            if line.startswith(f"::{name} ") or line.startswith(f"::{name}::"):
                _, props, msg = parse_command(line)
                out.append((props, msg))
        assert resume is None, "stop-commands never resumed"
        return out

    def sarif(self, name: str = "imap-gate.sarif") -> dict:
        doc = json.loads((self.workspace / name).read_text())
        assert_valid_sarif(doc)
        return doc


@pytest.fixture
def gh(tmp_path: Path) -> Iterator:
    def runner(inputs: dict[str, str] | None = None, args: tuple[str, ...] = (),
               inject: bool = False, manifest: str | None = MANIFEST, subdir: str = "",
               env: dict[str, str] | None = None) -> GhRun:
        ws = tmp_path / "workspace"
        (ws / subdir).mkdir(parents=True, exist_ok=True)
        if manifest is not None:
            (ws / subdir / "imap-gate.yml").write_text(manifest)
        home = tmp_path / "runner"
        home.mkdir(exist_ok=True)
        out_file, summary_file = home / "output", home / "summary"
        out_file.write_text("")
        summary_file.write_text("")
        full = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
        full.update({
            "GITHUB_ACTIONS": "true", "GITHUB_WORKSPACE": str(ws),
            "GITHUB_OUTPUT": str(out_file), "GITHUB_STEP_SUMMARY": str(summary_file),
            "GITHUB_REPOSITORY": "octo/mail-infra", "GITHUB_SHA": "b" * 40,
            "GITHUB_REF": "refs/heads/main", "GITHUB_EVENT_NAME": "push",
            "GITHUB_API_URL": "http://127.0.0.1:9", "NO_PROXY": "127.0.0.1",
        })
        for name, value in {**action_defaults(), **(inputs or {})}.items():
            full[f"INPUT_{name.upper()}"] = value
        full.update(env or {})
        if inject:
            script = tmp_path / "inject.py"
            script.write_text(INJECT.format(repo=str(REPO), entry=str(ENTRY), tricky=TRICKY))
            argv = [sys.executable, str(script), *args]
        else:
            argv = [sys.executable, str(ENTRY), *args]
        proc = subprocess.run(argv, capture_output=True, text=True, env=full, cwd=ws, timeout=60)
        assert "Traceback" not in proc.stderr, proc.stderr
        return GhRun(proc.returncode, proc.stdout, proc.stderr, outputs.parse(out_file.read_text()),
                     summary_file.read_text(), ws)

    yield runner


def test_passing_gate_writes_outputs_summary_and_sarif(gh) -> None:
    r = gh()
    assert r.code == 0, r.stderr
    assert r.outputs == {"gate": "pass", "max-severity": "none", "findings": "0",
                         "sarif-file": "imap-gate.sarif"}
    assert r.summary.startswith("## ✅ imap-gate: gate pass")
    assert "| mail (127.0.0.1) | 1 |" in r.summary
    assert r.sarif()["runs"][0]["automationDetails"]["id"] == "imap-gate/lab/"
    assert "::group::imap-gate target mail (127.0.0.1)" in r.stdout and "::endgroup::" in r.stdout
    assert r.commands("error") == r.commands("warning") == []


def test_failing_gate_still_reports_everything(gh) -> None:
    r = gh(inject=True)
    assert r.code == 1, r.stderr
    assert r.outputs == {"gate": "fail", "max-severity": "high", "findings": "1",
                         "sarif-file": "imap-gate.sarif"}
    errors = r.commands("error")
    assert len(errors) == 1
    props, msg = errors[0]
    assert props == {"file": "imap-gate.yml", "line": str(HOST_LINE), "col": "11",
                     "title": "POL001 waiver-expired"}
    assert msg.startswith(f"HIGH: {TRICKY} [mail 127.0.0.1:1]\nFix: ")
    notices = r.commands("notice")
    assert [p["title"] for p, _ in notices] == ["POL002 waiver-unused"]  # the waived one is not annotated
    # summary: verdict, counts, matrix facts, findings, waived with its reason
    assert r.summary.startswith("## ❌ imap-gate: gate fail")
    assert "| 0 | 1 | 0 | 0 | 1 | 1 |" in r.summary
    assert "| mail (127.0.0.1) | 1 | yes | no ⚠️ | refused |" in r.summary
    assert "legacy scanners until March" in r.summary
    assert "50% of logins: plain, over the wire" in r.summary
    # the forged "::warning::pwned" inside a message is never a command, though the CLI's text
    # report prints the message raw
    assert r.commands("warning") == []
    assert "\n::warning::pwned" in r.stdout
    # SARIF: waived findings stay out (GitHub ignores suppressions)
    results = r.sarif()["runs"][0]["results"]
    assert sorted(x["ruleId"] for x in results) == ["POL001", "POL002"]
    assert all("waived" not in x["message"]["text"] for x in results)
    # the CLI's own report still goes to the log
    assert "imap-gate: gate FAILED (fail-on medium)" in r.stdout


def test_command_line_flags_win_over_inputs(gh) -> None:
    r = gh(inputs={"fail-on": "medium"}, args=("--fail-on", "critical"), inject=True)
    assert r.code == 0 and r.outputs["gate"] == "pass" and r.outputs["findings"] == "0"


def test_inputs_map_onto_flags(gh) -> None:
    r = gh(inputs={"fail-on": "never", "sarif-file": "out/gate.sarif", "category": "imap-gate/x/",
                   "annotations": "false", "summary": "false"}, inject=True)
    assert r.code == 0
    assert r.outputs["gate"] == "pass" and r.outputs["sarif-file"] == "out/gate.sarif"
    assert r.sarif("out/gate.sarif")["runs"][0]["automationDetails"]["id"] == "imap-gate/x/"
    assert r.commands("error") == r.commands("notice") == []
    assert r.summary == ""
    assert not (r.workspace / "imap-gate.sarif").exists()


def test_working_directory_makes_paths_repository_relative(gh) -> None:
    r = gh(inputs={"working-directory": "infra/mail"}, subdir="infra/mail", inject=True)
    assert r.code == 1
    props, _ = r.commands("error")[0]
    assert props["file"] == "infra/mail/imap-gate.yml"
    assert r.outputs["sarif-file"] == "imap-gate.sarif"  # relative to the workspace
    assert (r.workspace / "imap-gate.sarif").is_file()


def test_manifest_error_is_gate_error_with_a_located_annotation(gh) -> None:
    r = gh(manifest="version: 1\ntargets:\n  - name: mail\n    host: 127.0.0.1\n    ports: [70000]\n")
    assert r.code == 2
    # the SARIF written carries the error (issue 17), so the output names it
    assert r.outputs == {"gate": "error", "max-severity": "", "findings": "",
                         "sarif-file": "imap-gate.sarif"}
    inv = r.sarif()["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    (props, msg), = r.commands("error")
    assert props["file"] == "imap-gate.yml" and props["line"] == "5"
    assert "70000 is not a valid port" in msg
    assert r.summary.startswith("## ⚠️ imap-gate: tool error") and "70000" in r.summary


@pytest.mark.parametrize("inputs,needle", [
    ({"fail-on": "severe"}, "input fail-on: 'severe' is not one of"),
    ({"upload-sarif": "yes"}, "input upload-sarif: 'yes' is not a boolean"),
    ({"only": "both"}, "input only: 'both'"),
])
def test_bad_input_value_is_gate_error(gh, inputs: dict, needle: str) -> None:
    r = gh(inputs=inputs)
    assert r.code == 2 and needle in r.stderr
    assert r.outputs["gate"] == "error"
    assert any(needle in m for _, m in r.commands("error"))


def test_missing_manifest_is_gate_error(gh) -> None:
    r = gh(manifest=None)
    assert r.code == 2 and r.outputs["gate"] == "error" and "no manifest" in r.summary


def test_a_reporting_failure_does_not_change_the_gate(gh, tmp_path: Path) -> None:
    bad = tmp_path / "a-directory"
    bad.mkdir()
    r = gh(inject=True, env={"GITHUB_STEP_SUMMARY": str(bad)})
    assert r.code == 1 and r.outputs["gate"] == "fail"
    assert any("could not write the job summary" in m for _, m in r.commands("warning"))


def test_version_inside_actions_publishes_nothing(gh) -> None:
    r = gh(args=("--version",))
    assert r.code == 0 and r.outputs == {} and r.summary == ""
    assert re.search(r"^imap-gate \d", r.stdout, re.M) and r.commands("error") == []


def test_upload_end_to_end_token_masked_everywhere(gh, httpserver: HTTPServer) -> None:
    path = "/repos/octo/mail-infra/code-scanning/sarifs"
    httpserver.expect_ordered_request(path, method="POST").respond_with_json({"id": "42"}, status=202)
    httpserver.expect_ordered_request(f"{path}/42", method="GET").respond_with_json(
        {"processing_status": "complete"})
    r = gh(inputs={"upload-sarif": "true"}, inject=True,
           env={"GITHUB_API_URL": httpserver.url_for("/").rstrip("/"),
                "IMAP_GATE_UPLOAD_TIMEOUT": "10", "IMAP_GATE_UPLOAD_POLL": "0.05"})
    httpserver.check_assertions()
    assert r.code == 1
    post = httpserver.log[0][0]
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    body = json.loads(post.get_data())
    written = (r.workspace / "imap-gate.sarif").read_bytes()
    assert gzip.decompress(base64.b64decode(body["sarif"])) == written
    assert body["commit_sha"] == "b" * 40 and body["ref"] == "refs/heads/main"
    assert body["checkout_uri"] == r.workspace.resolve().as_uri()
    # the token: masked first, then never again
    lines = r.stdout.splitlines()
    assert lines[0] == f"::add-mask::{TOKEN}"
    assert not any(TOKEN in ln for ln in lines[1:])
    for text in (r.stderr, r.summary, json.dumps(r.outputs), written.decode()):
        assert TOKEN not in text
    assert "### SARIF upload" in r.summary and "processed (id 42)" in r.summary


def test_upload_refused_is_a_notice_and_the_gate_still_decides(gh, httpserver: HTTPServer,
                                                               tmp_path: Path) -> None:
    httpserver.expect_request("/repos/octo/mail-infra/code-scanning/sarifs", method="POST") \
        .respond_with_json({"message": "Resource not accessible by integration"}, status=403)
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {"head": {"repo": {"full_name": "fork/x", "fork": True}},
                                                  "base": {"repo": {"full_name": "octo/mail-infra"}}}}))
    r = gh(inputs={"upload-sarif": "true"}, inject=True,
           env={"GITHUB_API_URL": httpserver.url_for("/").rstrip("/"),
                "GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)})
    assert r.code == 1 and r.outputs["gate"] == "fail"
    upload_notes = [m for p, m in r.commands("notice") if p.get("title") == "imap-gate: SARIF upload"]
    assert len(upload_notes) == 1 and "fork" in upload_notes[0] and "HTTP 403" in upload_notes[0]
    assert "fork" in r.summary


def test_upload_rebases_paths_under_working_directory(gh, httpserver: HTTPServer) -> None:
    path = "/repos/octo/mail-infra/code-scanning/sarifs"
    httpserver.expect_ordered_request(path, method="POST").respond_with_json({"id": "1"}, status=202)
    httpserver.expect_ordered_request(f"{path}/1", method="GET").respond_with_json(
        {"processing_status": "complete"})
    r = gh(inputs={"upload-sarif": "true", "working-directory": "infra"}, subdir="infra",
           inject=True, env={"GITHUB_API_URL": httpserver.url_for("/").rstrip("/")})
    assert r.code == 1
    sent = json.loads(gzip.decompress(base64.b64decode(json.loads(httpserver.log[0][0].get_data())["sarif"])))
    assert_valid_sarif(sent)
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in sent["runs"][0]["results"] for loc in res["locations"]}
    assert uris == {"infra/imap-gate.yml"}
    # the file on disk (the sarif-file output other uploaders read) is the one uploaded
    assert json.loads((r.workspace / "imap-gate.sarif").read_text()) == sent


def test_outside_actions_nothing_github_happens(tmp_path: Path) -> None:
    (tmp_path / "imap-gate.yml").write_text(MANIFEST)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env["INPUT_FAIL-ON"] = "never"  # a stray variable outside Actions is not an input
    proc = subprocess.run([sys.executable, str(ENTRY), "--root", str(tmp_path)], capture_output=True,
                          text=True, env=env, timeout=60)
    assert proc.returncode == 0 and "::" not in proc.stdout


@pytest.mark.parametrize("inputs,needle", [
    ({"only": "lint"}, "category: imap-gate/lab/lint/"),
    ({}, None),
])
def test_partial_runs_are_not_uploaded(gh, httpserver: HTTPServer, inputs: dict, needle) -> None:
    """An upload replaces the category's alerts: a lint-only run under the default category, or a
    run with tool errors, would close alerts it never checked."""
    if needle is None:  # a check fails with a tool error; the others' findings stay
        r = gh(inputs={"upload-sarif": "true"}, inject=True, env={"IMAP_GATE_FAKE_ERROR": "1",
               "GITHUB_API_URL": httpserver.url_for("/").rstrip("/")})
    else:
        r = gh(inputs={"upload-sarif": "true", **inputs}, inject=True,
               env={"GITHUB_API_URL": httpserver.url_for("/").rstrip("/")})
    assert httpserver.log == []
    warnings = [m for p, m in r.commands("warning") if p.get("title") == "imap-gate: SARIF upload"]
    assert len(warnings) == 1 and "not uploaded" in warnings[0]
    if needle:
        assert needle in warnings[0] and r.code == 1
    else:
        assert r.code == 2 and r.outputs["gate"] == "error" and "tool errors" in warnings[0]


def test_lint_only_with_its_own_category_is_uploaded(gh, httpserver: HTTPServer) -> None:
    path = "/repos/octo/mail-infra/code-scanning/sarifs"
    httpserver.expect_ordered_request(path, method="POST").respond_with_json({"id": "3"}, status=202)
    httpserver.expect_ordered_request(f"{path}/3", method="GET").respond_with_json(
        {"processing_status": "complete"})
    r = gh(inputs={"upload-sarif": "true", "only": "lint", "category": "imap-gate/lab/lint/"},
           inject=True, env={"GITHUB_API_URL": httpserver.url_for("/").rstrip("/")})
    httpserver.check_assertions()
    assert r.code == 1 and "processed (id 3)" in r.summary


def test_a_reporting_bug_does_not_change_the_exit_code() -> None:
    """Even an unexpected exception while publishing leaves the gate's own exit code."""
    import argparse

    from imap_gate.github import action

    def scan(argv: list[str], on_result) -> int:
        on_result(object(), argparse.Namespace())  # not a RunResult: publish blows up
        return 1

    env = {"GITHUB_ACTIONS": "true"}
    assert action.run(scan, argparse.ArgumentParser(), [], env) == 1


# ---------------------------------------------------------------- issue 17

def test_working_directory_paths_are_the_same_in_every_report(gh, tmp_path: Path) -> None:
    """Annotations, tool-error annotations, the local SARIF (the sarif-file output), the JSON,
    the text report and the summary all name files from the repository root."""
    r = gh(inputs={"working-directory": "mail"}, subdir="mail", inject=True,
           args=("--json", "mail.json"))
    assert r.code == 1
    doc = r.sarif()
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"]
            for res in doc["runs"][0]["results"] for loc in res["locations"]}
    assert uris == {"mail/imap-gate.yml"}
    data = json.loads((r.workspace / "mail.json").read_text())
    assert {f["path"] for f in data["findings"]} == {"mail/imap-gate.yml"}
    assert "| `mail/imap-gate.yml:5:11` |" not in r.summary  # linked, see below
    assert f"[`mail/imap-gate.yml:5:11`](https://github.com/octo/mail-infra/blob/{'b' * 40}/" \
           "mail/imap-gate.yml#L5)" in r.summary
    assert "manifest `mail/imap-gate.yml`" in r.summary
    assert "\nmail/imap-gate.yml:5:11: HIGH POL001" in r.stdout  # the CLI's own text report

    import shutil

    shutil.rmtree(tmp_path / "workspace")
    e = gh(inputs={"working-directory": "mail"}, subdir="mail", inject=True,
           env={"IMAP_GATE_FAKE_LOCATED_ERROR": "1"})
    assert e.code == 2 and e.outputs["gate"] == "error"
    tool_errors = [p for p, _ in e.commands("error") if p.get("title") == "imap-gate: tool error"]
    assert tool_errors == [{"file": "mail/imap-gate.yml", "line": "3", "col": "9",
                            "title": "imap-gate: tool error"}]
    note, = e.sarif()["runs"][0]["invocations"][0]["toolExecutionNotifications"]
    assert note["message"]["text"].startswith("mail/imap-gate.yml:3:9: ")
    assert "mail/imap-gate.yml:3:9" in e.summary
    assert "imap-gate: mail/imap-gate.yml:3:9: configs.firewall" in e.stderr


def test_fingerprints_do_not_move_with_working_directory(gh, tmp_path: Path) -> None:
    flat = gh(inject=True, env={"IMAP_GATE_FAKE_ADVICE": "1"}).sarif()
    fps = {res["partialFingerprints"]["imapGateFingerprint/v1"] for res in flat["runs"][0]["results"]}
    import shutil

    shutil.rmtree(tmp_path / "workspace")
    sub = gh(inputs={"working-directory": "mail"}, subdir="mail", inject=True,
             env={"IMAP_GATE_FAKE_ADVICE": "1"}).sarif()
    assert {res["partialFingerprints"]["imapGateFingerprint/v1"]
            for res in sub["runs"][0]["results"]} == fps


@pytest.mark.parametrize("inputs", [
    {"working-directory": "../../live"}, {"sarif-file": "../../escape.sarif"},
    {"baseline": "../old.sarif"}, {"manifest": "../../imap-gate.yml"},
    {"sarif-file": "/tmp/escape.sarif"},
])
def test_path_inputs_stay_inside_the_workspace(gh, tmp_path: Path, inputs: dict) -> None:
    r = gh(inputs=inputs)
    name, value = next(iter(inputs.items()))
    assert r.code == 2 and r.outputs["gate"] == "error"
    (_, msg), = r.commands("error")
    assert msg == (f"input {name}: {value!r} leads outside the workspace "
                   f"({r.workspace.resolve()}); give a path inside the repository")
    assert not (tmp_path.parent / "escape.sarif").exists()
    assert not any(tmp_path.parent.parent.glob("escape.sarif"))


def test_a_symlink_out_of_the_workspace_is_refused(gh, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "out").symlink_to(tmp_path)
    r = gh(inputs={"sarif-file": "out/x.sarif"})
    assert r.code == 2 and r.outputs["gate"] == "error" and not (tmp_path / "x.sarif").exists()


def test_a_bad_input_replaces_an_old_sarif(gh, tmp_path: Path) -> None:
    (tmp_path / "workspace").mkdir()
    (tmp_path / "workspace" / "imap-gate.sarif").write_text('{"stale": true}')
    r = gh(inputs={"fail-on": "severe"})
    assert r.code == 2 and r.outputs["gate"] == "error"
    inv = r.sarif()["runs"][0]["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert "fail-on" in inv["toolExecutionNotifications"][0]["message"]["text"]


def test_log_groups_print_text_as_it_is_and_facts_as_a_short_block(gh) -> None:
    r = gh(inject=True, env={"IMAP_GATE_FAKE_ADVICE": "1"})
    assert "2001:db8::/32" in r.stdout and ": :" not in r.stdout
    group = r.stdout.split("::group::imap-gate target mail (127.0.0.1)\n", 1)[1].split("::endgroup::")[0]
    assert "  1/imap: open\n" in group
    assert "    greeting: OK ready\n" in group and "    STARTTLS: not-offered\n" in group
    assert "    capabilities: IMAP4rev1 STARTTLS\n" in group
    assert "{" not in group.split("  1/imap:")[1]  # no JSON: that is what --json is for
    # the forged command inside a message is still inert (inside stop-commands)
    assert r.commands("warning") == []


def test_format_markdown_prints_the_job_summary(gh) -> None:
    r = gh(inject=True, args=("--format", "markdown"))
    assert r.code == 1
    assert r.summary.startswith("## ❌ imap-gate: gate fail\n")
    assert r.summary in r.stdout  # the same report, counts, matrix and links included
    assert "### Counts" in r.summary and "### Endpoints" in r.summary
    assert f"](https://github.com/octo/mail-infra/blob/{'b' * 40}/imap-gate.yml#L5)" in r.summary


def test_tool_error_stdout_agrees_with_exit_2(gh) -> None:
    r = gh(inject=True, env={"IMAP_GATE_FAKE_ERROR": "1"}, inputs={"fail-on": "never"})
    assert r.code == 2 and r.outputs["gate"] == "error"
    assert "gate passed" not in r.stdout and "gate ERROR (exit 2" in r.stdout
    assert r.summary.startswith("## ⚠️ imap-gate: gate error")
