"""The TLS/CERT rules are a public contract: ids, names and default severities as in issue 4."""

from __future__ import annotations

import datetime as dt
import socket

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from checks.net import Deadline
from checks.tls.api import TlsTarget, assess
from checks.tls.rules import RULES
from imap_gate import catalogue
from imap_gate.severity import Severity
from tests.support import fuzz

CONTRACT = {
    "TLS001": ("legacy-ssl", Severity.HIGH),
    "TLS002": ("deprecated-tls", Severity.MEDIUM),
    "TLS003": ("no-modern-tls", Severity.HIGH),
    "TLS004": ("weak-cipher", Severity.HIGH),
    "TLS005": ("no-forward-secrecy", Severity.MEDIUM),
    "CERT001": ("cert-expired", Severity.CRITICAL),
    "CERT002": ("cert-not-yet-valid", Severity.HIGH),
    "CERT003": ("cert-untrusted", Severity.HIGH),
    "CERT004": ("cert-name-mismatch", Severity.HIGH),
    "CERT005": ("cert-weak-key", Severity.MEDIUM),
    "CERT006": ("cert-weak-signature", Severity.MEDIUM),
    "CERT007": ("cert-expiring", Severity.LOW),
}


def test_rules_match_the_contract_and_reach_the_catalogue() -> None:
    assert {r.id: (r.name, r.severity) for r in RULES} == CONTRACT
    cat = catalogue.catalogue()
    for rule in RULES:
        assert cat[rule.id] is rule
        assert rule.kind == "probe"
        assert rule.short.endswith(".") and rule.short.count(". ") == 0
        assert rule.remediation and rule.full
        assert rule.references and all(r.startswith("https://") for r in rule.references)


def test_remediation_names_the_dovecot_settings() -> None:
    text = {r.id: r.remediation for r in RULES}
    assert "ssl_min_protocol = TLSv1.2" in text["TLS001"]
    assert "ssl_min_protocol = TLSv1.2" in text["TLS002"]
    assert "ssl_cipher_list" in text["TLS004"] and "ssl_prefer_server_ciphers" in text["TLS004"]


@settings(max_examples=fuzz.examples(60), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=300), min_size=1, max_size=4))
def test_assess_never_raises_whatever_the_server_says(replies: list[bytes]) -> None:
    """End to end through the engine: each connection gets the next canned reply."""
    peers: list[socket.socket] = []

    def opener(deadline: Deadline) -> socket.socket:
        ours, theirs = socket.socketpair()
        theirs.sendall(replies[len(peers) % len(replies)])
        theirs.shutdown(socket.SHUT_WR)
        peers.append(theirs)
        return ours

    target = TlsTarget("127.0.0.1", 993, "imap.example.org", False, 0.5, Deadline.after(5),
                       dt.datetime.now(dt.UTC))
    try:
        result = assess(target, opener)
    finally:
        for p in peers:
            p.close()
    assert result.handshakes == len(peers) <= 15
    assert result.handshakes == result.facts["handshakes"]
    if result.incomplete is None:
        assert result.facts["versions"]
