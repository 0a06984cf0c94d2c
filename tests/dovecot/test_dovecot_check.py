"""The check's contract: which files, once each, suppressions, and the effective results."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from checks.dovecot.artefact import CONFIGS
from checks.dovecot.check import CHECK, lint_file, run
from checks.dovecot.effective import EffectiveConfig
from imap_gate.context import Context
from imap_gate.manifest import Defaults, Endpoint, Manifest, Target

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dovecot"


def ctx_for(root: Path, files: tuple[str, ...] = (), target_files: tuple[str, ...] = ()) -> Context:
    targets = ()
    if target_files:
        targets = (Target("mail", "127.0.0.1", (Endpoint(143, "imap"),), "127.0.0.1", None, None,
                          5.0, dovecot=target_files),)
    m = Manifest("imap-gate.yml", "t", Defaults(), targets, files, (), None)
    return Context(root=root, manifest=m)


def test_check_registered() -> None:
    assert CHECK.name == "dovecot" and CHECK.kind == "lint" and CHECK.run is run


def test_union_once_and_included_files_judged_with_parent(tmp_path: Path) -> None:
    shutil.copytree(FIXTURES / "split", tmp_path / "split")
    ctx = ctx_for(tmp_path, ("split/dovecot.conf", "split/conf.d/10-auth.conf"),
                  ("split/dovecot.conf",))
    findings = run(ctx)
    assert sorted(ctx.artefacts.get(CONFIGS)) == ["split/conf.d/10-auth.conf", "split/dovecot.conf"]
    eff = ctx.artefacts.get(CONFIGS)["split/dovecot.conf"]
    assert ctx.artefacts.get(CONFIGS)["split/conf.d/10-auth.conf"] is eff
    assert isinstance(eff, EffectiveConfig)
    # the cleartext setting lives in the included file, so the finding points there, once
    dov002 = [f for f in findings if f.rule_id == "DOV002"]
    assert len(dov002) == 1
    f = dov002[0]
    assert (f.location.path, f.location.line) == ("split/conf.d/10-auth.conf", 2)
    assert f.key == "file=split/conf.d/10-auth.conf;setting=disable_plaintext_auth"
    # suppressed inline on the line above, with a reason: reported but waived
    assert f.waived and f.waiver_reason == "inline: legacy scanners on the shop floor, until 2027-03"
    value, loc = eff.cleartext_auth_allowed(143)
    assert value is True and loc == f.location
    assert eff.ssl_mode() == ("yes", eff.lookup("ssl").loc)
    assert eff.lookup("ssl").loc.path == "split/conf.d/10-ssl.conf"
    assert eff.min_tls() == ("TLSv1.2", None)
    assert eff.listener_ports()[0] == {"imap": 143, "imaps": 993}
    assert eff.version()[0] == "2.3"


def test_suppression_without_reason_keeps_the_finding(tmp_path: Path) -> None:
    (tmp_path / "d.conf").write_text("ssl = no # imap-gate: ignore[DOV001]\n")
    findings = run(ctx_for(tmp_path, ("d.conf",)))
    rules = sorted((f.rule_id, f.waived) for f in findings)
    assert rules == [("DOV001", False), ("DOV013", False)]
    assert "no reason" in next(f for f in findings if f.rule_id == "DOV013").message


def test_suppression_on_same_line_by_name(tmp_path: Path) -> None:
    (tmp_path / "d.conf").write_text("ssl = no  # imap-gate: ignore[ssl-disabled] lab box only\n")
    findings = run(ctx_for(tmp_path, ("d.conf",)))
    assert [(f.rule_id, f.waived) for f in findings] == [("DOV001", True)]


def test_keys_survive_line_moves(tmp_path: Path) -> None:
    (tmp_path / "d.conf").write_text("ssl = no\n")
    a = {f.identity for f in run(ctx_for(tmp_path, ("d.conf",)))}
    (tmp_path / "d.conf").write_text("# moved\n\n\nssl = no\n")
    b = {f.identity for f in run(ctx_for(tmp_path, ("d.conf",)))}
    assert a == b


def test_symlink_out_of_root_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.conf").write_text("ssl = no\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "link.conf").symlink_to(outside / "secret.conf")
    (root / "d.conf").write_text("!include link.conf\n")
    findings, eff, _ = lint_file(root, "d.conf")
    assert [f.rule_id for f in findings] == ["DOV013"]
    assert eff.ssl_mode() == ("yes", None)


def test_every_corpus_file_lints(corpus_dir: Path) -> None:
    files = sorted(p.name for p in (corpus_dir / "dovecot").iterdir() if p.is_file())
    assert len(files) >= 20
    root = corpus_dir / "dovecot"
    ctx = ctx_for(root, tuple(files))
    start = time.perf_counter()
    findings = run(ctx)
    assert time.perf_counter() - start < 1.0
    assert set(ctx.artefacts.get(CONFIGS)) == set(files)
    for f in findings:
        assert f.location.path in files and f.location.line >= 1
    for eff in ctx.artefacts.get(CONFIGS).values():
        eff.ssl_mode(), eff.cleartext_auth_allowed(143), eff.cleartext_auth_allowed(993)
        eff.min_tls(), eff.listener_ports(), eff.version()


def test_cli_lint_only_end_to_end(tmp_path: Path, run_cli) -> None:
    """The real entrypoint: SARIF locations point at the setting line; the gate fails on
    ssl = no and passes once the only finding is suppressed inline with a reason."""
    root = tmp_path / "repo"
    (root / "deploy").mkdir(parents=True)
    (root / "imap-gate.yml").write_text("version: 1\nconfigs:\n  dovecot:\n    - deploy/*.conf\n")
    (root / "deploy" / "dovecot.conf").write_text("protocols = imap\nssl = no\n"
                                                  "service imap-login {\n  inet_listener imap {\n"
                                                  "    port = 0\n  }\n}\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 1, res.stdout + res.stderr
    results = res.sarif["runs"][0]["results"]
    dov = [r for r in results if r["ruleId"] == "DOV001"]
    assert len(dov) == 1
    loc = dov[0]["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"]["uri"] == "deploy/dovecot.conf"
    assert loc["region"]["startLine"] == 2
    (root / "deploy" / "dovecot.conf").write_text(
        "protocols = imap\nssl = no  # imap-gate: ignore[DOV001] lab-only box behind a VPN\n"
        "service imap-login {\n  inet_listener imap {\n    port = 0\n  }\n}\n")
    res = run_cli("--root", str(root), "--only", "lint")
    assert res.code == 0, res.stdout + res.stderr
    assert not [r for r in res.sarif["runs"][0]["results"] if r["ruleId"] == "DOV001"]
    assert any(f.get("waived") for f in res.json["findings"])


def test_listed_files_that_include_each_other_are_still_judged(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("ssl = no\n!include b.conf\n")
    (tmp_path / "b.conf").write_text("!include a.conf\n")
    ctx = ctx_for(tmp_path, ("a.conf", "b.conf"))
    findings = run(ctx)
    assert "DOV001" in {f.rule_id for f in findings}
    assert any("cycle" in f.message for f in findings)
    assert set(ctx.artefacts.get(CONFIGS)) >= {"a.conf"}


def test_contract_methods_return_value_location_pairs(tmp_path: Path) -> None:
    (tmp_path / "d.conf").write_text("dovecot_config_version = 2.4.0\nssl = required\n")
    ctx = ctx_for(tmp_path, ("d.conf",))
    run(ctx)
    eff = ctx.artefacts.get(CONFIGS)["d.conf"]
    for method in (eff.ssl_mode, eff.cleartext_auth_allowed, eff.min_tls, eff.listener_ports,
                   eff.version):
        _value, loc = method()
        assert loc is None or loc.path == "d.conf"
    assert eff.version()[0] == "2.4" and eff.version()[1].line == 1
    assert eff.ssl_mode()[1].line == 2


def test_latin1_file_fails_the_gate_at_high(run_cli, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: at --fail-on high the gate passed a server with TLS off, because one Latin-1
    byte in a comment made the whole file "not UTF-8" (a medium DOV013)."""
    (tmp_path / "dovecot.conf").write_bytes(b"# Caf\xe9 mail server\nssl = no\n"
                                            b"disable_plaintext_auth = no\n")
    (tmp_path / "imap-gate.yml").write_text("version: 1\nconfigs:\n  dovecot: [dovecot.conf]\n")
    res = run_cli("--root", str(tmp_path), "--only", "lint", "--fail-on", "high")
    assert res.code == 1
    found = {(f["rule_id"], f["line"]) for f in res.json["findings"]}
    assert found == {("DOV001", 2), ("DOV002", 3)}
