"""Posting the SARIF to GitHub code scanning, and waiting for it to be processed.

The upload never decides the gate: whatever happens here becomes a status
(``ok``, ``notice``, ``warning``) with a message for the log and the summary.
Refusals that are expected in normal use (a pull request from a fork, a
Dependabot run, code scanning off, a token without ``security-events: write``)
are notices naming the cause and the fix. The token goes into one header and
nowhere else.
"""

from __future__ import annotations

import base64
import email.utils
import gzip
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_GZIP_BYTES = 10 * 1024 * 1024   # GitHub's limit for the compressed SARIF
API_VERSION = "2022-11-28"


@dataclass(frozen=True)
class Limits:
    overall: float = 120.0      # seconds for upload + processing, all retries included
    request_timeout: float = 30.0
    backoff: float = 1.0        # first retry delay; doubles, capped at backoff_cap
    backoff_cap: float = 30.0
    poll_interval: float = 3.0


@dataclass(frozen=True)
class Request:
    api_url: str
    repository: str             # owner/name
    token: str = field(repr=False)
    commit_sha: str
    ref: str
    checkout_uri: str
    tool_name: str = "imap-gate"


@dataclass
class Outcome:
    status: str                 # ok | notice | warning
    message: str
    sarif_id: str | None = None
    processing: str | None = None   # complete | failed | pending (gave up waiting)


def encode(sarif_bytes: bytes) -> str:
    """gzip then base64, as the code scanning API wants; mtime 0 keeps it reproducible."""
    return base64.b64encode(gzip.compress(sarif_bytes, mtime=0)).decode("ascii")


def retry_after(headers: Mapping[str, str], default: float) -> float:
    value = headers.get("Retry-After")
    if not value:
        return default
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return default
    return max(0.0, when.timestamp() - time.time())


def explain_refusal(code: int, body: str, context: Mapping[str, Any]) -> str:
    """Why GitHub refused the upload, and what to do about it, in two sentences."""
    low = body.lower()
    if context.get("fork"):
        return ("the pull request comes from a fork, whose token cannot write code scanning "
                "results. Fix: nothing to do for forks (the gate and the job summary still "
                "apply); results are uploaded when the change lands on a branch of this "
                "repository.")
    if context.get("dependabot"):
        return ("this run was triggered by Dependabot, whose token is read-only. Fix: nothing to "
                "do for Dependabot runs, or upload from a workflow that does not run on "
                "Dependabot events.")
    if "advanced security" in low or "code scanning is not enabled" in low or \
            "not enabled" in low:
        return ("code scanning is not enabled for this repository (private repositories need "
                "GitHub Advanced Security / Code Security). Fix: enable it in the repository's "
                "settings, or set `upload-sarif: false`.")
    if code == 403 or "resource not accessible" in low:
        return ("the token may not write code scanning results. Fix: give the job "
                "`permissions: {contents: read, security-events: write}` (or pass a `token` "
                "that has it).")
    return ("the repository was not found or code scanning is not available to this token "
            "(404). Fix: check `GITHUB_REPOSITORY`, that code scanning is enabled, and that the "
            "job has `permissions: {security-events: write}`.")


class _Clock:
    def __init__(self, overall: float, now: Callable[[], float], sleep: Callable[[float], None]):
        self.end = now() + overall
        self.now = now
        self.sleep = sleep

    def left(self) -> float:
        return self.end - self.now()

    def wait(self, seconds: float) -> bool:
        """Sleep, unless that would pass the overall limit."""
        if seconds > self.left():
            return False
        self.sleep(max(0.0, seconds))
        return True


def _send(session: Any, method: str, url: str, clock: _Clock, limits: Limits,
          **kw: Any) -> tuple[Any | None, str]:
    """One request with retries on 429/5xx and connection errors; (response, why it gave up)."""
    import requests

    delay = limits.backoff
    last = "no attempt"
    while True:
        timeout = max(0.1, min(limits.request_timeout, clock.left()))
        if clock.left() <= 0:
            return None, f"gave up after the overall limit ({last})"
        try:
            resp = session.request(method, url, timeout=timeout, **kw)
        except requests.RequestException as exc:
            last = f"{type(exc).__name__}"
            resp = None
        if resp is not None and resp.status_code != 429 and resp.status_code < 500:
            return resp, ""
        if resp is not None:
            last = f"HTTP {resp.status_code}"
            pause = retry_after(resp.headers, delay)
        else:
            pause = delay
        if not clock.wait(pause):
            return None, f"gave up after the overall limit ({last})"
        delay = min(limits.backoff_cap, delay * 2)


def upload(sarif_bytes: bytes, req: Request, context: Mapping[str, Any] | None = None,
           limits: Limits = Limits(), session: Any = None,
           now: Callable[[], float] = time.monotonic,
           sleep: Callable[[float], None] = time.sleep) -> Outcome:
    import requests

    context = context or {}
    payload = encode(sarif_bytes)
    if len(payload) * 3 // 4 > MAX_GZIP_BYTES:
        return Outcome("warning", "the SARIF is over GitHub's 10 MB (gzipped) limit; it was not "
                                  "uploaded. Narrow the run (targets, files) or split it with a "
                                  "matrix.")
    session = session or requests.Session()
    headers = {
        "Authorization": f"Bearer {req.token}",
        "Accept": "application/vnd.github+json",
        "X-GitHub-Api-Version": API_VERSION,
        "User-Agent": "imap-gate",
    }
    base = f"{req.api_url.rstrip('/')}/repos/{req.repository}/code-scanning/sarifs"
    body = {"commit_sha": req.commit_sha, "ref": req.ref, "sarif": payload,
            "checkout_uri": req.checkout_uri, "tool_name": req.tool_name}
    clock = _Clock(limits.overall, now, sleep)
    resp, why = _send(session, "POST", base, clock, limits, json=body, headers=headers)
    refused = _refusal(resp, why, context)
    if refused is not None:
        return refused
    sarif_id = _json(resp).get("id")
    if not sarif_id:
        return Outcome("warning", "the upload was accepted but GitHub returned no id to follow.")
    return _follow(session, f"{base}/{sarif_id}", clock, limits, headers, sarif_id)


def _refusal(resp: Any, why: str, context: Mapping[str, Any]) -> Outcome | None:
    """The outcome of a POST that did not take the SARIF (None: it did). 403/404 are a
    notice: forks and Dependabot are refused by design (``explain_refusal`` says which)."""
    if resp is None:
        return Outcome("warning", f"the SARIF upload did not succeed: {why}.")
    if resp.status_code in (403, 404):
        return Outcome("notice", f"SARIF not uploaded (HTTP {resp.status_code}): "
                                 + explain_refusal(resp.status_code, _text(resp), context))
    if resp.status_code not in (200, 201, 202):
        return Outcome("warning", f"the SARIF upload was rejected (HTTP {resp.status_code}): "
                                  f"{_message(resp)}")
    return None


def _follow(session: Any, status_url: str, clock: _Clock, limits: Limits,
            headers: dict[str, str], sarif_id: Any) -> Outcome:
    """Poll the upload's processing until it is complete or failed, the poll is refused, or
    the overall limit is spent (then it may still be processing: "pending")."""
    while True:
        resp, _why = _send(session, "GET", status_url, clock, limits, headers=headers)
        if resp is None:
            break
        done = _processed(resp, sarif_id)
        if done is not None:
            return done
        if not clock.wait(limits.poll_interval):
            break
    return Outcome("warning", f"the SARIF was uploaded (id {sarif_id}) but its processing did not "
                              f"finish within {limits.overall:g} s; it may still appear in the "
                              "Security tab.", sarif_id, "pending")


def _processed(resp: Any, sarif_id: Any) -> Outcome | None:
    """One poll's answer: the final outcome, or None to keep polling (still processing, or
    404: the upload is not visible yet)."""
    if resp.status_code == 200:
        data = _json(resp)
        state = data.get("processing_status")
        if state == "complete":
            return Outcome("ok", f"SARIF uploaded and processed (id {sarif_id}).", sarif_id,
                           "complete")
        if state == "failed":
            errs = "; ".join(str(e) for e in (data.get("errors") or [])[:5]) or "no detail"
            return Outcome("warning", f"GitHub failed to process the SARIF (id {sarif_id}): "
                                      f"{errs}", sarif_id, "failed")
        return None
    if resp.status_code not in (404,):
        return Outcome("warning", f"could not follow the SARIF processing (HTTP "
                                  f"{resp.status_code}); it was uploaded as id {sarif_id}.",
                       sarif_id)
    return None


def _json(resp: Any) -> dict[str, Any]:
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _text(resp: Any) -> str:
    try:
        return str(resp.text)[:2000]
    except Exception:
        return ""


def _message(resp: Any) -> str:
    msg = _json(resp).get("message")
    return str(msg)[:500] if msg else _text(resp)[:500] or "no detail"


def request_context(env: Mapping[str, str]) -> dict[str, Any]:
    """What the event tells about why a refusal is expected (fork PR, Dependabot)."""
    ctx: dict[str, Any] = {"fork": False, "dependabot": False}
    if env.get("GITHUB_ACTOR") == "dependabot[bot]" or \
            env.get("GITHUB_TRIGGERING_ACTOR") == "dependabot[bot]":
        ctx["dependabot"] = True
    path = env.get("GITHUB_EVENT_PATH")
    if path and env.get("GITHUB_EVENT_NAME", "").startswith("pull_request"):
        ctx["fork"] = _from_fork(path)
    return ctx


def _from_fork(event_path: str) -> bool:
    """The pull request's head is a fork (or another repository than its base); an event
    file that cannot be read says nothing."""
    try:
        with open(event_path, encoding="utf-8") as fh:
            event = json.load(fh)
        pr = event.get("pull_request") or {}
        head = (pr.get("head") or {}).get("repo") or {}
        base = (pr.get("base") or {}).get("repo") or {}
        return bool(head.get("fork") or (head.get("full_name") and
                                         head.get("full_name") != base.get("full_name")))
    except (OSError, ValueError, AttributeError):
        return False
