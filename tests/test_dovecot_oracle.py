"""Differential tests: our effective settings against the real ``doveconf`` 2.3.

For every fixture and every loadable 2.3-syntax corpus file, the values we
compute for an internet IMAP client must equal what ``doveconf -f protocol=imap
-f remote=<internet address> -h SETTING`` prints. Files doveconf cannot load
(2.4 syntax, 1.x, templates, files that are not a main configuration) are
skipped, with the reason in the test id.
"""

from __future__ import annotations

import glob
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from checks.dovecot.check import lint_file
from tests.conftest import CORPUS

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "dovecot"
DOVECONF = shutil.which("doveconf")
INTERNET_CLIENT = "203.0.113.77"
SETTINGS = ("ssl", "disable_plaintext_auth", "ssl_min_protocol", "ssl_cipher_list",
            "auth_mechanisms", "login_trusted_networks", "auth_verbose_passwords")
PORTS = ("service/imap-login/inet_listener/imap/port", "service/imap-login/inet_listener/imaps/port")

pytestmark = pytest.mark.skipif(DOVECONF is None, reason="doveconf is not installed "
                                "(apt-get install dovecot-core)")


def _corpus_cases() -> list:
    """(file, skip reason or None), with the reason visible in the test id."""
    index = CORPUS / "INDEX.yaml"
    if not index.is_file():
        return [pytest.param(None, "corpus absent", id="corpus-absent")]
    data = yaml.safe_load(index.read_text(encoding="utf-8"))
    cases = []
    for entry in data.get("files", []):
        if entry.get("format") != "dovecot":
            continue
        local = entry["local_file"]
        hints = entry.get("hints") or {}
        version = str(hints.get("dovecot_version", ""))
        templ = str(hints.get("templating", "none"))
        reason = None
        if version.startswith("2.4"):
            reason = "skip-2.4-syntax"
        elif version.startswith("1."):
            reason = "skip-1.x-syntax"
        name = Path(local).name
        # templated values are None on our side and are not compared
        label = reason or ("oracle-templated" if templ != "none" else "oracle")
        cases.append(pytest.param(local, reason, id=f"{label}:{name[:60]}"))
    return cases


_ABSOLUTE_INCLUDE = re.compile(r"^[ \t]*!include(?:_try)?[ \t]+['\"]?/.*$", re.M)


def _stub_includes(text: str, where: Path) -> None:
    """Create an empty file for every relative ``!include`` that matches nothing, as an
    empty conf.d would; the linter reports those includes (DOV013) and judges the rest."""
    for m in re.finditer(r"^\s*!include(?:_try)?\s+(\S+)", text, re.M):
        pattern = m.group(1).strip("'\"")
        if pattern.startswith("/") or ".." in pattern:
            continue
        if not glob.glob(str(where / pattern)):
            target = where / pattern.replace("*", "stub").replace("?", "x")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text("")


def doveconf_values(conf: Path) -> tuple[dict[str, str] | None, str]:
    names = (*SETTINGS, *PORTS)
    proc = subprocess.run(
        [DOVECONF or "doveconf", "-c", str(conf), "-f", "protocol=imap",
         "-f", f"remote={INTERNET_CLIENT}", "-h", *names],
        capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        fatal = [ln for ln in proc.stderr.splitlines() if "Fatal" in ln or "Error" in ln]
        return None, (fatal[-1] if fatal else proc.stderr.strip()[-200:])
    lines = proc.stdout.split("\n")
    return dict(zip(names, lines, strict=False)), ""


def ours(root: Path, rel: str) -> dict[str, str | None]:
    _, eff, _ = lint_file(root, rel)
    out: dict[str, str | None] = {k: eff.value(k)[0] for k in SETTINGS}
    for k in SETTINGS:
        a = eff.lookup(k)
        if a is not None and a.setting.kind == "file":
            out[k] = "<" + a.setting.value   # doveconf -h prints the reference, not the contents
    ports = eff.raw_listener_ports()
    out[PORTS[0]] = None if ports["imap"] is None else str(ports["imap"])
    out[PORTS[1]] = None if ports["imaps"] is None else str(ports["imaps"])
    if eff.lookup("ssl_protocols") is not None and eff.lookup("ssl_min_protocol") is None:
        out["ssl_min_protocol"] = None   # 2.2 ssl_protocols: doveconf 2.3 converts (or fails)
    return out


def _compare(root: Path, rel: str, tmp_path: Path) -> int:
    work = tmp_path / "conf"
    src = root / rel
    dest = work / rel
    dest.parent.mkdir(parents=True, exist_ok=True)
    # copy the whole directory of the file so that relative includes resolve the same way
    for p in src.parent.rglob("*"):
        if p.is_file():
            q = work / p.relative_to(root)
            q.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(p, q)
    text = src.read_text(encoding="utf-8", errors="replace")
    # The linter never reads outside the root; doveconf must not read this host's
    # /etc/dovecot either, or it would compare against the test machine's files.
    dest.write_text(_ABSOLUTE_INCLUDE.sub(r"# \g<0>", text), encoding="utf-8")
    _stub_includes(text, dest.parent)
    theirs, why = doveconf_values(dest)
    if theirs is None:
        pytest.skip(f"doveconf cannot load {rel}: {why}")
    mine = ours(root, rel)
    compared = 0
    for k, v in mine.items():
        if v is None:
            continue
        assert " ".join(v.split()) == " ".join(theirs[k].split()), \
            f"{rel}: {k}: we say {v!r}, doveconf says {theirs[k]!r}"
        compared += 1
    return compared


@pytest.mark.parametrize("rel", sorted(p.name for p in FIXTURES.glob("*.conf")
                                       if p.name != "v24.conf") + ["split/dovecot.conf"])
def test_fixture_matches_doveconf(rel: str, tmp_path: Path) -> None:
    assert _compare(FIXTURES, rel, tmp_path) >= 8


@pytest.mark.parametrize(("local", "reason"), _corpus_cases())
def test_corpus_matches_doveconf(local: str | None, reason: str | None, corpus_dir: Path,
                                 tmp_path: Path) -> None:
    if local is None:
        pytest.skip("the corpus INDEX.yaml is absent")
    if reason is not None:
        pytest.skip(f"{reason}: doveconf 2.3 cannot load this file as written")
    # Each corpus file is judged alone, in a directory of its own (as a fragment).
    one = tmp_path / "root"
    one.mkdir()
    shutil.copyfile(corpus_dir / local, one / Path(local).name)
    assert _compare(one, Path(local).name, tmp_path) >= 1
