"""The pure judge: facts in, issues out, no sockets."""

from __future__ import annotations

from dataclasses import replace

import pytest

from checks.imap import judge
from checks.imap.facts import EndpointFacts
from imap_gate.severity import Severity

SECURE_CAPS = ["IMAP4REV1", "ID", "STARTTLS", "LOGINDISABLED"]


def _facts(**kw: object) -> EndpointFacts:
    base = EndpointFacts("mail", "192.0.2.10", 143, "imap", None, connect="open",
                         local_address="198.51.100.7", remote_address="192.0.2.10",
                         greeting="* OK ready", greeting_text="ready", greeting_status="OK",
                         caps_before_tls=SECURE_CAPS, caps_tls=["IMAP4REV1", "AUTH=PLAIN"],
                         auth_plain="refused", starttls="ok", injection="rejected")
    return replace(base, **kw)


def _ids(issues: list[judge.Issue]) -> list[str]:
    return sorted(i.rule_id for i in issues)


def test_secure_cleartext_port() -> None:
    assert _ids(judge.judge_endpoint(_facts())) == ["IMAP006"]
    assert _ids(judge.judge_endpoint(_facts(expect="starttls-required"))) == []


def test_no_logindisabled_is_cleartext_auth_even_if_auth_plain_refused() -> None:
    f = _facts(caps_before_tls=["IMAP4REV1", "STARTTLS"])
    assert _ids(judge.judge_endpoint(f)) == ["IMAP004"]


def test_continuation_is_cleartext_auth_even_with_logindisabled() -> None:
    f = _facts(auth_plain="continuation", auth_plain_evidence="+ \\r\\n")
    [issue] = judge.judge_endpoint(f)
    assert issue.rule_id == "IMAP004" and "+" in issue.evidence


def test_starttls_missing_and_expectation() -> None:
    f = _facts(caps_before_tls=["IMAP4REV1"], starttls="not-offered", expect="starttls-required")
    assert _ids(judge.judge_endpoint(f)) == ["IMAP002", "IMAP004", "IMAP011"]


def test_starttls_listed_inside_tls_is_low_imap003() -> None:
    [i] = [x for x in judge.judge_endpoint(_facts(caps_tls=["IMAP4REV1", "STARTTLS"]))
           if x.rule_id == "IMAP003"]
    assert i.severity == Severity.LOW and i.detail == "starttls-in-tls"


@pytest.mark.parametrize(("state", "expect", "rules"), [
    ("refused", None, []),
    ("refused", "closed", []),
    ("refused", "open", ["IMAP011"]),
    ("filtered", None, ["IMAP012"]),
    ("filtered", "closed", []),
    ("filtered", "starttls-required", ["IMAP011"]),
    ("unreachable", "closed", []),
    ("error", "closed", ["IMAP012"]),
])
def test_closed_states(state: str, expect: str | None, rules: list[str]) -> None:
    f = EndpointFacts("mail", "192.0.2.10", 993, "imaps", expect, connect=state)
    assert _ids(judge.judge_endpoint(f)) == rules


def test_secured_source() -> None:
    same = _facts(local_address="192.0.2.10")
    [i] = [x for x in judge.judge_endpoint(same) if x.rule_id == "IMAP013"]
    assert "equals" in i.message
    loop = _facts(local_address="127.0.0.2", remote_address="127.0.0.1")
    assert "IMAP013" in _ids(judge.judge_endpoint(loop))
    assert "IMAP013" not in _ids(judge.judge_endpoint(_facts()))


@pytest.mark.parametrize(("text", "id_reply", "flagged"), [
    ("Dovecot (Debian) ready.", {"name": "Dovecot"}, False),
    ("Dovecot (Ubuntu) ready.", None, False),
    ("Dovecot 2.3.19 ready", None, True),
    ("Cyrus IMAP 3.0.9-Debian-3.0.9-1 server ready", None, True),
    ("Gimap ready for requests from 198.51.100.7 x1mb", None, False),  # our own address
    ("ready at 10.1.2.3", None, True),
    ("ready", {"name": "Dovecot", "os": "Linux"}, True),
    ("ready", {"name": "Dovecot", "support-url": "https://example.org/"}, False),
    ("ready", {"name": "Zimbra 9.0.0"}, True),
    ("IMAP4rev1 Service Ready", None, False),
])
def test_version_disclosure(text: str, id_reply: dict | None, flagged: bool) -> None:
    f = _facts(greeting_text=text, id_reply=id_reply, expect="starttls-required")
    assert ("IMAP008" in _ids(judge.judge_endpoint(f))) is flagged


def test_weak_mechanisms_severity() -> None:
    f = _facts(caps_tls=["IMAP4REV1", "AUTH=PLAIN", "AUTH=DIGEST-MD5", "AUTH=KERBEROS_V4"],
               expect="starttls-required")
    got = {i.detail: i.severity for i in judge.judge_endpoint(f) if i.rule_id == "IMAP009"}
    assert got == {"mech=DIGEST-MD5": Severity.LOW, "mech=KERBEROS_V4": Severity.MEDIUM}


def test_problems_become_imap012_per_phase() -> None:
    f = _facts()
    f.problem("greeting", "timed out", "")
    f.problem("injection-tls-handshake", "timed out", "")
    details = sorted(i.detail for i in judge.judge_endpoint(f) if i.rule_id == "IMAP012")
    assert details == ["phase=greeting", "phase=injection-tls-handshake"]


def test_preauth_on_cleartext_only() -> None:
    assert _ids(judge.judge_endpoint(_facts(greeting_status="PREAUTH", caps_before_tls=["IMAP4REV1"],
                                            starttls="not-tried"))) == ["IMAP001"]
    assert _ids(judge.judge_endpoint(_facts(greeting_status="PREAUTH", starttls="not-tried",
                                            expect="starttls-required"))) == ["IMAP001", "IMAP011"]


def test_imap007_target_level() -> None:
    clear = _facts()
    ok993 = EndpointFacts("mail", "192.0.2.10", 993, "imaps", None, connect="open",
                          implicit_tls="ok", greeting_status="OK")
    refused = EndpointFacts("mail", "192.0.2.10", 993, "imaps", None, connect="refused")
    assert judge.judge_target([clear, ok993]) == []
    [i] = judge.judge_target([clear, refused])
    assert i.rule_id == "IMAP007" and i.port == 143 and "993: refused" in i.message
    assert judge.judge_target([clear]) != []                      # 993 not even listed
    assert judge.judge_target([clear, replace(refused, expect="closed")]) == []
    [silent] = judge.judge_target([refused])                      # nothing answers at all
    assert silent.rule_id == "IMAP016" and silent.port is None
    assert "expect: {993: closed}" in silent.message
    assert judge.judge_target([replace(refused, expect="closed")]) == []
    closed143 = EndpointFacts("mail", "192.0.2.10", 143, "imap", None, connect="refused")
    assert [i.rule_id for i in judge.judge_target([closed143, refused])] == ["IMAP016"]
