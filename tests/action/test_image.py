"""The image tier: the Dockerfile built and the image run exactly as GitHub's runner runs a
Docker action (issue 17): ``--workdir /github/workspace``, the workspace, file-command, workflow
and home directories mounted, inputs as ``INPUT_*`` and the runner's variables passed by name
(``-e NAME``), the step's output and summary files under ``/github/file_commands``.

One private dockerd and one build per session (``tests/support/dockerd.py``); each run is a
throwaway container. ``--network host`` stands in for the job's network (the daemon runs
without a bridge), so the examples' loopback targets are this machine's loopback.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from imap_gate.github import outputs
from tests.support import dockerd
from tests.support.sarif_check import assert_valid_sarif

pytestmark = [pytest.mark.image, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
SHA = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
TOKEN = "ghs_image_tier_token_not_real"
# what the runner passes to every Docker action besides the inputs (by name, values from its env)
RUNNER_VARS = ("HOME", "GITHUB_JOB", "GITHUB_REF", "GITHUB_SHA", "GITHUB_REPOSITORY",
               "GITHUB_REPOSITORY_OWNER", "GITHUB_RUN_ID", "GITHUB_RUN_NUMBER", "GITHUB_ACTOR",
               "GITHUB_WORKFLOW", "GITHUB_EVENT_NAME", "GITHUB_SERVER_URL", "GITHUB_API_URL",
               "GITHUB_WORKSPACE", "GITHUB_ACTION", "GITHUB_EVENT_PATH", "GITHUB_PATH",
               "GITHUB_ENV", "GITHUB_STEP_SUMMARY", "GITHUB_STATE", "GITHUB_OUTPUT",
               "RUNNER_OS", "RUNNER_TEMP", "GITHUB_ACTIONS", "CI")


@pytest.fixture(scope="session")
def image(pytestconfig: pytest.Config) -> Iterator[tuple[dockerd.Daemon, str]]:
    why = dockerd.missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)
    daemon = dockerd.start()
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")

    def say(line: str) -> None:  # in the test output even when the tests pass
        if reporter is None or capture is None:
            print(line)
            return
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)

    try:
        t0 = time.monotonic()
        note = dockerd.ensure_base(daemon)
        tag = f"imap-gate:tier-{uuid.uuid4().hex[:8]}"
        built = dockerd.build(daemon, tag)
        size = dockerd.image_size(daemon, tag)
        say(f"\nimage tier: {note}")
        say(f"image tier: dockerd storage {daemon.storage}; base ready and image built in "
            f"{time.monotonic() - t0:.0f} s (build {built:.0f} s); image {size / 1e6:.0f} MB")
        yield daemon, tag
    finally:
        daemon.stop()


@dataclass
class Step:
    code: int
    stdout: str
    stderr: str
    outputs: dict[str, str]
    summary: str
    workspace: Path

    def commands(self, name: str) -> list[tuple[dict[str, str], str]]:
        """Workflow commands the runner acts on: none between stop-commands and its token."""
        out, resume = [], None
        for line in self.stdout.splitlines():
            if resume is not None:
                resume = None if line == f"::{resume}::" else resume
                continue
            if line.startswith("::stop-commands::"):
                resume = line.split("::")[2]
                continue
            m = re.match(rf"^::{name}(?: (?P<props>[^:]*))?::(?P<msg>.*)$", line)
            if m:
                props = dict(p.split("=", 1) for p in (m["props"] or "").split(",") if p)
                out.append(({k: _unescape(v) for k, v in props.items()}, _unescape(m["msg"])))
        assert resume is None, "stop-commands never resumed"
        return out

    def sarif(self, rel: str = "imap-gate.sarif") -> dict:
        doc = json.loads((self.workspace / rel).read_text())
        assert_valid_sarif(doc)
        return doc


def _unescape(s: str) -> str:
    return (s.replace("%0A", "\n").replace("%0D", "\r").replace("%3A", ":").replace("%2C", ",")
            .replace("%25", "%"))


def action_defaults(action: str = "action.yml") -> dict[str, str]:
    meta = yaml.safe_load((REPO / action).read_text())
    return {name: TOKEN if str(spec.get("default", "")) == "${{ github.token }}"
            else str(spec.get("default", "")) for name, spec in meta["inputs"].items()}


def run_step(image: tuple[dockerd.Daemon, str], tmp: Path, repo_files: dict[str, Path],
             inputs: dict[str, str] | None = None, action: str = "action.yml") -> Step:
    """One `uses: ./` step: the runner's docker run line, with its mounts and variables."""
    daemon, tag = image
    ws, fc, wf, home = (tmp / d for d in ("workspace", "file_commands", "workflow", "home"))
    for d in (ws, fc, wf, home):
        d.mkdir(parents=True, exist_ok=True)
    for dest, src in repo_files.items():
        shutil.copytree(src, ws / dest, dirs_exist_ok=True)
    key = uuid.uuid4()
    out_name, summary_name = f"set_output_{key}", f"step_summary_{key}"
    for name in (out_name, summary_name, f"add_path_{key}", f"set_env_{key}", f"save_state_{key}"):
        (fc / name).write_text("")
    (wf / "event.json").write_text(json.dumps({"ref": "refs/heads/main", "after": SHA}))
    values = {
        "HOME": "/github/home", "GITHUB_JOB": "gate", "GITHUB_REF": "refs/heads/main",
        "GITHUB_SHA": SHA, "GITHUB_REPOSITORY": "octo/mail-infra",
        "GITHUB_REPOSITORY_OWNER": "octo", "GITHUB_RUN_ID": "1", "GITHUB_RUN_NUMBER": "1",
        "GITHUB_ACTOR": "octo", "GITHUB_WORKFLOW": "imap-gate", "GITHUB_EVENT_NAME": "push",
        "GITHUB_SERVER_URL": "https://github.com", "GITHUB_API_URL": "http://127.0.0.1:9",
        "GITHUB_WORKSPACE": "/github/workspace", "GITHUB_ACTION": "__self",
        "GITHUB_EVENT_PATH": "/github/workflow/event.json",
        "GITHUB_PATH": f"/github/file_commands/add_path_{key}",
        "GITHUB_ENV": f"/github/file_commands/set_env_{key}",
        "GITHUB_STEP_SUMMARY": f"/github/file_commands/{summary_name}",
        "GITHUB_STATE": f"/github/file_commands/save_state_{key}",
        "GITHUB_OUTPUT": f"/github/file_commands/{out_name}",
        "RUNNER_OS": "Linux", "RUNNER_TEMP": "/home/runner/work/_temp", "GITHUB_ACTIONS": "true",
        "CI": "true",
    }
    env = {f"INPUT_{k.upper()}": v
           for k, v in {**action_defaults(action), **(inputs or {})}.items()}
    env.update(values)
    argv = ["run", "--name", f"imap-gate-tier-{key.hex[:12]}", "--label", "imap-gate-tier",
            "--workdir", "/github/workspace", "--rm", "--network", "host"]
    for name in [*(k for k in env if k.startswith("INPUT_")), *RUNNER_VARS]:
        argv += ["-e", name]
    argv += ["-v", f"{home}:/github/home", "-v", f"{wf}:/github/workflow",
             "-v", f"{fc}:/github/file_commands", "-v", f"{ws}:/github/workspace", tag]
    proc = daemon.docker(*argv, check=False, timeout=300, env=env)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert not proc.stderr.startswith("docker:"), proc.stderr
    return Step(proc.returncode, proc.stdout, proc.stderr, outputs.parse((fc / out_name).read_text()),
                (fc / summary_name).read_text(), ws)


