"""The Action's metadata, example workflows, Dockerfile and lock file, checked offline with the
tools GitHub users run on them (check-jsonschema's vendored schemas, zizmor, hadolint)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from imap_gate.github import action

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "examples" / "workflows").glob("*.yml"))
# Any attempt to reach the network fails fast: these checks must work offline.
OFFLINE = {**os.environ, "HTTP_PROXY": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9",
           "NO_PROXY": ""}


def tool(name: str) -> str:
    # The venv's own bin directory first: pytest may run from it without it being on PATH.
    found = shutil.which(name, path=os.pathsep.join([str(Path(sys.executable).parent),
                                                      os.environ.get("PATH", "")]))
    if not found:
        pytest.skip(f"{name} is not installed (see requirements in the action docs)")
    return found


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, cwd=REPO, env=OFFLINE, timeout=120)


def meta() -> dict:
    return yaml.safe_load((REPO / "action.yml").read_text())


@pytest.mark.parametrize("action", ["action.yml", "rehearse/action.yml"])
def test_action_yml_validates_against_the_action_schema(action: str) -> None:
    p = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", action)
    assert p.returncode == 0, p.stdout + p.stderr


def test_example_workflows_validate_against_the_workflow_schema() -> None:
    assert len(WORKFLOWS) >= 2
    p = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows",
            *map(str, WORKFLOWS))
    assert p.returncode == 0, p.stdout + p.stderr


def test_schema_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "action.yml"
    bad.write_text("name: x\ndescription: y\nruns:\n  using: docker\n  imagee: Dockerfile\n")
    p = run(tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(bad))
    assert p.returncode != 0


def test_example_workflows_pass_zizmor() -> None:
    p = run(tool("zizmor"), "--offline", "--persona", "pedantic", "--config",
            "examples/zizmor.yml", *map(str, WORKFLOWS), "action.yml")
    assert p.returncode == 0, p.stdout + p.stderr


def test_zizmor_would_catch_a_template_injection(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yml"
    wf.write_text("on: pull_request\npermissions: {}\njobs:\n  j:\n    runs-on: ubuntu-24.04\n"
                  "    steps:\n      - run: echo \"${{ github.event.pull_request.title }}\"\n")
    p = run(tool("zizmor"), "--offline", str(wf))
    assert p.returncode != 0 and "template-injection" in p.stdout


def test_inputs_and_outputs_are_the_contract() -> None:
    m = meta()
    assert m["runs"] == {"using": "docker", "image": "Dockerfile"}
    assert set(m["branding"]) == {"icon", "color"}
    inputs = m["inputs"]
    assert set(inputs) == {"manifest", "fail-on", "only", "sarif-file", "upload-sarif", "category",
                           "token", "annotations", "summary", "working-directory", "allow-waivers",
                           "shard", "baseline", "rehearse"}
    assert inputs["sarif-file"]["default"] == "imap-gate.sarif"
    assert inputs["upload-sarif"]["default"] == "false"
    assert inputs["token"]["default"] == "${{ github.token }}"
    assert inputs["annotations"]["default"] == inputs["summary"]["default"] == "true"
    assert inputs["allow-waivers"]["default"] == "true"
    assert inputs["rehearse"]["default"] == "false"
    assert set(m["outputs"]) == {"gate", "max-severity", "findings", "sarif-file"}
    # every input is read by the program, and the program reads no undeclared input
    handled = set(action.FLAG_INPUTS) | set(action.BOOL_INPUTS) | {"token", "working-directory"}
    assert handled == set(inputs)
    for name, default in action.BOOL_INPUTS.items():
        assert inputs[name]["default"] == str(default).lower()


def test_inputs_never_reach_a_command_line() -> None:
    text = (REPO / "action.yml").read_text()
    assert "args" not in meta()["runs"] and "entrypoint" not in meta()["runs"]
    assert re.findall(r"\$\{\{[^}]*\}\}", text) == ["${{ github.token }}"]


def test_copy_paste_workflow_has_the_permissions_it_needs() -> None:
    wf = yaml.safe_load((REPO / "examples" / "workflows" / "imap-gate.yml").read_text())
    assert wf["permissions"] == {}
    job = wf["jobs"]["gate"]
    assert job["permissions"] == {"contents": "read", "security-events": "write"}
    step = next(s for s in job["steps"] if "imap-gate/imap-gate" in s.get("uses", ""))
    assert step["with"]["upload-sarif"] is True


def test_matrix_workflow_gives_each_job_its_own_category() -> None:
    wf = yaml.safe_load((REPO / "examples" / "workflows" / "imap-gate-matrix.yml").read_text())
    job = wf["jobs"]["gate"]
    step = next(s for s in job["steps"] if "imap-gate/imap-gate" in s.get("uses", ""))
    assert "matrix." in step["with"]["category"] and "matrix." in step["with"]["sarif-file"]
    assert job["strategy"]["fail-fast"] is False


# ------------------------------------------------------------------ Docker image

@pytest.mark.parametrize("dockerfile", ["Dockerfile", "rehearse/Dockerfile"])
def test_dockerfile_passes_hadolint(dockerfile: str) -> None:
    p = run(tool("hadolint"), "--failure-threshold", "style", dockerfile)
    assert p.returncode == 0, p.stdout + p.stderr


def test_hadolint_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install requests\n")
    p = run(tool("hadolint"), "--failure-threshold", "style", str(bad))
    assert p.returncode != 0


def test_dockerfile_installs_hashed_wheels_and_runs_the_entrypoint() -> None:
    text = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim", text, re.M)
    assert "--require-hashes" in text and "--only-binary=:all:" in text
    assert "-r /tmp/requirements.lock" in text
    assert not re.search(r"^USER ", text, re.M)  # GitHub mounts the workspace for root
    assert not re.search(r"apt-get install|gcc|build-essential", text)
    assert 'ENTRYPOINT ["python", "-I", "/opt/imap-gate/entrypoint.py"]' in text


def copy_like_dockerfile(dest: Path) -> Path:
    """Lay out what the Dockerfile's COPY lines put into the image (same sources, same places)."""
    text = (REPO / "Dockerfile").read_text()
    workdir = re.search(r"^WORKDIR (\S+)", text, re.M).group(1)
    ignored = (REPO / ".dockerignore").read_text().splitlines()
    allowed = {ln[1:].rstrip("/") for ln in ignored if ln.startswith("!")}
    for src, dst in re.findall(r"^COPY (\S+) (\S+)$", text, re.M):
        if src.startswith("requirements"):
            continue
        assert src.rstrip("/") in allowed, f"{src} is excluded by .dockerignore"
        target = dest / workdir.lstrip("/") / dst.rstrip("/")
        source = REPO / src.rstrip("/")
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            if dst.endswith("/"):
                target = target / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, target)
    return dest / workdir.lstrip("/") / "entrypoint.py"


