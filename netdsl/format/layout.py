"""The canonical layout of a .net file, computed from its tokens.

What the formatter decides (docs/editors.md, "netdsl fmt"):

- spacing inside a line: one space around binary operators, `->`, `=` of a statement
  and keywords; none inside brackets, before `,` `;` `.` `:` `)` `]`, after a unary
  minus, before a call's `(` or an index's `[`, or around a keyword argument's `=`;
- indentation: 4 spaces per `{` (relative to the line that opened it); a line that
  continues a chain starts with its `->` under the first `->` of the statement's first
  line; a line inside a `(` or `[` lines up after the bracket, or 4 spaces in when
  the bracket ends its line; other continuations are indented 4;
- tables: consecutive lines whose first one-line list has the same callee, column
  and length (`Inception(64, 96, ...)`, `(2, 64, 3, 1),`) are aligned in columns,
  numbers right-aligned;
- comments stay where they are: a comment line takes the indentation of the code
  after it, end-of-line comments of consecutive lines are aligned, two spaces
  after the longest line;
- blank lines: at most one in a row, none just inside braces, one between top-level
  definitions; one newline at the end.

Line breaks are the author's: the formatter never joins or splits lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from netdsl.format.tokens import Tok, tokenize

INDENT = 4
OPENERS = {"(": ")", "[": "]", "{": "}"}
CLOSERS = frozenset(OPENERS.values())
_NUMBERS = frozenset({"INT", "FLOAT", "SHAPE"})
_BINARY = frozenset("-> ** // == != <= >= < > + - * / % = and or as".split())
# After these a statement cannot end: the next line continues it.
_EXPECTS_MORE = _BINARY | frozenset(
    ", : . not if for repeat import input out aux init block network else".split()
)
# A line starting with one of these continues the statement before it.
_CONTINUES = (_BINARY - {"-"}) | {".", "else"}


@dataclass
class _T:
    tok: Tok
    role: str = ""  # unary, kwarg, call, forin, operand
    space: str = ""  # what goes before it on its line

    @property
    def text(self) -> str:
        return self.tok.text


def _annotate(code: list[_T]) -> None:
    """Roles that decide spacing: unary minus, keyword '=', call/index bracket, for's 'in'."""
    stack: list[str] = []
    pending_for: list[int] = []
    prev: _T | None = None
    for t in code:
        text, kind = t.text, t.tok.kind
        ends = prev is not None and prev.role == "operand"
        if text == "-" and not ends:
            t.role = "unary"
        elif text == "=" and stack and stack[-1] in "([":
            t.role = "kwarg"
        elif text in ("(", "[") and ends:
            t.role = "call"
        elif kind == "KW" and text == "in":
            if pending_for and pending_for[-1] == len(stack):
                pending_for.pop()
                t.role = "forin"
            else:
                t.role = "operand"  # `in`, the block's input
        elif kind in ("NAME", "STRING") or kind in _NUMBERS:
            t.role = "operand"
        elif kind == "KW" and text in ("true", "false", "none"):
            t.role = "operand"
        elif text in (")", "]", "}"):
            t.role = "operand"
        if kind == "KW" and text == "for":
            pending_for.append(len(stack))
        if text in OPENERS:
            stack.append(text)
        elif text in CLOSERS and stack:
            stack.pop()
        prev = t


def _space(p: _T, t: _T) -> str:
    if t.text in (")", "]", ",", ";", ":"):
        return ""
    if t.text == ".":
        return " " if p.tok.kind == "INT" else ""  # `3 .x` must not become the float `3.`
    if p.text in ("(", "[", ".") or p.role == "unary":
        return ""
    if t.role in ("call", "kwarg") or p.role == "kwarg":
        return ""
    if t.text == "(" and p.text == "aux":
        return ""
    return " "


@dataclass
class _Frame:
    ch: str
    hang: bool  # the bracket ends its line: contents are indented, not aligned
    col: int  # column just after the bracket
    base: int  # indentation of the line that opened it


@dataclass
class _Stmt:
    indent: int = 0
    arrow: int | None = None  # column of the first '->' of its first line


