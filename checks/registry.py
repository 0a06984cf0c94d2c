"""The one list of check families: each declares itself here, once, in one line.

A family is a folder ``checks/<name>/`` with its ``rules.py`` (``RULES``, the rules written
once) and, when it runs on its own, a ``Check`` in ``check.py``. Everything that needs to
know the families reads this list: the rule catalogue (``imap_gate.catalogue``: SARIF, docs,
``--list-rules``, waivers), the runner (``checks.all_checks``: order and ``--only``) and the
tests. Adding a family is its folder plus one line in ``FAMILIES``
(``tests/gate/test_registry.py`` registers a toy family that way).

Modules are named, not imported: a probe-only run never imports the linters' parsers, and a
lint-only run never imports the TLS code.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imap_gate.rules import Rule

    from . import Check

# The order in which kinds run: the files first, then the rehearsal of those files, then the
# live probes, then what correlates both (it reads what the others found).
STAGE = {"lint": 0, "rehearsal": 1, "probe": 2, "correlation": 3}
# Which kinds each --only runs. A rehearsal does nothing without --rehearse, in any mode.
ONLY = {None: frozenset(STAGE), "lint": frozenset({"lint", "rehearsal", "correlation"}),
        "probe": frozenset({"probe", "rehearsal"})}


@dataclass(frozen=True)
class Family:
    name: str                    # its folder under checks/, the family column of --list-rules
    kind: str                    # lint | rehearsal | probe | correlation (see STAGE)
    rules: str                   # the module that defines RULES (".imap.rules": in this package)
    check: str | None = None     # ".module:NAME" of its Check; None: another family runs it
    lint_check: str | None = None  # the Check run instead under --only lint, if it differs
    publishes: tuple[str, ...] = ()  # names of the artefact Keys its check puts (artefact.py)
    needs: tuple[str, ...] = ()      # names of the Keys it reads: published by earlier stages

    def load_rules(self) -> tuple[Rule, ...]:
        return tuple(_module(self.rules).RULES)

    def load_check(self, only: str | None) -> Check | None:
        """The Check this family runs in a run with ``--only only``, or None."""
        if self.kind not in ONLY[only]:
            return None
        ref = self.lint_check if only == "lint" and self.lint_check else self.check
        if ref is None:
            return None
        module, _, attr = ref.partition(":")
        check: Any = getattr(_module(module), attr)
        return check  # type: ignore[no-any-return]


def _module(name: str) -> Any:
    """A module named relative to this package (``.imap.rules``), or absolutely: in a checkout
    this package is ``checks``, in the installed wheel ``imap_gate.checks``."""
    return importlib.import_module(name, package=__package__)


# The order of this list is the order of the rule catalogue (README table, docs/rules.md);
# checks run by STAGE, then in this order.
FAMILIES: list[Family] = [
    Family("imap", "probe", ".imap.rules", ".imap.check:CHECK", publishes=("imap.endpoints",)),
    Family("tls", "probe", ".tls.rules"),  # run by the imap family on each endpoint
    Family("dovecot", "lint", ".dovecot.rules", ".dovecot.check:CHECK",
           publishes=("dovecot.configs",)),
    Family("firewall", "lint", ".firewall.rules", ".firewall.check:CHECK",
           publishes=("firewall.verdicts",)),
    Family("drift", "correlation", ".drift.rules", ".drift.check:CHECK",
           lint_check=".drift.check:FILES_CHECK",
           needs=("imap.endpoints", "dovecot.configs", "firewall.verdicts")),
    Family("rehearse", "rehearsal", ".rehearse.rules", ".rehearse.check:CHECK"),
]
