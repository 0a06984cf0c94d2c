"""Differential mutation test: mutated real iptables files against the real tool and kernel.

Every iptables-save file of the corpus (and every fixture) that the kernel loads as it is
gets seeded mutations (tests/support/mutate.py). For each mutant:

- where ``iptables-restore`` (ip6tables-restore) refuses it, loading it for real in a
  throwaway namespace, imap-gate must report a can't-judge finding (FW006, which fails the
  gate), on the line the tool names when it names one;
- where the tool loads it, imap-gate must not call any line unreadable, and its 143/993
  verdict must equal what real connections through the kernel do (the namespace oracle of
  tests/firewall/test_firewall_netns.py).

A second, faster half checks single rules: every iptables command the shell reader finds
in the corpus scripts, mutated, must be refused by imap-gate exactly when
``iptables-restore --test`` refuses it.

CI runs a few hundred seeded cases; bench/fuzz.sh multiplies them (IMAP_GATE_FUZZ_SCALE).
"""

from __future__ import annotations

import re
import tempfile
import zlib
from pathlib import Path

import pytest

from checks.firewall.check import RootReader, lint_text
from checks.firewall.iptables_args import SpecError, parse_spec
from checks.firewall.iptables_ext import TARGETS
from checks.firewall.iptables_save import guess_family
from checks.firewall.iptables_script import family_of
from checks.firewall.judge import judge
from checks.firewall.model import is_internal_iface
from checks.firewall.shell import run_script
from tests.firewall.test_firewall_fixtures import FIXTURES
from tests.firewall.test_firewall_netns import Lab, _run, compare, lab  # noqa: F401 - lab is a fixture
from tests.support.mutate import mutants, scale

pytestmark = [pytest.mark.netns, pytest.mark.slow]

# Files whose loading depends on the host rather than on their syntax: names resolved by
# DNS, ipsets that must exist, xtables-addons extensions this host may lack.
HOST_DEPENDENT = re.compile(rb"--match-set|-j SET\b|-m geoip|-j TARPIT|\s-[sd]\s+[A-Za-z][\w.-]*[a-z]"
                            rb"(?:\s|/)|--(?:source|destination)\s+[A-Za-z]")
ESTABLISHED_DROP = re.compile(rb"^.*ESTABLISHED.*-j (?:DROP|REJECT)", re.M)
ERROR_LINE = re.compile(r"Error occurred at line: (\d+)|line (\d+) failed")
PER_FILE = 8
PROBE_TIMEOUT = 0.3


def _sources(corpus: Path | None) -> list[tuple[str, Path]]:
    out: list[tuple[str, Path]] = []
    if corpus is not None:
        for sub in ("iptables-save", "ufw-rules"):
            out += [(p.relative_to(corpus).as_posix(), p) for p in sorted((corpus / sub).glob("*"))
                    if p.is_file()]
    out += [(p.relative_to(FIXTURES).as_posix(), p) for p in sorted(FIXTURES.rglob("*"))
            if p.is_file() and (p.suffix in (".v4", ".v6", ".rules") or
                                p.name in ("user.rules", "user6.rules"))]
    return out


def _wrap_ufw(text: bytes, fam: str) -> bytes:
    """A ufw user.rules hung off INPUT as ufw hooks it (lo, established, user chain)."""
    user = b"ufw-user-input" if fam == "ipv4" else b"ufw6-user-input"
    lines = [ln for ln in text.split(b"\n")]
    try:
        star = next(i for i, ln in enumerate(lines) if ln.startswith(b"*filter"))
    except StopIteration:
        return text
    head = [b":INPUT DROP [0:0]", b"-A INPUT -i lo -j ACCEPT",
            b"-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT", b"-A INPUT -j " + user]
    return b"\n".join(lines[:star + 1] + head + lines[star + 1:])


def _load(lb: Lab, path: Path, fam: str) -> tuple[bool, str]:
    # Everything iptables-nft loads lives in nftables: one flush empties both families.
    _run("ip", "netns", "exec", lb.srv, "nft", "flush", "ruleset")
    text = path.read_bytes().decode("utf-8", "replace")
    named = re.findall(r"\s-i\s+([a-z][\w]*)", text)
    # The linter takes a named, non-internal interface to be the internet-facing one.
    lb.rename_iface(next((n for n in named if not is_internal_iface(n)), "eth0"))
    tool = "iptables-restore" if fam == "ipv4" else "ip6tables-restore"
    proc = _run("ip", "netns", "exec", lb.srv, tool, str(path), check=False)
    return proc.returncode == 0, proc.stderr


