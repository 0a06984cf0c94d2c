"""What the Dovecot family publishes: each listed file's effective settings.

``CONFIGS`` maps each listed file (relative to the root) to its ``EffectiveConfig``; a file
included by another listed file maps to its parent's (see ``checks/dovecot/__init__.py`` for
the methods drift reads)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imap_gate.artefacts import Key

if TYPE_CHECKING:
    from .effective import EffectiveConfig

CONFIGS: Key[dict[str, EffectiveConfig]] = Key("dovecot.configs")