EXAMPLES = REPO / "examples"


def test_secure_example_passes(image, tmp_path: Path) -> None:
    s = run_step(image, tmp_path, {".": EXAMPLES / "secure"})
    assert s.code == 0, s.stdout + s.stderr
    # FW005 notes (993 open to the world, expected for public mail) stay below fail-on
    assert s.outputs == {"gate": "pass", "max-severity": "note", "findings": "0",
                         "sarif-file": "imap-gate.sarif"}
    assert s.summary.startswith("## ✅ imap-gate: gate pass")
    assert "| retired-cleartext (127.0.0.1) | 14399 | refused |" in s.summary
    assert s.commands("error") == [] and s.commands("warning") == []
    run_ = s.sarif()["runs"][0]
    assert run_["automationDetails"]["id"] == "imap-gate/secure-example/"
    assert run_["invocations"][0]["executionSuccessful"] is True
    assert TOKEN not in s.stdout.split("\n", 1)[1] + s.summary


def _insecure_checks(s: Step, base: str) -> None:
    assert s.code == 1, s.stdout + s.stderr
    assert s.outputs["gate"] == "fail" and s.outputs["max-severity"] == "high"
    assert int(s.outputs["findings"]) >= 5
    errors = s.commands("error")
    files = {p["file"] for p, _ in errors}
    assert f"{base}deploy/dovecot/dovecot.conf" in files
    dov007 = next(m for p, m in errors if p["title"].startswith("DOV007"))
    # the whole fix, the setting after the colon included
    assert "Fix: Never log passwords (same line in 2.3 and 2.4):\nauth_verbose_passwords = no" in dov007
    results = s.sarif()["runs"][0]["results"]
    uris = {loc["physicalLocation"]["artifactLocation"]["uri"] for r in results
            for loc in r["locations"]}
    assert f"{base}deploy/dovecot/dovecot.conf" in uris and f"{base}imap-gate.yml" in uris
    assert all(u.startswith(base) for u in uris)
    # the summary: one heading, counts, matrix, findings linked to the file at the commit
    assert s.summary.startswith("## ❌ imap-gate: gate fail\n") and "FAILED" not in s.summary
    assert "| mail (127.0.0.1) | 14399 | refused |" in s.summary
    assert (f"(https://github.com/octo/mail-infra/blob/{SHA}/{base}deploy/dovecot/dovecot.conf#L16)"
            in s.summary)
    # the log groups print advice as it is, inside stop-commands
    assert "2001:db8::/32" in s.stdout and "2001:db8: :/32" not in s.stdout
    assert '"auth_login"' not in s.stdout


