"""Enough of the POSIX shell (and bash) to read firewall scripts statically.

Scripts are never executed. They are parsed into commands, ``if``/``for``/``while``/
``case`` blocks, functions, ``{ }`` and ``( )`` groups, ``;`` / ``&&`` / ``||`` / ``|``
lists and heredocs, then walked as the shell would run them with ``$1`` = ``start``
(how an init system starts an init.d script; the ``start`` branch of ``case "$1"`` is
the ruleset, ``stop``/``restart``/``status`` are not). Function bodies run where they are
called. A loop over a literal list runs once per item; over a computed list once with
its variable unknown. A value the script does not set (or computes at run time) is left
as ``$NAME``: it is never guessed, and the readers report it where it decides.

The caller gets each simple command, expanded, through ``run`` and answers with its exit
status (or None when unknown), so ``iptables -C ... || iptables -A ...`` reads right.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

VAR = re.compile(r"\$\{([A-Za-z_]\w*|[0-9#@*?])(?:(:?[-=+])([^}]*))?\}|\$([A-Za-z_]\w*|[0-9#@*?])")
ASSIGN = re.compile(r"^([A-Za-z_]\w*)(\+?)=(.*)$", re.S)
WHICH = re.compile(r"^\$\(\s*(?:which|command\s+-v|type\s+-p)\s+([\w./-]+)\s*\)$|"
                   r"^`\s*(?:which|command\s+-v|type\s+-p)\s+([\w./-]+)\s*`$")
RESERVED = {"if", "then", "elif", "else", "fi", "for", "in", "do", "done", "while", "until",
            "case", "esac", "function", "{", "}", "!", "select"}
WRAPPERS = {"sudo", "command", "exec", "nohup", "time", "builtin", "nice", "ionice", "chronic",
            "doas"}
SUDO_ARG_OPTS = {"-u", "-g", "-h", "-p", "-C", "-D", "-r", "-t", "-U", "--user", "--group"}
MAX_CALL_DEPTH = 32
MAX_LOOP = 1024
MAX_STEPS = 200_000


@dataclass
class Command:
    line: int
    words: list[str]
    text: str
    heredoc: str | None = None
    heredoc_line: int = 0


@dataclass
class ShellIssue:
    line: int
    message: str
    text: str


# ---------------------------------------------------------------- lexer

@dataclass
class Word:
    parts: list[tuple[str, str]]   # (lit | dq | bare | sub, text)
    line: int

    @property
    def plain(self) -> str | None:
        """The word's text when it is one unquoted literal (reserved words must be)."""
        if len(self.parts) == 1 and self.parts[0][0] == "bare" and "$" not in self.parts[0][1]:
            return self.parts[0][1]
        return None

    def raw(self) -> str:
        return "".join(t if k != "dq" else f'"{t}"' for k, t in self.parts)


@dataclass
class Tok:
    kind: str          # word | op | nl
    line: int
    word: Word | None = None
    op: str = ""
    heredoc: str | None = None
    heredoc_line: int = 0


OPS = ("&&", "||", ";;", ";&", "<<<", "<<-", "<<", ">>", ">&", "<&", "&>", ">|", "<>", "|&", ";",
       "&", "|", "(", ")", "<", ">")


