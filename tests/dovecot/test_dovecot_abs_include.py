"""Absolute ``!include`` paths mapped onto the repository, only when the mapping is unambiguous.

A repository mirrors the host: ``/etc/dovecot/conf.d/a.conf`` is committed either at
``etc/dovecot/conf.d/a.conf`` (the repository mirrors ``/``) or next to its ``dovecot.conf``
(the directory mirrors ``/etc/dovecot/``). Before this mapping such includes were never read,
so a committed ``ssl = no`` in conf.d passed with a note.
"""

from __future__ import annotations

from pathlib import Path

from checks.dovecot.check import lint_file
from checks.dovecot.loader import repo_places

MAIN = ("protocols = imap\nssl = required\nssl_cert = </etc/ssl/a.pem\nssl_key = </etc/ssl/a.key\n"
        "disable_plaintext_auth = yes\n!include {inc}\n")
WEAK = "ssl = no\n"


def _tree(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return tmp_path


def _ids(findings):
    return sorted((f.rule_id, f.location.path, f.location.line) for f in findings)


def test_config_dir_mirrors_etc_dovecot(tmp_path):
    root = _tree(tmp_path, {"config/dovecot/dovecot.conf": MAIN.format(inc="/etc/dovecot/conf.d/*.conf"),
                            "config/dovecot/conf.d/10-ssl.conf": WEAK})
    findings, eff, loaded = lint_file(root, "config/dovecot/dovecot.conf")
    dov001 = [f for f in findings if f.rule_id == "DOV001"]
    assert [(f.location.path, f.location.line) for f in dov001] == [("config/dovecot/conf.d/10-ssl.conf", 1)]
    assert "for !include /etc/dovecot/conf.d/*.conf" in dov001[0].evidence
    assert not [f for f in findings if f.rule_id == "DOV013"]
    assert not loaded.unread and not eff.partial


def test_repository_mirrors_root(tmp_path):
    root = _tree(tmp_path, {"etc/dovecot/dovecot.conf": MAIN.format(inc="/etc/dovecot/local.conf"),
                            "etc/dovecot/local.conf": WEAK})
    findings, _, _ = lint_file(root, "etc/dovecot/dovecot.conf")
    assert ("DOV001", "etc/dovecot/local.conf", 1) in _ids(findings)
    assert repo_places("etc/dovecot/dovecot.conf", "/etc/dovecot/local.conf") == ["etc/dovecot/local.conf"]


def test_two_places_is_not_judged(tmp_path):
    root = _tree(tmp_path, {"config/dovecot/dovecot.conf": MAIN.format(inc="/etc/dovecot/local.conf"),
                            "config/dovecot/local.conf": WEAK,
                            "etc/dovecot/local.conf": "ssl = yes\n"})
    findings, eff, _ = lint_file(root, "config/dovecot/dovecot.conf")
    cant = [f for f in findings if f.rule_id == "DOV013"]
    assert [(f.location.line, f.severity.name) for f in cant] == [(6, "NOTE")]
    assert "two places (etc/dovecot/local.conf and config/dovecot/local.conf)" in cant[0].message
    assert not [f for f in findings if f.rule_id == "DOV001"]
    assert eff.partial


def test_not_held_says_where_to_commit(tmp_path):
    """The km0-mail case: the entrypoint renders /run/dovecot/auth-local.conf at start."""
    root = _tree(tmp_path, {"config/dovecot/dovecot.conf": MAIN.format(inc="/run/dovecot/auth-local.conf")})
    findings, eff, _ = lint_file(root, "config/dovecot/dovecot.conf")
    cant = [f for f in findings if f.rule_id == "DOV013"]
    assert [(f.location.line, f.severity.name) for f in cant] == [(6, "NOTE")]
    assert "commit that file at run/dovecot/auth-local.conf, or lint the rendered" in cant[0].message
    assert eff.partial


def test_only_a_dovecot_conf_stands_for_etc_dovecot(tmp_path):
    root = _tree(tmp_path, {"config/main.conf": MAIN.format(inc="/etc/dovecot/local.conf"),
                            "config/local.conf": WEAK})
    findings, _, _ = lint_file(root, "config/main.conf")
    assert not [f for f in findings if f.rule_id == "DOV001"]
    assert [f.location.line for f in findings if f.rule_id == "DOV013"] == [6]