def test_insecure_example_fails_with_annotations_summary_and_sarif(image, tmp_path: Path) -> None:
    _insecure_checks(run_step(image, tmp_path, {".": EXAMPLES / "insecure"}), "")


def test_working_directory_gives_repository_relative_paths_everywhere(image, tmp_path: Path) -> None:
    s = run_step(image, tmp_path, {"mail": EXAMPLES / "insecure"},
                 {"working-directory": "mail"})
    _insecure_checks(s, "mail/")
    assert s.outputs["sarif-file"] == "imap-gate.sarif"
    assert not (s.workspace / "mail" / "imap-gate.sarif").exists()


def test_an_input_outside_the_workspace_is_refused(image, tmp_path: Path) -> None:
    s = run_step(image, tmp_path, {".": EXAMPLES / "secure"},
                 {"sarif-file": "../../escape.sarif"})
    assert s.code == 2 and s.outputs["gate"] == "error"
    assert any("outside the workspace" in m for _, m in s.commands("error"))
    assert not (tmp_path / "escape.sarif").exists() and not (tmp_path.parent / "escape.sarif").exists()


def test_version_starts(image) -> None:
    daemon, tag = image
    proc = daemon.docker("run", "--rm", "--network", "host", tag, "--version")
    assert re.fullmatch(r"imap-gate \d+\.\d+\.\d+\n", proc.stdout)


def test_the_image_carries_no_pip_and_runs_isolated(image) -> None:
    """pip is removed after the hash-checked install; the entry point runs with python -I."""
    daemon, tag = image
    proc = daemon.docker("run", "--rm", "--entrypoint", "python", tag, "-c",
                         "import importlib.util as u; print(u.find_spec('pip') is None)")
    assert proc.stdout.strip() == "True"
    entry = json.loads(daemon.docker("image", "inspect", "--format", "{{json .Config.Entrypoint}}",
                                     tag).stdout)
    assert entry == ["python", "-I", "/opt/imap-gate/entrypoint.py"]


# ------------------------------------------------------------------ the rehearse action
# rehearse/ (its own action.yml and Dockerfile): the image above plus Dovecot 2.3 and a
# Debian 13 root filesystem with 2.4, rehearsal on by default (issue 20).