class _Lexer:
    """Shell text -> words, operators and newlines; a word keeps its quoting (``Word.parts``)
    because quoted and unquoted expansions split differently."""

    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.line = 1
        self.toks: list[Tok] = []
        self.pending: list[tuple[Tok, str, bool]] = []
        self.parts: list[tuple[str, str]] = []   # the word being read
        self.buf: list[str] = []                 # its current unquoted run
        self.start_line = 1

    def lex(self) -> list[Tok]:
        n = len(self.s)
        while self.i < n:
            c = self.s[self.i]
            if not self.parts and not self.buf:
                self.start_line = self.line
            handler = _LEX_HANDLERS.get(c)
            if handler is None or not handler(self):
                self._op_or_char()
        self._end_word()
        self.toks.append(Tok("nl", self.line))
        return self.toks

    def _flush_buf(self) -> None:
        if self.buf:
            self.parts.append(("bare", "".join(self.buf)))
            self.buf.clear()

    def _end_word(self) -> None:
        self._flush_buf()
        if self.parts:
            self.toks.append(Tok("word", self.start_line, Word(self.parts, self.start_line)))
            self.parts = []

    def _in_word(self) -> bool:
        return bool(self.parts or self.buf)

    def _backslash(self) -> bool:
        """``\\<newline>`` joins lines; ``\\c`` is a literal c."""
        s, n = self.s, len(self.s)
        if self.i + 1 < n and s[self.i + 1] == "\n":
            self.i += 2
            self.line += 1
            return True
        if self.i + 1 < n:
            self._flush_buf()
            self.parts.append(("lit", s[self.i + 1]))
            self.i += 2
            return True
        self.buf.append("\\")
        self.i += 1
        return True

    def _blank(self) -> bool:
        self._end_word()
        self.i += 1
        return True

    def _newline(self) -> bool:
        """A newline ends the command; the bodies of heredocs opened on the line follow it."""
        self._end_word()
        self.toks.append(Tok("nl", self.line))
        self.i += 1
        self.line += 1
        self._heredocs()
        return True

    def _comment(self) -> bool:
        if self._in_word():
            return False            # a#b is one word
        s, n = self.s, len(self.s)
        while self.i < n and s[self.i] != "\n":
            self.i += 1
        return True

    def _squote(self) -> bool:
        s, n = self.s, len(self.s)
        self._flush_buf()
        j = s.find("'", self.i + 1)
        j = n if j < 0 else j
        chunk = s[self.i + 1:j]
        self.parts.append(("lit", chunk))
        self.line += chunk.count("\n")
        self.i = j + 1
        return True

    def _dollar(self) -> bool:
        """``$'...'``, ``$(...)`` and ``${...}``; any other ``$`` is part of a bare run."""
        s = self.s
        if s.startswith("$'", self.i):
            self._ansi_c()
        elif s.startswith("$(", self.i):
            self._flush_buf()
            j = self._balanced(self.i + 1, "(", ")")
            chunk = s[self.i:j]
            self.parts.append(("sub", chunk))
            self.line += chunk.count("\n")
            self.i = j
        elif s.startswith("${", self.i):
            j = self._balanced(self.i + 1, "{", "}")
            self.buf.append(s[self.i:j])
            self.i = j
        else:
            return False
        return True

    def _ansi_c(self) -> None:
        """bash's ``$'...'``: a literal with \\n and \\t decoded."""
        s, n = self.s, len(self.s)
        self._flush_buf()
        j = self.i + 2
        out = []
        while j < n and s[j] != "'":
            if s[j] == "\\" and j + 1 < n:
                out.append({"n": "\n", "t": "\t"}.get(s[j + 1], s[j + 1]))
                j += 2
                continue
            out.append(s[j])
            j += 1
        self.parts.append(("lit", "".join(out)))
        self.i = j + 1

    def _dquote(self) -> bool:
        self._flush_buf()
        self.parts.append(("dq", self._dquoted()))
        return True

    def _backtick(self) -> bool:
        s, n = self.s, len(self.s)
        self._flush_buf()
        j = self.i + 1
        while j < n and s[j] != "`":
            j += 2 if s[j] == "\\" else 1
        chunk = s[self.i:j + 1]
        self.parts.append(("sub", chunk))
        self.line += chunk.count("\n")
        self.i = j + 1
        return True

    def _op_or_char(self) -> None:
        """An operator ends the word (and may start a heredoc); any other character joins it."""
        s = self.s
        op = next((o for o in OPS if s.startswith(o, self.i)), None)
        if op is None:
            self.buf.append(s[self.i])
            self.i += 1
            return
        if op in ("<", ">", ">>", ">&", "<&", "<>", ">|") and not self.parts and self.buf and \
                "".join(self.buf).isdigit():
            self.buf.clear()  # 2>&1, 2>/dev/null: the fd number belongs to the redirection
        if op == "(" and self._in_word() and not s.startswith("()", self.i):
            # a(...) inside a word, e.g. an array or glob: keep it in the word
            j = self._balanced(self.i, "(", ")")
            self.buf.append(s[self.i:j])
            self.i = j
            return
        self._end_word()
        tok = Tok("op", self.line, op=op)
        self.toks.append(tok)
        self.i += len(op)
        if op in ("<<", "<<-"):
            self._heredoc_start(tok, strip=op == "<<-")

    def _dquoted(self) -> str:
        s, n = self.s, len(self.s)
        j = self.i + 1
        out: list[str] = []
        while j < n and s[j] != '"':
            ch = s[j]
            if ch == "\\" and j + 1 < n:
                nxt = s[j + 1]
                if nxt == "\n":
                    self.line += 1
                    j += 2
                    continue
                out.append(nxt if nxt in '$`"\\' else ch + nxt)
                j += 2
                continue
            if ch == "$" and s.startswith("$(", j):
                k = self._balanced(j + 1, "(", ")")
                out.append(s[j:k])
                j = k
                continue
            if ch == "\n":
                self.line += 1
            out.append(ch)
            j += 1
        self.i = j + 1
        return "".join(out)

    def _balanced(self, j: int, open_: str, close: str) -> int:
        """Index after the bracket closing the one at ``j`` (quotes respected)."""
        s, n = self.s, len(self.s)
        depth = 0
        cases = 0   # inside $( case ... esac ), a pattern's ")" closes nothing
        while j < n:
            ch = s[j]
            if ch == "\\":
                j += 2
                continue
            if open_ == "(" and ch in "ce":
                cases += self._case_word(j)
            if ch == close and cases > 0 and depth == 1:
                j += 1
                continue
            after = self._after_quote(j, open_)
            if after is not None:
                j = after
                continue
            if ch == open_:
                depth += 1
            elif ch == close:
                depth -= 1
                if depth == 0:
                    return j + 1
            j += 1
        return n

    def _case_word(self, j: int) -> int:
        """+1 where the word ``case`` starts at ``j``, -1 for ``esac``, else 0."""
        s, n = self.s, len(self.s)
        if j > 0 and (s[j - 1].isalnum() or s[j - 1] == "_"):
            return 0
        for word, delta in (("case", 1), ("esac", -1)):
            if s.startswith(word, j) and (j + 4 >= n or not s[j + 4].isalnum()):
                return delta
        return 0

    def _after_quote(self, j: int, open_: str) -> int | None:
        """Index after the quoted string starting at ``j``, or None when none starts there
        (single quotes are skipped as a string only inside ``$( )``)."""
        s, n = self.s, len(self.s)
        if s[j] == "'" and open_ == "(":
            k = s.find("'", j + 1)
            return n if k < 0 else k + 1
        if s[j] == '"':
            k = j + 1
            while k < n and s[k] != '"':
                k += 2 if s[k] == "\\" else 1
            return k + 1
        return None

    def _heredoc_start(self, tok: Tok, strip: bool) -> None:
        s, n = self.s, len(self.s)
        j = self.i
        while j < n and s[j] in " \t":
            j += 1
        k = j
        while k < n and s[k] not in " \t\n;&|<>()":
            k += 1
        delim = s[j:k].replace('"', "").replace("'", "").replace("\\", "")
        if delim:
            self.pending.append((tok, delim, strip))
            self.i = k

    def _heredocs(self) -> None:
        s, n = self.s, len(self.s)
        for tok, delim, strip in self.pending:
            body: list[str] = []
            tok.heredoc_line = self.line
            while self.i < n:
                j = s.find("\n", self.i)
                j = n if j < 0 else j
                ln = s[self.i:j]
                self.i = min(j + 1, n)
                self.line += 1
                if (ln.lstrip("\t") if strip else ln) == delim:
                    break
                body.append(ln.lstrip("\t") if strip else ln)
            tok.heredoc = "\n".join(body) + "\n"
        self.pending = []


# The first character of what comes next -> the _Lexer method that reads it; it answers False
# when the character is an ordinary one there (``#`` inside a word, a lone ``$``).
_LEX_HANDLERS: dict[str, Callable[[_Lexer], bool]] = {
    "\\": _Lexer._backslash, " ": _Lexer._blank, "\t": _Lexer._blank, "\r": _Lexer._blank,
    "\n": _Lexer._newline, "#": _Lexer._comment, "'": _Lexer._squote, "$": _Lexer._dollar,
    '"': _Lexer._dquote, "`": _Lexer._backtick,
}


# ---------------------------------------------------------------- parser

@dataclass
class Node:
    line: int
    end: int = 0


@dataclass
class Simple(Node):
    words: list[Word] = field(default_factory=list)
    heredoc: str | None = None
    heredoc_line: int = 0


@dataclass
class AndOr(Node):
    items: list[tuple[str, bool, list[Node]]] = field(default_factory=list)  # (op, negated, pipe)


@dataclass
class If(Node):
    branches: list[tuple[list[Node], list[Node]]] = field(default_factory=list)
    orelse: list[Node] | None = None


@dataclass
class Loop(Node):
    kind: str = "for"                  # for | while | until
    var: str = ""
    items: list[Word] | None = None    # for: the words (None: "$@")
    cond: list[Node] = field(default_factory=list)
    body: list[Node] = field(default_factory=list)


@dataclass
class Case(Node):
    word: Word | None = None
    arms: list[tuple[list[Word], list[Node]]] = field(default_factory=list)


@dataclass
class Group(Node):
    body: list[Node] = field(default_factory=list)
    subshell: bool = False


@dataclass
class Func(Node):
    name: str = ""
    body: list[Node] = field(default_factory=list)


