"""Text -> AST: the grammar's LALR(1) tables (built by Lark) run by netdsl/lalr.py, with
the AST built as rules are reduced; syntax errors become diagnostics."""

from __future__ import annotations

import difflib
import math
import re
from functools import lru_cache
from importlib import resources

from lark import Lark

from netdsl import ast
from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.lalr import Problem, Run, Tables, Tok
from netdsl.strings import decode_string

# Terminals spelled in words, for "expected ..." messages.
_WORDS = {
    "NAME": "a name",
    "INT": "an integer",
    "FLOAT": "a number",
    "SHAPE": "a shape like 3x224x224",
    "STRING": "a string",
    "COMP_OP": "a comparison",
    "$END": "end of file",
}


@lru_cache(maxsize=1)
def _grammar() -> str:
    return resources.files("netdsl.grammars").joinpath("netdsl.lark").read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def _lark() -> Lark:
    # Lark builds the tables (and its terminals' patterns); netdsl/lalr.py runs them.
    return _cached_lark(
        _grammar(),
        parser="lalr",
        # The basic lexer's rule (one alternation, keywords told apart after a NAME):
        # `-> ->` is two arrows, and the error says so.
        lexer="basic",
        start=["start", "define_value"],
        maybe_placeholders=True,
    )


@lru_cache(maxsize=1)
def _tables() -> Tables:
    return Tables(_lark(), _Builder)


# Building the LALR tables takes ~0.2 s, more than the rest of `netdsl stats`; Lark can
# save them to a file and load them in ~20 ms. The file lives in the user's cache folder
# (a private temp folder as the fallback; no cache where neither is writable), is named
# by a hash of the grammar, the options and the Lark and Python versions (so editing the
# grammar or upgrading Lark never loads stale tables), and is written atomically.
# NETDSL_CACHE_DIR overrides the folder; NETDSL_NO_CACHE=1 disables the cache.
# (Measured against Lark's standalone parser: docs/benchmarks.md.)
def _cache_dir():
    import os
    import sys
    from pathlib import Path

    if os.environ.get("NETDSL_NO_CACHE"):
        return None
    env = os.environ.get("NETDSL_CACHE_DIR")
    if env:
        candidates = [Path(env)]
    else:
        candidates = []
        base = os.environ.get("XDG_CACHE_HOME") or (
            os.environ.get("LOCALAPPDATA") if sys.platform == "win32" else None
        )
        try:
            candidates.append(Path(base) if base else Path.home() / ".cache")
        except RuntimeError:  # no home folder
            pass
        candidates = [c / "netdsl" for c in candidates]
        import tempfile

        uid = os.getuid() if hasattr(os, "getuid") else "user"
        candidates.append(Path(tempfile.gettempdir()) / f"netdsl-{uid}")
    for folder in candidates:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
            if hasattr(os, "getuid"):
                st = folder.stat()
                # The tables are a pickle: only load them from a folder only we can write.
                if st.st_uid != os.getuid() or st.st_mode & 0o022:
                    continue
            if os.access(folder, os.W_OK | os.X_OK):
                return folder
        except OSError:
            continue
    return None


def _cached_lark(grammar: str, **options) -> Lark:
    import hashlib
    import os
    import sys

    import lark

    folder = _cache_dir()
    if folder is None:
        return Lark(grammar, **options)
    plain = sorted((k, v) for k, v in options.items() if not isinstance(v, dict))
    key = f"{grammar}{plain}{lark.__version__}{sys.version_info[:2]}"
    path = folder / f"grammar-{hashlib.sha256(key.encode()).hexdigest()[:24]}.lark-cache"
    if path.is_file():
        # Lark checks the hash inside; an unreadable or stale file is rebuilt.
        return Lark(grammar, cache=str(path), **options)
    tmp = folder / f".{path.name}.{os.getpid()}.tmp"
    parser = Lark(grammar, cache=str(tmp), **options)
    try:
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass
    return parser


