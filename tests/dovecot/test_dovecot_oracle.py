"""Differential tests: the gate against the real ``doveconf`` of each file's version.

Every fixture and every corpus file is read by the doveconf of the version the linter
decides (dovecot_config_version, version-only names): 2.3 on the host, 2.4 in the Debian 13
root filesystem (``chroot ROOT doveconf -c FILE``, the file staged under ROOT/tmp). Then:

- doveconf loads it: the gate has no DOV013 (a can't-judge the real tool does not share is
  the gate's gap), and every value it computes for an internet IMAP client equals what
  ``doveconf -f protocol=imap -f remote=<internet address> -h SETTING`` prints (templated
  values, None on our side, are not compared);
- doveconf refuses it: the gate does not pass (DOV013 or, for template syntax, DOV015, at
  medium), on doveconf's line when doveconf names one.

No case is skipped for its version: a 2.4 file without the 2.4 root filesystem fails in CI.
"""

from __future__ import annotations

import glob
import re
from pathlib import Path

import pytest
import yaml

from checks.dovecot import names
from checks.dovecot.check import lint_file
from checks.dovecot.parser import Section, Setting
from imap_gate.severity import Severity
from tests.conftest import CORPUS
from tests.support import rootfs24
from tests.support.doveconf import (
    Doveconf,
    Result,
    environmental,
    stage,
    template_refusal,
    with_local_users,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "dovecot"
COMMON = ("ssl", "ssl_min_protocol", "ssl_cipher_list", "auth_mechanisms",
          "login_trusted_networks", "auth_verbose_passwords", "protocols")
SETTINGS = {"2.3": (*COMMON, "disable_plaintext_auth"), "2.4": (*COMMON, "auth_allow_cleartext")}
PORTS = ("service/imap-login/inet_listener/imap/port",
         "service/imap-login/inet_listener/imaps/port")
AS_SETS = frozenset({"protocols", "auth_mechanisms", "login_trusted_networks"})


def version_of(root: Path, rel: str) -> str:
    return lint_file(root, rel)[1].info.version


def _fixture_cases() -> list:
    rels = sorted(p.name for p in FIXTURES.glob("*.conf")) + ["split/dovecot.conf"]
    return [pytest.param(FIXTURES, rel, False, id=f"fixture-{version_of(FIXTURES, rel)}:{rel}")
            for rel in rels]


def _corpus_entries() -> list[dict]:
    index = CORPUS / "INDEX.yaml"
    if not index.is_file():
        return []
    return [e for e in yaml.safe_load(index.read_text(encoding="utf-8")).get("files", [])
            if e.get("format") == "dovecot"]


def _corpus_cases() -> list:
    entries = _corpus_entries()
    if not entries:
        return [pytest.param(None, None, True, id="corpus-absent")]
    cases = []
    for e in entries:
        local = Path(e["local_file"])
        root = CORPUS / local.parent
        cases.append(pytest.param(root, local.name, True,
                                  id=f"corpus-{version_of(root, local.name)}:{local.name[:60]}"))
    return cases


def _stub_includes(staged: Path) -> None:
    """An empty file for every relative ``!include`` that matches nothing, as an empty conf.d
    would; both the gate and doveconf then read the same (empty) files."""
    text = staged.read_bytes().decode("utf-8", "surrogateescape")
    for m in re.finditer(r"^\s*!include(?:_try)?\s+(\S+)", text, re.M):
        pattern = m.group(1).strip("'\"")
        if pattern.startswith("/") or ".." in pattern or "{" in pattern or "%" in pattern:
            continue
        if not glob.glob(str(staged.parent / pattern)):
            target = staged.parent / pattern.replace("*", "stub").replace("?", "x")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")


def oracle(version: str) -> Doveconf:
    if version == "2.4":
        return Doveconf("2.4", rootfs24.require())
    return Doveconf("2.3")


def ours(eff, version: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {k: eff.value(k)[0] for k in SETTINGS[version]}
    for k in SETTINGS[version]:
        a = eff.lookup(k)
        if a is not None and a.setting.kind == "file":
            out[k] = "<" + a.setting.value   # doveconf -h prints the reference, not the contents
    ports = eff.raw_listener_ports()
    out[PORTS[0]] = None if ports["imap"] is None else str(ports["imap"])
    out[PORTS[1]] = None if ports["imaps"] is None else str(ports["imaps"])
    if eff.lookup("ssl_protocols") is not None and eff.lookup("ssl_min_protocol") is None:
        out["ssl_min_protocol"] = None   # 2.2 ssl_protocols: doveconf 2.3 converts (or fails)
    p = eff.lookup("protocols")
    if p is None or p.value is None or "$" in p.setting.value or \
            {"imaps", "pop3s"} & set(p.value.split()):
        # Debian builds Dovecot with no default protocols and adds each installed one from
        # /usr/share/dovecot/protocols.d (upstream 2.3: imap pop3 lmtp); 1.x imaps/pop3s
        # are converted. Compared where the file sets the list itself.
        out["protocols"] = None
    return out


def _norm(key: str, value: str) -> object:
    if " = " in value:       # 2.4 prints a boolean list as "imap = yes" lines
        value = " ".join(ln.split(" = ")[0] for ln in value.splitlines()
                         if ln.strip().endswith("= yes"))
    words = value.replace(",", " ").split()
    return frozenset(words) if key in AS_SETS else " ".join(words)


def blockers(findings) -> list:
    return [f for f in findings if f.rule_id in ("DOV013", "DOV015") and f.sev >= Severity.MEDIUM]


def check_against_doveconf(root: Path, rel: str, alone: bool) -> tuple[str, int]:
    """("loads" | "refuses", values compared); asserts the gate agrees with doveconf."""
    version = version_of(root, rel)
    dc = oracle(version)
    with dc.staging() as st:
        work = Path(st)
        staged = stage(root, rel, work, alone=alone)
        _stub_includes(staged)
        staged_rel = staged.relative_to(work).as_posix()
        res = with_local_users(dc, staged)
        findings, eff, _ = lint_file(work, staged_rel)
        assert eff.info.version == version
        if not res.ok and not environmental(res.reason):
            ours_b = blockers(findings)
            if not ours_b and template_refusal(staged, res.reason, findings):
                return "refuses", 0
            assert ours_b, f"{rel}: doveconf {version} refuses it ({res.reason}) but the gate passes"
            m = re.search(r"line (\d+)", res.reason)
            templated = any(f.rule_id == "DOV015" for f in ours_b)
            if m and staged.name in res.reason and not templated:
                line = int(m.group(1))
                assert any(f.location.line == line for f in ours_b), \
                    f"{rel}: doveconf {version}: {res.reason}; the gate: " + \
                    "; ".join(f"{f.location.line}: {f.message}" for f in ours_b)
            return "refuses", 0
        gap = [f for f in findings if f.rule_id == "DOV013" and f.sev >= Severity.MEDIUM]
        assert not gap, f"{rel}: doveconf {version} loads it, the gate says: {gap[0].message}"
        names = (*SETTINGS[version], *PORTS)
        theirs = dc.values(staged, names)
        if isinstance(theirs, Result) and not res.ok:
            return "environment", 0    # a user only the server has: no values to read
        assert not isinstance(theirs, Result), f"{rel}: doveconf -h failed: {theirs.reason}"
        compared = 0
        for k, v in ours(eff, version).items():
            if v is None or k not in theirs:
                continue
            assert _norm(k, v) == _norm(k, theirs[k]), \
                f"{rel}: {k}: we say {v!r}, doveconf {version} says {theirs[k]!r}"
            compared += 1
        return "loads", compared


@pytest.mark.parametrize(("root", "rel", "alone"), _fixture_cases())
def test_fixture_matches_doveconf(root: Path, rel: str, alone: bool) -> None:
    outcome, compared = check_against_doveconf(root, rel, alone)
    assert outcome == "loads" and compared >= 8


@pytest.mark.parametrize(("root", "rel", "alone"), _corpus_cases())
def test_corpus_matches_doveconf(root: Path | None, rel: str | None, alone: bool) -> None:
    if root is None or rel is None:
        pytest.skip("the corpus INDEX.yaml is absent (CI always has it)")
    outcome, compared = check_against_doveconf(root, rel, alone)
    assert outcome in ("refuses", "environment") or compared >= 1


def test_corpus_versions_agree_with_the_index_hints(corpus_dir: Path) -> None:
    """The linter's version decision against the hints people wrote down for each file: it
    departs from a hint only where the file itself names a setting of the other version (the
    oracle test then shows that version's doveconf agrees)."""
    unexplained = []
    for e in _corpus_entries():
        hint = str((e.get("hints") or {}).get("dovecot_version", ""))
        local = Path(e["local_file"])
        info = lint_file(corpus_dir / local.parent, local.name)[1].info
        expected = "2.4" if hint == "2.4" else "2.3" if hint in ("2.3", "2.2", "1.x") else None
        if expected is None or info.version == expected or info.evidence is not None:
            continue
        # no version-only name either way: the hint comes from the repository, not the file;
        # then the file must hold no name only the hinted version knows
        _, _, loaded = lint_file(corpus_dir / local.parent, local.name)
        only = [s.key for s in _globals(loaded.nodes)
                if (names.only_24(s.key) if expected == "2.4" else
                    s.key in names.settings("2.3") and s.key not in names.settings("2.4"))]
        if only:
            unexplained.append(f"{local.name}: hint {hint}, linter {info.version}, yet {only}")
    assert not unexplained, unexplained


def _globals(nodes):
    for n in nodes:
        if isinstance(n, Setting):
            yield n
        elif isinstance(n, Section) and n.type in names.FILTERS:
            yield from _globals(n.children)