class _Parser:
    def __init__(self, toks: list[Tok]) -> None:
        self.t = toks
        self.i = 0

    def peek(self) -> Tok:
        return self.t[self.i] if self.i < len(self.t) else Tok("nl", self.t[-1].line if self.t else 1)

    def at_word(self, *names: str) -> bool:
        tok = self.peek()
        return tok.kind == "word" and tok.word is not None and tok.word.plain in names

    def skip_nl(self) -> None:
        while self.i < len(self.t) and (self.t[self.i].kind == "nl" or
                                        (self.t[self.i].kind == "op" and self.t[self.i].op in
                                         (";", "&"))):
            self.i += 1

    def expect_word(self, name: str) -> None:
        self.skip_nl()
        if self.at_word(name):
            self.i += 1
        else:
            raise _SyntaxError(self.peek().line, f"'{name}' expected")

    def parse_list(self, stops: tuple[str, ...] = (), stop_ops: tuple[str, ...] = ()) -> list[Node]:
        out: list[Node] = []
        while True:
            self.skip_nl()
            if self.i >= len(self.t):
                return out
            tok = self.peek()
            if stops and self.at_word(*stops):
                return out
            if tok.kind == "op" and tok.op in stop_ops:
                return out
            if tok.kind == "op" and tok.op in (")", ";;", ";&"):
                if stop_ops:
                    return out
                raise _SyntaxError(tok.line, f"unexpected {tok.op!r}")
            out.append(self.and_or())

    def and_or(self) -> Node:
        start = self.peek().line
        node = AndOr(start)
        op = ""
        while True:
            neg = False
            while self.at_word("!"):
                neg = not neg
                self.i += 1
            pipe = [self.command()]
            while self.peek().kind == "op" and self.peek().op in ("|", "|&"):
                self.i += 1
                self._skip_newlines()
                pipe.append(self.command())
            node.items.append((op, neg, pipe))
            tok = self.peek()
            if tok.kind == "op" and tok.op in ("&&", "||"):
                op = tok.op
                self.i += 1
                self._skip_newlines()
                continue
            break
        node.end = self.t[self.i - 1].line if self.i else start
        if len(node.items) == 1 and not node.items[0][1] and len(node.items[0][2]) == 1:
            return node.items[0][2][0]
        return node

    def _skip_newlines(self) -> None:
        """The newlines a ``|``, ``&&`` or ``||`` may be followed by; only real ones: at the end
        of the input ``peek`` stands in a newline for ever, and the command that must follow is
        then missing (bash: "unexpected end of file")."""
        while self.i < len(self.t) and self.t[self.i].kind == "nl":
            self.i += 1

    def command(self) -> Node:
        tok = self.peek()
        line = tok.line
        if tok.kind == "op" and tok.op == "(":
            self.i += 1
            body = self.parse_list(stop_ops=(")",))
            self._op(")")
            self._redirs()
            return Group(line, self._end(), body, subshell=True)
        if tok.kind != "word":
            raise _SyntaxError(line, f"unexpected {tok.op or 'end of line'!r}")
        w = tok.word.plain if tok.word else None
        compound = _COMPOUND.get(w or "")
        if compound is not None:
            self.i += 1
            return compound(self, line, w or "")
        if w and self._at_func_parens():   # name() compound
            self.i += 3
            return self._func_body(line, w)
        return self.simple()

    def _at_func_parens(self) -> bool:
        """``name ( )`` ahead: a function definition, not a command."""
        nxt = self.t[self.i + 1] if self.i + 1 < len(self.t) else None
        nxt2 = self.t[self.i + 2] if self.i + 2 < len(self.t) else None
        return nxt is not None and nxt.kind == "op" and nxt.op == "(" and nxt2 is not None and \
            nxt2.kind == "op" and nxt2.op == ")"

    def _brace_group(self, line: int, _w: str) -> Node:
        body = self.parse_list(stops=("}",))
        self.expect_word("}")
        self._redirs()
        return Group(line, self._end(), body)

    def _if(self, line: int, _w: str) -> Node:
        node = If(line)
        while True:
            cond = self.parse_list(stops=("then",))
            self.expect_word("then")
            node.branches.append((cond, self.parse_list(stops=("elif", "else", "fi"))))
            if not self.at_word("elif"):
                break
            self.i += 1
        if self.at_word("else"):
            self.i += 1
            node.orelse = self.parse_list(stops=("fi",))
        self.expect_word("fi")
        self._redirs()
        node.end = self._end()
        return node

    def _do_done(self) -> list[Node]:
        """``do ... done`` and the redirections after it: a loop's body."""
        self.expect_word("do")
        body = self.parse_list(stops=("done",))
        self.expect_word("done")
        self._redirs()
        return body

    def _while(self, line: int, w: str) -> Node:
        cond = self.parse_list(stops=("do",))
        body = self._do_done()
        return Loop(line, self._end(), w, cond=cond, body=body)

    def _for(self, line: int, _w: str) -> Node:
        var_tok = self.peek()
        if var_tok.kind == "op" and var_tok.op == "(":
            # for (( i = 0; i < n; i++ )): the body runs once, the counter unknown
            closes = 0
            while self.i < len(self.t) and closes < 2:
                tk = self.peek()
                closes = closes + 1 if tk.kind == "op" and tk.op == ")" else 0
                self.i += 1
            body = self._do_done()
            return Loop(line, self._end(), "while", body=body)
        var = var_tok.word.plain if var_tok.word else None
        if not var:
            raise _SyntaxError(line, "a for loop needs a variable name")
        self.i += 1
        items: list[Word] | None = None
        self._skip_newlines()
        if self.at_word("in"):
            self.i += 1
            items = []
            while self.peek().kind == "word":
                assert self.peek().word is not None
                items.append(self.peek().word)  # type: ignore[arg-type]
                self.i += 1
        body = self._do_done()
        return Loop(line, self._end(), "for", var, items, body=body)

    def _case(self, line: int, _w: str) -> Node:
        subject = self.peek().word
        self.i += 1
        self._skip_newlines()
        self.expect_word("in")
        case = Case(line, word=subject)
        while True:
            self.skip_nl()
            if self.at_word("esac"):
                self.i += 1
                break
            if self.i >= len(self.t):
                raise _SyntaxError(line, "'esac' expected")
            case.arms.append(self._case_arm())
        self._redirs()
        case.end = self._end()
        return case

    def _case_arm(self) -> tuple[list[Word], list[Node]]:
        """``[(] pat [| pat ...] ) body ;;``"""
        if self.peek().kind == "op" and self.peek().op == "(":
            self.i += 1
        pats: list[Word] = []
        while True:
            tk = self.peek()
            if tk.kind != "word" or tk.word is None:
                raise _SyntaxError(tk.line, "a case pattern expected")
            pats.append(tk.word)
            self.i += 1
            if self.peek().kind == "op" and self.peek().op == "|":
                self.i += 1
                continue
            break
        self._op(")")
        body = self.parse_list(stops=("esac",), stop_ops=(";;", ";&"))
        if self.peek().kind == "op" and self.peek().op in (";;", ";&"):
            self.i += 1
        return pats, body

    def _function(self, line: int, _w: str) -> Node:
        name_tok = self.peek()
        name = name_tok.word.raw() if name_tok.word else ""
        self.i += 1
        if self.peek().kind == "op" and self.peek().op == "(":
            self.i += 1
            self._op(")")
        return self._func_body(line, name)

    def _func_body(self, line: int, name: str) -> Func:
        self._skip_newlines()
        body_node = self.command()
        body = body_node.body if isinstance(body_node, Group) else [body_node]
        return Func(line, self._end(), name, body)

    def simple(self) -> Simple:
        node = Simple(self.peek().line)
        while True:
            tok = self.peek()
            if tok.kind == "word":
                assert tok.word is not None
                node.words.append(tok.word)
                self.i += 1
            elif tok.kind == "op" and tok.op in ("<", ">", ">>", ">&", "<&", "&>", ">|", "<>",
                                                 "<<<"):
                self.i += 1
                if self.peek().kind == "word":
                    self.i += 1
            elif tok.kind == "op" and tok.op in ("<<", "<<-"):
                self.i += 1
                node.heredoc, node.heredoc_line = tok.heredoc, tok.heredoc_line
            else:
                break
        node.end = self._end()
        if not node.words and node.heredoc is None:
            raise _SyntaxError(node.line, f"unexpected {self.peek().op or 'token'!r}")
        return node

    def _redirs(self) -> None:
        while self.peek().kind == "op" and self.peek().op in ("<", ">", ">>", ">&", "<&", "&>",
                                                               ">|", "<>", "<<<", "<<", "<<-"):
            self.i += 1
            if self.peek().kind == "word":
                self.i += 1

    def _op(self, op: str) -> None:
        tok = self.peek()
        if tok.kind == "op" and tok.op == op:
            self.i += 1
            return
        raise _SyntaxError(tok.line, f"{op!r} expected")

    def _end(self) -> int:
        return self.t[self.i - 1].line if self.i else 1