@dataclass
class _Line:
    indent: int = 0
    code: list[_T] = field(default_factory=list)
    comment: str | None = None
    blank_before: bool = False
    text: str = ""  # the code part, rendered


def _continues(prev: _T | None, first: _T) -> bool:
    if prev is None or prev.text in ("{", ";"):
        return False
    if prev.text in _EXPECTS_MORE or prev.role == "forin":
        return True
    if first.text in _CONTINUES:
        return True
    # A `(` or `[` opening a line starts a new expression (grammars/netdsl.lark).
    return first.text == "-" and prev.role == "operand"


def _render(items: list[_T]) -> str:
    return "".join((t.space if i else "") + t.text for i, t in enumerate(items))


def _split_lines(tokens: list[Tok]) -> list[_Line]:
    lines: list[_Line] = [_Line()]
    for tok in tokens:
        if tok.kind == "NL":
            lines.append(_Line())
        elif tok.kind == "COMMENT":
            lines[-1].comment = tok.text.rstrip()
        else:
            lines[-1].code.append(_T(tok))
    return lines


def format_tokens(tokens: list[Tok]) -> str:
    raw = _split_lines(tokens)
    _annotate([t for line in raw for t in line.code])

    out: list[_Line] = []
    pending: list[_Line] = []  # comment lines waiting for the next code line's indent
    brackets: list[_Frame] = []
    stmts: list[_Stmt] = [_Stmt()]
    prev: _T | None = None
    blank = False
    last_item: str | None = None  # kind of the last top-level item: "import" or "def"

    def emit(line: _Line) -> None:
        nonlocal blank
        # No blank line just after an opening bracket.
        line.blank_before = (
            blank
            and bool(out)
            and not (out[-1].code and out[-1].code[-1].text in OPENERS and out[-1].comment is None)
        )
        blank = False
        out.append(line)

    for line in raw:
        if not line.code and line.comment is None:
            blank = True
            continue
        if not line.code:
            pending.append(line)
            emit(line)
            continue
        first = line.code[0]
        top = brackets[-1] if brackets else None
        new_stmt = False
        if top is not None and top.ch != "{":
            content = top.base + INDENT if top.hang else top.col
            indent = (top.base if top.hang else top.col - 1) if first.text in CLOSERS else content
        else:
            level = top.base + INDENT if top is not None else 0
            st = stmts[-1]
            if first.text == "}":
                indent, content = top.base if top is not None else 0, level
            elif _continues(prev, first):
                if first.text == "->" and st.arrow is not None:
                    indent = st.arrow
                elif first.text == "else":
                    indent = st.indent
                else:
                    indent = st.indent + INDENT
                content = indent
            else:
                new_stmt = True
                indent = content = level
                st.indent, st.arrow = indent, None
        for c in pending:
            c.indent = content
        # Blank lines: none just inside brackets; one between top-level items.
        if first.text in CLOSERS:
            blank = False
        if new_stmt and top is None:
            kind = "import" if first.text == "import" else "def"
            if last_item is not None and (last_item, kind) != ("import", "import"):
                target = pending[0] if pending else line
                if target is line:
                    blank = True
                elif out and out[0] is not target:
                    target.blank_before = True
            last_item = kind
        pending = []

        line.indent = indent
        col = indent
        height = len(brackets)
        st0 = stmts[-1]
        last = len(line.code) - 1
        for i, t in enumerate(line.code):
            t.space = _space(line.code[i - 1], t) if i else ""
            col += len(t.space)
            if t.text in OPENERS:
                if t.text == "{":
                    stmts.append(_Stmt())
                base = indent
                if i == last and new_stmt and st0.arrow is not None:
                    # `x = image -> [` ... `] as features` / `-> next`: a bracket that
                    # ends a chain's first line is a continuation, indented as one.
                    base, st0.arrow = indent + INDENT, None
                brackets.append(_Frame(t.text, i == last, col + 1, base))
            elif t.text in CLOSERS and brackets:
                if brackets.pop().ch == "{" and len(stmts) > 1:
                    stmts.pop()
            elif t.text == "->" and new_stmt and len(brackets) == height:
                if stmts[-1].arrow is None:
                    stmts[-1].arrow = col
            col += len(t.text)
        line.text = " " * indent + _render(line.code)
        prev = line.code[-1]
        emit(line)

    for c in pending:  # comments at the end of the file
        c.indent = brackets[-1].base + INDENT if brackets else 0
    _align_tables(out)
    return _assemble(out)


