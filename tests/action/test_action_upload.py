"""SARIF upload against a local stand-in for the GitHub API (pytest-httpserver on 127.0.0.1)."""

from __future__ import annotations

import base64
import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from imap_gate.github import upload as up

REPO = "octo/mail-infra"
TOKEN = "ghs_test0123456789abcdef"
SARIF = (json.dumps({"version": "2.1.0", "runs": [{"results": []}]}, indent=2) + "\n").encode()
POST_PATH = f"/repos/{REPO}/code-scanning/sarifs"


@pytest.fixture(scope="session")
def httpserver_listen_address() -> tuple[str, int]:
    return ("127.0.0.1", 0)  # an IP literal: nothing goes through the resolver


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    yield


class FakeClock:
    """Time that passes only when the code sleeps, so backoff is asserted, not waited for."""

    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, s: float) -> None:
        self.sleeps.append(s)
        self.t += s


def request(server: HTTPServer) -> up.Request:
    return up.Request(api_url=server.url_for("/").rstrip("/"), repository=REPO, token=TOKEN,
                      commit_sha="a" * 40, ref="refs/heads/main",
                      checkout_uri=Path("/github/workspace").as_uri())


def run(server: HTTPServer, clock: FakeClock | None = None, context: dict | None = None,
        **limits: float) -> up.Outcome:
    clock = clock or FakeClock()
    lim = up.Limits(**{"overall": 30.0, "backoff": 1.0, "poll_interval": 2.0, **limits})
    return up.upload(SARIF, request(server), context, lim, now=clock.now, sleep=clock.sleep)


