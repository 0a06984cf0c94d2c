"""A new check family is its folder plus one line in ``checks/registry.py`` (issue 19).

The toy family below is a real package written to a temporary directory: its rules reach the
catalogue, ``--list-rules`` and SARIF, its check runs in its stage and only in the ``--only``
modes of its kind, and nothing else had to be edited.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from checks import all_checks, registry
from imap_gate import catalogue, rulehelp
from imap_gate.cli import run_checks
from imap_gate.manifest import load_manifest

RULES_PY = '''
from imap_gate.rules import Rule
from imap_gate.severity import Severity

RULES = (Rule(id="TOY001", name="toy-finding", severity=Severity.HIGH, short="A toy rule.",
              full="Raised by the toy family of the registry test.",
              remediation="Nothing to do.", kind="lint"),)
'''
CHECK_PY = '''
from checks import Check
from imap_gate.findings import Finding, Location


def run(ctx):
    return [Finding("TOY001", "toy says hello", Location(ctx.manifest.path, 1),
                    key="toy=1")]


CHECK = Check(name="toy", kind="lint", run=run)
'''


@pytest.fixture
def toy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[registry.Family]:
    pkg = tmp_path / "toyfamily"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "rules.py").write_text(RULES_PY)
    (pkg / "check.py").write_text(CHECK_PY)
    monkeypatch.syspath_prepend(str(tmp_path))
    family = registry.Family("toy", "lint", "toyfamily.rules", "toyfamily.check:CHECK")
    # the one line a new family needs
    monkeypatch.setattr(registry, "FAMILIES", [*registry.FAMILIES, family])
    catalogue.catalogue.cache_clear()
    catalogue.families.cache_clear()
    yield family
    catalogue.catalogue.cache_clear()
    catalogue.families.cache_clear()
    for name in [m for m in sys.modules if m.startswith("toyfamily")]:
        del sys.modules[name]


def test_a_registered_family_reaches_the_catalogue_and_list_rules(toy) -> None:
    assert catalogue.get("TOY001").name == "toy-finding"
    assert catalogue.families()["TOY001"] == "toy"
    assert catalogue.resolve("toy-finding") is catalogue.get("TOY001")
    assert "TOY001    toy-finding" in rulehelp.list_rules("text")


def test_a_registered_family_runs_in_its_stage_and_its_modes(toy) -> None:
    names = [c.name for c in all_checks(None)]
    # a lint family runs with the lints: before the rehearsal, the probe and drift
    assert names.index("toy") < names.index("rehearse") < names.index("imap") < names.index("drift")
    assert "toy" in [c.name for c in all_checks("lint")]
    assert "toy" not in [c.name for c in all_checks("probe")]


def test_a_registered_familys_findings_are_gated(toy, tmp_path: Path) -> None:
    (tmp_path / "imap-gate.yml").write_text("version: 1\nname: toy\ntargets: []\n")
    manifest = load_manifest(tmp_path, tmp_path / "imap-gate.yml")
    result = run_checks(tmp_path, manifest, "lint", None)
    toy_findings = [f for f in result.findings if f.rule_id == "TOY001"]
    assert [f.message for f in toy_findings] == ["toy says hello"]
    assert result.exit_code == 1  # high, at or above the default threshold


def test_the_registry_is_the_catalogue_order_and_every_family_has_its_folder() -> None:
    root = Path(registry.__file__).parent
    assert [f.name for f in registry.FAMILIES] == [
        name for name, _ in catalogue._families() if name != "policy"]
    for family in registry.FAMILIES:
        assert (root / family.name / "rules.py").is_file(), family.name
        assert family.kind in registry.STAGE


def test_a_probe_only_run_imports_no_linter() -> None:
    """Checked in a fresh interpreter: the registry names modules, it does not import them."""
    import subprocess

    code = ("import sys; from checks import all_checks; all_checks('probe'); "
            "print(sorted(m for m in sys.modules if m.startswith(('checks.dovecot', "
            "'checks.firewall'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=Path(registry.__file__).parent.parent, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr
