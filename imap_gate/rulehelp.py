"""``--list-rules`` and ``--explain RULE``: the rule catalogue, read where the user is.

The text comes from the catalogue and from the same function that writes docs/rules.md,
so what ``--explain`` says is what the docs say, word for word.
"""

from __future__ import annotations

import json

from imap_gate import catalogue
from imap_gate.errors import InputError


def list_rules(fmt: str) -> str:
    families = catalogue.families()
    rows = [{"id": r.id, "name": r.name, "severity": r.severity.label,
             "family": families[r.id], "kind": r.kind, "short": r.short}
            for r in catalogue.catalogue().values()]
    if fmt == "json":
        return json.dumps(rows, indent=2) + "\n"
    if fmt == "markdown":
        lines = ["| id | name | severity | family |", "|---|---|---|---|"]
        lines += [f"| `{r['id']}` | `{r['name']}` | {r['severity']} | {r['family']} |" for r in rows]
        return "\n".join(lines) + "\n"
    wid = max(len(r["name"]) for r in rows)
    lines = [f"{'id':9} {'name':{wid}} {'severity':9} family"]
    lines += [f"{r['id']:9} {r['name']:{wid}} {r['severity']:9} {r['family']}" for r in rows]
    return "\n".join(lines) + "\n"


def explain(key: str, fmt: str) -> str:
    """The rule's section of docs/rules.md (an id or a name, in any case)."""
    from imap_gate.docs import rule_section
    from imap_gate.rules import doc_url

    rule = catalogue.resolve(key)
    if rule is None:
        import difflib

        rules = catalogue.catalogue().values()
        hint = difflib.get_close_matches(key.upper(), [r.id for r in rules], n=1) or \
            difflib.get_close_matches(key.lower(), [r.name for r in rules], n=1)
        extra = f"; did you mean {hint[0]!r}?" if hint else "; imap-gate --list-rules lists them"
        raise InputError(f"--explain: no rule {key!r}{extra}")
    if fmt == "json":
        doc = {"id": rule.id, "name": rule.name, "severity": rule.severity.label,
               "family": catalogue.families()[rule.id], "kind": rule.kind, "short": rule.short,
               "full": rule.full, "remediation": rule.remediation,
               "references": list(rule.references), "help_uri": doc_url(rule.id)}
        return json.dumps(doc, indent=2) + "\n"
    return "\n".join(rule_section(rule)) + f"Docs: {doc_url(rule.id)}\n"