def test_upload_sends_what_the_api_wants_then_polls_until_complete(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json(
        {"id": "47177e22", "url": "x"}, status=202)
    httpserver.expect_ordered_request(f"{POST_PATH}/47177e22", method="GET").respond_with_json(
        {"processing_status": "pending"})
    httpserver.expect_ordered_request(f"{POST_PATH}/47177e22", method="GET").respond_with_json(
        {"processing_status": "complete", "analyses_url": "y"})
    clock = FakeClock()
    out = run(httpserver, clock)
    httpserver.check_assertions()
    assert out.status == "ok" and out.sarif_id == "47177e22" and out.processing == "complete"
    assert clock.sleeps == [2.0]  # one poll interval between the two status reads
    (post, _), (get, _), _ = httpserver.log
    assert post.headers["Authorization"] == f"Bearer {TOKEN}"
    assert get.headers["Authorization"] == f"Bearer {TOKEN}"
    assert post.headers["Accept"] == "application/vnd.github+json"
    assert post.headers["X-GitHub-Api-Version"] == up.API_VERSION
    body = json.loads(post.get_data())
    assert set(body) == {"commit_sha", "ref", "sarif", "checkout_uri", "tool_name"}
    assert body["commit_sha"] == "a" * 40 and body["ref"] == "refs/heads/main"
    assert body["checkout_uri"] == "file:///github/workspace"
    assert body["tool_name"] == "imap-gate"
    assert gzip.decompress(base64.b64decode(body["sarif"])) == SARIF
    assert TOKEN not in out.message


@pytest.mark.parametrize("code,context,cause", [
    (403, {}, "security-events: write"),
    (403, {"fork": True}, "fork"),
    (403, {"dependabot": True}, "Dependabot"),
    (404, {}, "404"),
])
def test_refusals_become_a_notice_naming_the_cause(httpserver: HTTPServer, code: int,
                                                   context: dict, cause: str) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json(
        {"message": "Resource not accessible by integration"}, status=code)
    out = run(httpserver, context=context)
    httpserver.check_assertions()
    assert out.status == "notice"
    assert f"HTTP {code}" in out.message and cause in out.message and "Fix:" in out.message
    assert len(httpserver.log) == 1  # a refusal is not retried


def test_code_scanning_off_is_named(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json(
        {"message": "Advanced Security must be enabled for this repository to use code scanning."},
        status=403)
    out = run(httpserver)
    assert out.status == "notice" and "not enabled" in out.message and "upload-sarif: false" in out.message


@pytest.mark.parametrize("first", [429, 500, 502])
def test_retry_after_a_transient_error(httpserver: HTTPServer, first: int) -> None:
    headers = {"Retry-After": "7"} if first == 429 else {}
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_data(
        "slow down", status=first, headers=headers)
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json({"id": "9"}, status=202)
    httpserver.expect_ordered_request(f"{POST_PATH}/9", method="GET").respond_with_json(
        {"processing_status": "complete"})
    clock = FakeClock()
    out = run(httpserver, clock)
    httpserver.check_assertions()
    assert out.status == "ok"
    assert clock.sleeps == ([7.0] if first == 429 else [1.0])  # Retry-After honoured, else backoff
    bodies = [json.loads(r.get_data()) for r, _ in httpserver.log if r.method == "POST"]
    assert len(bodies) == 2 and bodies[0] == bodies[1]


def test_backoff_doubles_and_stops_at_the_overall_limit(httpserver: HTTPServer) -> None:
    httpserver.expect_request(POST_PATH, method="POST").respond_with_data("down", status=503)
    clock = FakeClock()
    out = run(httpserver, clock, overall=20.0)
    assert out.status == "warning" and "overall limit" in out.message and "HTTP 503" in out.message
    assert clock.sleeps == [1.0, 2.0, 4.0, 8.0]  # the next (16 s) would pass the 20 s limit
    assert len(httpserver.log) == 5


def test_processing_that_never_completes_is_bounded(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json({"id": "7"}, status=202)
    httpserver.expect_request(f"{POST_PATH}/7", method="GET").respond_with_json(
        {"processing_status": "pending"})
    clock = FakeClock()
    out = run(httpserver, clock, overall=10.0, poll_interval=3.0)
    assert out.status == "warning" and out.processing == "pending" and "did not finish" in out.message
    assert clock.t <= 10.0 and len(clock.sleeps) == 3


def test_processing_that_is_not_visible_yet_is_polled(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json({"id": "8"}, status=202)
    httpserver.expect_ordered_request(f"{POST_PATH}/8", method="GET").respond_with_json({}, status=404)
    httpserver.expect_ordered_request(f"{POST_PATH}/8", method="GET").respond_with_json(
        {"processing_status": "failed", "errors": ["locationFromSarifResult: bad uri"]})
    out = run(httpserver)
    httpserver.check_assertions()
    assert out.status == "warning" and out.processing == "failed" and "bad uri" in out.message


def test_rejected_sarif_is_a_warning_with_githubs_message(httpserver: HTTPServer) -> None:
    httpserver.expect_ordered_request(POST_PATH, method="POST").respond_with_json(
        {"message": "Invalid request. sarif is too large"}, status=422)
    out = run(httpserver)
    assert out.status == "warning" and "HTTP 422" in out.message and "too large" in out.message


def test_a_server_that_hangs_is_bounded_by_the_request_timeout(httpserver: HTTPServer) -> None:
    import threading

    release = threading.Event()

    def hang(_: Request) -> Response:
        release.wait(5)
        return Response("late", status=500)

    httpserver.expect_request(POST_PATH, method="POST").respond_with_handler(hang)
    try:
        out = up.upload(SARIF, request(httpserver), None,
                        up.Limits(overall=0.6, request_timeout=0.3, backoff=0.05))
    finally:
        release.set()
    assert out.status == "warning" and "overall limit" in out.message


def test_retry_after_parsing() -> None:
    assert up.retry_after({"Retry-After": "12"}, 1.0) == 12.0
    assert up.retry_after({}, 3.0) == 3.0
    assert up.retry_after({"Retry-After": "soon"}, 2.0) == 2.0
    assert up.retry_after({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"}, 2.0) == 0.0


def test_request_context_detects_fork_and_dependabot(tmp_path: Path) -> None:
    event = tmp_path / "event.json"
    event.write_text(json.dumps({"pull_request": {
        "head": {"repo": {"full_name": "someone/mail-infra", "fork": True}},
        "base": {"repo": {"full_name": REPO}}}}))
    env = {"GITHUB_EVENT_NAME": "pull_request", "GITHUB_EVENT_PATH": str(event)}
    assert up.request_context(env) == {"fork": True, "dependabot": False}
    assert up.request_context({"GITHUB_ACTOR": "dependabot[bot]"})["dependabot"] is True
    event.write_text("not json")
    assert up.request_context(env) == {"fork": False, "dependabot": False}


def test_token_is_not_in_the_request_repr() -> None:
    req = up.Request("http://127.0.0.1:1", REPO, TOKEN, "a" * 40, "refs/heads/main", "file:///w")
    assert TOKEN not in repr(req)
