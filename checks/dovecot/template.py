"""Template placeholders: values a deployment tool fills in later.

A templated value is never guessed: ``ssl = {{ dovecot_ssl }}`` could become
``no`` or ``required``, so it is reported as "could not be judged" instead.
Dovecot's own variables (``%u``, ``%Ld``, ``%{user}``) are not templates.
"""

from __future__ import annotations

import re

_PATTERNS = (
    re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#"),     # jinja / Go templates
    re.compile(r"<%(?:[=#\-\s]|$)"),             # ERB (Dovecot's "<%u>" is not one)
    re.compile(r"\bPH_[A-Z0-9_]+"),               # iRedMail placeholders
    re.compile(r"\$\{[A-Za-z_][^}]*\}"),          # shell / envsubst / docker
    re.compile(r"(?<![%\w])%[a-z][a-z0-9_]*[a-z0-9_]"),  # modoboa-style %name (2+ chars)
    re.compile(r"@@[A-Za-z_]+@@|__[A-Z][A-Z0-9_]+__"),  # @@VAR@@, __VAR__
)

# Dovecot's own two-letter forms, e.g. ``%Lu`` and ``%1Mu``, start with an
# upper-case modifier or a digit and never match the lower-case pattern above,
# but a few lower-case pairs are real Dovecot variables in 2.x (``%lu`` is not,
# yet ``%un`` etc. do not exist): keep this list of known short forms safe.
_DOVECOT_SHORT = re.compile(r"^%[a-z]$")


def is_templated(value: str) -> bool:
    """True when the text holds a placeholder a template engine would replace."""
    if not value:
        return False
    if "{" not in value and "%" not in value and "PH_" not in value and "<" not in value \
            and "$" not in value and "@@" not in value and "__" not in value:
        return False
    return any(p.search(value) for p in _PATTERNS)


def placeholder(value: str) -> str:
    """The first placeholder in the text, for the message."""
    for p in _PATTERNS:
        m = p.search(value)
        if m:
            return m.group(0)
    return value


def is_template_line(text: str) -> bool:
    """A whole line that is template control flow or a placeholder (``{% if %}``, ``%protocols``)."""
    s = text.strip()
    if s.startswith(("%", "{%", "{{", "{#")) or re.match(r"<%(?:[=#\-\s]|$)", s):
        return True
    return bool(s) and is_templated(s) and not _DOVECOT_SHORT.match(s)
