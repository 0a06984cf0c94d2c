"""Lint time of the Dovecot linter: generated 10k and 100k-line configs, and the corpus.

Run from the repository root: ``python bench/dovecot_lint.py``. Prints seconds per
case and the growth exponent between 10k and 100k lines (1.0 = linear, 2.0 =
quadratic).
"""

from __future__ import annotations

import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from checks.dovecot.check import lint_file

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpus" / "dovecot"
BLOCK = [
    "protocol imap {", "  ssl_min_protocol = TLSv1.2", "  mail_plugins = $mail_plugins imap_quota",
    "}", "ssl = yes", "auth_mechanisms = plain login", "# a comment line",
    "login_trusted_networks = 10.0.0.0/8 \\", "   192.168.0.0/16",
    "remote 10.0.0.0/8 {", "  disable_plaintext_auth = no", "}",
    "service imap-login {", "  inet_listener imaps {", "    port = 993", "  }", "}",
    'login_greeting = "Mail server ready."',
]


def generated(n: int) -> str:
    return "\n".join(BLOCK[i % len(BLOCK)] for i in range(n)) + "\n"


def best_of(fn, runs: int = 3) -> float:
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        times = {}
        for n in (10_000, 100_000):
            (root / f"g{n}.conf").write_text(generated(n))
            times[n] = best_of(lambda n=n: lint_file(root, f"g{n}.conf"))
            print(f"generated {n:>7} lines: {times[n]:.3f} s")
        exponent = math.log(times[100_000] / times[10_000]) / math.log(10)
        print(f"growth exponent 10k -> 100k: {exponent:.2f} (1.0 = linear)")
    if CORPUS.is_dir():
        files = sorted(p.name for p in CORPUS.iterdir() if p.is_file())
        t = best_of(lambda: [lint_file(CORPUS, f) for f in files])
        print(f"corpus ({len(files)} files): {t:.3f} s")
    else:
        print(f"corpus: not found at {CORPUS}")


if __name__ == "__main__":
    main()
