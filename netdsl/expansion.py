"""How many layers a block instance will create at least, read from its source before it
is elaborated, so that an expansion bomb fails at once (E701) instead of after minutes.

41 blocks each applying the next twice make 2^40 layers; elaborating them until the
layer limit is reached took minutes. The estimate is a *lower bound*, so it never
refuses a network that fits: an `if` counts its smaller branch, a loop whose count is
not a literal counts nothing, an assignment nothing reads counts nothing, a variable
applied (`x -> v`) counts nothing, and only what is called or chained is counted (an
op or block passed as an argument is not applied here). Blocks are estimated once each
(parameters aside, which is what makes it a lower bound).
"""

from __future__ import annotations

from netdsl import ast


class Estimator:
    def __init__(self, blocks: dict[str, ast.Block], ops, cap: int):
        self.blocks = blocks
        self.ops = ops
        self.cap = cap  # numbers are kept at most this (the limit + 1): no huge products
        self.memo: dict[str, int] = {}
        self.busy: set[str] = set()

    def block(self, name: str) -> int:
        if name in self.memo:
            return self.memo[name]
        if name in self.busy:  # recursion: refused elsewhere (E505)
            return 0
        self.busy.add(name)
        try:
            b = self.blocks[name]
            local = {p.name for p in b.params}
            n = self.body(b.body, local)
        finally:
            self.busy.discard(name)
        self.memo[name] = n
        return n

    def body(self, stmts, local: set[str], limit: int | None = None):
        """Layers the statements create at least; with `limit`: (the statement at which
        the count first passes it, the count then), or None."""
        local = set(local)
        used = _names_read(stmts)
        total = 0
        for s in stmts:
            if isinstance(s, ast.Assign):
                local.update(s.targets)
                if any(t in used for t in s.targets):
                    total += self.expr(s.expr, local, applied=False)
            elif isinstance(s, (ast.ExprStmt, ast.Out)):
                total += self.expr(s.expr, local, applied=False)
            elif isinstance(s, ast.Aux):
                total += self.expr(s.expr, local, applied=False)
            elif isinstance(s, ast.Input):
                local.add(s.name)
            total = min(total, self.cap)
            if limit is not None and total > limit:
                return s, total
        return None if limit is not None else total

    def expr(self, e, local: set[str], applied: bool) -> int:
        """Layers evaluating `e` creates; `applied`: e is applied to a tensor (in a chain)."""
        cap = self.cap
        if isinstance(e, ast.Name):
            if not applied or e.id in local:
                return 0
            if e.id in self.blocks:
                return self.block(e.id)
            return 1 if e.id in self.ops else 0
        if isinstance(e, ast.Call):
            inner = sum(self.expr(a.value, local, applied=False) for a in e.args)
            f = e.func
            if isinstance(f, ast.Name) and f.id not in local:
                if f.id in self.blocks:
                    inner += self.block(f.id)
                elif f.id in self.ops:
                    inner += 1
            return min(inner, cap)
        if isinstance(e, ast.Chain):
            left = self.expr(e.left, local, applied=applied or _is_source(e.left, local))
            return min(left + self.expr(e.right, local, applied=True), cap)
        if isinstance(e, ast.As):
            return self.expr(e.expr, local, applied)
        if isinstance(e, ast.BinOp):
            return min(self.expr(e.left, local, False) + self.expr(e.right, local, False), cap)
        if isinstance(e, ast.UnOp):
            return self.expr(e.operand, local, False)
        if isinstance(e, (ast.ListE, ast.TupleE)):
            return min(sum(self.expr(i, local, applied) for i in e.items), cap)
        if isinstance(e, (ast.Index, ast.Attr)):
            return self.expr(e.obj, local, False)
        if isinstance(e, ast.If):
            then = self.body(e.then, local)
            orelse = self.body(e.orelse, local) if e.orelse else 0
            return min(then, orelse)
        if isinstance(e, ast.Repeat):
            count = e.count.value if isinstance(e.count, ast.Const) else 0
            if isinstance(count, bool) or not isinstance(count, int) or count <= 0:
                return 0
            return min(count * self.body(e.body, local), cap)
        if isinstance(e, ast.For):
            n = _literal_length(e.iter)
            if not n:
                return 0
            return min(n * self.body(e.body, local | set(e.names)), cap)
        return 0


def _is_source(e, local: set[str]) -> bool:
    """Does a chain start from a tensor here (`in`, an input or a variable)?"""
    while isinstance(e, (ast.Chain, ast.As)):
        e = e.left if isinstance(e, ast.Chain) else e.expr
    return isinstance(e, ast.InRef) or (isinstance(e, ast.Name) and e.id in local)


def _literal_length(e) -> int:
    """The length of `range(N)`, `range(A, B)` with literal numbers, or a literal list."""
    if isinstance(e, (ast.ListE, ast.TupleE)):
        return len(e.items)
    if (
        isinstance(e, ast.Call)
        and isinstance(e.func, ast.Name)
        and e.func.id == "range"
        and all(a.name is None and isinstance(a.value, ast.Const) for a in e.args)
    ):
        vals = [a.value.value for a in e.args]
        if (
            all(isinstance(v, int) and not isinstance(v, bool) for v in vals)
            and 1 <= len(vals) <= 3
        ):
            try:
                return max(0, len(range(*vals)))
            except (ValueError, OverflowError):
                return 0
    return 0


def _names_read(stmts) -> set[str]:
    """Every name read anywhere in these statements (and the bodies inside them)."""
    seen: set[str] = set()
    todo = list(stmts)
    while todo:
        node = todo.pop()
        if isinstance(node, list):
            todo.extend(node)
        elif isinstance(node, ast.Name):
            seen.add(node.id)
        elif isinstance(node, (ast.Expr, ast.Stmt, ast.Arg)):
            for name in node.__slots__:
                value = getattr(node, name, None)
                if isinstance(value, (list, ast.Expr, ast.Stmt, ast.Arg)):
                    todo.append(value)
    return seen
