"""The lint half as a pre-commit hook, proven with ``pre-commit try-repo`` on local repositories.

The hook is ``language: script`` so that it needs no network (a ``language: python`` hook would
build an environment from the package index on first use): try-repo clones a local repository
holding this project's files, and runs the hook in a second local repository.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("entrypoint.py", "imap_gate", "checks", "schemas", ".pre-commit-hooks.yaml")


def git(cwd: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.email=t@example.invalid", "-c", "user.name=t",
                    "-c", "commit.gpgsign=false", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture
def repos(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    if not shutil.which("pre-commit") or not shutil.which("git"):
        pytest.skip("pre-commit and git are needed (pip install pre-commit)")
    hook = tmp_path / "hook"
    hook.mkdir()
    for name in SHIPPED:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, hook / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(src, hook / name)
    git(hook, "init", "-q")
    git(hook, "add", "-A")
    git(hook, "commit", "-q", "-m", "hook")
    user = tmp_path / "user"
    (user / "deploy" / "dovecot").mkdir(parents=True)
    (user / "deploy" / "dovecot" / "dovecot.conf").write_text("ssl = required\n")
    git(user, "init", "-q")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
    env.update({"PRE_COMMIT_HOME": str(tmp_path / "cache"), "HTTP_PROXY": "http://127.0.0.1:9",
                "HTTPS_PROXY": "http://127.0.0.1:9", "NO_PROXY": "", "PIP_NO_INDEX": "1"})
    return hook, user, env


def try_repo(hook: Path, user: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    git(user, "add", "-A")
    return subprocess.run(["pre-commit", "try-repo", str(hook), "imap-gate-lint", "--all-files"],
                          cwd=user, env=env, capture_output=True, text=True, timeout=120)


def test_hook_passes_on_a_clean_repository(repos) -> None:
    hook, user, env = repos
    (user / "imap-gate.yml").write_text("version: 1\nname: shop\n")
    p = try_repo(hook, user, env)
    assert p.returncode == 0, p.stdout + p.stderr
    assert re.search(r"imap-gate \(lint Dovecot and firewall files\)\.+Passed", p.stdout)


def test_hook_fails_and_shows_why(repos) -> None:
    hook, user, env = repos
    (user / "imap-gate.yml").write_text("version: 1\nname: shop\nconfigs:\n  dovecot: [nope/*.conf]\n"
                                        "targets:\n  - name: mx\n    host: 127.0.0.1\n    ports: [0]\n")
    p = try_repo(hook, user, env)
    assert p.returncode == 1
    assert "Failed" in p.stdout and "exit code: 2" in p.stdout
    assert "imap-gate.yml:8" in p.stdout and "not a valid port" in p.stdout


def test_hook_is_skipped_when_no_matching_file_changed(repos) -> None:
    hook, user, env = repos
    shutil.rmtree(user / "deploy")
    (user / "README.md").write_text("hello\n")
    p = try_repo(hook, user, env)
    assert p.returncode == 0 and "no files to check" in p.stdout.lower()


def test_hook_definition() -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (h,) = hooks
    assert h["id"] == "imap-gate-lint" and h["language"] == "script"
    assert h["entry"].split() == ["entrypoint.py", "--only", "lint"]
    assert h["pass_filenames"] is False
    files = re.compile(h["files"])
    for path in ("imap-gate.yml", ".github/imap-gate.yaml", "deploy/dovecot/conf.d/10-ssl.conf",
                 "etc/dovecot.conf", "deploy/firewall/rules.v4", "fw/rules.v6", "deploy/nft/main.nft",
                 "etc/nftables.conf", "etc/firewalld/zones/public.xml", "iptables.rules"):
        assert files.search(path), path
    for path in ("README.md", "src/app.py", "pom.xml", "web/nginx.conf"):
        assert not files.search(path), path
    assert os.access(REPO / "entrypoint.py", os.X_OK)
