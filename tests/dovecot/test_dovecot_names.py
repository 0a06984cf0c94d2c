"""The generated setting lists (checks/dovecot/known_settings.json) against the real doveconf.

Every listed name that came from the packages must be one the real doveconf of its version
accepts (a sample each run, all of them under bench/fuzz.sh's scale), a misspelt one must be
refused by both the real tool and the gate, and the data file must say where it came from.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from checks.dovecot import names
from checks.dovecot.check import lint_file
from tests.support import rootfs24
from tests.support.doveconf import Doveconf
from tests.support.fuzz import examples

DATA = Path(names.__file__).with_name("known_settings.json")
HEAD = {"2.3": "", "2.4": "dovecot_config_version = 2.4.0\ndovecot_storage_version = 2.4.0\n"}


def _docs_only(version: str) -> set[str]:
    text = (DATA.parent / "settings_docs.txt").read_text(encoding="utf-8")
    return {ln.split()[1] for ln in text.splitlines()
            if ln.split()[:1] == [version] and len(ln.split()) > 1}


def test_the_lists_record_their_sources() -> None:
    data = json.loads(DATA.read_text(encoding="utf-8"))
    assert data["generated_by"] == "scripts/dovecot_settings.py"
    for v in ("2.3", "2.4"):
        src = data["sources"][v]["doveconf -a"]
        assert "dovecot-core" in src and "dovecot-managesieved" in src and "dovecot-sieve" in src
        assert len(data[v]["settings"]) > 300
    assert "imap4rev2_enable" in names.settings("2.4")           # 2.4.2, from the docs
    assert "fts_flatcurve_substring_search" in names.settings("2.4")
    assert "managesieve_notify_capability" in names.settings("2.3")
    assert "sssl" not in names.settings("2.3") | names.settings("2.4")


@pytest.mark.parametrize("version", ["2.3", "2.4"])
def test_listed_names_are_accepted_by_the_real_doveconf(version: str) -> None:
    dc = Doveconf("2.4", rootfs24.require()) if version == "2.4" else Doveconf("2.3")
    pool = sorted(names.settings(version) - _docs_only(version)
                  - {"dovecot_config_version", "dovecot_storage_version"})
    sample = random.Random(7).sample(pool, min(len(pool), examples(25)))
    refused = []
    with dc.staging() as st:
        for i, name in enumerate(sample):
            conf = Path(st) / f"n{i}.conf"
            conf.write_text(HEAD[version] + f"{name} = 0\n")
            res = dc.loads(conf)
            if not res.ok and "Unknown setting" in res.reason:
                refused.append(name)
    assert not refused, f"doveconf {version} does not know {refused}"


@pytest.mark.parametrize("version", ["2.3", "2.4"])
def test_a_misspelt_name_is_refused_by_both(version: str, tmp_path: Path) -> None:
    dc = Doveconf("2.4", rootfs24.require()) if version == "2.4" else Doveconf("2.3")
    text = HEAD[version] + "ssl = required\n  sssl = no\n"
    with dc.staging() as st:
        conf = Path(st) / "dovecot.conf"
        conf.write_text(text)
        res = dc.loads(conf)
        findings, _, _ = lint_file(Path(st), "dovecot.conf")
    assert not res.ok and "Unknown setting: sssl" in res.reason
    f = next(f for f in findings if f.rule_id == "DOV013")
    line = text.count("\n") - 0
    assert (f.location.line, f.location.column) == (line, 3)
    assert "Unknown setting: sssl" in f.message and f.sev.label == "medium"


def test_scopes() -> None:
    # 2.3: hierarchical, plugin { } free-form, unknown inside a service
    assert names.known("2.3", "fts_xapian", (("plugin", ""),)) is None
    assert names.known("2.3", "process_limit", (("service", "imap"),)) is True
    assert names.known("2.3", "proces_limit", (("service", "imap"),)) is False
    assert names.known("2.3", "ssl", (("protocol", "imap"),)) is True
    # 2.4: flat, filter prefixes, a setting written as a block is free-form
    assert names.known("2.4", "port", (("service", "imap-login"), ("inet_listener", "imap"))) \
        is True
    assert names.known("2.4", "uid", (("userdb", "static"), ("fields", ""))) is None
    assert names.known("2.4", "quota", (("mail_plugins", ""),)) is None
    assert names.known("2.4", "sssl", (("protocol", "imap"),)) is False