# A reserved word that opens a compound command -> the _Parser method that reads the rest of it
# (the word itself already taken; the method gets its line and the word).
_COMPOUND: dict[str, Callable[[_Parser, int, str], Node]] = {
    "{": _Parser._brace_group, "if": _Parser._if, "while": _Parser._while,
    "until": _Parser._while, "for": _Parser._for, "select": _Parser._for,
    "case": _Parser._case, "function": _Parser._function,
}


class _SyntaxError(Exception):
    def __init__(self, line: int, msg: str) -> None:
        super().__init__(msg)
        self.line = line


# ---------------------------------------------------------------- interpreter

class _Exit(Exception):
    pass


class _Return(Exception):
    pass


class _Break(Exception):
    pass


Runner = Callable[[Command], "int | None"]


class Interpreter:
    """Walks the parsed script; ``run`` gets every simple command that is not a shell builtin."""

    def __init__(self, text: str, run: Runner, tool: Callable[[str], bool]) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.run = run
        self.tool = tool
        self.env: dict[str, str] = {}
        self.funcs: dict[str, list[Node]] = {}
        self.func_src: dict[str, str] = {}
        self.args: list[list[str]] = [["start"]]
        self.issues: list[ShellIssue] = []
        self.depth = 0
        self.steps = 0

    # -- text helpers
    def src(self, node: Node) -> str:
        a, b = node.line, max(node.end, node.line)
        return "\n".join(self.lines[a - 1:b])

    def line_text(self, line: int) -> str:
        return self.lines[line - 1].strip() if 0 < line <= len(self.lines) else ""

    def mentions_tool(self, nodes: list[Node]) -> bool:
        """Does this block (or a function it calls) hold a firewall command?"""
        if not nodes:
            return False
        text = "\n".join(self.src(n) for n in nodes)
        for word in re.findall(r"[\w./${}-]+", text):
            if self.tool(word.rsplit("/", 1)[-1]):
                return True
            m = VAR.fullmatch(word)
            if m:
                val = self.env.get(m.group(1) or m.group(4) or "", "")
                if val and self.tool(val.split()[0].rsplit("/", 1)[-1]):
                    return True
            if word in self.func_src and self.depth < 4:
                self.depth += 1
                try:
                    if self.mentions_tool(self.funcs[word]):
                        return True
                finally:
                    self.depth -= 1
        return False

    # -- expansion
    def _param(self, name: str) -> str | None:
        args = self.args[-1]
        if name.isdigit():
            k = int(name)
            if k == 0:
                return "script"
            return args[k - 1] if k <= len(args) else ""
        if name in ("@", "*"):
            return " ".join(args)
        if name == "#":
            return str(len(args))
        if name == "?":
            return None
        return self.env.get(name)

    def expand_text(self, text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1) or m.group(4)
            op, default = m.group(2), m.group(3)
            val = self._param(name)
            if op:
                if op in (":-", ":=") and not val:
                    val = self.expand_text(default or "")
                    if op == ":=" and not name.isdigit():
                        self.env[name] = val
                elif op in ("-", "=") and val is None:
                    val = self.expand_text(default or "")
                elif op in (":+", "+"):
                    val = self.expand_text(default or "") if val else ""
            return m.group(0) if val is None else val

        return VAR.sub(sub, text) if "$" in text else text

    def _subst(self, chunk: str) -> str:
        m = WHICH.match(chunk.strip())
        if m:
            return m.group(1) or m.group(2)
        return chunk   # a command substitution: its output is not known statically

    def expand(self, word: Word) -> list[str]:
        """One word -> fields: unquoted expansions split on blanks, quoted ones do not."""
        fields: list[str] = []
        cur = ""
        have = False
        for kind, text in word.parts:
            if kind == "lit":
                cur += text
                have = True
            elif kind == "dq":
                cur += self.expand_text(text.replace("$(", "\0(")).replace("\0(", "$(") \
                    if "$(" in text else self.expand_text(text)
                have = True
            elif kind == "sub":
                cur += self._subst(text)
                have = True
            else:
                val = self.expand_text(text)
                if val == text or "$" not in text:
                    cur += val
                    have = have or bool(val)
                    continue
                pieces = val.split()
                if not pieces:
                    continue
                if val[:1].isspace() and have:
                    fields.append(cur)
                    cur, have = "", False
                cur += pieces[0]
                have = True
                for p in pieces[1:]:
                    fields.append(cur)
                    cur = p
                if val[-1:].isspace():
                    fields.append(cur)
                    cur, have = "", False
        if have or cur:
            fields.append(cur)
        return fields

    def expand_words(self, words: list[Word]) -> list[str]:
        out: list[str] = []
        for w in words:
            out += self.expand(w)
        return out

    def known(self, value: str) -> bool:
        return "$" not in value and "`" not in value

    # -- execution
    def execute(self) -> None:
        try:
            nodes = _Parser(_Lexer(self.text).lex()).parse_list()
        except _SyntaxError as exc:
            self.issues.append(ShellIssue(exc.line, f"shell syntax error: {exc}",
                                          self.line_text(exc.line)))
            return
        try:
            self.block(nodes)
        except (_Exit, _Return, _Break):
            pass

    def block(self, nodes: list[Node]) -> int | None:
        status: int | None = 0
        for n in nodes:
            status = self.node(n)
        return status

    def node(self, n: Node) -> int | None:
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise _Exit
        if isinstance(n, Simple):
            return self.simple(n)
        if isinstance(n, AndOr):
            return self._and_or(n)
        if isinstance(n, Func):
            self.funcs[n.name] = n.body
            self.func_src[n.name] = self.src(n)
            return 0
        if isinstance(n, Group):
            return self._group(n)
        if isinstance(n, If):
            return self._if(n)
        if isinstance(n, Loop):
            return self._loop(n)
        if isinstance(n, Case):
            return self._case(n)
        return 0

    def _and_or(self, n: AndOr) -> int | None:
        """``a && b || c``: a part runs by the status before it; after an unknown status only
        parts that hold a firewall command are read (as if run), the rest skipped."""
        status: int | None = 0
        for op, neg, pipe in n.items:
            if op == "&&" and status not in (0, None):
                continue
            if op == "||" and status == 0:
                continue
            if op and status is None and not self.mentions_tool(pipe):
                continue
            st: int | None = 0
            for p in pipe:
                st = self.node(p)
            status = (None if st is None else int(st == 0)) if neg else st
        return status

    def _group(self, n: Group) -> int | None:
        """``{ ...; }`` runs in this shell; ``( ... )`` in a subshell, whose variables and
        ``exit`` do not reach the script."""
        if not n.subshell:
            return self.block(n.body)
        saved = dict(self.env)
        try:
            return self.block(n.body)
        except _Exit:
            return 0
        finally:
            self.env = saved

    def _if(self, n: If) -> int | None:
        undecided: list[list[Node]] = []
        for cond, body in n.branches:
            st = self.block(cond)
            if st == 0:
                if not undecided:
                    return self.block(body)
                undecided.append(body)
                break
            if st is None:
                undecided.append(body)
        else:
            if not undecided:
                return self.block(n.orelse or [])
            undecided.append(n.orelse or [])
        with_tool = [b for b in undecided if self.mentions_tool(b)]
        if len(with_tool) > 1:
            self.issues.append(ShellIssue(
                n.line, "which branch of this 'if' runs depends on a test made at run time, and "
                        "more than one branch changes the firewall: not guessed",
                self.line_text(n.line)))
        return self._maybe_block(with_tool[0] if with_tool else undecided[0])

    def _maybe_block(self, body: list[Node]) -> int | None:
        """A block that runs only if a run-time test says so: read for its rules and variables,
        but an ``exit``/``return`` in it (a missing tool, a usage error) is not taken to fire."""
        try:
            self.block(body)
        except (_Exit, _Return, _Break):
            pass
        return None

    def _loop(self, n: Loop) -> int | None:
        status: int | None = 0
        if n.kind == "for":
            values: list[str] | None
            if n.items is None:
                values = list(self.args[-1])
            else:
                values = self.expand_words(n.items)
                if not all(self.known(v) for v in values):
                    values = None
            if values is None:
                self.env.pop(n.var, None)
                try:
                    status = self.block(n.body)
                except _Break:
                    pass
                self.env.pop(n.var, None)
                return status
            try:
                for v in values[:MAX_LOOP]:
                    self.env[n.var] = v
                    status = self.block(n.body)
            except _Break:
                pass
            return status
        # while / until: the condition is run once and the body once, with whatever the
        # condition reads (``while read x``) unknown.
        for c in n.cond:
            if isinstance(c, Simple) and c.words and c.words[0].plain == "read":
                for w in c.words[1:]:
                    if w.plain and not w.plain.startswith("-"):
                        self.env.pop(w.plain, None)
        try:
            status = self.block(n.body)
        except _Break:
            pass
        return status

    def _case(self, n: Case) -> int | None:
        subject = self.expand(n.word)[0] if n.word is not None and self.expand(n.word) else ""
        if self.known(subject):
            for pats, body in n.arms:
                for p in pats:
                    pat = "".join(self.expand(p))
                    if fnmatch.fnmatchcase(subject, pat):
                        return self.block(body)
            return 0
        with_tool = [body for _, body in n.arms if self.mentions_tool(body)]
        if len(with_tool) > 1:
            self.issues.append(ShellIssue(
                n.line, f"which branch of this 'case' runs depends on {subject!r}, a value known "
                        "only at run time, and more than one branch changes the firewall: not "
                        "guessed", self.line_text(n.line)))
        return self._maybe_block(with_tool[0]) if with_tool else 0

    def simple(self, n: Simple) -> int | None:
        words = list(n.words)
        # Leading assignments: NAME=value [NAME=value ...] [command]
        assigns: list[tuple[str, str]] = []
        while words:
            w = words[0]
            first = w.parts[0]
            m = ASSIGN.match(first[1]) if first[0] == "bare" else None
            if not m:
                break
            rest = Word([("bare", m.group(3))] + w.parts[1:] if m.group(3) else w.parts[1:],
                        w.line)
            assigns.append((m.group(1), self._value(rest, m.group(1) if m.group(2) else None)))
            words = words[1:]
        if not words:
            for k, v in assigns:
                self._set(k, v)
            return 0
        argv = self.expand_words(words)
        if not argv:
            return 0
        return self.call(argv, n, assigns)

    def _value(self, w: Word, append_to: str | None) -> str:
        if len(w.parts) == 1 and w.parts[0][0] == "sub":
            m = WHICH.match(w.parts[0][1].strip())
            val = (m.group(1) or m.group(2)) if m else "\0"
        elif not w.parts:
            val = ""
        else:
            vals = []
            for kind, text in w.parts:
                if kind == "lit":
                    vals.append(text)
                elif kind == "sub":
                    m = WHICH.match(text.strip())
                    vals.append((m.group(1) or m.group(2)) if m else "\0")
                else:
                    vals.append(self.expand_text(text))
            val = "".join(vals)
        if append_to is not None and append_to in self.env:
            val = self.env[append_to] + val
        return val

    def _set(self, name: str, value: str) -> None:
        if "\0" in value or (("$" in value) and VAR.search(value)):
            # Computed at run time (a command's output, a variable the script does not set).
            self.env.pop(name, None)
        else:
            self.env[name] = value

    def call(self, argv: list[str], n: Simple, assigns: list[tuple[str, str]]) -> int | None:
        unwrapped = _unwrap(argv)
        if not isinstance(unwrapped, list):
            return unwrapped
        argv = unwrapped
        builtin = _BUILTINS.get(argv[0])
        if builtin is not None:
            return builtin(self, argv, n)
        if argv[0] in self.funcs:
            return self._call_func(argv, n)
        cmd = Command(n.line, argv, self.src(n).strip(), n.heredoc, n.heredoc_line)
        return self.run(cmd)

    def _call_func(self, argv: list[str], n: Simple) -> int | None:
        """A function runs its body with its own ``$@``; deep recursion is reported, not run."""
        head = argv[0]
        if len(self.args) > MAX_CALL_DEPTH:
            self.issues.append(ShellIssue(n.line, f"function {head!r} calls itself too deeply",
                                          self.src(n).strip()))
            return None
        self.args.append(argv[1:])
        try:
            return self.block(self.funcs[head])
        except _Return:
            return 0
        finally:
            self.args.pop()

    # -- builtins: each gets argv and the command's node, and answers its exit status
    def _declare(self, argv: list[str], n: Simple) -> int | None:
        for a in argv[1:]:
            if a.startswith("-"):
                continue
            m = ASSIGN.match(a)
            if m:
                self._set(m.group(1), m.group(3))
        return 0

    def _unset(self, argv: list[str], n: Simple) -> int | None:
        for a in argv[1:]:
            self.env.pop(a, None)
        return 0

    def _exit(self, argv: list[str], n: Simple) -> int | None:
        raise _Exit

    def _return(self, argv: list[str], n: Simple) -> int | None:
        raise _Return

    def _break(self, argv: list[str], n: Simple) -> int | None:
        raise _Break

    def _shift(self, argv: list[str], n: Simple) -> int | None:
        if self.args[-1]:
            self.args[-1] = self.args[-1][1:]
        return 0

    def _true(self, argv: list[str], n: Simple) -> int | None:
        return 0

    def _false(self, argv: list[str], n: Simple) -> int | None:
        return 1

    def _test_cmd(self, argv: list[str], n: Simple) -> int | None:
        return self._test(argv)

    def _eval(self, argv: list[str], n: Simple) -> int | None:
        """What eval runs is built at run time: unknown, and said when it is a firewall command."""
        cmdline = " ".join(argv[1:])
        if self.mentions_tool_text(cmdline):
            self.issues.append(ShellIssue(n.line, "eval builds a firewall command at run "
                                                  "time: not guessed", self.src(n).strip()))
        return None

    def mentions_tool_text(self, text: str) -> bool:
        return any(self.tool(w.rsplit("/", 1)[-1]) for w in text.split())

    def _test(self, argv: list[str]) -> int | None:
        a = argv[1:]
        if a and a[-1] in ("]", "]]"):
            a = a[:-1]
        neg = False
        if a and a[0] == "!":
            neg, a = True, a[1:]
        res: bool | None = None
        if len(a) == 3 and a[1] in ("=", "==", "!="):
            if self.known(a[0]) and self.known(a[2]):
                same = a[0] == a[2] if argv[0] != "[[" else fnmatch.fnmatchcase(a[0], a[2])
                res = same if a[1] != "!=" else not same
        elif len(a) == 2 and a[0] in ("-z", "-n") and self.known(a[1]):
            res = (a[1] == "") if a[0] == "-z" else (a[1] != "")
        elif len(a) == 1 and self.known(a[0]):
            res = a[0] != ""
        if res is None:
            return None
        return 0 if res != neg else 1


