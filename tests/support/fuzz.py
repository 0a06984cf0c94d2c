"""How many examples each fuzz test draws: its CI budget times IMAP_GATE_FUZZ_SCALE.

CI keeps the default (1); ``bench/fuzz.sh`` runs the same tests far longer."""

from __future__ import annotations

import os


def examples(budget: int) -> int:
    try:
        scale = float(os.environ.get("IMAP_GATE_FUZZ_SCALE", "1"))
    except ValueError:
        scale = 1.0
    return max(1, int(budget * max(scale, 0.01)))
