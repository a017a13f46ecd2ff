"""A lean runner for the grammar's LALR(1) tables: a one-regex lexer, the shift-reduce
loop, and rule callbacks that build the AST as the parse goes (no parse tree).

Lark compiles grammars/netdsl.lark into the tables (and caches them, parser.py); this
module only runs them. Why not `Lark.parse`: for a 100,000-layer written-out network
it spent ~30 µs a token in its lexer, the parse loop and `propagate_positions` (which
recomputes positions at each of the ~12 nested `?rule` reductions of every atom), and
the tree was then transformed once more. Here a token costs one regex match, a
reduction by a `?rule` with one child costs two dictionary look-ups, and a node's
span is merged from its children's as it is reduced (docs/benchmarks.md, §3).

The rules keep Lark's meaning exactly: anonymous strings are filtered out, `_rule`s
are inlined into their parent, `?rule`s with one child are replaced by it, and `[x]`
leaves a None where x is missing (maybe_placeholders). Error recovery works on this
module's own stacks (`Run`), never on Lark's parser state.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable

# A span while parsing: (line, column, end line, end column, height), 1-based, end
# exclusive; height is the depth of the subtree (0 for a token), for the nesting limit.
Pos = tuple


class Tok:
    """A token, with the attribute names of Lark's Token (the diagnostics read them)."""

    __slots__ = ("type", "value", "start_pos", "end_pos", "line", "column", "end_column")

    def __init__(self, type_, value, start_pos, line, column):
        self.type = type_
        self.value = value
        self.start_pos = start_pos
        self.end_pos = start_pos + len(value)
        self.line = line
        self.column = column
        self.end_column = column + len(value)

    @property
    def end_line(self) -> int:
        return self.line  # no token spans lines: strings and comments end at '\n'

    def __str__(self) -> str:
        return self.value

    def __repr__(self) -> str:
        return f"Tok({self.type!r}, {self.value!r}, {self.line}:{self.column})"


class Problem(Exception):
    """A syntax error: an unexpected character (`token` None) or token (`$END` at the end)."""

    def __init__(self, pos: int, line: int, column: int, token: Tok | None, expected):
        super().__init__(f"syntax error at {line}:{column}")
        self.pos_in_stream = pos
        self.line = line
        self.column = column
        self.token = token
        self.expected = expected


