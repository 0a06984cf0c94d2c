"""Running as a GitHub Action: inputs in, annotations/summary/outputs/upload out.

``cli.main`` hands over to ``run`` when ``GITHUB_ACTIONS=true``. The gate
itself is the CLI's own code path and exit code; this module only maps the
Action's inputs (``INPUT_*``) onto the same flags (flags on the command line
win) and, whatever the outcome, reports before the exit code is returned.
Nothing here may raise: a reporting problem becomes a ``::warning``.
"""

from __future__ import annotations

import argparse
import io
import os
import re
import secrets
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from imap_gate.errors import InputError
from imap_gate.github import annotate, outputs, summary

# Action input -> CLI flag. working-directory is handled apart (relative to the workspace).
FLAG_INPUTS = {"manifest": "--manifest", "fail-on": "--fail-on", "only": "--only",
               "sarif-file": "--sarif", "category": "--category", "shard": "--shard",
               "baseline": "--baseline"}
BOOL_INPUTS = {"upload-sarif": False, "annotations": True, "summary": True,
               "allow-waivers": True, "rehearse": False}
TRUE = ("true", "True", "TRUE")
FALSE = ("false", "False", "FALSE")
LOG_CAP = 64 * 1024    # characters of facts shown in one log group


def get_input(env: Mapping[str, str], name: str) -> str:
    """GitHub passes ``INPUT_<NAME>`` upper-cased with '-' kept; accept '_' too."""
    for key in (f"INPUT_{name.upper()}", f"INPUT_{name.upper().replace('-', '_')}"):
        if key in env:
            return env[key].strip()
    return ""


def get_bool(env: Mapping[str, str], name: str) -> bool:
    value = get_input(env, name)
    if value == "":
        return BOOL_INPUTS[name]
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise InputError(f"input {name}: {value!r} is not a boolean; write true or false")


def _workspace(env: Mapping[str, str]) -> Path:
    return Path(env.get("GITHUB_WORKSPACE") or ".").resolve()


def inside_workspace(env: Mapping[str, str], name: str, value: str,
                     base: Path | None = None) -> Path:
    """An input that names a path, resolved; one that leads outside the workspace is refused,
    as the docs promise (``..``, an absolute path elsewhere, or a symbolic link out)."""
    ws = _workspace(env)
    path = ((base or ws) / value).resolve()
    if not path.is_relative_to(ws):
        raise InputError(f"input {name}: {value!r} leads outside the workspace ({ws}); "
                         "give a path inside the repository")
    return path


def inputs_to_argv(env: Mapping[str, str], parser: argparse.ArgumentParser) -> list[str]:
    """The flags the Action's inputs stand for; put them before the real argv so it wins."""
    known = {opt: act for act in parser._actions for opt in act.option_strings}
    ws = _workspace(env)
    wd = get_input(env, "working-directory")
    root = inside_workspace(env, "working-directory", wd) if wd else ws
    argv = _flag_argv(env, known, root)
    if wd:
        argv += ["--root", str(root)]
    if "--report-base" in known:  # every report names files from the repository root
        argv += ["--report-base", str(ws)]
    return argv + _bool_argv(env, known, argv)


def _flag_argv(env: Mapping[str, str], known: dict[str, argparse.Action],
               root: Path) -> list[str]:
    """The flags of the inputs that take a value (FLAG_INPUTS), each checked as the CLI
    would: a choice among the flag's choices, a path inside the workspace."""
    argv: list[str] = []
    for name, flag in FLAG_INPUTS.items():
        value = get_input(env, name)
        if not value or flag not in known:
            continue
        choices = known[flag].choices
        if choices is not None and value not in choices:
            raise InputError(f"input {name}: {value!r} is not one of: {', '.join(choices)}")
        argv += [flag, _path_input(env, name, value, root)]
    return argv


