"""Sharding a fleet over a workflow matrix.

A target's shard depends only on its own name (a hash), so adding, removing
or re-ordering targets never moves any other target to another shard.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import replace

from imap_gate.errors import InputError
from imap_gate.manifest import Manifest


def parse(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", text or "")
    if not m or not (1 <= int(m.group(1)) <= int(m.group(2)) <= 1000):
        raise InputError(f"--shard {text!r}: write K/N with 1 <= K <= N <= 1000, e.g. 2/4")
    return int(m.group(1)), int(m.group(2))


def shard_of(target_name: str, total: int) -> int:
    digest = hashlib.sha256(target_name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def select(manifest: Manifest, k: int, n: int) -> Manifest:
    """Only the probe targets are split; the file linters run in every shard and
    ``merge`` removes the duplicates by fingerprint."""
    return replace(manifest, targets=tuple(t for t in manifest.targets if shard_of(t.name, n) == k))
