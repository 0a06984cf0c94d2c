"""The rehearse check: with ``--rehearse``, start each Dovecot entry file and probe it.

Which files: the manifest's ``rehearse:`` list, else every Dovecot entry file the manifest
lints (a listed file that another listed file includes is rehearsed as part of its parent).
Rehearsals run a few at a time; each one stops its Dovecot whatever happens.
"""

from __future__ import annotations

from imap_gate.context import Context
from imap_gate.findings import Finding, Location

from .. import Check
from .rules import REH002

WORKERS = 8


def entry_files(ctx: Context) -> list[str]:
    from ..dovecot import loader
    from ..dovecot.check import listed_files

    m = ctx.manifest
    files = list(m.rehearse_files) or listed_files(ctx)
    included: set[str] = set()
    for f in files:
        included |= {x for x in loader.load(ctx.root, f).included if x != f}
    return [f for f in files if f not in included]


def run(ctx: Context) -> list[Finding]:
    if not ctx.manifest.rehearse:
        return []
    import concurrent.futures as cf  # only a run that rehearses pays for it

    from . import rehearsal, report

    files = entry_files(ctx)
    if not files:
        return [REH002.finding("--rehearse was given, but the manifest names no Dovecot "
                               "file to rehearse (configs.dovecot, targets[].dovecot or "
                               "rehearse:).",
                               Location(ctx.manifest.path, ctx.manifest.rehearse_line),
                               key="rehearse=<none>;incomplete")]
    out: list[Finding] = []
    outcomes: dict[str, rehearsal.Outcome] = {}
    with cf.ThreadPoolExecutor(max_workers=min(WORKERS, len(files)),
                               thread_name_prefix="imap-rehearse") as pool:
        futures = {f: pool.submit(rehearsal.rehearse, ctx.root, f, ctx.manifest.path, ctx.now)
                   for f in files}
        for f, fut in futures.items():
            outcomes[f] = fut.result()
    for f in files:
        out += report.findings(outcomes[f], ctx.manifest.path, ctx.manifest.rehearse_line)
    return out


CHECK = Check(name="rehearse", kind="rehearsal", run=run)
