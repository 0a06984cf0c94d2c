"""The fast schema check agrees with jsonschema on every manifest it answers for.

``imap_gate.schemacheck`` lets a valid manifest skip the jsonschema import; if it ever said
"valid" where jsonschema says "invalid", a broken manifest would reach the checks. Each
generated value below mixes values that are right and values that are nearly right (1.0 for a
port, "143" as a string, a date like 2027-02-30), so both answers occur on every path.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imap_gate.manifest import SCHEMA_PATH, load_manifest
from imap_gate.schemacheck import conforms
from tests.conftest import REPO
from tests.gate.test_manifest_fuzz import KEYS, values
from tests.support import fuzz

SCHEMA = json.loads(SCHEMA_PATH.read_text())
VALIDATOR = jsonschema.Draft202012Validator(
    SCHEMA, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)

ODD = st.sampled_from([None, True, False, 0, -1, 1.5, float("nan"), float("inf"), "", "x", [], {}])


def near(*good: Any) -> st.SearchStrategy[Any]:
    """Mostly one of ``good``, sometimes something odd."""
    return st.one_of(st.sampled_from(good), st.sampled_from(good), ODD)


PORT = near(1, 143, 993, 65535, 0, 65536, 143.0, 993.5, "143", True)
PATH = near("deploy/dovecot.conf", "a", "x" * 4096, "x" * 4097, "")
DATE = near("2027-03-31", "2027-02-30", "2027-3-31", "2027-03-31T00:00:00", "２０２７-03-31")
NAME = near("mail", "mx-1.example_a", "bad name", "x" * 100, "x" * 101, "é")
HOST = near("127.0.0.1", "mail.example.com", "::1", "http://x", "a b", "x" * 253, "x" * 254)
TIMEOUT = near(5, 0.5, 300, 300.0, 300.01, 0, -1, 1e-9)


def opt(d: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=d)


port_entry = st.one_of(PORT, opt({"port": PORT, "protocol": near("imap", "imaps", "IMAP"),
                                  "extra": st.just(1)}))
firewall_entry = st.one_of(PATH, opt({"path": PATH, "format": near("nftables", "ufw-rules", "nft"),
                                      "x": st.just(1)}))
target = opt({
    "name": NAME, "host": HOST,
    "ports": st.one_of(st.lists(port_entry, max_size=3), st.lists(port_entry, min_size=64,
                                                                  max_size=65)),
    "sni": near("mail.example.com", ""), "ca_file": PATH, "source_address": near("127.0.0.2", None),
    "timeout": TIMEOUT,
    "expect": st.dictionaries(st.sampled_from(["143", "993", "123456", "x", ""]),
                              near("closed", "open", "starttls-required", "shut"), max_size=2),
    "dovecot": st.lists(PATH, max_size=2), "firewall": st.lists(firewall_entry, max_size=2),
    "hosts": st.just("typo"),
})
waiver = opt({"rule": near("IMAP004", ""), "reason": near("legacy client", "no"),
              "expires": DATE, "target": near("mail", ""), "path": PATH, "port": PORT,
              "owner": near("ops", 3), "note": st.just("x")})
manifest = opt({
    "version": near(1, 1.0, 2, "1"),
    "name": NAME,
    "defaults": opt({"timeout": TIMEOUT, "concurrency": near(1, 32, 1024, 1025, 2.0),
                     "source_address": near("127.0.0.2", None), "cert_expiry_days": near(0, 14, 3651),
                     "retries": st.just(1)}),
    "targets": st.lists(target, max_size=3),
    "configs": opt({"dovecot": st.lists(PATH, max_size=2),
                    "firewall": st.lists(firewall_entry, max_size=2)}),
    "policy": opt({"fail_on": near("medium", "never", "Medium"),
                   "waivers": st.lists(waiver, max_size=2)}),
})


def jsonschema_says_valid(doc: Any) -> bool:
    return VALIDATOR.is_valid(doc)


@settings(max_examples=fuzz.examples(400), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(manifest)
def test_agrees_with_jsonschema_on_near_valid_manifests(doc: dict[str, Any]) -> None:
    verdict = conforms(doc, SCHEMA)
    assert verdict is not None, "every key here is a string: the fast check must answer"
    assert verdict == jsonschema_says_valid(doc)


@settings(max_examples=fuzz.examples(300), deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(KEYS), values, max_size=6))
def test_never_says_valid_where_jsonschema_does_not(doc: dict[str, Any]) -> None:
    verdict = conforms(doc, SCHEMA)
    if verdict is not None:
        assert verdict == jsonschema_says_valid(doc)


@pytest.mark.parametrize("doc, expected", [
    ({"version": 1}, True),
    ({"version": True}, False),                              # True is not 1 in JSON
    ({"version": 1.0}, True),                                # but 1.0 is
    ({"version": 1, "targets": [{"name": "a", "host": "h", "ports": [143.0]}]}, True),
    ({"version": 1, "targets": [{"name": "a", "host": "h", "ports": [True]}]}, False),
    ({"version": 1, "targets": [{"name": "a", "host": "h", "ports": [{"port": 1}, 2]}]}, True),
    ({"version": 1, "policy": {"waivers": [{"rule": "R", "reason": "why", "expires": "2027-02-30"}]}},
     False),
    ({"version": 1, "targets": [{"name": "a", "host": "h", "expect": {"143": "closed"}}]}, True),
    ({"version": 1, "targets": [{"name": "a", "host": "h", "expect": {"1431431": "closed"}}]}, False),
    ({"version": 1, "defaults": {"timeout": 0}}, False),     # exclusiveMinimum
])
def test_known_answers(doc: dict[str, Any], expected: bool) -> None:
    assert jsonschema_says_valid(doc) is expected          # the oracle agrees with the table
    assert conforms(doc, SCHEMA) is expected


@pytest.mark.parametrize("schema, doc", [
    ({"uniqueItems": True}, [1, 1]),                         # a keyword it does not know
    ({"format": "ipv4"}, "1.2.3.4"),                         # a format it does not know
    ({"$ref": "https://example.invalid/s.json"}, 1),         # a remote reference
    ({"type": "object"}, {1: "x"}),                          # a key that is not a string
])
def test_unknown_schema_or_instance_defers_to_jsonschema(schema: dict[str, Any], doc: Any) -> None:
    assert conforms(doc, schema) is None


def test_every_bundled_manifest_takes_the_fast_path() -> None:
    found = [p for p in sorted(REPO.glob("examples/*/imap-gate.yml")) if p.parent.name != "workflows"]
    assert len(found) >= 2
    for path in found:
        assert conforms(yaml.safe_load(path.read_text()), SCHEMA) is True, path


def test_a_valid_manifest_never_imports_jsonschema(tmp_path: Path) -> None:
    """The point of the fast path: start-up without the import. A wrong manifest still gets
    jsonschema's full explanation (tests/gate/test_manifest_errors.py)."""
    (tmp_path / "imap-gate.yml").write_text(
        "version: 1\ntargets:\n  - {name: a, host: 127.0.0.1, ports: [143]}\n")
    code = ("import sys; from pathlib import Path; from imap_gate.manifest import load_manifest; "
            f"load_manifest(Path({str(tmp_path)!r}), Path({str(tmp_path / 'imap-gate.yml')!r})); "
            "print('jsonschema' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"
    assert load_manifest(tmp_path, tmp_path / "imap-gate.yml").targets[0].name == "a"
