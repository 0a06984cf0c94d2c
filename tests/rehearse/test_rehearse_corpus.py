"""Every corpus Dovecot file that doveconf (2.3 or 2.4) loads is rehearsed without a crash
or a hang: each ends rehearsed, refused with Dovecot's message, or incomplete with a reason.
``bench/rehearse.py --corpus`` prints the same survey as figures."""

from __future__ import annotations

import os

import pytest

from checks.rehearse import server
from tests.support import rootfs24
from tests.support.rehearse_corpus import survey

pytestmark = pytest.mark.skipif(server.dovecot23() is None or os.geteuid() != 0,
                                reason="rehearsal needs root and Dovecot 2.3 (dovecot-imapd)")


def test_every_loadable_corpus_file_rehearses_without_a_crash_or_a_hang(corpus_dir) -> None:
    corpus = corpus_dir
    rootfs24.require()
    cases = survey(corpus)
    loadable = [c for c in cases if c.loads]
    assert len(loadable) >= 50            # 2.3 and 2.4 files both
    assert {c.version for c in loadable} == {"2.3", "2.4"}
    problems = []
    for c in loadable:
        o = c.outcome
        if c.error or o is None:
            problems.append(f"{c.local}: {c.error}")
        elif o.status == "refused" and not (o.refusal and o.refusal.message):
            problems.append(f"{c.local}: refused without Dovecot's message")
        elif o.status == "incomplete" and not o.reason:
            problems.append(f"{c.local}: incomplete without a reason")
        elif o.seconds > server.START_TIMEOUT + 20:
            problems.append(f"{c.local}: took {o.seconds:.1f} s")
    assert not problems, "\n".join(problems)
    # what doveconf loads, Dovecot starts: a refusal here is a sandbox rewrite we lack
    refused = [f"{c.local}: {c.outcome.refusal.message}" for c in loadable
               if c.outcome and c.outcome.status == "refused"]
    assert not refused, "\n".join(refused)