def _off_input_path(data: bytes, line: int) -> bool:
    table = b""
    for no, ln in enumerate(data.split(b"\n"), 1):
        if ln.startswith(b"*"):
            table = ln.strip()
        if no == line:
            words = ln.split()
            chain = words[0][1:] if words and words[0].startswith(b":") else \
                (words[1] if len(words) > 1 and words[0] in (b"-A", b"-I") else b"")
            return table == b"*nat" or chain in (b"OUTPUT", b"FORWARD", b"POSTROUTING")
    return False


def _verdict(data: bytes, rel: str, root: Path, fmt: str | None):
    tmp = root / rel
    tmp.parent.mkdir(parents=True, exist_ok=True)
    tmp.write_bytes(data)
    text = RootReader(root).read(rel)
    assert text is not None
    v = lint_text(text, rel, fmt, RootReader(root))
    return v, judge(v, [v])


def test_mutated_iptables_files_match_the_tool_and_the_kernel(lab: Lab, request) -> None:  # noqa: F811
    from tests.conftest import CORPUS
    corpus = CORPUS if CORPUS.is_dir() else None
    per_file = PER_FILE * scale()
    checked = refused = compared = 0
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="igfw-mut-") as tmpd:
        root = Path(tmpd)
        for rel, path in _sources(corpus):
            data = path.read_bytes()
            if HOST_DEPENDENT.search(data) or b":ufw-before-input" in data or \
                    b":ufw6-before-input" in data:
                continue
            text = data.decode("utf-8", "replace")
            ufw = b"ufw-user-input" in data or b"ufw6-user-input" in data
            fam = guess_family(text, path.name)
            fmt = "ufw-rules" if ufw else "iptables-save"
            orig = root / "orig" / path.name
            orig.parent.mkdir(parents=True, exist_ok=True)
            orig.write_bytes(_wrap_ufw(data, fam) if ufw else data)
            ok, _ = _load(lab, orig, fam)
            if not ok:
                continue  # the file itself does not load here; the corpus test covers it
            seed = zlib.crc32(rel.encode())
            for k, m in enumerate(mutants(data, seed, per_file)):
                if ESTABLISHED_DROP.search(m.data) and not ESTABLISHED_DROP.search(data):
                    continue  # a race after connect(), not a property of the ruleset
                case = f"{rel} #{k} {m.kind} at line {m.line}"
                if _off_input_path(m.data, m.line):
                    # The nat table filters too (a DROP there drops a new connection): it is
                    # modelled by the port-forwarding reader, not by this one. OUTPUT and
                    # FORWARD are not the input path the verdict is about (a host whose OUTPUT
                    # drops its own answers serves nothing, and is no IMAP exposure question).
                    continue
                lint_rel = f"m{seed}_{k}/{path.name}"
                v, fs = _verdict(m.data, lint_rel, root, fmt)
                f6 = [f for f in fs if f.rule_id == "FW006"]
                mpath = root / lint_rel
                if ufw:
                    mpath = root / (lint_rel + ".wrapped")
                    mpath.write_bytes(_wrap_ufw(m.data, fam))
                ok, err = _load(lab, mpath, fam)
                checked += 1
                if not ok:
                    refused += 1
                    if not f6:
                        problems.append(f"{case}: the tool refuses it ({err.strip()[:160]}), "
                                        "imap-gate reports no FW006")
                        continue
                    em = ERROR_LINE.search(err)
                    lines = m.data.split(b"\n")
                    if em and not ufw:
                        line = int(em.group(1) or em.group(2))
                        at_commit = 0 < line <= len(lines) and lines[line - 1].strip() == b"COMMIT"
                        # A jump to a missing chain is refused at the COMMIT that loads it;
                        # imap-gate names the rule that jumps, which is the better line.
                        if not at_commit and line not in {f.location.line for f in f6}:
                            problems.append(f"{case}: the tool refuses line {line}, imap-gate "
                                            f"names {sorted({f.location.line for f in f6})}")
                    continue
                unread = [f for f in f6 if f.key and ";issue=" in f.key]
                if unread:
                    problems.append(f"{case}: the tool loads it, imap-gate cannot read "
                                    f"line {unread[0].location.line}: {unread[0].message[:160]}")
                    continue
                compared += 1
                seen = lab.probe(timeout=PROBE_TIMEOUT)
                bad = compare(v, seen)
                if bad:
                    bad = compare(v, lab.probe(timeout=3.0))
                if bad:
                    problems.append(f"{case}: {bad}")
    lab.reset()
    print(f"mutants: {checked} checked, {refused} refused by the tool, {compared} compared "
          "with the kernel")
    assert checked >= 50 and refused >= 10 and compared >= 10
    assert problems == [], "\n".join(problems[:30])