_Builtin = Callable[[Interpreter, list[str], Simple], "int | None"]

# The shell's own commands the walk understands; they never reach ``run``.
_BUILTINS: dict[str, _Builtin] = {
    **dict.fromkeys(("export", "readonly", "local", "declare", "typeset"), Interpreter._declare),
    "unset": Interpreter._unset, "exit": Interpreter._exit, "return": Interpreter._return,
    "break": Interpreter._break, "continue": Interpreter._break, "shift": Interpreter._shift,
    "true": Interpreter._true, ":": Interpreter._true, "false": Interpreter._false,
    "[": Interpreter._test_cmd, "[[": Interpreter._test_cmd, "test": Interpreter._test_cmd,
    "eval": Interpreter._eval,
}


def _sudo_opts(rest: list[str]) -> list[str]:
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0)
        if opt == "--":
            break
        if opt in SUDO_ARG_OPTS and rest:
            rest.pop(0)
    return rest


def _env_opts(rest: list[str]) -> list[str]:
    while rest and (rest[0].startswith("-") or ASSIGN.match(rest[0])):
        rest.pop(0)
    return rest


def _nice_opts(rest: list[str]) -> list[str]:
    while rest and rest[0].startswith("-"):
        opt = rest.pop(0)
        if opt in ("-n", "-c") and rest:
            rest.pop(0)
    return rest


