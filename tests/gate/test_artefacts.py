"""Typed artefacts between families (issue 19): what the registry declares is what the checks
publish, every need is met by an earlier stage, and drift judges the probe's published
judgement, not other rules' findings."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from checks import registry
from checks.dovecot.artefact import CONFIGS
from checks.drift import check as drift
from checks.firewall.artefact import VERDICTS
from checks.imap.artefact import ENDPOINTS, LiveEndpoint, Observation
from imap_gate.artefacts import Artefacts, Key
from imap_gate.context import Context
from imap_gate.manifest import load_manifest

ARTEFACT_MODULES = ("checks.imap.artefact", "checks.dovecot.artefact", "checks.firewall.artefact")


def _keys() -> dict[str, Key]:
    out = {}
    for name in ARTEFACT_MODULES:
        for value in vars(importlib.import_module(name)).values():
            if isinstance(value, Key):
                out[value.name] = value
    return out


def test_a_key_is_published_once_and_missing_is_none() -> None:
    store = Artefacts()
    key: Key[int] = Key("toy.count")
    assert store.get(key) is None
    store.put(key, 3)
    assert store.get(key) == 3
    with pytest.raises(ValueError, match="published twice"):
        store.put(key, 4)


def test_every_declared_key_exists_and_every_need_runs_earlier() -> None:
    keys = _keys()
    published: dict[str, registry.Family] = {}
    for fam in registry.FAMILIES:
        for name in fam.publishes:
            assert name in keys, f"{fam.name} publishes {name!r}, which no artefact.py defines"
            assert name not in published, f"{name!r} published by two families"
            published[name] = fam
    assert set(published) == set(keys), "an artefact key nobody declares publishing"
    for fam in registry.FAMILIES:
        for name in fam.needs:
            assert name in published, f"{fam.name} needs {name!r}, which nobody publishes"
            assert registry.STAGE[published[name].kind] < registry.STAGE[fam.kind], \
                f"{fam.name} needs {name!r} from {published[name].name}, which runs later"


LINT_ROOT = """version: 1
targets:
  - name: mail
    host: 192.0.2.10
    ports: [{port: 143, protocol: imap}]
    dovecot: [dovecot.conf]
    firewall: [{path: rules.v4, format: iptables-save}]
configs:
  dovecot: [dovecot.conf]
  firewall: [{path: rules.v4, format: iptables-save}]
"""
DOVECOT = "protocols = imap\nssl = required\ndisable_plaintext_auth = yes\n"
RULES_V4 = ("*filter\n:INPUT DROP [0:0]\n:FORWARD DROP [0:0]\n:OUTPUT ACCEPT [0:0]\n"
            "-A INPUT -p tcp -m tcp --dport 143 -j ACCEPT\nCOMMIT\n")


def _lint_ctx(tmp_path: Path) -> Context:
    (tmp_path / "imap-gate.yml").write_text(LINT_ROOT)
    (tmp_path / "dovecot.conf").write_text(DOVECOT)
    (tmp_path / "rules.v4").write_text(RULES_V4)
    ctx = Context(root=tmp_path, manifest=load_manifest(tmp_path, tmp_path / "imap-gate.yml"))
    for fam in registry.FAMILIES:
        if fam.kind == "lint":
            check = fam.load_check(None)
            assert check is not None
            check.run(ctx)
    return ctx


def test_the_linters_publish_what_the_registry_says(tmp_path: Path) -> None:
    ctx = _lint_ctx(tmp_path)
    declared = {n for f in registry.FAMILIES if f.kind == "lint" for n in f.publishes}
    assert ctx.artefacts.names() == declared
    assert list(ctx.artefacts.get(CONFIGS) or {}) == ["dovecot.conf"]
    assert list(ctx.artefacts.get(VERDICTS) or {}) == ["rules.v4"]


def _live(**kw: object) -> LiveEndpoint:
    base: dict[str, object] = dict(
        target="mail", port=143, connect="open", remote_address="192.0.2.10",
        local_address="192.0.2.1", auth_plain="accepted", auth_plain_evidence="+",
        starttls="ok", starttls_evidence="g1 OK")
    base.update(kw)
    return LiveEndpoint(**base)  # type: ignore[arg-type]


def test_drift_reads_the_published_judgement(tmp_path: Path) -> None:
    ctx = _lint_ctx(tmp_path)
    seen = Observation("mail accepts a password before TLS", "+ go ahead")
    ctx.artefacts.put(ENDPOINTS, {("mail", 143): _live(cleartext_login=seen)})
    out = drift.run(ctx)
    drift001 = [f for f in out if f.rule_id == "DRIFT001"]
    assert [f.evidence for f in drift001] == ["+ go ahead"]
    assert drift001[0].location.path == "dovecot.conf"
    # the world-open 143 and the live cleartext login make DRIFT003 too
    assert [f.rule_id for f in out].count("DRIFT003") == 1


def test_drift_without_a_published_judgement_sees_no_cleartext(tmp_path: Path) -> None:
    ctx = _lint_ctx(tmp_path)
    ctx.artefacts.put(ENDPOINTS, {("mail", 143): _live(auth_plain="refused")})
    assert [f.rule_id for f in drift.run(ctx)] == []