# 2 ** 256 has 78 digits; wider integers are certainly mistakes (evaluate.py refuses them
# in arithmetic too), and Python refuses to convert more than 4300 digits at all.
MAX_INT_DIGITS = 78


def _int_literal(digits: str, span: Span) -> int:
    if len(digits.lstrip("0")) > MAX_INT_DIGITS:
        raise NetdslError(
            Diagnostic(
                "E703",
                f"number too large ({len(digits)} digits)",
                span,
                hint=f"integers have at most {MAX_INT_DIGITS} digits",
            )
        )
    return int(digits)


def _tok_span(file: str, tok: Tok) -> Span:
    return Span(file, tok.line, tok.column, tok.end_line, tok.end_column)


_new = object.__new__


class _Builder:
    """Builds AST nodes as the parser reduces rules (netdsl/lalr.py): one method per rule
    name, called with the node's position (line, col, end line, end col, height) and its
    children, the AST nodes and tokens the rule keeps."""

    def __init__(self, file: str):
        self.file = file

    def _s(self, pos) -> Span:
        # Span(...) without the frozen dataclass's __init__ (half the cost; one per node)
        span = _new(Span)
        d = span.__dict__
        d["file"], d["line"], d["col"], d["end_line"], d["end_col"] = (
            self.file,
            pos[0],
            pos[1],
            pos[2],
            pos[3],
        )
        return span

    def _string(self, tok, what: str = "a string") -> str:
        return decode_string(tok.value, _tok_span(self.file, tok), what)

    # --- module level
    def start(self, pos, items):
        return items

    def define_value(self, pos, c):
        return c[0]

    def import_stmt(self, pos, c):
        return ast.Import(self._string(c[0], "an import path"), self._s(pos))

    def block_def(self, pos, c):
        return ast.Block(str(c[0]), c[1] or [], c[2], self._s(pos))

    def network_def(self, pos, c):
        return ast.Network(str(c[0]), c[1] or [], c[2], self._s(pos))

    def params(self, pos, c):
        return [p for p in c if p is not None]

    def param(self, pos, c):
        return ast.Param(str(c[0]), c[1], self._s(pos))

    def body(self, pos, c):
        return [s for s in c if s is not None]

    # --- statements
    def input_stmt(self, pos, c):
        return ast.Input(self._s(pos), str(c[0]), c[1])

    def out_stmt(self, pos, c):
        return ast.Out(self._s(pos), str(c[0]) if c[0] is not None else None, c[1])

    def aux_stmt(self, pos, c):
        return ast.Aux(self._s(pos), c[0], str(c[1]), c[2])

    def init_stmt(self, pos, c):
        return ast.Init(self._s(pos), str(c[0]), c[1] or [])

    def train_stmt(self, pos, c):
        pairs = [c[i : i + 2] for i in range(0, len(c), 2)]
        items = [(str(n), e, _tok_span(self.file, n)) for n, e in pairs]
        return ast.Train(self._s(pos), items)

    def assign(self, pos, c):
        return ast.Assign(self._s(pos), [str(t) for t in c[:-1]], c[-1])

    def expr_stmt(self, pos, c):
        return ast.ExprStmt(self._s(pos), c[0])

    # --- expressions
    def chain(self, pos, c):
        return ast.Chain(self._s(pos), c[0], c[1])

    def alias(self, pos, c):
        if c[1].type == "STRING":
            return ast.As(self._s(pos), c[0], self._string(c[1], "a layer name"), template=True)
        return ast.As(self._s(pos), c[0], str(c[1]))

    def or_(self, pos, c):
        return ast.BinOp(self._s(pos), "or", c[0], c[1])

    def and_(self, pos, c):
        return ast.BinOp(self._s(pos), "and", c[0], c[1])

    def not_(self, pos, c):
        return ast.UnOp(self._s(pos), "not", c[0])

    def compare(self, pos, c):
        return ast.BinOp(self._s(pos), str(c[1]), c[0], c[2])

    def binop(self, pos, c):
        return ast.BinOp(self._s(pos), str(c[1]), c[0], c[2])

    def pow(self, pos, c):
        return ast.BinOp(self._s(pos), "**", c[0], c[1])

    def neg(self, pos, c):
        return ast.UnOp(self._s(pos), "-", c[1])

    def attr(self, pos, c):
        return ast.Attr(self._s(pos), c[0], str(c[1]))

    def call(self, pos, c):
        return ast.Call(self._s(pos), c[0], c[1] or [])

    def index(self, pos, c):
        return ast.Index(self._s(pos), c[0], c[1])

    def arglist(self, pos, c):
        return [a if isinstance(a, ast.Arg) else ast.Arg(None, a, a.span) for a in c if a]

    def kwarg(self, pos, c):
        return ast.Arg(str(c[0]), c[1], self._s(pos))

    def name(self, pos, c):
        return ast.Name(self._s(pos), str(c[0]))

    def input_ref(self, pos, c):
        return ast.InRef(self._s(pos))

    def int(self, pos, c):
        return ast.Const(self._s(pos), _int_literal(str(c[0]), self._s(pos)))

    def float(self, pos, c):
        value = float(c[0].value)
        if math.isinf(value):
            raise NetdslError(Diagnostic("E703", "number too large", self._s(pos)))
        return ast.Const(self._s(pos), value)

    def shape(self, pos, c):
        span = self._s(pos)
        return ast.Const(span, tuple(_int_literal(d, span) for d in str(c[0]).split("x")))

    def string(self, pos, c):
        return ast.Const(self._s(pos), self._string(c[0]))

    def true(self, pos, c):
        return ast.Const(self._s(pos), True)

    def false(self, pos, c):
        return ast.Const(self._s(pos), False)

    def none(self, pos, c):
        return ast.Const(self._s(pos), None)

    def list(self, pos, c):
        return ast.ListE(self._s(pos), [x for x in c if x is not None])

    def tuple(self, pos, c):
        return ast.TupleE(self._s(pos), [x for x in c if x is not None])

    def if_expr(self, pos, c):
        orelse = c[2]
        if isinstance(orelse, ast.If):
            orelse = [ast.ExprStmt(orelse.span, orelse)]
        return ast.If(self._s(pos), c[0], c[1], orelse)

    def for_expr(self, pos, c):
        return ast.For(self._s(pos), [str(t) for t in c[:-2]], c[-2], c[-1])

    def repeat_expr(self, pos, c):
        return ast.Repeat(self._s(pos), c[0], c[1])