# A wrapper's own options, taken off before the command it runs (others have none we skip).
_WRAPPER_OPTS: dict[str, Callable[[list[str]], list[str]]] = {
    "sudo": _sudo_opts, "doas": _sudo_opts, "env": _env_opts, "nice": _nice_opts,
    "ionice": _nice_opts,
}


def _unwrap(argv: list[str]) -> list[str] | int | None:
    """``sudo -u root env X=1 nice iptables ...`` -> ``iptables ...``: wrappers run their
    arguments as a command. An int or None is the status when nothing is left to run
    (``command -v`` only asks, so its answer is unknown)."""
    head = argv[0]
    while head in WRAPPERS or head == "env":
        rest = argv[1:]
        if head == "command" and rest and rest[0] in ("-v", "-V"):
            return None
        strip = _WRAPPER_OPTS.get(head)
        rest = strip(rest) if strip is not None else rest
        if not rest:
            return 0
        argv = rest
        head = argv[0]
    return argv


def run_script(text: str, run: Runner, tool: Callable[[str], bool]) -> list[ShellIssue]:
    """Walk the script, handing each command to ``run``; the shell's own problems come back."""
    it = Interpreter(text, run, tool)
    it.execute()
    return it.issues


def commands(text: str, tool: Callable[[str], bool] | None = None) -> Iterator[Command]:
    """Every simple command the walk reaches, each taken to succeed."""
    out: list[Command] = []

    def run(cmd: Command) -> int:
        out.append(cmd)
        return 0

    run_script(text, run, tool or (lambda w: False))
    yield from out