REHEARSE = "rehearse/action.yml"
CONF24 = ("dovecot_config_version = 2.4.1\ndovecot_storage_version = 2.4.1\n"
          "protocols = imap\nssl = yes\nssl_server_cert_file = /etc/dovecot/mail.crt\n"
          "ssl_server_key_file = /etc/dovecot/mail.key\nssl_min_protocol = TLSv1\n"
          "ssl_cipher_list = ALL:@SECLEVEL=0\nauth_allow_cleartext = yes\n")


@pytest.fixture(scope="session")
def rehearse_image(image, pytestconfig: pytest.Config) -> tuple[dockerd.Daemon, str]:
    daemon, tag = image
    t0 = time.monotonic()
    note = dockerd.ensure_trixie(daemon)
    reh = f"imap-gate-rehearse:tier-{uuid.uuid4().hex[:8]}"
    built = dockerd.build_rehearse(daemon, tag, reh)
    size, base = dockerd.image_size(daemon, reh), dockerd.image_size(daemon, tag)
    reporter = pytestconfig.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"\nrehearse tier: {note}; built in {time.monotonic() - t0:.0f} s "
                            f"(build {built:.0f} s); image {size / 1e6:.0f} MB, "
                            f"{(size - base) / 1e6:.0f} MB over the main image")
    return daemon, reh


def _rehearsed(s: Step) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in s.sarif()["runs"][0]["results"]:
        if r["message"]["text"].startswith("Rehearsal of"):
            out.setdefault(r["ruleId"], []).append(r)
    return out


def _lines(results: list[dict]) -> set[int]:
    return {r["locations"][0]["physicalLocation"]["region"]["startLine"] for r in results}


def test_rehearse_action_yml_keeps_the_main_actions_inputs_and_outputs() -> None:
    main, reh = (yaml.safe_load((REPO / p).read_text()) for p in ("action.yml", REHEARSE))
    assert reh["inputs"].keys() == main["inputs"].keys()
    assert reh["outputs"] == main["outputs"]
    assert reh["inputs"]["rehearse"]["default"] == "true"
    assert reh["runs"] == {"using": "docker", "image": "Dockerfile"}


def test_rehearse_action_shows_the_insecure_examples_live_faults_at_their_lines(
        rehearse_image, tmp_path: Path) -> None:
    s = run_step(rehearse_image, tmp_path, {".": EXAMPLES / "insecure"}, action=REHEARSE)
    assert s.code == 1, s.stdout + s.stderr
    found = _rehearsed(s)
    conf = (EXAMPLES / "insecure" / "deploy" / "dovecot" / "dovecot.conf").read_text().splitlines()
    line = {text: n for n, text in enumerate(conf, 1)}
    assert "REH002" not in found, found.get("REH002")
    assert _lines(found["IMAP004"]) == {line["login_trusted_networks = 0.0.0.0/0"]}
    assert _lines(found["TLS002"]) == {line["ssl_min_protocol = TLSv1"]}


def test_rehearse_action_rehearses_a_24_configuration_with_dovecot_24(
        rehearse_image, tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "dovecot.conf").write_text(CONF24)
    (repo / "imap-gate.yml").write_text("version: 1\nconfigs:\n  dovecot: [dovecot.conf]\n")
    s = run_step(rehearse_image, tmp_path, {".": repo}, action=REHEARSE)
    assert s.code == 1, s.stdout + s.stderr
    found = _rehearsed(s)
    assert "REH001" not in found and "REH002" not in found, found
    # TLS004 (3DES) shows only on 2.4: Debian 12's OpenSSL behind 2.3 cannot serve it
    assert _lines(found["IMAP004"]) == {9}
    assert _lines(found["TLS002"]) == {7} and _lines(found["TLS004"]) == {8}


def test_rehearse_action_passes_the_secure_example(rehearse_image, tmp_path: Path) -> None:
    s = run_step(rehearse_image, tmp_path, {".": EXAMPLES / "secure"}, action=REHEARSE)
    assert s.code == 0, s.stdout + s.stderr
    assert s.outputs["gate"] == "pass"