class Tables:
    """The lexer and the LALR(1) tables of one Lark grammar, in plain lists and dicts."""

    def __init__(self, lark, builder_class):
        conf = lark.lexer_conf
        terminals = list(conf.terminals)
        ignore = set(conf.ignore)
        # Lark's basic lexer: a string terminal that a regex terminal of the same priority
        # matches whole (`if` and NAME) is a keyword, told apart after the match; the rest
        # are tried in one alternation, in Lark's order (first match wins).
        regexps = [t for t in terminals if t.pattern.type == "re"]
        self.keywords: dict[str, dict[str, str]] = {}
        embedded = set()
        for rt in regexps:
            rx = re.compile(rt.pattern.to_regexp())
            for st in terminals:
                if st.pattern.type != "str" or st.priority != rt.priority:
                    continue
                m = rx.match(st.pattern.value)
                if m and m.group(0) == st.pattern.value:
                    self.keywords.setdefault(rt.name, {})[st.pattern.value] = st.name
                    if st.pattern.flags <= rt.pattern.flags:
                        embedded.add(st.name)
        terminals = [t for t in terminals if t.name not in embedded]
        terminals.sort(
            key=lambda t: (-t.priority, -t.pattern.max_width, -len(t.pattern.value), t.name)
        )
        # What the grammar ignores (white space, comments) is skipped by a prefix of the
        # same match, atomic so that a long run of it never backtracks; what may hold a
        # newline is counted for line numbers.
        skipped = [t.pattern.to_regexp() for t in terminals if t.name in ignore]
        self.skip = re.compile(f"(?>(?:{'|'.join(skipped)})*)")
        kept = [t for t in terminals if t.name not in ignore]
        groups = [f"(?P<t{i}>{t.pattern.to_regexp()})" for i, t in enumerate(kept)]
        self.regex = re.compile(f"(?P<skip>{self.skip.pattern})(?:{'|'.join(groups)})")
        self.group_type = {f"t{i}": t.name for i, t in enumerate(kept)}
        self.multiline = {t.name for t in kept if _may_hold_newline(t.pattern.to_regexp())}

        table = lark.parser.parser.parser.parse_table
        self.start_states = dict(table.start_states)
        self.end_states = dict(table.end_states)
        rules = sorted(
            {
                r
                for acts in table.states.values()
                for k, (a, r) in acts.items()
                if a.name == "Reduce"
            },
            key=str,
        )
        index = {r: i for i, r in enumerate(rules)}
        # actions[state][terminal]: >= 0 shift to that state, < 0 reduce by rule ~n
        self.actions: dict[int, dict[str, int]] = {}
        self.gotos: dict[int, dict[str, int]] = {}
        for state, acts in table.states.items():
            a, g = {}, {}
            for sym, (action, arg) in acts.items():
                if action.name == "Shift":
                    (a if sym.isupper() or sym == "$END" else g)[sym] = arg
                else:
                    a[sym] = ~index[arg]
            self.actions[state], self.gotos[state] = a, g
        # per rule: (size, origin, passthrough, build)
        self.rules = [_compile_rule(r, builder_class) for r in rules]
        self.memo: dict[tuple[int, int, str], int] = {}

    def rise(self, below: int, origin: str, ttype: str) -> int:
        """The state after a run of one-child `?rule` reductions above `below`."""
        top = self.gotos[below][origin]
        while True:
            act = self.actions[top].get(ttype)
            if act is None or act >= 0 or not self.rules[~act][2]:
                return top
            top = self.gotos[below][self.rules[~act][1]]

    def expected(self, state: int) -> set[str]:
        return {t for t in self.actions[state] if t.isupper() and t not in _LINE_START.values()}

    def accepts(self, stack: list[int], ttype: str) -> bool:
        """Would `ttype` be shifted after the reductions it causes from `stack`?"""
        stack = list(stack)
        actions, gotos, rules = self.actions, self.gotos, self.rules
        while True:
            act = actions[stack[-1]].get(ttype)
            if act is None:
                return False
            if act >= 0:
                return True
            size, origin = rules[~act][:2]
            if size:
                del stack[-size:]
            stack.append(gotos[stack[-1]][origin])


def _may_hold_newline(regexp: str) -> bool:
    # Lark's own test (lexer._regexp_has_newline): when unsure, count newlines.
    return "\n" in regexp or "\\n" in regexp or "\\s" in regexp or "[^" in regexp


