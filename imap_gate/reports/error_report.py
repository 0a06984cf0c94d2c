"""Reports of a run that ended in exit 2 before any finding (bad manifest, bad flag, crash).

A workflow's ``if: always()`` upload step reads whatever file sits at ``--sarif``; leaving the
previous run's report there would post stale results as if they were this run's. So on exit 2
every report the command line asked for is (re)written: a valid SARIF whose run carries the
error (``invocations[0].executionSuccessful: false`` with ``toolExecutionNotifications``) and
no results, and a JSON report with ``"gate": "error"``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imap_gate import __version__
from imap_gate.reports import json_report, relocate, sarif, text

DEFAULT_CATEGORY = "imap-gate/"


def invocation(errors: Sequence[str], argv: Sequence[str], exit_code: int = 2) -> dict[str, Any]:
    return {"executionSuccessful": False, "exitCode": exit_code,
            "commandLine": "imap-gate " + " ".join(argv),
            "toolExecutionNotifications": [
                {"level": "error", "message": {"text": e}} for e in errors or ["(no message)"]]}


def sarif_doc(errors: Sequence[str], argv: Sequence[str], category: str | None) -> dict[str, Any]:
    cat = category or DEFAULT_CATEGORY
    return sarif.build([], cat if cat.endswith("/") else cat + "/", invocation(errors, argv))


def json_doc(errors: Sequence[str], argv: Sequence[str], fail_on: str | None = None) -> dict[str, Any]:
    return {
        "schema_version": json_report.SCHEMA_VERSION,
        "tool": {"name": "imap-gate", "version": __version__},
        "gate": "error",
        "fail_on": fail_on,
        "max_severity": None,
        "counts": json_report._counts([]),
        "errors": list(errors),
        "findings": [],
        "endpoints": {},
        "invocation": invocation(errors, argv),
    }


def flag_values(argv: Sequence[str], flags: Sequence[str]) -> dict[str, str]:
    """``--flag VALUE`` / ``--flag=VALUE`` read without argparse, for when argparse itself
    refused the command line (the last occurrence wins, as with argparse)."""
    out: dict[str, str] = {}
    for i, arg in enumerate(argv):
        for flag in flags:
            if arg == flag and i + 1 < len(argv):
                out[flag] = argv[i + 1]
            elif arg.startswith(flag + "="):
                out[flag] = arg[len(flag) + 1:]
    return out


def write(errors: Sequence[str], argv: Sequence[str], sarif_path: str | None,
          json_path: str | None, category: str | None = None,
          fail_on: str | None = None) -> list[str]:
    """Write the error reports asked for; returns why any of them could not be written."""
    problems: list[str] = []
    for path, doc in ((sarif_path, lambda: sarif.dumps(sarif_doc(errors, argv, category))),
                      (json_path, lambda: json.dumps(json_doc(errors, argv, fail_on), indent=2,
                                                     sort_keys=True, ensure_ascii=False) + "\n")):
        if not path:
            continue
        p = Path(path)
        try:
            if not p.parent.exists():
                p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(doc(), encoding="utf-8")
        except OSError as exc:
            problems.append(f"{path}: cannot write the report: {exc.strerror or exc}")
    return problems


def parse_args(parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """``parser.parse_args``, but a refused command line still replaces the reports it names."""
    refused: list[str] = []
    error = parser.error

    def on_error(message: str) -> Any:
        refused.append(f"bad command line: {message}")
        return error(message)

    parser.error = on_error  # type: ignore[method-assign]
    try:
        return parser.parse_args(argv)
    except SystemExit:
        if refused:
            given = flag_values(argv, ("--sarif", "--json", "--category"))
            write(refused, argv, given.get("--sarif"), given.get("--json"), given.get("--category"))
        raise


def fail(args: argparse.Namespace, argv: list[str], errors: list[str]) -> None:
    """Exit 2 before any result: the errors on stderr (paths from --report-base), one line on
    stdout that agrees with the exit code, and the reports asked for replaced."""
    errors = relocate.error_lines(errors, args.root, getattr(args, "report_base", None))
    for e in errors:
        print(f"imap-gate: {e}", file=sys.stderr)
    for problem in write(errors, argv, args.sarif, args.json, args.category, args.fail_on):
        print(f"imap-gate: {problem}", file=sys.stderr)
    print(text.error_line(len(errors)))
