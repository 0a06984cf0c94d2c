"""Differential mutation test: nftables files as nft and the kernel read them, mutated.

Every corpus file and fixture that ``nft -c -f`` loads in a throwaway network namespace is
mutated with seeded edits (a misspelt keyword, accept and drop swapped, a port changed, a brace
or a quote dropped, a non-UTF-8 byte in a comment, two rules reordered, a rule duplicated).
Where nft refuses the mutant, imap-gate must report a can't-judge finding (FW006, which fails
the gate at the default threshold). Where nft loads it, the mutant is loaded into the lab's
server namespace and real connections decide: imap-gate's 143/993 verdict must equal theirs.

CI checks a bounded sample (``MUTANTS`` with nft, at most ``KERNEL`` of the loadable ones with
packets, about a minute); ``bench/fuzz.sh`` multiplies both by IMAP_GATE_FUZZ_SCALE and draws
other mutants with IMAP_GATE_MUTATION_SEED.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
import tempfile
from pathlib import Path

import pytest

from checks.firewall.check import lint_text
from checks.firewall.judge import judge
from tests.firewall.test_firewall_netns import Lab, compare, lab, load  # noqa: F401 - lab is a fixture
from tests.support.fuzz import examples

pytestmark = [pytest.mark.netns, pytest.mark.slow]

FIXTURES = Path(__file__).parent.parent / "fixtures" / "firewall"
MUTANTS = examples(240)
KERNEL = examples(48)
KEYWORDS = ("accept", "drop", "reject", "tcp", "udp", "dport", "sport", "saddr", "daddr", "ct",
            "state", "policy", "chain", "table", "type", "hook", "priority", "iifname", "iif",
            "counter", "log", "jump", "established", "related", "new", "invalid", "meta",
            "l4proto", "limit", "rate", "ip", "ip6", "inet", "filter", "input", "elements", "set",
            "define", "icmp", "icmpv6", "return", "goto", "flags", "prefix", "nexthdr", "protocol")
KEYWORD_RE = re.compile(r"(?<![\w$@-])(" + "|".join(KEYWORDS) + r")(?![\w-])")


def _code_lines(text: str) -> list[int]:
    return [i for i, ln in enumerate(text.split("\n")) if ln.strip() and not ln.lstrip().startswith("#")]


def _misspell(word: str, rnd: random.Random) -> str:
    if len(word) > 2 and rnd.random() < 0.5:
        k = rnd.randrange(len(word) - 1)
        swapped = word[:k] + word[k + 1] + word[k] + word[k + 2:]
        if swapped != word:
            return swapped
    k = rnd.randrange(len(word))
    return word[:k] + word[k + 1:] if len(word) > 1 else word + "x"


def mutate(text: str, rnd: random.Random) -> tuple[str, bytes]:
    """(what was done, the mutant's bytes)."""
    lines = text.split("\n")
    code = _code_lines(text)
    kind = rnd.choice(("misspell", "swap", "port", "brace", "quote", "latin1", "reorder", "duplicate"))
    if kind == "misspell":
        hits = [(i, m) for i in code for m in KEYWORD_RE.finditer(lines[i].split("#")[0])]
        if hits:
            i, m = rnd.choice(hits)
            lines[i] = lines[i][:m.start()] + _misspell(m.group(1), rnd) + lines[i][m.end():]
            return f"misspell {m.group(1)!r} at line {i + 1}", "\n".join(lines).encode()
    if kind == "swap":
        hits = [(i, m) for i in code for m in re.finditer(r"\b(accept|drop)\b", lines[i].split("#")[0])]
        if hits:
            i, m = rnd.choice(hits)
            new = "drop" if m.group(1) == "accept" else "accept"
            lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
            return f"swap {m.group(1)} at line {i + 1}", "\n".join(lines).encode()
    if kind == "port":
        hits = [(i, m) for i in code for m in re.finditer(r"(?<=dport )(\d+)\b|(?<=[{,] )(\d+)(?=[ ,}])",
                                                            lines[i].split("#")[0])]
        if hits:
            i, m = rnd.choice(hits)
            new = str(rnd.choice((143, 993, 22, 1143, 0, 70000)))
            lines[i] = lines[i][:m.start()] + new + lines[i][m.end():]
            return f"port {m.group(0)} -> {new} at line {i + 1}", "\n".join(lines).encode()
    if kind in ("brace", "quote"):
        ch = "{}" if kind == "brace" else '"'
        hits = [(i, k) for i in code for k, c in enumerate(lines[i].split("#")[0]) if c in ch]
        if hits:
            i, k = rnd.choice(hits)
            lines[i] = lines[i][:k] + lines[i][k + 1:]
            return f"drop {kind} at line {i + 1}", "\n".join(lines).encode()
    if kind == "reorder":
        rules = [i for i in code if i + 1 in code and not re.search(r"[{}]|^\s*(type|policy)\b", lines[i])
                 and not re.search(r"[{}]|^\s*(type|policy)\b", lines[i + 1])]
        if rules:
            i = rnd.choice(rules)
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
            return f"reorder lines {i + 1} and {i + 2}", "\n".join(lines).encode()
    if kind == "duplicate":
        rules = [i for i in code if not re.search(r"[{}]|^\s*(type|policy|define|include)\b", lines[i])]
        if rules:
            i = rnd.choice(rules)
            lines.insert(i, lines[i])
            return f"duplicate line {i + 1}", "\n".join(lines).encode()
    at = rnd.randrange(len(lines) + 1)
    data = "\n".join(lines[:at]).encode() + (b"\n" if at else b"") + b"# Caf\xe9 mail server\n" + \
        "\n".join(lines[at:]).encode()
    return f"latin-1 comment at line {at + 1}", data


def _nft_check(ns: str, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", ns, "nft", "-c", "-I", str(path.parent), "-f", str(path)],
                          capture_output=True, text=True, timeout=30)


def _sources(corpus: Path | None) -> list[Path]:
    out = sorted(FIXTURES.glob("*.nft"))
    if corpus is not None:
        out += sorted(p for p in (corpus / "nftables").glob("*") if p.is_file())
    return [p for p in out if "include" not in p.read_text(errors="replace")]


def _lint(data: bytes, name: str):
    v = lint_text(data.decode("utf-8", errors="replace"), name, "nftables")
    return v, judge(v, [v])


def test_mutants_are_refused_as_nft_refuses_them_or_judged_as_the_kernel_does(lab: Lab) -> None:  # noqa: F811
    from tests.conftest import CORPUS
    corpus = CORPUS if CORPUS.is_dir() else None
    loadable: list[tuple[Path, str]] = []
    for p in _sources(corpus):
        if _nft_check(lab.srv, p).returncode == 0:
            loadable.append((p, p.read_text(errors="replace")))
    assert len(loadable) >= 5, "too few nftables files load to mutate"
    rnd = random.Random(int(os.environ.get("IMAP_GATE_MUTATION_SEED", "20261203")))
    refused = accepted = compared = 0
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="igfw-mut-") as tmp:
        for n in range(MUTANTS):
            src, text = loadable[n % len(loadable)]
            what, data = mutate(text, rnd)
            path = Path(tmp) / f"m{n}.nft"
            path.write_bytes(data)
            proc = _nft_check(lab.srv, path)
            if "Interface does not exist" in proc.stderr or "No such file" in proc.stderr:
                continue  # valid rules naming a device this namespace lacks: not a syntax verdict
            v, findings = _lint(data, path.name)
            if proc.returncode != 0:
                refused += 1
                if not any(f.rule_id == "FW006" for f in findings):
                    problems.append(f"{src.name}: {what}: nft refuses ({proc.stderr.strip()[:160]}) "
                                    "but imap-gate reports no FW006")
                continue
            accepted += 1
            if compared >= KERNEL:
                continue
            if v.parsed is None or any(rs.notes for rs in v.parsed.rulesets.values()):
                continue  # a fragment (no hooked chain) filters nothing once loaded on its own
            if not load(lab, path, v, run_scripts=False):
                continue
            compared += 1
            seen = lab.probe()
            bad = compare(v, seen)
            if bad:
                bad = compare(v, lab.probe(timeout=3.0))
            if bad:
                problems.append(f"{src.name}: {what}: {bad}")
    lab.reset()
    print(f"mutants: {refused} refused by nft, {accepted} loaded, {compared} compared with the kernel")
    assert refused >= 20 and compared >= 10
    assert problems == [], "\n".join(problems)