def _compile_rule(rule, builder_class):
    """(size, origin, passthrough, build(children, pos, builder)) for one grammar rule."""
    expansion = rule.expansion
    opts = rule.options
    keep_all = opts.keep_all_tokens
    if opts.empty_indices:
        bits = "".join(str(int(b)) for b in opts.empty_indices)
        nones = [len(ones) for ones in bits.split("0")]
    else:
        nones = [0] * (len(expansion) + 1)
    include = []  # (index, splice, Nones before it)
    pending = 0
    for i, sym in enumerate(expansion):
        pending += nones[i]
        if keep_all or not (sym.is_term and sym.filter_out):
            include.append((i, not sym.is_term and sym.name.startswith("_"), pending))
            pending = 0
    trailing = pending + nones[len(expansion)]
    name = rule.alias or opts.template_source or rule.origin.name
    expand1 = bool(opts.expand1) and not rule.alias
    origin = rule.origin.name
    splice_rule = origin.startswith("_")
    method = None if splice_rule else getattr(builder_class, name, None)
    if method is None and not splice_rule and not expand1:
        raise TypeError(f"the AST builder has no method for rule {name!r}")
    simple = [i for i, _, _ in include]
    plain = not trailing and all(not s and not n for _, s, n in include)
    passthrough = expand1 and plain and len(expansion) == 1 and len(include) == 1

    if plain and len(simple) == len(expansion):

        def children(values):
            return values  # a fresh slice of the value stack already

    elif plain:

        def children(values):
            return [values[i] for i in simple]

    else:

        def children(values):
            out = None
            for i, splice, n in include:
                if splice:
                    if out is None and not n:
                        out = values[i]  # left recursion (`a*`): extend the list in place
                        continue
                    if out is None:
                        out = []
                    if n:
                        out += [None] * n
                    out += values[i]
                else:
                    if out is None:
                        out = []
                    if n:
                        out += [None] * n
                    out.append(values[i])
            if out is None:
                out = []
            if trailing:
                out += [None] * trailing
            return out

    if splice_rule:

        def build(values, pos, builder):
            return children(values)

    elif expand1:

        def build(values, pos, builder):
            c = children(values)
            return c[0] if len(c) == 1 else method(builder, pos, c)

    else:

        def build(values, pos, builder):
            return method(builder, pos, children(values))

    # How the node's height follows from its children's: a `_rule` is inlined into its
    # parent (no level of its own), and a `->` chain's left spine is a loop, not nesting.
    if splice_rule:
        grow = 0
    elif name == "chain" and expansion and expansion[0].name == origin:
        grow = -1
    else:
        grow = 1
    return len(expansion), origin, passthrough, build, grow


