"""Command line: manifest -> checks -> findings -> policy -> reports -> exit code."""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from imap_gate import __version__, baseline, merge, shard, waivers
from imap_gate.context import Context
from imap_gate.errors import GateError, InputError, InputErrors
from imap_gate.findings import Finding, sort_findings
from imap_gate.manifest import Manifest, find_manifest, load_manifest
from imap_gate.policy import GateVerdict, decide
from imap_gate.reports import error_report, json_report, relocate, sarif, text
from imap_gate.severity import FAIL_ON_CHOICES, parse_fail_on
from imap_gate.term import Progress, colour_enabled

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2

EPILOG = """commands:
  scan (the default)    probe, lint, report and decide, as the options above say
  merge A.sarif B.sarif ... -o ALL.sarif [--category ID]
                        join the SARIF reports of --shard runs into one (imap-gate merge --help)

rules: imap-gate --list-rules [--format json] lists them; imap-gate --explain IMAP004 explains one.
exit codes: 0 the gate passed, 1 a finding at or above --fail-on, 2 bad input or a tool error."""


class _Once(argparse.Action):
    """An option that may be given once: a second --manifest would otherwise silently win."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        if getattr(namespace, self.dest, None) is not None:
            parser.error(f"{option_string} is given twice ({getattr(namespace, self.dest)!r} and "
                         f"{values!r}); one run reads one manifest: give it once")
        setattr(namespace, self.dest, values)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="imap-gate", epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Gate a deployment on IMAP security: probe ports 143/993, lint Dovecot "
                    "and firewall files, write SARIF, exit 1 when a finding reaches --fail-on.")
    p.add_argument("command", nargs="?", default="scan", choices=["scan"],
                   help="what to do (default: scan; 'merge' joins shard reports, see below)")
    p.add_argument("--manifest", action=_Once,
                   help="target manifest; '-' (or /dev/stdin) reads it from standard input "
                        "(default: imap-gate.yml, then .github/imap-gate.yml under --root)")
    p.add_argument("--root", help="repository root; every path is relative to it "
                                  "(default: $GITHUB_WORKSPACE, else the current directory)")
    p.add_argument("--sarif", metavar="PATH", help="write a SARIF 2.1.0 report here")
    p.add_argument("--json", metavar="PATH", help="write the findings as JSON here")
    p.add_argument("--report-base", metavar="DIR",
                   help="write every path in the reports relative to DIR, a parent of --root "
                        "such as the repository root (the Action sets it to the workspace)")
    p.add_argument("--fail-on", choices=FAIL_ON_CHOICES,
                   help="lowest severity that fails the gate (default: the manifest's "
                        "policy.fail_on, else medium)")
    p.add_argument("--only", choices=["probe", "lint"], help="run only the live probes or "
                                                              "only the file linters")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text",
                   help="report format on stdout (json: the --json report)")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="print only the verdict line, and no progress")
    p.add_argument("--list-rules", action="store_true",
                   help="list the rules (id, name, severity, family) and exit")
    p.add_argument("--explain", metavar="RULE",
                   help="print a rule's documentation (id or name) and exit")
    p.add_argument("--category", help="SARIF automationDetails.id "
                                      "(default: imap-gate/<manifest name>/)")
    p.add_argument("--no-waivers", action="store_true",
                   help="ignore every waiver and inline suppression (a hard gate)")
    p.add_argument("--baseline", metavar="FILE",
                   help="a SARIF or JSON report of an earlier run: only new findings count")
    p.add_argument("--write-baseline", metavar="FILE",
                   help="write this run's findings as a baseline (JSON)")
    p.add_argument("--shard", metavar="K/N",
                   help="probe only the K-th of N deterministic slices of the targets")
    p.add_argument("--rehearse", action="store_true",
                   help="start each Dovecot entry file in a loopback sandbox and probe it live")
    p.add_argument("--version", action="version", version=f"imap-gate {__version__}")
    return p


STAGES = {"dovecot": "linting Dovecot files", "firewall": "linting firewall files",
          "imap": "probing endpoints", "drift": "comparing files with the live servers"}


@dataclass
class RunResult:
    manifest: Manifest
    findings: list[Finding]
    verdict: GateVerdict
    facts: dict[str, dict[str, Any]]
    errors: list[str] = field(default_factory=list)
    started: dt.datetime | None = None
    ended: dt.datetime | None = None

    @property
    def exit_code(self) -> int:
        return EXIT_ERROR if self.errors else self.verdict.exit_code


def _now() -> dt.datetime:
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if epoch and epoch.isdigit():
        return dt.datetime.fromtimestamp(int(epoch), dt.UTC)
    return dt.datetime.now(dt.UTC)


def run_checks(root: Path, manifest: Manifest, only: str | None, fail_on: str | None,
               now: dt.datetime | None = None, waivers_enabled: bool = True,
               baseline_fps: set[str] | None = None, progress: Progress | None = None
               ) -> RunResult:
    from imap_gate import layout

    all_checks = layout.checks().all_checks

    started = _now()
    ctx = Context(root=root, manifest=manifest, now=now or started, progress=progress)
    findings: list[Finding] = []
    errors: list[str] = []
    for check in all_checks(only):  # already only the families this run needs
        if progress is not None:
            progress.stage(STAGES.get(check.name, check.name))
        try:
            findings.extend(check.run(ctx))
        except GateError as exc:
            errors.append(str(exc))
        except Exception as exc:  # a bug of ours: say so in one line, keep the rest
            if os.environ.get("IMAP_GATE_DEBUG"):
                traceback.print_exc()
            errors.append(f"internal error in the {check.name} check: "
                          f"{type(exc).__name__}: {exc}")
    if progress is not None:
        progress.finish()
    findings = waivers.apply(findings, manifest, ctx.now.date(), enabled=waivers_enabled)
    if baseline_fps:
        findings = baseline.apply(findings, baseline_fps)
    findings = sort_findings(findings)
    threshold_text = fail_on or manifest.fail_on or "medium"
    verdict = decide(findings, parse_fail_on(threshold_text))
    return RunResult(manifest, findings, verdict, ctx.facts, errors, started, _now())


def _invocation(result: RunResult, argv: list[str]) -> dict[str, Any]:
    inv: dict[str, Any] = {"executionSuccessful": not result.errors,
                           "exitCode": result.exit_code,
                           "commandLine": "imap-gate " + " ".join(argv)}
    if result.started and result.ended:
        inv["startTimeUtc"] = result.started.strftime("%Y-%m-%dT%H:%M:%SZ")
        inv["endTimeUtc"] = result.ended.strftime("%Y-%m-%dT%H:%M:%SZ")
    if result.errors:
        inv["toolExecutionNotifications"] = [
            {"level": "error", "message": {"text": e}} for e in result.errors]
    return inv


def category_for(args: argparse.Namespace, manifest: Manifest) -> str:
    if args.category:
        return args.category if args.category.endswith("/") else args.category + "/"
    base = f"imap-gate/{manifest.name}/"
    if args.shard:
        k, n = shard.parse(args.shard)
        base += f"shard-{k}-of-{n}/"
    return base


def write_reports(result: RunResult, args: argparse.Namespace, argv: list[str]) -> None:
    inv = _invocation(result, argv)
    category = category_for(args, result.manifest)
    if args.sarif:
        # GitHub ignores SARIF suppressions for third-party tools: waived findings
        # are left out of the SARIF and shown in the text, JSON and summary instead.
        counted = [f for f in result.findings if not f.waived]
        _write(Path(args.sarif), sarif.dumps(sarif.build(counted, category, inv)))
    if args.json or args.write_baseline:
        doc = json_report.dumps(json_report.build(result.findings, result.verdict, result.facts, inv))
        for target in (args.json, args.write_baseline):
            if target:
                _write(Path(target), doc)


def _write(path: Path, content: str) -> None:
    try:
        if path.parent and not path.parent.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write the report: {exc.strerror}", str(path)) from None


def resolve_root(arg: str | None) -> Path:
    root = Path(arg or os.environ.get("GITHUB_WORKSPACE") or ".")
    if not root.is_dir():
        raise InputError(f"--root {str(root)!r} is not a directory")
    return root.resolve()


def merge_main(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="imap-gate merge",
                                description="Merge shard SARIF reports into one run, "
                                            "deduplicated by fingerprint.")
    p.add_argument("reports", nargs="+", help="SARIF files written by imap-gate")
    p.add_argument("-o", "--output", required=True, help="where to write the merged SARIF")
    p.add_argument("--category", help="SARIF automationDetails.id of the merged run; needed to "
                                      "merge reports of different manifests into one")
    args = p.parse_args(argv)
    try:
        doc = merge.merge([Path(r) for r in args.reports], args.category)
        _write(Path(args.output), sarif.dumps(doc))
    except GateError as exc:
        print(f"imap-gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    print(f"imap-gate: merged {len(args.reports)} reports into {args.output}: "
          f"{len(doc['runs'][0]['results'])} results")
    return EXIT_PASS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["merge"]:
        return merge_main(argv[1:])
    # ---- GitHub Action (issue 7): the one place the CLI knows about Actions. ----------------
    # Inside Actions the inputs (INPUT_*) become flags (flags given here win), and annotations,
    # job summary, outputs and the SARIF upload are written before the same exit code returns.
    from imap_gate import github

    if github.active():
        from imap_gate.github import action

        return action.run(_scan, build_parser(), argv)
    # -----------------------------------------------------------------------------------------
    return _scan(argv)


def _error_exit(args: argparse.Namespace, argv: list[str], errors: list[str]) -> int:
    error_report.fail(args, argv, errors)  # stderr, stdout and reports that carry the error
    return EXIT_ERROR


def _scan(argv: list[str],
          on_result: Callable[[RunResult, argparse.Namespace], None] | None = None) -> int:
    args = error_report.parse_args(build_parser(), argv)
    if args.list_rules or args.explain:
        return _rule_help(args)
    try:
        result = _run(args, argv, on_result)
    except InputErrors as exc:
        return _error_exit(args, argv, [e.render() for e in exc.errors])
    except GateError as exc:
        return _error_exit(args, argv, [str(exc)])
    except KeyboardInterrupt:
        return _error_exit(args, argv, ["interrupted"])
    except Exception as exc:  # never a traceback for the user; ask for one with IMAP_GATE_DEBUG
        if os.environ.get("IMAP_GATE_DEBUG"):
            traceback.print_exc()
        return _error_exit(args, argv, [f"internal error: {type(exc).__name__}: {exc} "
                                        "(set IMAP_GATE_DEBUG=1 for details)"])
    for e in result.errors:
        print(f"imap-gate: {e}", file=sys.stderr)
    _print_report(result, args, argv)
    return result.exit_code


def _run(args: argparse.Namespace, argv: list[str],
         on_result: Callable[[RunResult, argparse.Namespace], None] | None) -> RunResult:
    """Everything that may fail on bad input: the manifest, the shard, the baseline, the
    checks and the report files; ``_scan`` turns a failure into exit 2."""
    root = resolve_root(args.root)
    manifest = load_manifest(root, find_manifest(root, args.manifest))
    if args.rehearse:
        manifest = dataclasses.replace(manifest, rehearse=True)
    if args.shard:
        manifest = shard.select(manifest, *shard.parse(args.shard))
    fps = baseline.read_fingerprints(Path(args.baseline)) if args.baseline else None
    result = run_checks(root, manifest, args.only, args.fail_on,
                        waivers_enabled=not args.no_waivers, baseline_fps=fps,
                        progress=Progress.for_run(sys.stderr, args.quiet))
    if args.report_base:  # every report with the same repository-relative paths
        result = relocate.result(result, root, Path(args.report_base))
    write_reports(result, args, argv)
    if on_result is not None:  # the Action's reporting (issue 7); it never raises
        on_result(result, args)
    return result


def _print_report(result: RunResult, args: argparse.Namespace, argv: list[str]) -> None:
    """The report on stdout, in the format asked for."""
    if args.format == "markdown":  # the job summary's report, the same bytes (issue 17)
        from imap_gate.github import summary

        sys.stdout.write(summary.render(result, blob=summary.blob_base(os.environ)))
    elif args.format == "json":
        sys.stdout.write(json_report.dumps(json_report.build(
            result.findings, result.verdict, result.facts, _invocation(result, argv))))
    else:
        sys.stdout.write(text.render_text(result.findings, result.verdict, args.quiet,
                                          errors=len(result.errors),
                                          colour=colour_enabled(sys.stdout)))


def _rule_help(args: argparse.Namespace) -> int:
    from imap_gate import rulehelp

    try:
        out = rulehelp.explain(args.explain, args.format) if args.explain else \
            rulehelp.list_rules(args.format)
    except InputError as exc:
        print(f"imap-gate: {exc}", file=sys.stderr)
        return EXIT_ERROR
    sys.stdout.write(out)
    return EXIT_PASS