def _path_input(env: Mapping[str, str], name: str, value: str, root: Path) -> str:
    """A value input as the flag gets it: report and baseline paths resolved in the
    workspace, a manifest path only checked (the CLI reads it relative to the root)."""
    if name in ("sarif-file", "baseline"):
        return str(inside_workspace(env, name, value))
    if name == "manifest" and value != "-":
        inside_workspace(env, name, value, root)
    return value


def _bool_argv(env: Mapping[str, str], known: dict[str, argparse.Action],
               argv: list[str]) -> list[str]:
    """The flags the true/false inputs stand for, not repeating one ``argv`` has; every
    boolean input is checked first, so a bad value fails before anything runs."""
    for name in BOOL_INPUTS:
        get_bool(env, name)
    out: list[str] = []
    if not get_bool(env, "allow-waivers") and "--no-waivers" not in argv:
        out.append("--no-waivers")
    if get_bool(env, "rehearse") and "--rehearse" in known and "--rehearse" not in argv:
        out.append("--rehearse")
    return out


@dataclass
class Options:
    """What ``publish`` needs besides the result, already read from the environment."""
    annotations: bool
    summary: bool
    upload: bool
    token: str
    workspace: Path
    root: Path | None
    sarif: Path | None

    @classmethod
    def read(cls, env: Mapping[str, str], args: argparse.Namespace | None) -> Options:
        def safe_bool(name: str) -> bool:
            try:
                return get_bool(env, name)
            except InputError:
                return BOOL_INPUTS[name]

        root = getattr(args, "root", None)
        sarif = getattr(args, "sarif", None)
        return cls(annotations=safe_bool("annotations"), summary=safe_bool("summary"),
                   upload=safe_bool("upload-sarif"), token=get_input(env, "token"),
                   workspace=_workspace(env),
                   root=Path(root or env.get("GITHUB_WORKSPACE") or ".").resolve(),
                   sarif=Path(sarif).resolve() if sarif else None)

    def repo_path(self, rel: str) -> str:
        """Report paths are repository-relative already (the CLI's --report-base)."""
        return rel

    def output_path(self, p: Path | None) -> str:
        if p is None:
            return ""
        try:
            return p.relative_to(self.workspace).as_posix()
        except ValueError:
            return str(p)


def emit(line: str, out: Any = None) -> None:
    stream = out or sys.stdout
    stream.write(line + "\n")
    stream.flush()