def test_the_image_layout_runs_isolated(tmp_path: Path) -> None:
    entry = copy_like_dockerfile(tmp_path / "image")
    ws = tmp_path / "workspace"
    ws.mkdir()
    (ws / "imap-gate.yml").write_text("version: 1\nname: img\n")
    # a job's PYTHONPATH pointing into the workspace must not shadow the program's imports
    (ws / "yaml.py").write_text("raise SystemExit('shadowed')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env["PYTHONPATH"] = str(ws)
    for argv in (["--version"], ["--only", "lint", "--sarif", "x.sarif"]):
        p = subprocess.run([sys.executable, "-I", str(entry), *argv], cwd=ws, env=env,
                           capture_output=True, text=True, timeout=60)
        assert p.returncode == 0, p.stdout + p.stderr
    assert (ws / "x.sarif").is_file()


def _pins(text: str) -> dict[str, str]:
    return {m.group(1).lower().replace("_", "-"): m.group(2)
            for m in re.finditer(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)", text, re.M)}


def test_lock_pins_every_runtime_dependency_with_hashes() -> None:
    lock = (REPO / "requirements.lock").read_text()
    wanted = _pins((REPO / "requirements.txt").read_text())
    pinned = _pins(lock)
    assert wanted and all(pinned.get(k) == v for k, v in wanted.items()), (wanted, pinned)
    blocks = re.split(r"\n(?=[A-Za-z])", lock[lock.index("\n\n") + 2:])
    for block in blocks:
        name = block.split("==")[0]
        assert "==" in block.splitlines()[0], block
        assert re.search(r"--hash=sha256:[0-9a-f]{64}", block), f"{name} has no hash"
    assert "--index-url" not in lock and "--find-links" not in lock and "file://" not in lock
