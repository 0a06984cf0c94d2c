"""GitHub Actions glue: annotations, job summary, step outputs, SARIF upload.

Everything here is a view over one ``RunResult``; none of it decides the gate.
The CLI calls ``action.run`` only when it runs inside Actions.
"""

import os
from collections.abc import Mapping


def active(env: Mapping[str, str] | None = None) -> bool:
    """Here, not in ``action``: every run asks, and only a run inside Actions should pay for
    importing the Action's code."""
    env = os.environ if env is None else env
    return env.get("GITHUB_ACTIONS") == "true"