class Run:
    """One parse of one text: the lexer position and the parser's stacks.

    `on_error(problem, run)` is called at each syntax error; it may move the lexer
    (`seek`) and cut the stacks back (`truncate`) and return True to carry on."""

    def __init__(self, tables: Tables, text: str, builder, start: str = "start"):
        self.t = tables
        self.text = text
        self.builder = builder
        self.pos, self.line, self.line_start = 0, 1, 0
        self.states = [tables.start_states[start]]
        self.values: list = []
        self.spans: list = []
        self.start = start

    def seek(self, pos: int, line: int, col: int) -> None:
        self.pos, self.line, self.line_start = pos, line, pos - col + 1

    def truncate(self, keep: int) -> None:
        """Keep the first `keep` values (and the states under them)."""
        del self.states[keep + 1 :]
        del self.values[keep:]
        del self.spans[keep:]

    def tokens(self, on_token: Callable | None = None):
        """Tokens from the current position; `$ERR` for a character that starts none.

        After each token the error handler may have moved the position (`seek`)."""
        t, text = self.t, self.text
        match, group_type, multiline, keywords = (
            t.regex.match,
            t.group_type,
            t.multiline,
            t.keywords,
        )
        n = len(text)
        pos, line, line_start = self.pos, self.line, self.line_start
        while True:
            m = match(text, pos)
            if m is None:
                skip = t.skip.match(text, pos)
                skipped = skip.group()
                if "\n" in skipped:
                    line += skipped.count("\n")
                    line_start = pos + skipped.rfind("\n") + 1
                pos = skip.end()
                self.pos, self.line, self.line_start = pos, line, line_start
                if pos >= n:
                    return
                yield Tok("$ERR", text[pos], pos, line, pos - line_start + 1)
                pos, line, line_start = self.pos, self.line, self.line_start
                continue
            skipped = m.group("skip")
            if skipped:
                pos += len(skipped)
                if "\n" in skipped:
                    line += skipped.count("\n")
                    line_start = pos - len(skipped) + skipped.rfind("\n") + 1
            name = m.lastgroup
            ttype = group_type[name]
            value = m.group(name)
            kw = keywords.get(ttype)
            if kw is not None:
                ttype = kw.get(value, ttype)
            tok = Tok(ttype, value, pos, line, pos - line_start + 1)
            pos = m.end()
            if ttype in multiline and "\n" in value:
                line += value.count("\n")
                line_start = tok.start_pos + value.rfind("\n") + 1
            self.pos, self.line, self.line_start = pos, line, line_start
            if on_token is not None:
                on_token(tok)
            yield tok
            if self.pos != pos:  # the error handler moved on
                pos, line, line_start = self.pos, self.line, self.line_start

    def parse(self, on_error, on_token=None, max_height: int = sys.maxsize):
        t = self.t
        actions, gotos, rules = t.actions, t.gotos, t.rules
        states, values, spans = self.states, self.values, self.spans
        builder = self.builder
        end_state = t.end_states[self.start]
        memo = t.memo
        last_line = 0
        for tok in self._with_end(on_token):
            ttype = tok.type
            # A bracket opening a line begins an expression if one can begin there
            # (grammars/netdsl.lark): newlines do not end statements, but a call or an
            # index continues its line.
            if ttype in _LINE_START and tok.line > last_line:
                if t.accepts(states, _LINE_START[ttype]):
                    ttype = _LINE_START[ttype]
            last_line = tok.end_line
            while True:
                act = actions[states[-1]].get(ttype)
                if act is None:
                    if ttype == "$ERR":
                        problem = Problem(tok.start_pos, tok.line, tok.column, None, set())
                    else:
                        problem = Problem(
                            tok.start_pos, tok.line, tok.column, tok, t.expected(states[-1])
                        )
                    if not on_error(problem, self):
                        raise problem
                    break  # carry on from where the handler moved the lexer
                if act >= 0:
                    states.append(act)
                    values.append(tok)
                    spans.append((tok.line, tok.column, tok.line, tok.end_column, 0))
                    break
                size, origin, passthrough, build, grow = rules[~act]
                if passthrough:
                    # `?a: b` with one child: the node is its child, only the state moves;
                    # a run of them (an atom rising to an expression) is looked up once.
                    key = (states[-2], states[-1], ttype)
                    top = memo.get(key)
                    if top is None:
                        top = memo[key] = t.rise(states[-2], origin, ttype)
                    states[-1] = top
                    continue
                if size == 1:
                    kids = [values.pop()]
                    del states[-1]
                    pos = spans.pop()
                    if pos is not None and grow:
                        pos = (pos[0], pos[1], pos[2], pos[3], pos[4] + grow)
                elif size:
                    kids = values[-size:]
                    pos = _merge(spans[-size:], grow)
                    del values[-size:], spans[-size:], states[-size:]
                else:
                    kids, pos = [], None
                if pos is not None and pos[4] > max_height:
                    self.too_deep = pos
                    max_height = _NO_LIMIT  # report once; the caller decides
                values.append(build(kids, pos, builder))
                spans.append(pos)
                states.append(gotos[states[-1]][origin])
                if ttype == "$END" and states[-1] == end_state:
                    return values[-1]
        raise AssertionError("the parser did not reach its end state")  # pragma: no cover

    def _with_end(self, on_token):
        yield from self.tokens(on_token)
        n = len(self.text)
        line = self.text.count("\n") + 1
        col = n - (self.text.rfind("\n") + 1) + 1
        yield Tok("$END", "", n, line, col)


_NO_LIMIT = sys.maxsize
# Brackets that start an expression when they open a line: their line-start terminals.
_LINE_START = {"LPAR": "_NL_LPAR", "LSQB": "_NL_LSQB"}


def _merge(spans, grow: int):
    """The span of a node from its children's (Lark's propagate_positions rule)."""
    first, last = spans[0], spans[-1]
    if first is not None and last is not None and None not in spans:
        height = max([s[4] for s in spans])
        if grow < 0:  # a chain: its left child is the chain so far, at the same level
            height = max(first[4], last[4] + 1)
        else:
            height += grow
        return (first[0], first[1], last[2], last[3], height)
    first = last = None
    height = 0
    for s in spans:
        if s is not None:
            if first is None:
                first = s
            last = s
            if s[4] > height:
                height = s[4]
    if first is None:
        return None
    if grow < 0:  # a chain: its left child is the chain so far, at the same level
        height = max(first[4], last[4] + 1)
    else:
        height += grow
    return (first[0], first[1], last[2], last[3], height)
