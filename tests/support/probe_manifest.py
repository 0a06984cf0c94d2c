"""Manifests for probe tests: one target, the given endpoints, probing from 127.0.0.2
(so a Dovecot on 127.0.0.1 does not treat the probe as its own, secured, address)."""

from __future__ import annotations

from pathlib import Path

from tests.support.dovecot import CLIENT_ADDR, SERVER_ADDR


def write(root: Path, endpoints: list[tuple[int, str]], *, expect: dict[int, str] | None = None,
          timeout: float = 2.0, name: str = "mail", host: str = SERVER_ADDR,
          source: str | None = CLIENT_ADDR, extra_targets: str = "",
          ca: list[Path | str | None] | None = None, per_host: int | None = None) -> Path:
    """``endpoints``: (port, protocol) pairs. Returns the root to pass as ``--root``.

    ``ca``: more CA files the target trusts (always: the fake servers' and the
    Dovecot harness's default CA); the
    probe tests are about IMAP, so certificates are made trustworthy here and
    judged in the TLS tests."""
    from tests.support import dovecot, fakeserver

    root.mkdir(parents=True, exist_ok=True)
    anchors = [fakeserver.ca_file(), dovecot.default_ca_file(), *(c for c in (ca or []) if c)]
    (root / "ca.pem").write_bytes(b"".join(Path(a).read_bytes() for a in anchors))
    ports = ", ".join(f"{{port: {p}, protocol: {proto}}}" for p, proto in endpoints)
    lines = ["version: 1", "defaults:", f"  timeout: {timeout}"]
    if per_host is not None:
        lines.append(f"  per_host: {per_host}")
    if source:
        lines.append(f"  source_address: {source}")
    lines += ["targets:", f"  - name: {name}", f"    host: {host}", f"    ports: [{ports}]",
              "    ca_file: ca.pem"]
    if expect:
        lines.append("    expect:")
        lines += [f'      "{p}": {e}' for p, e in expect.items()]
    (root / "imap-gate.yml").write_text("\n".join(lines) + "\n" + extra_targets)
    return root


def rules_of(json_doc: dict | None) -> set[tuple[str, int | None]]:
    """(rule id, port) of every finding in a JSON report."""
    assert json_doc is not None
    return {(f["rule_id"], f["port"]) for f in json_doc["findings"]}


def severity_of(json_doc: dict, rule_id: str) -> list[str]:
    return [f["severity"] for f in json_doc["findings"] if f["rule_id"] == rule_id]
