"""Waivers expire, match on identity not lines, and can be switched off; baselines,
shards and merges are stable."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from imap_gate import baseline, merge, shard, waivers
from imap_gate.findings import Finding, Location, sort_findings
from imap_gate.manifest import load_manifest
from imap_gate.policy import decide
from imap_gate.reports import json_report, sarif
from imap_gate.severity import Severity
from tests.support.sarif_check import assert_valid_sarif

TODAY = dt.date(2026, 11, 28)


def manifest_with(tmp_path: Path, waiver_yaml: str, targets: str = "mail") -> object:
    body = "version: 1\ntargets:\n" + "".join(
        f"  - name: {t}\n    host: 127.0.0.1\n" for t in targets.split(",")) + \
        "policy:\n  waivers:\n" + waiver_yaml
    (tmp_path / "imap-gate.yml").write_text(body)
    return load_manifest(tmp_path, tmp_path / "imap-gate.yml")


def live(rule: str = "POL002", target: str = "mail", port: int = 143, line: int = 4) -> Finding:
    return Finding(rule, "Something about the endpoint.", Location("imap-gate.yml", line),
                   target=target, host="127.0.0.1", port=port)


def lint(path: str = "deploy/dovecot/conf.d/10-ssl.conf", line: int = 3) -> Finding:
    return Finding("POL002", "Something in a file.", Location(path, line), key=f"file={path};setting=ssl",
                   severity=Severity.HIGH)


def waiver(expires: str, extra: str = "      target: mail\n") -> str:
    return (f"    - rule: waiver-unused\n      reason: legacy scanners need it\n"
            f"      expires: {expires}\n{extra}")


def test_waiver_applies_until_its_date_inclusive(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2026-11-28"))
    out = waivers.apply([live()], m, TODAY)  # type: ignore[arg-type]
    assert [f.waived for f in out] == [True]
    assert "legacy scanners need it" in (out[0].waiver_reason or "")
    assert decide(out, Severity.NOTE).gate == "pass"


def test_expired_waiver_stops_applying_and_is_reported(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2026-11-27"))
    out = waivers.apply([live()], m, TODAY)  # type: ignore[arg-type]
    assert [f.waived for f in out] == [False, False]
    pol = [f for f in out if f.rule_id == "POL001"]
    assert len(pol) == 1
    assert pol[0].location == Location("imap-gate.yml", 7)
    assert "expired on 2026-11-27" in pol[0].message


def test_unused_waiver_is_reported(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2027-03-31", "      target: other\n"), targets="mail,other")
    out = waivers.apply([live(target="mail")], m, TODAY)  # type: ignore[arg-type]
    assert [f.rule_id for f in out if f.rule_id == "POL002" and f.target is None] == ["POL002"]
    assert not out[0].waived


def test_waiver_matches_on_identity_not_line(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2027-03-31", "      target: mail\n      port: 143\n"))
    out = waivers.apply([live(line=4), live(line=400), live(port=993)], m, TODAY)  # type: ignore[arg-type]
    assert [f.waived for f in out[:3]] == [True, True, False]


def test_waiver_path_glob(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2027-03-31", "      path: deploy/dovecot/**\n"))
    out = waivers.apply([lint(), lint("deploy/firewall/rules.v4"), lint("deploy/dovecot/x.conf")],
                        m, TODAY)  # type: ignore[arg-type]
    assert [f.waived for f in out] == [True, False, True]
    assert waivers.path_matches("deploy/*.conf", "deploy/a.conf")
    assert not waivers.path_matches("deploy/*.conf", "deploy/sub/a.conf")
    assert waivers.path_matches("**/*.conf", "a.conf")


def test_no_waivers_ignores_waivers_and_inline_suppressions(tmp_path: Path) -> None:
    m = manifest_with(tmp_path, waiver("2027-03-31"))
    inline = lint().with_waiver("inline: known")
    out = waivers.apply([live(), inline], m, TODAY, enabled=False)  # type: ignore[arg-type]
    assert [f.waived for f in out] == [False, False]
    assert [f.rule_id for f in out] == ["POL002", "POL002"]


def test_baseline_round_trip_through_sarif_and_json(tmp_path: Path) -> None:
    before = sort_findings([lint(line=3), live(line=4)])
    v = decide(before, Severity.MEDIUM)
    (tmp_path / "b.sarif").write_text(sarif.dumps(sarif.build(before, "imap-gate/x/")))
    (tmp_path / "b.json").write_text(json_report.dumps(json_report.build(before, v, {}, {})))
    moved = [lint(line=30), live(line=40), lint("deploy/new.conf")]
    for name in ("b.sarif", "b.json"):
        fps = baseline.read_fingerprints(tmp_path / name)
        out = baseline.apply(moved, fps)
        assert [f.baselined for f in out] == [True, True, False]
        assert decide(out, Severity.MEDIUM).counting == (out[2],)


def test_baseline_that_is_not_a_report(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"hello": 1}')
    try:
        baseline.read_fingerprints(tmp_path / "x.json")
    except Exception as exc:
        assert "not a JSON or SARIF report written by imap-gate" in str(exc)
    else:
        raise AssertionError("accepted a non-report")


def test_shards_are_stable_under_additions_and_reordering() -> None:
    names = [f"mx{i}" for i in range(200)]
    before = {n: shard.shard_of(n, 4) for n in names}
    after = {n: shard.shard_of(n, 4) for n in [*reversed(names), "new-one"]}
    assert all(before[n] == after[n] for n in names)
    counts = [sum(1 for s in before.values() if s == k) for k in range(1, 5)]
    assert min(counts) > 25  # roughly balanced
    assert shard.parse("2/4") == (2, 4)
    for bad in ("0/4", "5/4", "x", "1/0"):
        try:
            shard.parse(bad)
        except Exception as exc:
            assert "--shard" in str(exc)
        else:
            raise AssertionError(bad)


def test_merge_dedups_and_is_order_independent(tmp_path: Path) -> None:
    a = sort_findings([lint(), live(target="a")])
    b = sort_findings([lint(), live(target="b")])
    pa, pb = tmp_path / "a.sarif", tmp_path / "b.sarif"
    pa.write_text(sarif.dumps(sarif.build(a, "imap-gate/fleet/shard-1-of-2/", {"executionSuccessful": True})))
    pb.write_text(sarif.dumps(sarif.build(b, "imap-gate/fleet/shard-2-of-2/", {"executionSuccessful": True})))
    one = merge.merge([pa, pb])
    two = merge.merge([pb, pa])
    assert sarif.dumps(one) == sarif.dumps(two)
    assert_valid_sarif(one)
    run = one["runs"][0]
    assert len(run["results"]) == 3
    assert run["automationDetails"]["id"] == "imap-gate/fleet/"
    targets = sorted(r["properties"].get("target", "") for r in run["results"])
    assert targets == ["", "a", "b"]


def test_merge_cli(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    pa = tmp_path / "a.sarif"
    pa.write_text(sarif.dumps(sarif.build([lint()], "imap-gate/x/")))
    out = tmp_path / "all.sarif"
    r = run_cli("merge", str(pa), str(pa), "-o", str(out))
    assert r.code == 0, r.stderr
    doc = json.loads(out.read_text())
    assert_valid_sarif(doc)
    assert len(doc["runs"][0]["results"]) == 1
    (tmp_path / "junk.sarif").write_text("{")
    r = run_cli("merge", str(tmp_path / "junk.sarif"), "-o", str(out))
    assert r.code == 2 and "not a SARIF file" in r.stderr


def test_shard_flag_selects_targets_and_sets_category(tmp_path: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    names = [f"t{i}" for i in range(12)]
    (tmp_path / "imap-gate.yml").write_text("version: 1\nname: fleet\ntargets:\n" + "".join(
        f"  - name: {n}\n    host: 127.0.0.1\n    ports: [{{port: 9, protocol: imap}}]\n"
        f"    expect: {{\"9\": closed}}\n" for n in names))
    seen = []
    for k in (1, 2, 3):
        r = run_cli("--root", str(tmp_path), "--shard", f"{k}/3", "--only", "lint")
        assert r.code == 0, r.stderr
        assert r.sarif["runs"][0]["automationDetails"]["id"] == f"imap-gate/fleet/shard-{k}-of-3/"
        seen.append(k)
    r = run_cli("--root", str(tmp_path), "--shard", "4/3")
    assert r.code == 2 and "--shard '4/3'" in r.stderr


def test_action_input_allow_waivers_false_is_a_hard_gate() -> None:
    from imap_gate.cli import build_parser
    from imap_gate.github.action import inputs_to_argv

    env = {"GITHUB_WORKSPACE": "/tmp", "INPUT_ALLOW-WAIVERS": "false"}
    assert "--no-waivers" in inputs_to_argv(env, build_parser())
    env["INPUT_ALLOW-WAIVERS"] = "true"
    assert "--no-waivers" not in inputs_to_argv(env, build_parser())


def test_action_inputs_for_shard_and_baseline() -> None:
    from imap_gate.cli import build_parser
    from imap_gate.github.action import inputs_to_argv

    env = {"GITHUB_WORKSPACE": "/ws", "INPUT_SHARD": "2/4", "INPUT_BASELINE": "old.sarif"}
    argv = inputs_to_argv(env, build_parser())
    assert argv[argv.index("--shard") + 1] == "2/4"
    assert argv[argv.index("--baseline") + 1] == "/ws/old.sarif"
