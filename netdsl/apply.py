"""Applying layers to tensors: the part of elaboration that adds IR nodes.

A mixin of the Elaborator (it needs `fail`, `ev`, `exec_body`, ...): ops become
nodes with their inferred shapes, blocks become scoped instances, ordered groups
number their members like nn.Sequential.
"""

from __future__ import annotations

import difflib
from dataclasses import replace

from netdsl.diagnostics import Diagnostic, NetdslError, Note, Span
from netdsl.frame import INT64_MAX, Frame
from netdsl.ir import Group, Instance, Scope
from netdsl.ops.base import OpError, fmt_shape, numel
from netdsl.values import ArgValue, BlockSpec, OpSpec, RepeatSpec, SeqSpec, Spec, Tensor

_CAP = 10**18  # estimates are not counted further


def _contents(spec: Spec) -> Spec:
    """A group's body, as the sequence its members are read from."""
    return replace(spec, name=None, numbered=False) if isinstance(spec, SeqSpec) else spec


def _count(n: int) -> str:
    return f"{n:,}" if n < _CAP else f"{_CAP:,}"


class Applier:
    def local_name(self, frame: Frame, base: str) -> str:
        n = frame.counters.get(base, 0)
        while True:
            name = base if n == 0 else f"{base}_{n}"
            n += 1
            if (
                frame.prefix + name not in self.G
                and frame.prefix + name not in self.G.graph["instances"]
                and frame.prefix + name not in self.G.graph["groups"]
            ):
                frame.counters[base] = n
                return name

    def claim(self, path: str, span: Span, frame: Frame) -> None:
        G = self.G
        if path in G or path in G.graph["instances"] or path in G.graph["groups"]:
            where = G.nodes[path]["span"] if path in G else None
            self.fail(
                "E203",
                f"layer name '{path}' is already used",
                span,
                frame,
                hint=f"it was first used at {where}" if where else "names must be unique",
            )

    def apply(self, spec: Spec, inputs: list[Tensor], frame: Frame, path: str | None = None):
        if len(self.G) + spec.size > self.limits.max_layers:
            self.fail(
                "E701",
                f"this creates {spec.size:,} layers; with the {len(self.G):,} before it, "
                f"more than the limit of {self.limits.max_layers:,}",
                spec.span,
                frame,
                hint="raise the limit with --max-layers if this is intended",
            )
        if isinstance(spec, OpSpec):
            return self.apply_op(spec, inputs, frame, path)
        if isinstance(spec, BlockSpec):
            return self.apply_block(spec, inputs, frame, path)
        if isinstance(spec, RepeatSpec):
            if spec.name is not None or path is not None:
                return self.apply_group(spec, inputs, frame, path)
            x = inputs[0]
            for _ in range(spec.count):
                x = self.apply(spec.body, [x], frame)
            return x
        if isinstance(spec, SeqSpec):
            if spec.name is not None or path is not None:
                return self.apply_group(spec, inputs, frame, path)
            x = inputs[0]
            for item in spec.items:
                x = self.apply(item, [x], frame)
            return x
        raise AssertionError(spec)

    def members(self, spec: Spec):
        """A group's members: nested unnamed sequences and repeats are flattened, except
        a list written inside the list, which is a numbered member of its own."""
        if isinstance(spec, SeqSpec) and spec.name is None and not spec.numbered:
            for item in spec.items:
                yield from self.members(item)
        elif isinstance(spec, RepeatSpec) and spec.name is None:
            for _ in range(spec.count):
                yield from self.members(spec.body)
        else:
            yield spec

    def check_expansion(self, block, span, frame: Frame) -> None:
        """Refuse at once a block instance that is sure to pass the layer limit
        (netdsl/expansion.py: a lower bound read from the source)."""
        at_least = self.expansion().block(block.name)
        if len(self.G) + at_least > self.limits.max_layers:
            self.fail(
                "E701",
                f"block {block.name} would create at least {_count(at_least)} "
                f"layers; with the {len(self.G):,} before it, more than the limit of "
                f"{self.limits.max_layers:,}",
                span,
                frame,
                hint="blocks that apply blocks several times multiply; "
                "raise the limit with --max-layers if this is intended",
            )

    def expansion(self):
        est = getattr(self, "_expansion", None)
        if est is None:
            from netdsl.expansion import Estimator
            from netdsl.ops import OPS

            est = self._expansion = Estimator(self.program.blocks, OPS, cap=_CAP)
        return est

    def apply_group(self, spec, inputs, frame, path):
        if len(inputs) != 1:
            self.fail("E309", "a group of layers takes one input", spec.span, frame)
        if path is None:
            path = frame.prefix + spec.name
        self.claim(path, spec.span, frame)
        group = Group(path, spec.span, frame.scope, guard=tuple(frame.guards))
        self.G.graph["groups"][path] = group
        inner = spec.body if isinstance(spec, RepeatSpec) else spec
        flat = (
            [m for _ in range(spec.count) for m in self.members(inner)]
            if isinstance(spec, RepeatSpec)
            else list(self.members(_contents(inner)))
        )
        x = inputs[0]
        for i, member in enumerate(flat):
            member_path = f"{path}.{member.name if member.name else i}"
            group.members.append(member_path)
            x = self.apply(member, [x], frame, member_path)
        return x

    def bind_op(self, spec: OpSpec, frame: Frame) -> dict:
        try:
            return spec.op.bind([a.value for a in spec.pos], {k: a.value for k, a in spec.kw})
        except OpError as exc:
            self.op_error(exc, spec, frame)

    def op_error(self, exc: OpError, spec, frame: Frame, extra_notes=()):
        span = spec.span
        if exc.arg is not None:
            names = [a.name for a in spec.op.args]
            if exc.arg in names and names.index(exc.arg) < len(spec.pos):
                span = spec.pos[names.index(exc.arg)].span
            for k, a in spec.kw:  # given both ways (E302): the keyword is the culprit
                if k == exc.arg:
                    span = a.span
        notes = list(extra_notes) + frame.notes()
        raise NetdslError(Diagnostic(exc.code, exc.message, span, exc.hint, notes))

    def apply_op(self, spec: OpSpec, inputs: list[Tensor], frame: Frame, path=None) -> Tensor:
        op = spec.op
        if op.inputs is None:
            if len(inputs) < 2:
                self.fail(
                    "E309",
                    f"{op.name} needs at least two tensors, got {len(inputs)}",
                    spec.span,
                    frame,
                    hint=f"e.g. {op.name}(a, b)",
                )
        elif len(inputs) != op.inputs:
            self.fail(
                "E309",
                f"{op.name} takes {op.inputs} input tensor, got {len(inputs)}",
                spec.span,
                frame,
            )
        nodes = [t.node for t in inputs]
        if len(set(nodes)) != len(nodes):
            twice = next(n for n in nodes if nodes.count(n) > 1)
            # The IR keeps one edge per pair of layers (a DiGraph; the edge's port says
            # which input it is), so `concat(a, a)` cannot be represented faithfully.
            self.fail(
                "E322",
                f"{op.name} takes '{twice}' more than once; a layer cannot take the same "
                "tensor twice",
                spec.span,
                frame,
                hint="not supported by netdsl's IR yet",
            )
        args = self.bind_op(spec, frame)
        shapes = [t.shape for t in inputs]
        try:
            shape = op.infer(args, shapes)
        except OpError as exc:
            inputs_note = Note(
                "input shape"
                + ("s" if len(shapes) > 1 else "")
                + ": "
                + ", ".join(f"{fmt_shape(s)} (from '{t.node}')" for s, t in zip(shapes, inputs))
            )
            self.op_error(exc, spec, frame, [inputs_note])
        if path is None:
            path = frame.prefix + (spec.name or self.local_name(frame, op.name))
        self.claim(path, spec.span, frame)
        self.check_size(f"layer '{path}'", shape, shapes, (op, args), spec.span, frame)
        G = self.G
        if len(G) >= self.limits.max_layers:
            self.fail(
                "E701",
                f"the network expands to more than {self.limits.max_layers:,} layers",
                spec.span,
                frame,
                hint="raise the limit with --max-layers if this is intended",
            )
        names = [a.name for a in op.args]
        sym = {names[i]: a.sym for i, a in enumerate(spec.pos) if a.sym is not None}
        sym.update({k: a.sym for k, a in spec.kw if a.sym is not None})
        G.add_node(
            path,
            op=op.name,
            args=args,
            shape=shape,
            span=spec.span,
            scope=frame.scope,
            sym=sym,
            guard=tuple(frame.guards),
        )
        for port, t in enumerate(inputs):
            G.add_edge(t.node, path, port=port)
        return Tensor(path, shape)

    def check_size(self, what: str, shape, in_shapes, op_args, span: Span, frame: Frame) -> None:
        """Sizes beyond int64 are errors (E708); beyond Limits.warn_bytes in fp32, warnings
        (W002 for a tensor, W003 for a layer's parameters) with the size in GB."""
        elements = numel(shape)
        if elements > INT64_MAX:
            self.fail(
                "E708",
                f"{what} would be a {fmt_shape(shape)} tensor: {elements:.3g} elements, more "
                "than a 64-bit integer can count",
                span,
                frame,
            )
        limit = self.limits.warn_bytes
        if elements * 4 > limit and all(numel(s) * 4 <= limit for s in in_shapes):
            self.warnings.append(
                Diagnostic(
                    "W002",
                    f"{what} is a {fmt_shape(shape)} tensor: {elements * 4 / 1e9:,.1f} GB "
                    "per sample in fp32",
                    span,
                    notes=frame.notes(),
                    severity="warning",
                )
            )
        if op_args is None:
            return
        op, args = op_args
        params = op.cost(args, in_shapes, shape).params
        self.params += params
        if params > INT64_MAX or self.params > INT64_MAX:
            whose = what if params > INT64_MAX else f"with {what}, the network"
            self.fail(
                "E708",
                f"{whose} would have {max(params, self.params):.3g} parameters, more than a "
                "64-bit integer can count",
                span,
                frame,
            )
        if params * 4 > limit:
            self.warnings.append(
                Diagnostic(
                    "W003",
                    f"{what} has {params:,} parameters: {params * 4 / 1e9:,.1f} GB in fp32",
                    span,
                    notes=frame.notes(),
                    severity="warning",
                )
            )

    def apply_block(self, spec: BlockSpec, inputs: list[Tensor], frame: Frame, path=None):
        block = spec.block
        if len(inputs) != 1:
            self.fail(
                "E309",
                f"block {block.name} takes one input tensor, got {len(inputs)}",
                spec.span,
                frame,
            )
        if block.name in self.stack:
            chain = " -> ".join(self.stack[self.stack.index(block.name) :] + [block.name])
            self.fail(
                "E505",
                f"block {block.name} uses itself: {chain}",
                spec.span,
                frame,
                hint="blocks cannot be recursive; use repeat or for",
            )
        if len(self.stack) >= self.limits.max_block_depth:
            self.fail(
                "E702", f"blocks nested deeper than {self.limits.max_block_depth}", spec.span, frame
            )
        self.check_expansion(block, spec.span, frame)
        if path is None:
            path = frame.prefix + (spec.name or self.local_name(frame, block.name.lower()))
        self.claim(path, spec.span, frame)
        scope = Scope(block.name, path, spec.span)
        inner = Frame(
            prefix=path + ".", scope=frame.scope + (scope,), in_tensor=inputs[0], block=block
        )
        self.bind_block_args(spec, inner, frame)
        instance = Instance(
            block.name,
            path,
            {p.name: inner.vars[p.name] for p in block.params},
            spec.span,
            frame.scope,
            [inputs[0].node],
            arg_syms=self.given_syms(spec),
            guard=tuple(frame.guards),
        )
        self.G.graph["instances"][path] = instance
        self.stack.append(block.name)
        self.exec_body(block.body, inner, top=True)
        self.stack.pop()
        if inner.out is None:
            self.fail(
                "E607",
                f"block {block.name} has no `out`",
                block.span,
                frame,
                hint="end the block with `out EXPR`",
            )
        instance.output = inner.out.node
        return inner.out

    @staticmethod
    def given_syms(spec: BlockSpec) -> dict[str, str | None]:
        """The symbolic form of each argument given explicitly in a block call."""
        names = [p.name for p in spec.block.params]
        syms = {name: a.sym for name, a in zip(names, spec.pos)}
        syms.update({k: a.sym for k, a in spec.kw if k in names})
        return syms

    def bind_block_args(self, spec: BlockSpec, inner: Frame, caller: Frame) -> None:
        block = spec.block
        names = [p.name for p in block.params]
        if len(spec.pos) > len(names):
            self.fail(
                "E301",
                f"block {block.name} takes {len(names)} argument"
                f"{'s' if len(names) != 1 else ''} but {len(spec.pos)} were given",
                spec.span,
                caller,
                hint=f"{block.name}({', '.join(names)})",
            )
        given: dict[str, ArgValue] = dict(zip(names, spec.pos))
        for k, a in spec.kw:
            if k not in names:
                close = difflib.get_close_matches(k, names, n=1)
                self.fail(
                    "E202",
                    f"block {block.name} has no parameter '{k}'",
                    a.span,
                    caller,
                    hint=f"did you mean '{close[0]}'?"
                    if close
                    else f"{block.name}({', '.join(names)})",
                )
            if k in given:
                self.fail("E302", f"{block.name}() got '{k}' twice", a.span, caller)
            given[k] = a
        for p in block.params:
            if p.name in given:
                inner.vars[p.name] = given[p.name].value
            elif p.default is not None:
                inner.vars[p.name] = self.ev(p.default, inner)
            else:
                self.fail(
                    "E303",
                    f"block {block.name} needs argument '{p.name}'",
                    spec.span,
                    caller,
                    hint=f"{block.name}({', '.join(names)})",
                )
            inner.syms[p.name] = p.name