class _Tee(io.TextIOBase):
    """Keeps what the CLI prints on stderr so a tool error can be annotated and summarised."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.buf: list[str] = []

    def write(self, s: str) -> int:
        self.buf.append(s)
        return self.inner.write(s)

    def flush(self) -> None:
        self.inner.flush()

    def lines(self) -> list[str]:
        raw = "".join(self.buf).splitlines()
        ours = [ln[len("imap-gate: "):] for ln in raw if ln.startswith("imap-gate: ")]
        return ours or [ln for ln in raw if ln.strip()]


Scan = Callable[..., int]


class _Commands:
    """Workflow commands on only while we publish: everything the CLI prints (which carries
    server-controlled text) is inert, so a server cannot forge an annotation, mask or output."""

    def __init__(self) -> None:
        self.token: str | None = None

    def off(self) -> None:
        if self.token is None:
            self.token = secrets.token_hex(16)
            emit(f"::stop-commands::{self.token}")

    def on(self) -> None:
        if self.token is not None:
            emit(f"::{self.token}::")
            self.token = None


def run(scan: Scan, parser: argparse.ArgumentParser, argv: list[str],
        env: Mapping[str, str] | None = None) -> int:
    """The CLI's scan with the Action's inputs, reporting to GitHub before returning."""
    env = os.environ if env is None else env
    published: list[bool] = []
    commands = _Commands()
    _mask(get_input(env, "token"))  # first of all, before anything could print it

    def on_result(result: Any, args: argparse.Namespace) -> None:
        published.append(True)
        commands.on()
        try:
            publish(result, args, env)
        except Exception as exc:  # a reporting bug must never change the gate's exit code
            emit(annotate.command("warning", f"imap-gate could not report: "
                                                f"{type(exc).__name__}: {exc}"))
        finally:
            commands.off()

    tee = _Tee(sys.stderr)
    old, sys.stderr = sys.stderr, tee
    commands.off()
    full: list[str] = []
    try:
        try:
            full = inputs_to_argv(env, parser) + argv
        except InputError as exc:
            print(f"imap-gate: {exc}", file=sys.stderr)
            _error_sarif(env, [str(exc)])
            code = 2
        else:
            try:
                code = scan(full, on_result)
            except SystemExit as exc:  # argparse: usage error (2) or --version/--help (0)
                code = exc.code if isinstance(exc.code, int) else 2
                if code == 0:
                    return 0
    finally:
        sys.stderr = old
        commands.on()
    if not published:
        publish_error(tee.lines(), env, _sarif_of(env, full))
    return code


def _sarif_of(env: Mapping[str, str], argv: list[str]) -> Path | None:
    """The SARIF a run that ended in exit 2 left (one that carries its error), if any."""
    from imap_gate.reports import error_report

    given = error_report.flag_values(argv, ("--sarif",)).get("--sarif")
    return Path(given).resolve() if given else _sarif_input(env)


def _sarif_input(env: Mapping[str, str]) -> Path | None:
    """The sarif-file input's path, or None when empty or outside the workspace."""
    value = get_input(env, "sarif-file")
    try:
        return inside_workspace(env, "sarif-file", value) if value else None
    except InputError:
        return None


def _error_sarif(env: Mapping[str, str], errors: list[str]) -> None:
    """An input was refused before the CLI ran: the SARIF the sarif-file input names (if it is
    inside the workspace) still must not be a previous run's (issue 17)."""
    from imap_gate.reports import error_report

    path = _sarif_input(env)
    if path is not None:
        error_report.write(errors, [], str(path), None, get_input(env, "category") or None)


# ------------------------------------------------------------------ publishing

def _mask(token: str) -> None:
    if token:
        emit(f"::add-mask::{annotate.escape_data(token)}")


_WHERE = re.compile(r"^(?P<file>[^\s:][^:]*?):(?P<line>\d+)(?::(?P<col>\d+))?: (?P<msg>.+)$")


def error_annotation(text: str, opts: Options | None = None) -> str:
    m = _WHERE.match(text)
    if m:
        path = opts.repo_path(m["file"]) if opts else m["file"]
        return annotate.command("error", m["msg"], file=path, line=int(m["line"]),
                                   col=int(m["col"]) if m["col"] else None,
                                   title="imap-gate: tool error")
    return annotate.command("error", text, title="imap-gate: tool error")