def _find_row(code: list[_T]):
    """The first one-line list with three or more items: (open, close, item ranges, trailing
    comma), when nothing after it on the line can move a column another line aligns to."""
    for i, t in enumerate(code):
        if t.text not in ("(", "["):
            continue
        depth, commas, j = 0, [], None
        for k in range(i, len(code)):
            x = code[k].text
            if x in OPENERS:
                depth += 1
            elif x in CLOSERS:
                depth -= 1
                if depth == 0:
                    j = k
                    break
            elif x == "," and depth == 1:
                commas.append(k)
        if j is None:
            continue
        trailing = bool(commas) and commas[-1] == j - 1
        if trailing:
            commas.pop()
        if len(commas) < 2:
            continue
        if any(x.text == "->" or x.text in OPENERS for x in code[j + 1 :]):
            return None
        bounds = [i, *commas, j - 1 if trailing else j]
        ranges = [(bounds[n] + 1, bounds[n + 1]) for n in range(len(bounds) - 1)]
        return i, j, ranges, trailing
    return None


def _is_number(items: list[_T]) -> bool:
    if items and items[0].role == "unary":
        items = items[1:]
    return len(items) == 1 and items[0].tok.kind in _NUMBERS


def _align_tables(lines: list[_Line]) -> None:
    rows = []
    for line in lines:
        row = _find_row(line.code) if line.code else None
        key = None
        if row is not None:
            i, j, ranges, trailing = row
            prefix = " " * line.indent + _render(line.code[: i + 1])
            callee = line.code[i - 1].text if i else ""
            key = (len(prefix), callee, line.code[i].text, len(ranges), trailing)
        if rows and (key is None or key != rows[-1][1] or line.blank_before):
            _align_run(rows)
            rows = []
        if key is not None:
            rows.append((line, key, row))
    _align_run(rows)


def _align_run(rows) -> None:
    if len(rows) < 2:
        return
    cells = [[_render(line.code[a:b]) for a, b in row[2]] for line, _, row in rows]
    numeric = [
        all(_is_number(line.code[row[2][n][0] : row[2][n][1]]) for line, _, row in rows)
        for n in range(len(cells[0]))
    ]
    widths = [max(len(c[n]) for c in cells) for n in range(len(cells[0]))]
    last = len(widths) - 1
    for (line, _, (i, j, _, trailing)), items in zip(rows, cells):
        parts = []
        for n, item in enumerate(items):
            if numeric[n] and n > 0:
                parts.append(item.rjust(widths[n]) + ("," if n < last else ""))
            elif n < last:
                parts.append((item + ",").ljust(widths[n] + 1))
            else:
                parts.append(item)
        suffix = _render(line.code[j:])
        prefix = " " * line.indent + _render(line.code[: i + 1])
        line.text = prefix + " ".join(parts) + ("," if trailing else "") + suffix


def _assemble(lines: list[_Line]) -> str:
    # End-of-line comments in a run of code lines (no blank or comment line between)
    # line up, two spaces after the longest line that has one.
    run: list[_Line] = []
    for line in [*lines, None]:
        if line is None or not line.code or line.blank_before:
            commented = [x for x in run if x.comment is not None]
            if commented:
                col = max(len(x.text) for x in commented) + 2
                for x in commented:
                    x.text = x.text.ljust(col) + x.comment
            run = []
        if line is not None:
            if line.code:
                run.append(line)
            else:
                line.text = " " * line.indent + line.comment
    out = []
    for line in lines:
        if line.blank_before:
            out.append("")
        out.append(line.text.rstrip())
    return "\n".join(out) + "\n" if out else ""


def format_text(text: str) -> str:
    """`text` in the canonical layout. Assumes text the parser accepts (see netdsl.format)."""
    return format_tokens(tokenize(text))
