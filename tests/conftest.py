"""Shared fixtures: the corpus, real Dovecot instances, running the CLI, SARIF checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.support import dovecot as dovecot_support
from tests.support.sarif_check import assert_valid_sarif

# In CI the fuzz tests draw the same examples every run, so a red build is
# reproducible; locally they explore (and the database keeps what they found).
hypothesis_settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

REPO = Path(__file__).resolve().parent.parent
CORPUS = (REPO.parent / "shared" / "corpus").resolve()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    """The shared real-world corpus; tests that need it skip with a reason where it is absent."""
    if not CORPUS.is_dir():
        pytest.skip(f"the shared corpus is not at {CORPUS} (CI always has it)")
    return CORPUS


@pytest.fixture
def start_dovecot(tmp_path: Path) -> Iterator[Callable[..., dovecot_support.Dovecot]]:
    """Factory: ``start_dovecot("ssl = required", imap=True, imaps=True, leaf=..., ca=...)``."""
    if not dovecot_support.available():
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    started: list[dovecot_support.Dovecot] = []

    def factory(settings: str = "", **kw: object) -> dovecot_support.Dovecot:
        d = dovecot_support.start(tmp_path / f"dovecot{len(started)}", settings, **kw)  # type: ignore[arg-type]
        started.append(d)
        return d

    yield factory
    for d in started:
        d.stop()


@dataclass
class CliRun:
    code: int
    stdout: str
    stderr: str
    sarif: dict | None
    json: dict | None


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., CliRun]:
    """Run ``entrypoint.py`` in a subprocess, as a user would; validate any SARIF it writes."""

    def runner(*args: str, env: dict[str, str] | None = None, timeout: float = 120,
               cwd: Path | None = None) -> CliRun:
        sarif_path = tmp_path / "out.sarif"
        json_path = tmp_path / "out.json"
        for p in (sarif_path, json_path):
            if p.exists():
                p.unlink()
        argv = [sys.executable, str(REPO / "entrypoint.py"), *args]
        reporting = args[:1] != ("merge",) and "--version" not in args
        if reporting and "--sarif" not in args:
            argv += ["--sarif", str(sarif_path)]
        if reporting and "--json" not in args:
            argv += ["--json", str(json_path)]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "INPUT_"))}
        full_env.update(env or {})
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=full_env,
                              cwd=cwd or REPO)
        sarif = json.loads(sarif_path.read_text()) if sarif_path.exists() else None
        if sarif is not None:
            assert_valid_sarif(sarif)
        data = json.loads(json_path.read_text()) if json_path.exists() else None
        assert "Traceback" not in proc.stderr, proc.stderr
        return CliRun(proc.returncode, proc.stdout, proc.stderr, sarif, data)

    return runner


def git_available() -> bool:
    return subprocess.run(["git", "--version"], capture_output=True).returncode == 0


# The kind of a test is a marker, given here by the module it lives in so that a new
# module of a kind gets it without a line of its own: `pytest -m oracle` runs every check
# against a real tool, `pytest -m "not slow"` is the quick loop (README, "Tests").
KINDS: dict[str, tuple[str, ...]] = {
    "oracle": ("test_dovecot_oracle", "test_dovecot_v24", "test_dovecot_names",
               "test_firewall_oracle", "test_firewall_corpus", "test_firewalld_services"),
    "netns": ("test_firewall_netns", "test_firewall_forward_netns", "test_firewall_oracle",
              "test_firewall_mutation_iptables", "test_firewall_mutation_nft"),
    "fuzz": ("_fuzz", "_mutation"),
    "hostile": ("test_hostile", "test_probe_fakes", "test_tls_fake_server",
                "test_probe_injection_alert"),
    "server": ("test_probe_dovecot", "test_probe_dovecot24", "test_probe_imap4d",
               "test_probe_legs", "test_tls_dovecot", "test_rehearse"),
    "image": ("test_image",),
}
# Kinds whose tests start real servers, namespaces, images or hundreds of cases.
SLOW_KINDS = {"oracle", "netns", "fuzz", "hostile", "server", "image", "dovecot"}


def kinds_of(module: str) -> set[str]:
    return {kind for kind, names in KINDS.items()
            if any(module == n or (n.startswith("_") and n in module) or
                   (not n.startswith("_") and module.startswith(n + "_")) for n in names)}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        for kind in sorted(kinds_of(module)):
            item.add_marker(kind)
        if SLOW_KINDS & {m.name for m in item.iter_markers()}:
            item.add_marker("slow")
