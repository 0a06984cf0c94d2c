"""``imap-gate merge``: shard reports into one SARIF run, deduplicated by fingerprint."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from imap_gate import catalogue
from imap_gate.baseline import FP_KEY
from imap_gate.errors import InputError
from imap_gate.reports import sarif

LEVEL_ORDER = {"error": 0, "warning": 1, "note": 2, "none": 3}


def _load(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"cannot read: {exc.strerror}", str(path)) from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InputError("not a SARIF file (invalid JSON)", str(path)) from None
    if not isinstance(doc, dict) or doc.get("version") != "2.1.0" or not doc.get("runs"):
        raise InputError("not a SARIF 2.1.0 file", str(path))
    for run in doc["runs"]:
        if run.get("tool", {}).get("driver", {}).get("name") != "imap-gate":
            raise InputError("not a SARIF report written by imap-gate", str(path))
    return doc


def _sort_key(res: dict[str, Any]) -> tuple:
    sev = float(res.get("properties", {}).get("security-severity", "0"))
    loc = res["locations"][0]["physicalLocation"]
    return (-sev, LEVEL_ORDER.get(res.get("level", "none"), 9), res["ruleId"],
            loc["artifactLocation"]["uri"], loc.get("region", {}).get("startLine", 1),
            res["partialFingerprints"].get(FP_KEY, ""), json.dumps(res, sort_keys=True))


def merge(paths: list[Path], category: str | None = None) -> dict[str, Any]:
    """Shards of one manifest merge on their own; reports of different manifests (different
    SARIF categories) only with an explicit ``category``, which GitHub then shows as one."""
    shards = _Shards()
    for path in paths:
        for run in _load(path)["runs"]:
            shards.add(run)
    results, notifications = shards.results, shards.notifications
    rules = list(catalogue.catalogue().values())
    index = {r.id: i for i, r in enumerate(rules)}
    unknown = sorted({r["ruleId"] for r in results.values() if r.get("ruleId") not in index})
    if unknown:
        notifications.append({"level": "warning", "message": {
            "text": f"dropped results of rules this version does not know: {', '.join(unknown)}"}})
    ordered = sorted((r for r in results.values() if r.get("ruleId") in index), key=_sort_key)
    for res in ordered:
        res["ruleIndex"] = index[res["ruleId"]]
    doc = sarif.build([], _category(category, shards.categories))
    run = doc["runs"][0]
    run["results"] = ordered[: sarif.MAX_RESULTS]
    run["invocations"] = [_invocation(shards.ok, notifications)]
    return doc


class _Shards:
    """What the runs read so far add up to: one result per fingerprint (the one that sorts
    first), the categories they came from, their notifications and whether all succeeded."""

    def __init__(self) -> None:
        self.results: dict[str, dict[str, Any]] = {}
        self.categories: set[str] = set()
        self.notifications: list[dict[str, Any]] = []
        self.ok = True

    def add(self, run: dict[str, Any]) -> None:
        cat = run.get("automationDetails", {}).get("id", "imap-gate/merged/")
        self.categories.add(re.sub(r"shard-\d+-of-\d+/$", "", cat))
        for inv in run.get("invocations", []):
            self.ok = self.ok and bool(inv.get("executionSuccessful", True))
            self.notifications += inv.get("toolExecutionNotifications", [])
        results = self.results
        for res in run.get("results", []):
            fp = res.get("partialFingerprints", {}).get(FP_KEY) or json.dumps(res, sort_keys=True)
            if fp not in results or _sort_key(res) < _sort_key(results[fp]):
                results[fp] = res


def _category(category: str | None, categories: set[str]) -> str:
    """The merged run's category: the one given (ending in '/'), else the one all shards
    share; reports of different manifests are not merged by accident."""
    if category:
        return category if category.endswith("/") else category + "/"
    if len(categories) == 1:
        return next(iter(categories))
    raise InputError(f"these reports come from different manifests ({', '.join(sorted(categories))}); "
                     "merge each manifest's shards on its own, or give --category ID to "
                     "make them one report")


def _invocation(ok: bool, notifications: list[dict[str, Any]]) -> dict[str, Any]:
    """One invocation for the merged run, its notifications in a stable order."""
    invocation: dict[str, Any] = {"executionSuccessful": ok}
    if notifications:
        invocation["toolExecutionNotifications"] = sorted(notifications,
                                                          key=lambda n: json.dumps(n, sort_keys=True))
    return invocation
