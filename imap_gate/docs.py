"""Rule documentation, generated from the catalogue.

``python -m imap_gate.docs --write`` rewrites the table between the markers in
README.md and the whole of docs/rules.md; a test fails while either is behind
the catalogue, so the docs can never disagree with SARIF.
"""

from __future__ import annotations

import sys
from pathlib import Path

from imap_gate import catalogue
from imap_gate.rules import Rule

START, END = "<!-- rules:start -->", "<!-- rules:end -->"
REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
RULES_DOC = REPO / "docs" / "rules.md"


def _cell(text: str) -> str:
    return text.replace("\n", " ").replace("|", "\\|")


def rule_table() -> str:
    lines = ["| id | name | severity | what it means |", "|---|---|---|---|"]
    for rule in catalogue.catalogue().values():
        lines.append(f"| [`{rule.id}`](docs/rules.md#{rule.id.lower()}) | `{rule.name}` | "
                     f"{rule.severity.label} | {_cell(rule.short)} |")
    return "\n".join(lines)


def rules_doc() -> str:
    out = ["# imap-gate rules", "",
           "Generated from the rule catalogue by `python -m imap_gate.docs --write`; "
           "do not edit by hand.", ""]
    for rule in catalogue.catalogue().values():
        out += rule_section(rule)
    return "\n".join(out)


def rule_section(rule: Rule) -> list[str]:
    """One rule's section of docs/rules.md; ``imap-gate --explain RULE`` prints the same."""
    out = [f"## {rule.id}", "", f"`{rule.name}` · default severity **{rule.severity.label}** · "
           f"{rule.kind}", "", rule.short, "", rule.full, "", "**Remediation**", "",
           rule.remediation, ""]
    if rule.references:
        out += ["**References**", ""] + [f"- <{r}>" for r in rule.references] + [""]
    return out


def splice(text: str) -> str:
    head, sep, rest = text.partition(START)
    if not sep or END not in rest:
        raise SystemExit(f"README.md has no {START} ... {END} section")
    tail = rest.split(END, 1)[1]
    return f"{head}{START}\n{rule_table()}\n{END}{tail}"


def main(argv: list[str]) -> int:
    readme = README.read_text(encoding="utf-8")
    new_readme = splice(readme)
    doc = RULES_DOC.read_text(encoding="utf-8") if RULES_DOC.exists() else ""
    new_doc = rules_doc()
    if "--write" in argv:
        README.write_text(new_readme, encoding="utf-8")
        RULES_DOC.parent.mkdir(exist_ok=True)
        RULES_DOC.write_text(new_doc, encoding="utf-8")
        return 0
    if new_readme != readme or new_doc != doc:
        print("rule docs are out of date: run python -m imap_gate.docs --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