def _safe(step: str, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # reporting never changes the gate
        emit(annotate.command("warning", f"imap-gate could not {step}: "
                                            f"{type(exc).__name__}: {exc}"))
        return None


def publish(result: Any, args: argparse.Namespace, env: Mapping[str, str]) -> None:
    opts = Options.read(env, args)
    _safe("write the log groups", lambda: _groups(result))
    outcome = _safe("upload the SARIF", lambda: _upload(opts, env, result, args)) \
        if opts.upload else None
    reserved = {"error": len(result.errors[:annotate.PER_LEVEL])}
    if outcome is not None:
        _announce_upload(outcome, reserved)
    for e in result.errors[:annotate.PER_LEVEL]:
        emit(error_annotation(e, opts))
    if opts.annotations:
        def write_annotations() -> None:
            for a in annotate.plan(result.findings, opts.repo_path, reserved):
                emit(a.render())
        _safe("write annotations", write_annotations)
    if opts.summary and env.get("GITHUB_STEP_SUMMARY"):
        extra = _upload_section(outcome)
        _safe("write the job summary", lambda: _append(
            env["GITHUB_STEP_SUMMARY"], summary.render(result, extra,
                                                       blob=summary.blob_base(env))))
    _write_outputs(env, _output_values(result, opts))


def _announce_upload(outcome: Any, reserved: dict[str, int]) -> None:
    """The upload's outcome in the log; a notice or warning is an annotation, and takes one
    of the level's places (``reserved``) before the findings' annotations are planned."""
    if outcome.status in ("notice", "warning"):
        reserved[outcome.status] = reserved.get(outcome.status, 0) + 1
    level = {"ok": "notice", "notice": "notice", "warning": "warning"}[outcome.status]
    if outcome.status != "ok":
        emit(annotate.command(level, outcome.message, title="imap-gate: SARIF upload"))
    else:
        emit(outcome.message)


def _output_values(result: Any, opts: Options) -> dict[str, str]:
    """The step outputs: gate, max-severity, findings and the SARIF file written."""
    return {
        "gate": "error" if result.errors else result.verdict.gate,
        "max-severity": result.verdict.max_severity.label if result.verdict.max_severity
        else "none",
        "findings": str(len(result.verdict.counting)),
        "sarif-file": opts.output_path(opts.sarif) if opts.sarif and opts.sarif.exists() else "",
    }


def publish_error(errors: list[str], env: Mapping[str, str], sarif: Path | None = None) -> None:
    """No result to show (bad manifest, bad input, crash): still tell GitHub, gate=error.
    ``sarif`` is the report that carries the error, named in the sarif-file output."""
    try:
        for e in errors[:annotate.PER_LEVEL]:
            emit(error_annotation(e))
        try:
            want_summary = get_bool(env, "summary")
        except InputError:
            want_summary = True
        if want_summary and env.get("GITHUB_STEP_SUMMARY"):
            _append(env["GITHUB_STEP_SUMMARY"], summary.render_error(errors))
    except Exception as exc:
        emit(annotate.command("warning", f"imap-gate could not report the error: {exc}"))
    _write_outputs(env, {"gate": "error", "max-severity": "", "findings": "",
                         "sarif-file": _shown_sarif(sarif, env)})


def _shown_sarif(sarif: Path | None, env: Mapping[str, str]) -> str:
    """The sarif-file output: the report written, relative to the workspace where it is
    inside it; "" when none was written."""
    if sarif is None or not sarif.is_file():
        return ""
    try:
        return sarif.relative_to(_workspace(env)).as_posix()
    except ValueError:
        return str(sarif)


def _write_outputs(env: Mapping[str, str], values: dict[str, str]) -> None:
    path = env.get("GITHUB_OUTPUT")
    if path:
        _safe("write the step outputs", lambda: outputs.write(path, values))


def _append(path: str, text: str) -> None:
    with open(path, "a", encoding="utf-8") as fh:
        fh.write(text)


def _groups(result: Any) -> None:
    """One collapsible log group per target (findings, then what the probe learned).

    The groups are printed while workflow commands are stopped (``_Commands``), so the text
    goes out as it is: ``2001:db8::/32`` stays readable and nothing in it can act as a command.
    """
    by_target: dict[str, list[Any]] = {}
    files: list[Any] = []
    for f in result.findings:
        (by_target.setdefault(f.target, []) if f.target else files).append(f)
    for t in result.manifest.targets:
        emit(f"::group::imap-gate target {_one_line(t.name)} ({_one_line(t.host)})")
        for f in by_target.get(t.name, []):
            emit(_line(f))
        for e in t.endpoints:
            _facts_lines(e, result.facts.get(f"{t.name}:{e.port}"))
        emit("::endgroup::")
    if files:
        emit("::group::imap-gate files")
        for f in files:
            emit(_line(f))
        emit("::endgroup::")


def _facts_lines(e: Any, facts: Any) -> None:
    """What the probe learned about one endpoint, each line cut to the log's cap."""
    from imap_gate.github import facts_log

    for ln in facts_log.block(e.port, e.protocol, facts):
        emit(_one_line(ln)[:LOG_CAP])


def _one_line(text: str) -> str:
    """One log line per item: a server's CR/LF would start a line of its own."""
    return text.replace("\r", " ").replace("\n", " ")


def _line(f: Any) -> str:
    state = "WAIVED" if f.waived else f.sev.label.upper()
    port = f" port {f.port}" if f.port else ""
    return _one_line(f"{state} {f.rule_id} {f.rule.name}{port}: {f.message} "
                     f"({f.location.path}:{f.location.line})")


def _upload(opts: Options, env: Mapping[str, str], result: Any = None,
            args: argparse.Namespace | None = None) -> Any:
    from imap_gate.github import upload as up

    refusal = _partial_run(result, args) or _cannot_upload(opts, env)
    if refusal or opts.sarif is None:      # no SARIF: _cannot_upload said so
        return up.Outcome("warning", refusal)
    data = opts.sarif.read_bytes()  # its paths are repository-relative (--report-base)
    req = up.Request(api_url=env.get("GITHUB_API_URL") or "https://api.github.com",
                     repository=env["GITHUB_REPOSITORY"], token=opts.token,
                     commit_sha=env["GITHUB_SHA"], ref=env["GITHUB_REF"],
                     checkout_uri=opts.workspace.as_uri())
    return up.upload(data, req, up.request_context(env), limits_from(env))


def _partial_run(result: Any, args: argparse.Namespace | None) -> str:
    """Why this run's SARIF must not be uploaded ("" if it may): code scanning treats an
    alert missing from a new upload of the same category as fixed, so a partial run must
    not close alerts it could not check."""
    if result is not None and result.errors:
        return ("the SARIF was not uploaded because the run had tool errors: "
                "a partial upload would close alerts that were not checked.")
    only = getattr(args, "only", None)
    if only and result is not None and not getattr(args, "category", None):
        return (f"the SARIF was not uploaded: with only: {only} it would "
                "close the other half's alerts in the default category. "
                f"Set category: imap-gate/{result.manifest.name}/{only}/ .")
    return ""


def _cannot_upload(opts: Options, env: Mapping[str, str]) -> str:
    """What the upload lacks (a SARIF file, the repository's variables, a token), or ""."""
    if opts.sarif is None or not opts.sarif.exists():
        return "upload-sarif is true but no SARIF file was written; set the sarif-file input."
    missing = [k for k in ("GITHUB_REPOSITORY", "GITHUB_SHA", "GITHUB_REF") if not env.get(k)]
    if missing:
        return f"cannot upload the SARIF: {', '.join(missing)} not set."
    if not opts.token:
        return "cannot upload the SARIF: the token input is empty."
    return ""


def limits_from(env: Mapping[str, str]) -> Any:
    from imap_gate.github.upload import Limits

    def num(key: str, default: float) -> float:
        try:
            return float(env.get(key, default))
        except ValueError:
            return default

    d = Limits()
    return Limits(overall=num("IMAP_GATE_UPLOAD_TIMEOUT", d.overall),
                  backoff=num("IMAP_GATE_UPLOAD_BACKOFF", d.backoff),
                  poll_interval=num("IMAP_GATE_UPLOAD_POLL", d.poll_interval),
                  request_timeout=min(d.request_timeout,
                                      num("IMAP_GATE_UPLOAD_TIMEOUT", d.overall)))


def _upload_section(outcome: Any) -> list[str]:
    if outcome is None:
        return []
    icon = {"ok": "✅", "notice": "ℹ️", "warning": "⚠️"}[outcome.status]
    from imap_gate.reports.text import _md_escape

    return ["### SARIF upload", "", f"{icon} {_md_escape(outcome.message)}", ""]
