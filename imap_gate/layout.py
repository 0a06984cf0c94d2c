"""Where the check families and the schemas are, in a checkout and once installed.

The repository keeps ``checks/`` and ``schemas/`` at the top, beside ``imap_gate/`` (the
design card; the Docker image copies that layout). The wheel installs them inside this
package, as ``imap_gate.checks`` and ``imap_gate/schemas``, so that ``pip install`` puts no
package with a generic top-level name into site-packages. Everything that reaches the
families or the schemas goes through here, so one copy of each module is ever loaded.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType

_HERE = Path(__file__).resolve().parent
INSTALLED = (_HERE / "checks" / "__init__.py").is_file()
CHECKS = "imap_gate.checks" if INSTALLED else "checks"
SCHEMAS = _HERE / "schemas" if INSTALLED else _HERE.parent / "schemas"


def checks(module: str = "") -> ModuleType:
    """``checks(".registry")``: a module of the check families, wherever they are installed."""
    return importlib.import_module(CHECKS + module)
