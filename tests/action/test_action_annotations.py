"""Workflow commands: escaping that round-trips, and GitHub's 10-per-level budget."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from imap_gate.findings import Finding, Location
from imap_gate.github import annotate as ann
from imap_gate.severity import Severity
from tests.support import fuzz

# The two rules that exist in every build; severities are set per finding.
RULE = "POL001"


def unescape_data(text: str) -> str:
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def unescape_property(text: str) -> str:
    return unescape_data(text.replace("%3A", ":").replace("%2C", ","))


def parse_command(line: str) -> tuple[str, dict[str, str], str]:
    """Split ``::name k=v,k=v::message`` the way the runner does."""
    m = re.fullmatch(r"::([a-z-]+)(?: ([^:]*))?::(.*)", line, re.S)
    assert m, line
    props: dict[str, str] = {}
    if m.group(2):
        for part in m.group(2).split(","):
            key, _, value = part.partition("=")
            props[key] = unescape_property(value)
    return m.group(1), props, unescape_data(m.group(3))


def finding(sev: Severity, n: int = 0, path: str = "deploy/dovecot.conf", msg: str = "m") -> Finding:
    return Finding(RULE, f"{msg} {n}", Location(path, n + 1), severity=sev, key=f"k{n}")


def test_escaping_matches_the_toolkit() -> None:
    assert ann.escape_data("100% a\r\nb") == "100%25 a%0D%0Ab"
    assert ann.escape_property("a:b,c%\n") == "a%3Ab%2Cc%25%0A"
    line = ann.command("error", "x: y, z", file="a,b:c.conf", line=3, title="T1 name")
    assert line == "::error file=a%2Cb%3Ac.conf,line=3,title=T1 name::x: y, z"


@settings(max_examples=fuzz.examples(60), deadline=None)
@given(msg=st.text(max_size=40), path=st.text(alphabet="ab:,%\r\n/.-x", min_size=1, max_size=20),
       title=st.text(alphabet="AB:,%\n 01", max_size=20))
def test_command_round_trips(msg: str, path: str, title: str) -> None:
    line = ann.command("warning", msg, file=path, line=7, title=title)
    assert "\n" not in line and "\r" not in line
    name, props, message = parse_command(line)
    assert name == "warning"
    assert message == msg
    assert props["file"] == path and props["line"] == "7" and props["title"] == title


def test_finding_annotation_has_file_line_title_and_level() -> None:
    f = Finding(RULE, "50% of logins: plain, over\nthe wire", Location("deploy/a,b.conf", 12, 3),
                severity=Severity.HIGH, target="mx", host="127.0.0.1", port=143)
    a = ann.for_finding(f, lambda p: "sub/" + p)
    name, props, message = parse_command(a.render())
    assert name == "error"
    assert props == {"file": "sub/deploy/a,b.conf", "line": "12", "col": "3",
                     "title": f"{RULE} {f.rule.name}"}
    assert message.startswith("HIGH: 50% of logins: plain, over\nthe wire [mx 127.0.0.1:143]\nFix: ")
    assert message.endswith(f.rule.remediation.split("\n")[0].replace("`", ""))
    assert ann.level(Severity.CRITICAL) == "error"
    assert ann.level(Severity.MEDIUM) == "warning"
    assert ann.level(Severity.LOW) == ann.level(Severity.NOTE) == "notice"


def test_budget_most_severe_first_then_one_overflow_notice() -> None:
    fs = ([finding(Severity.LOW, i) for i in range(15)]
          + [finding(Severity.CRITICAL, 100 + i) for i in range(4)]
          + [finding(Severity.HIGH, 200 + i) for i in range(9)]
          + [finding(Severity.MEDIUM, 300 + i) for i in range(3)])
    plan = ann.plan(fs, str)
    levels = [a.level for a in plan]
    assert levels.count("error") == 10 and levels.count("warning") == 3
    assert levels.count("notice") == 10  # 9 findings + the overflow notice
    # most severe first: all criticals before any high, errors before warnings before notices
    sevs = [a.message.split(":")[0] for a in plan[:-1]]
    assert sevs == ["CRITICAL"] * 4 + ["HIGH"] * 6 + ["MEDIUM"] * 3 + ["LOW"] * 9
    # left out: 3 high + 6 low
    assert plan[-1].level == "notice" and plan[-1].message.startswith("9 more finding(s)")
    assert "job summary" in plan[-1].message


def test_budget_reserves_slots_and_skips_waived() -> None:
    fs = [finding(Severity.LOW, i) for i in range(12)]
    fs.append(finding(Severity.HIGH, 50).with_waiver("accepted until March"))
    plan = ann.plan(fs, str, reserved={"notice": 1})
    assert [a.level for a in plan] == ["notice"] * 9
    assert plan[-1].message.startswith("4 more finding(s)")
    assert all(a.level != "error" for a in plan)


def test_no_overflow_notice_when_everything_fits() -> None:
    plan = ann.plan([finding(Severity.MEDIUM, i) for i in range(10)], str)
    assert len(plan) == 10 and all(a.level == "warning" for a in plan)


def test_the_whole_fix_is_kept_not_its_first_line() -> None:
    """Issue 17: 'Fix: Never log passwords (same line in 2.3 and 2.4):' lost the setting after
    the colon; DOV003's list of versions lost all but its heading."""
    for rule, after in (("DOV007", "auth_verbose_passwords = no"),
                        ("DOV003", "- Dovecot 2.4: ssl_min_protocol = TLSv1.2"),
                        ("DOV004", "ssl_cipher_list = ALL:!kRSA")):
        f = Finding(rule, "m", Location("deploy/dovecot.conf", 3))
        line = ann.for_finding(f, lambda p: p).render()
        assert "\n" not in line
        _, _, msg = parse_command(line)
        fix = msg.split("\nFix: ", 1)[1]
        assert after in fix, fix
        assert "`" not in fix and "\n\n" not in fix
        assert fix.splitlines()[0].endswith(":") and len(fix.splitlines()) >= 2


def test_every_rule_s_fix_fits_whole() -> None:
    from imap_gate import catalogue

    for rule in catalogue.catalogue().values():
        fix = ann.fix_text(rule.remediation)
        assert not fix.endswith("…"), rule.id
        assert len(fix) <= ann.FIX_CAP


def test_a_very_long_fix_is_cut_at_a_line_boundary() -> None:
    fix = ann.fix_text("\n".join(f"line {i} " + "x" * 90 for i in range(40)))
    assert len(fix) <= ann.FIX_CAP + 2 and fix.endswith("\n…")