def _script_commands(corpus: Path) -> list[tuple[str, str, list[str]]]:
    """(file, family, CHAIN + rule words) of every filter-table -A/-I the reader finds."""
    out: list[tuple[str, str, list[str]]] = []
    for p in sorted((corpus / "iptables-script").glob("*")):
        text = p.read_bytes().decode("utf-8", "replace")

        def run(cmd, p=p):
            fam = family_of(cmd.words[0])
            w = cmd.words[1:]
            if fam and len(w) >= 2 and w[0] in ("-A", "-I") and "-t" not in w:
                rest = w[2:]
                if w[0] == "-I" and rest and rest[0].isdigit():
                    rest = rest[1:]
                if not any("$" in x or "`" in x for x in rest):
                    out.append((p.name, fam, [w[1], *rest]))
            return 0

        run_script(text, run, lambda w: w in ("iptables", "ip6tables"))
    return out


def test_mutated_script_rules_are_refused_exactly_when_iptables_refuses(lab: Lab) -> None:  # noqa: F811
    import random

    from tests.conftest import CORPUS
    if not CORPUS.is_dir():
        pytest.skip("the shared corpus is absent")
    rules = _script_commands(CORPUS)
    assert len(rules) > 50
    rng = random.Random(14)
    from tests.support.mutate import _typo
    cases = []
    for name, fam, words in rules:
        if any(re.match(r"[A-Za-z][\w.-]*[a-z]$", x) and i and
               words[i - 1] in ("-s", "-d", "--source", "--src", "--destination", "--dst")
               for i, x in enumerate(words)) or "--match-set" in words or "geoip" in words:
            continue  # a name would be resolved, an ipset must exist: not syntax
        cases.append((name, fam, words))
        for _ in range(scale()):
            idx = [i for i, x in enumerate(words) if i and x.startswith("-")]
            if not idx:
                continue
            i = rng.choice(idx)
            mutated = list(words)
            mutated[i] = _typo(rng, mutated[i].encode()).decode()
            cases.append((name, fam, mutated))
    problems = []
    with tempfile.TemporaryDirectory(prefix="igfw-rule-") as tmpd:
        f = Path(tmpd) / "r"
        for name, fam, (chain, *words) in cases:
            chains = {w for i, w in enumerate(words) if i and words[i - 1] in ("-j", "-g")}
            chains.add(chain)
            decl = "".join(f":{c} - [0:0]\n" for c in sorted(chains)
                           if c not in TARGETS and c not in ("INPUT", "FORWARD", "OUTPUT"))
            f.write_text(f"*filter\n{decl}-A {chain} {' '.join(_q(w) for w in words)}\nCOMMIT\n")
            tool = "iptables-restore" if fam == "ipv4" else "ip6tables-restore"
            proc = _run("ip", "netns", "exec", lab.srv, tool, "--test", str(f), check=False)
            ours = _ours(chain, words, fam)
            theirs = proc.returncode == 0
            if ours != theirs:
                problems.append(f"{name}: {' '.join(words)}: iptables "
                                f"{'accepts' if theirs else 'refuses: ' + proc.stderr.strip()[:120]}, "
                                f"imap-gate {'accepts' if ours else 'refuses'}")
    print(f"script rules: {len(cases)} checked")
    assert problems == [], "\n".join(problems[:30])


def _ours(chain: str, words: list[str], fam: str) -> bool:
    try:
        spec = parse_spec(words, fam)
    except SpecError:
        return False
    return not (("-o" in spec.options and chain == "INPUT") or
                ("-i" in spec.options and chain == "OUTPUT"))


def _q(word: str) -> str:
    return f'"{word}"' if (" " in word or not word) else word
