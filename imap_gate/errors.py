"""The tool's own error types.

Everything a user can cause (a bad manifest, an unreadable file, a bad flag)
becomes an ``InputError`` whose text is one line naming the file and line, so
the CLI can print it and exit 2 without a traceback.
"""

from __future__ import annotations


class GateError(Exception):
    """Base of every error imap-gate raises on purpose."""


class InputError(GateError):
    """Bad input: printed as ``file:line:col: message`` and exit 2."""

    def __init__(self, message: str, path: str | None = None, line: int | None = None,
                 column: int | None = None) -> None:
        self.message = message
        self.path = path
        self.line = line
        self.column = column
        super().__init__(self.render())

    def render(self) -> str:
        where = ""
        if self.path:
            where = self.path
            if self.line:
                where += f":{self.line}"
                if self.column:
                    where += f":{self.column}"
            where += ": "
        return f"{where}{self.message}"


class InputErrors(GateError):
    """Several input errors found in one pass, so the user fixes them all at once."""

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = errors
        super().__init__("\n".join(e.render() for e in errors))