# Long lists of expected tokens are summarised by what they begin or continue.
_SUMMARIES = (
    # (phrase, tokens that must all be expected for it, tokens it stands for)
    (
        "an expression",
        {"NAME", "INT"},
        "NAME INT FLOAT SHAPE STRING LPAR LSQB MINUS NOT TRUE FALSE NONE IF FOR REPEAT IN",
    ),
    (
        "an operator",
        {"PLUS", "STAR"},
        "PLUS MINUS STAR SLASH DSLASH PERCENT POW COMP_OP AND OR DOT AS LPAR LSQB",
    ),
    ("a statement", {"OUT", "INPUT"}, "OUT INPUT AUX INIT SEMICOLON"),
)


def _describe(parser: Lark, names) -> str:
    names = set(names)
    phrases = []
    if len(names) > 6:
        for phrase, needed, covered in _SUMMARIES:
            if needed <= names:
                phrases.append(phrase)
                names -= set(covered.split())
    words = []
    for name in sorted(names):
        if name in _WORDS:
            words.append(_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            words.append(name)
            continue
        words.append(f"'{pattern.value}'" if pattern.type == "str" else name.lower())
    words = phrases + sorted(set(words))
    if len(words) > 6:
        return ", ".join(words[:6]) + " or another token"
    if len(words) > 1:
        return ", ".join(words[:-1]) + " or " + words[-1]
    return words[0] if words else "something else"


# Syntax error codes: E101 unexpected token, E102 unexpected character, E103 unexpected
# end of file, E104 malformed number. Several errors in one file are all reported (up to
# MAX_SYNTAX_ERRORS): after each, the parser resynchronises at the next statement.
MAX_SYNTAX_ERRORS = 20
# Nesting deeper than this (lists in lists, calls in calls, ...) is refused with E704 before
# evaluation, which recurses. A long `->` chain is not nesting.
MAX_NESTING = 100
_OPENERS = {"(": ")", "[": "]", "{": "}"}
_CLOSERS = {")": "RPAR", "]": "RSQB", "}": "RBRACE"}
_STMT_KEYWORDS = (
    "import block network input out aux init train if for repeat".split()  # words starting a line
)


def _diagnose(exc: Problem, file: str, text: str) -> Diagnostic:
    """One syntax error, in words, pointing at the culprit."""
    parser = _lark()
    line, col = exc.line, exc.column
    hint = None
    notes: list[Note] = []
    if exc.token is None:  # a character that starts no token
        ch = text[exc.pos_in_stream] if exc.pos_in_stream < len(text) else "?"
        msg = f"unexpected character {ch!r}"
        if ch == "'":
            hint = 'strings use double quotes: "..."'
        elif ch in "\u201c\u201d\u2018\u2019":
            hint = 'use plain double quotes: "..."'
        elif ch in "\u00d7\u2715\u2716":
            hint = "write shapes with the letter x: 3x224x224"
        elif ch in "\u2192\u27f6":
            hint = "write arrows as ->"
        elif not ch.isprintable() or not ch.isascii():
            hint = "netdsl source is plain ASCII outside strings and comments"
        return Diagnostic("E102", msg, Span(file, line, col, line, col + 1), hint)
    if exc.token.type == "$END":
        expected = exc.expected
        # Just after the last character that is not white space; lines are counted
        # by '\n' only, as Lark counts them (not str.splitlines, which also breaks at
        # '\r', '\x0c' and other separators).
        line, col = _line_col(text, len(text.rstrip()))
        end = Span(file, line, col, line, col + 1)
        opened = _open_brackets(text, len(text))
        if opened:
            ch, off = opened[-1]
            bl, bc = _line_col(text, off)
            return Diagnostic(
                "E103",
                f"unexpected end of file: '{ch}' is never closed",
                Span(file, bl, bc, bl, bc + 1),
                f"add '{_OPENERS[ch]}' where it should end",
                [Note(f"the file ends at {end}", end)],
            )
        return Diagnostic(
            "E103", f"unexpected end of file; expected {_describe(parser, expected)}", end
        )
    tok = exc.token
    number = _malformed_number(text, tok)
    if number is not None:
        return _number_diagnostic(text, file, *number)
    # Only the closer of the innermost open bracket can come next: LALR's merged states
    # would also offer ')' inside '[...]'.
    opened = _open_brackets(text, tok.start_pos)
    closer = _CLOSERS[_OPENERS[opened[-1][0]]] if opened else None
    expected = {e for e in exc.expected if e not in _CLOSERS.values() or e == closer}
    msg = f"unexpected {_token_words(tok)}; expected {_describe(parser, expected)}"
    span = _tok_span(file, tok)
    if tok.type in _CLOSERS.values() and tok.type not in {
        _CLOSERS[_OPENERS[ch]] for ch, _ in opened
    }:
        opener = next(o for o, c in _OPENERS.items() if _CLOSERS[c] == tok.type)
        inner, hint = "", f"remove it, or add the '{opener}' it closes"
        if opened and opened[-1][0] != "{":  # every statement is inside a body's '{'
            line, col = _line_col(text, opened[-1][1])
            inner = f"; '{opened[-1][0]}' at {line}:{col} is still open"
            hint = f"did you mean '{_OPENERS[opened[-1][0]]}'?"
        return Diagnostic(
            "E101",
            f"unexpected '{tok.value}': there is no open '{opener}' to close{inner}",
            span,
            hint,
        )
    if tok.type == "EQUAL" and "COMP_OP" in expected:
        hint = "compare with '=='"
    elif tok.type == "NAME" and "EQUAL" in expected:
        hint = "a missing operator or '->' between two names?"
    elif "COMMA" in expected and closer in expected and _starts_a_line(text, tok.start_pos):
        # A list member on the next line with the comma forgotten (often after an
        # `if { ... }` member): the comma goes where the previous line ends.
        bl, bc = _line_col(text, len(text[: tok.start_pos].rstrip()))
        where = Span(file, bl, bc, bl, bc + 1)
        hint = f"is a ',' missing at the end of line {bl}?"
        notes.append(Note(f"the previous member ends at {where}", where))
    elif "COMMA" in expected and closer in expected and tok.type == "NAME":
        hint = f"is a ',' or '->' missing before '{tok.value}'?"
    elif closer in expected and closer != "RBRACE":
        # Only for an open '(' or '[': a body's '{' is "open" during every statement.
        ch, off = opened[-1]
        bl, bc = _line_col(text, off)
        where = Span(file, bl, bc, bl, bc + 1)
        hint = f"is a '{_OPENERS[ch]}' missing?"
        notes.append(Note(f"'{ch}' opened at {where} is not closed", where))
    keyword = _misspelt_keyword(text, tok, exc.expected)
    if keyword is not None:
        word, meant = keyword
        hint = f"did you mean '{meant}' instead of '{word}'?"
    return Diagnostic("E101", msg, span, hint, notes)


def _starts_a_line(text: str, pos: int) -> bool:
    """Whether only white space stands between the start of `pos`'s line and `pos`."""
    return text[text.rfind("\n", 0, pos) + 1 : pos].strip() == ""


# Keywords that begin a statement or an item, and common misspellings' targets.
_KEYWORDS = {k: k for k in "network block import input out aux init repeat for if else".split()} | {
    "output": "out",
    "outputs": "out",
    "inputs": "input",
}


def _misspelt_keyword(text: str, tok: Tok, expected) -> tuple[str, str] | None:
    """A misspelt keyword behind a syntax error: the unexpected name itself (`netwrk N`),
    or a word before it on its line: a statement's first word that is not assigned to
    (`inpt x: 3x8x8`), or a word after '->' or '=' followed by more (`-> reapeat 3 {`)."""
    if tok.type == "NAME":
        wanted = [k for k, v in _KEYWORDS.items() if v.upper() in expected and k != tok.value]
        close = difflib.get_close_matches(tok.value, wanted, n=1, cutoff=0.75)
        if close:
            return tok.value, _KEYWORDS[close[0]]
    if tok.start_pos is None:
        return None
    segment = text[text.rfind("\n", 0, tok.start_pos) + 1 : tok.start_pos]
    for m in reversed(list(re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", segment))):
        word, before, after = m.group(0), segment[: m.start()].rstrip(), segment[m.end() :]
        if word in _KEYWORDS or word in ("in", "as", "and", "or", "not", "true", "false"):
            continue
        follows = after.lstrip()[:1]
        if (not before or before.endswith(("{", "}", ";"))) and follows not in ("=", ","):
            wanted = list(_KEYWORDS)
        elif before.endswith(("->", "=")) and (follows.isalnum() or follows == "{"):
            wanted = ["repeat", "for", "if"]
        else:
            continue
        close = difflib.get_close_matches(word, wanted, n=1, cutoff=0.75)
        if close:
            return word, _KEYWORDS[close[0]]
    return None


def _token_words(tok: Tok) -> str:
    kinds = {"NAME": "name", "INT": "integer", "FLOAT": "number", "SHAPE": "shape"}
    if tok.type in kinds:
        return f"{kinds[tok.type]} {tok.value!r}"
    if tok.type == "STRING":
        return f"string {tok.value}"
    return repr(tok.value)


def _line_col(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def _scan_brackets(text: str):
    """(offset, char) of every bracket outside strings and comments."""
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if ch == '"':
            j = i + 1
            while j < n and text[j] not in '"\n':
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if ch in "()[]{}":
            yield i, ch
        i += 1


def _open_brackets(text: str, stop: int) -> list[tuple[str, int]]:
    """Brackets opened before `stop` and not closed by then, innermost last."""
    stack: list[tuple[str, int]] = []
    for off, ch in _scan_brackets(text[:stop]):
        if ch in _OPENERS:
            stack.append((ch, off))
        elif stack and _OPENERS[stack[-1][0]] == ch:
            stack.pop()
    return stack


def _word_around(text: str, pos: int) -> tuple[int, int]:
    """The run of letters, digits, '_' and '.' around pos."""
    start = stop = pos
    while start > 0 and _is_number_char(text[start - 1]):
        start -= 1
    while stop < len(text) and _is_number_char(text[stop]):
        stop += 1
    return start, stop


def _malformed_number(text: str, tok: Tok) -> tuple[int, int] | None:
    """The extent of a number glued to letters or dots before `tok`, if any."""
    if tok.type not in ("NAME", "INT", "FLOAT", "SHAPE") or tok.start_pos is None:
        return None
    if tok.start_pos == 0 or not _is_number_char(text[tok.start_pos - 1]):
        return None
    start, stop = _word_around(text, tok.start_pos)
    if text[start].isdigit() or (text[start] == "." and text[start + 1 : start + 2].isdigit()):
        return start, stop
    return None


def _number_diagnostic(text: str, file: str, start: int, stop: int) -> Diagnostic:
    word = text[start:stop]
    line, col = _line_col(text, start)
    hint = (
        "a shape is integers joined by 'x', like 3x224x224"
        if "x" in word.lower()
        else "numbers look like 64, 0.5 or 1e-4; names cannot start with a digit"
    )
    return Diagnostic(
        "E104", f"malformed number '{word}'", Span(file, line, col, line, col + len(word)), hint
    )


def _is_number_char(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "_.")


class _Resync:
    """Panic-mode recovery: after a syntax error, skip to the next line that starts a
    statement (or a block, a network, a '}') at the same bracket depth, cut the parser's
    stacks back to the body it belongs to, and carry on from there.
    Only the diagnostics are kept; a file with syntax errors produces no AST."""

    def __init__(self, text: str, tables):
        self.text = text
        self.tables = tables
        self.braces = [
            (off, 1 if ch == "{" else -1) for off, ch in _scan_brackets(text) if ch in "{}"
        ]
        self.starts = list(self._statement_starts())
        # the terminal of a keyword that starts a line (`out` -> OUT), else a NAME
        self.terminals = {
            word: kind for kinds in tables.keywords.values() for word, kind in kinds.items()
        } | {"}": "RBRACE"}

    def _statement_starts(self):
        """(offset, line, column, first word) of each line that may begin a statement."""
        text = self.text
        offset = 0
        for number, raw in enumerate(text.split("\n"), start=1):
            stripped = raw.lstrip(" \t\f\r")
            col = len(raw) - len(stripped) + 1
            if stripped.startswith("}"):
                yield offset + col - 1, number, col, "}"
            else:
                m = _LINE_START.match(stripped)
                if m and (m.group(1) in _STMT_KEYWORDS or m.group(2)):
                    yield offset + col - 1, number, col, m.group(1)
            offset += len(raw) + 1

    def _depth(self, start: int, stop: int) -> int:
        return sum(d for off, d in self.braces if start <= off < stop)

    def __call__(self, exc: Problem, run: Run) -> bool:
        if exc.token is not None and exc.token.type == "$END":
            return False
        if exc.token is not None:
            pos = exc.token.start_pos
            line_start = self.text.rfind("\n", 0, pos) + 1
            first = self.text[line_start:pos].strip() == ""
        else:
            pos, first = exc.pos_in_stream, False
        line_end = self.text.find("\n", pos)
        line_end = len(self.text) if line_end < 0 else line_end
        bodies = [i for i, v in enumerate(run.values) if isinstance(v, Tok) and v.type == "LBRACE"]
        for off, line, col, word in self.starts:
            if off < pos or (pos < off <= line_end) or (off == pos and not first):
                continue
            depth = self._depth(pos, off)
            if depth > 0:
                continue  # inside a body that began in the skipped text
            level = len(bodies) + depth
            keep = bodies[level - 1] + 1 if level > 0 else 0
            if not self.tables.accepts(run.states[: keep + 1], self.terminals.get(word, "NAME")):
                continue
            run.truncate(keep)
            run.seek(off, line, col)
            return True
        return False


_LINE_START = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*(=(?!=)|,)?")


def _is_token(value, type_: str) -> bool:
    return isinstance(value, Tok) and value.type == type_


def _too_deep(pos, file: str) -> NetdslError:
    return NetdslError(
        Diagnostic(
            "E704",
            f"nested more than {MAX_NESTING} levels deep",
            Span(file, pos[0], pos[1]),
            hint="flatten the expression, e.g. name intermediate values",
        )
    )


def _run(text: str, file: str, start: str):
    """Parse `text` from the grammar rule `start`; the value that rule builds."""
    if text.startswith("\ufeff"):  # a UTF-8 byte-order mark, as Python accepts one
        text = " " + text[1:]  # (a space keeps the columns as editors show them)
    errors: list[Diagnostic] = []
    resync = None
    tables = _tables()

    def on_error(exc: Problem, run: Run) -> bool:
        nonlocal resync
        errors.append(_diagnose(exc, file, text))
        if len(errors) >= MAX_SYNTAX_ERRORS:
            return False
        if resync is None:
            resync = _Resync(text, tables)
        return resync(exc, run)

    def on_number(tok) -> None:
        # A number glued to letters or dots (`12abc`, `1.2.3`, `3x`) is malformed (E104):
        # newlines are insignificant, so `x = 12abc` would otherwise mean `x = 12; abc`.
        if tok.type in _NUMBERS and tok.end_pos < len(text) and _is_number_char(text[tok.end_pos]):
            errors.append(_number_diagnostic(text, file, *_word_around(text, tok.start_pos)))

    run = Run(tables, text, _Builder(file), start)
    try:
        value = run.parse(on_error, on_number, max_height=MAX_NESTING)
    except Problem:
        value = None
    if errors:
        unique, where = [], set()
        errors.sort(key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0))
        for d in errors[:MAX_SYNTAX_ERRORS]:
            key = (d.span.line, d.span.col) if d.span else None
            if key not in where:
                where.add(key)
                unique.append(d)
        raise NetdslError(unique)
    too_deep = getattr(run, "too_deep", None)
    if too_deep is not None:
        raise _too_deep(too_deep, file)
    return value


_NUMBERS = frozenset({"INT", "FLOAT", "SHAPE"})


def parse(text: str, file: str = "<input>") -> ast.Module:
    items = _run(text, file, "start")
    module = ast.Module(file=file, source=text)
    for item in items:
        if isinstance(item, ast.Import):
            module.imports.append(item)
        elif isinstance(item, ast.Block):
            module.blocks.append(item)
        else:
            module.networks.append(item)
    return module


def parse_value(text: str, file: str = "<value>") -> ast.Expr:
    """One expression on its own (a `-D NAME=VALUE` value), by the grammar's own
    `define_value` rule: nothing after the expression can smuggle in more program."""
    return _run(text, file, "define_value")
