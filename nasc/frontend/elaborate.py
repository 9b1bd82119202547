"""Elaboration: evaluate a space at compile time into decisions + IR + constraints.

Blocks are instantiated, repeats unrolled (to their maximum when the count is a
decision), comprehensions expanded and ``if``s folded.  Each ``choice``/``choose``
creates a decision (or, when the decision is pinned by ``fix`` or by an
assignment, evaluates straight to the chosen candidate -- which is how a fully
decided architecture is elaborated with the very same code).

Decision paths follow the bindings (spec 4.4): ``scope.binding``, ``[i]`` for
repeat iterations and comprehension elements, the callee's parameter name for a
choice written as a call argument, and the instance itself for ``return``.
``shared`` blocks put their decisions under the group name and check that every
instance has the same decision structure.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import NascError, NascNameError, NascSemanticError, Note, Span, did_you_mean
from ..ir.graph import IRGraph, fmt_shape
from ..ir.ops import OpError
from ..ir.space import ConstraintSpec, Decision, SearchSpace
from ..ir.cost import lifted_cost, op_footprint, tensor_bytes
from ..ir.sym import Budget, BudgetExceeded, Sym, SymError, distribute, has_sym, leaf, lift, pick
from . import ast as A
from .resolve import LoadedModule, Loader
from .values import (FUNCTIONS, UNITS, BlockVal, ChoiceOp, ChosenList, Func, Metric, Namespace, OpVal,
                     PathMetric, Predicate, QuantityVal, SpaceRef, Tensor, kind_of)

METRICS = {"params": "count", "flops": "count", "macs": "count", "latency": "time",
           "peak_memory": "bytes", "depth": "count"}
PREDICATES = ("connected", "min_path_ops")
_OUTCOMES = frozenset({"accuracy", "acc", "top1", "top5", "top1_accuracy", "loss", "error", "val_acc",
                       "val_loss"})
MAX_UNROLL = 10_000  # total repeat iterations + comprehension elements per elaboration
MAX_WORK = 100_000  # ops + block instances per elaboration (blocks calling blocks can grow exponentially)
MAX_BLOCK_NESTING = 50  # block instances inside block instances (keeps elaboration off Python's stack limit)
MAX_EXTENDS_DEPTH = 50  # spaces extending spaces (same reason)
MAX_CONST_DEPTH = 100  # consts defined by consts defined by consts ... (same reason)
MAX_INT_BITS = 63  # compile-time integers are bounded like int64
#: Steps per elaboration: expressions evaluated, plus the decision combinations each
#: lifted rule (a shape, a cost, arithmetic on a decision) is evaluated for.  The limits
#: above bound how often a body runs, not how much one run does (a long body inside a
#: long repeat, a rule over a wide decision table in every layer); this one makes every
#: elaboration end within seconds.  The examples take at most ~11,000 steps, 5,000
#: sequential choices ~220,000.
MAX_STEPS = 2_000_000
#: Decisions per space.  Each one is a variable of exact counting and a parameter the
#: search learns; published spaces have tens to hundreds, and the analysis stays within
#: seconds up to this many.
MAX_DECISIONS = 10_000
#: Options of one decision (the values of a `choice`, the combinations of a `choose`).
#: Each option is a row of every table that depends on the decision, and `choose k of n`
#: reaches millions of combinations from a short list (`choose 10 of` 30 tensors: 3*10^7).
MAX_OPTIONS = 100_000
#: Characters of a string built with `+`: `s = s + s` doubles, so a short loop would
#: otherwise exhaust memory.  Far longer than any path, label or key needs.
MAX_STRING = 1 << 16
#: Bytes of one op's parameters, and of one activation tensor at batch 1, at fp32 (the
#: largest over the space's decisions).  An op beyond it cannot be built or trained on
#: the machines nasc targets, so it is reported where it is written instead of when a
#: later stage tries to allocate it; the largest op in the examples needs under 10 MB.
MAX_TENSOR_BYTES = 1 << 31


class _Return(Exception):
    def __init__(self, value: Any) -> None:
        self.value = value


@dataclass
class Pin:
    """A pinned decision: from a `fix` statement (expr) or a programmatic assignment (option)."""

    path: str
    expr: A.Expr | None = None
    option: int | None = None
    span: Span | None = None
    used: bool = False


@dataclass
class Scope:
    """Where decisions and nodes are being created (a space body or a block instance)."""

    path: str  # decision prefix ("" for the space; the group name inside shared blocks)
    inst: str  # unique instance path (for nodes and scoped constraints)
    group: str | None = None  # shared group this scope belongs to
    used: dict[str, int] = field(default_factory=dict)
    loop: list[int] = field(default_factory=list)
    binding: str | None = None

    def local(self, base: str | None) -> str:
        return (base or "") + "".join(f"[{i}]" for i in self.loop)

    def alloc(self, local: str) -> str:
        n = self.used.get(local, 0) + 1
        self.used[local] = n
        return local if n == 1 else f"{local}_{n}"


def join(prefix: str, local: str) -> str:
    if not prefix:
        return local
    if not local:
        return prefix
    return prefix + local if local.startswith("[") else f"{prefix}.{local}"


@dataclass
class _Group:
    """Structure of a shared group's first instance, to check later instances against."""

    block: str
    span: Span | None
    decisions: dict[str, tuple[str, int, str]] = field(default_factory=dict)  # path -> (kind, n, value kind)
    complete: bool = False  # the first instance has finished


class Env:
    """Lexical variables: a chain of frames ending in a module's top level."""

    def __init__(self, module: LoadedModule, parent: "Env | None" = None) -> None:
        self.vars: dict[str, Any] = {}
        self.module = module
        self.parent = parent

    def lookup(self, name: str) -> tuple[bool, Any]:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                return True, env.vars[name]
            env = env.parent
        return False, None

    def assign(self, name: str, value: Any) -> None:
        env: Env | None = self
        while env is not None:
            if name in env.vars:
                env.vars[name] = value
                return
            env = env.parent
        self.vars[name] = value

    def child(self) -> "Env":
        return Env(self.module, self)

    def visible(self) -> set[str]:
        out: set[str] = set()
        env: Env | None = self
        while env is not None:
            out |= set(env.vars)
            env = env.parent
        return out


class Elaborator:
    """Evaluates one space (with optional pins) into a :class:`SearchSpace`."""

    def __init__(self, loader: Loader, pins: dict[str, Pin] | None = None) -> None:
        self.loader = loader
        self.graph = IRGraph()
        self.decisions: list[Decision] = []
        self.by_path: dict[str, Decision] = {}
        self.pins: dict[str, Pin] = dict(pins or {})
        self.groups: dict[str, _Group] = {}
        self.constraints: list[ConstraintSpec] = []
        self.scope = Scope("", "")
        self.warnings: list[NascError] = []
        self.unrolled = 0
        self.constraint_mode = False
        self._group_seen: list[set[str]] = []
        self._group_calls: list[Span] = []  # call sites of the shared-block instances being elaborated
        self._call_stack: list[str] = []
        self._instances: list[Span] = []  # call sites of the block instances being elaborated
        self.work = 0  # ops and block instances created (bounded by MAX_WORK)
        self.budget = Budget(MAX_STEPS, "expressions evaluated and decision combinations computed; is a loop "
                                        "body or a decision table very large?")
        self._const_depth = 0  # consts being evaluated, innermost last (bounded by MAX_CONST_DEPTH)
        self._extends_chain: list[str] = []  # `space B extends A`: the spaces being extended, outermost first
        self._extends_specs: list[A.SpaceDef] = []
        self._io: dict[str, tuple[str, Span]] = {}  # input/output names of the space -> (kind, span)

    # ================================================================ spaces
    def elaborate(self, mod: LoadedModule, name: str, args: dict[str, Any] | None = None) -> SearchSpace:
        ref = mod.names.get(name)
        if not isinstance(ref, SpaceRef):
            spaces = [n for n, v in mod.names.items() if isinstance(v, SpaceRef)]
            raise NascNameError(f"{mod.name} has no space or arch '{name}'{did_you_mean(name, spaces)}")
        space = ref.space
        params, body_env = self._instantiate_space(ref, args or {}, outer_fixes=(), kind=space.kind)
        self._finish_pins()
        result = SearchSpace(space.name, space.kind, mod.name, self.decisions, self.graph, self.constraints,
                             params, warnings=self.warnings)
        _check_outputs(self.graph, space)
        _mark_kept_edges(self.graph, self.decisions)
        from ..ir.analysis import annotate_activity

        annotate_activity(result)
        if space.kind == "arch":
            free = [d for d in result.free]
            if free:
                d = free[0]
                more = f" (and {len(free) - 1} more)" if len(free) > 1 else ""
                raise NascSemanticError(f"arch '{space.name}' leaves decision '{d.path}' free{more}; "
                                        f"pin it with 'fix {d.path} = ...' (candidates: {', '.join(d.labels)}), "
                                        "or declare a 'space'", d.span,
                                        (Note(f"arch '{space.name}' is defined here", space.name_span),))
        # A decision that no assignment lets reach an output is worth a warning in a space.  Once
        # `fix` pins exist, the options they rule out deactivate other decisions by design (the
        # ops on edges a pinned `choose` dropped): warning about those is noise, and a
        # decision dead in the base space is already reported when the base space is checked.
        pinned = any(d.fixed is not None for d in result.decisions)
        for d in result.decisions:
            if d.free and d.active_if == frozenset() and not pinned:
                self.warnings.append(NascError(f"decision '{d.path}' never reaches an output", d.span))
        return result

    def _instantiate_space(self, ref: SpaceRef, args: dict[str, Any], outer_fixes: tuple[A.Fix, ...],
                           kind: str) -> tuple[dict[str, Any], Env]:
        space, mod = ref.space, ref.module
        if space.extends is not None:
            return self._instantiate_extends(ref, args, outer_fixes, kind)
        self._collect_fixes(space, kind)
        env = Env(mod)
        params = self._bind_space_params(space, env, args)
        self._exec_body(space.body, env, where="space")
        return params, env

    def _instantiate_extends(self, ref: SpaceRef, args: dict[str, Any], outer_fixes: tuple[A.Fix, ...],
                             kind: str) -> tuple[dict[str, Any], Env]:
        space, mod = ref.space, ref.module
        ext = space.extends
        assert ext is not None
        for stmt in space.body:
            if not isinstance(stmt, (A.Fix, A.Constraint)):
                raise NascSemanticError(f"the body of '{space.kind} {space.name} extends ...' may only hold "
                                        "'fix' and 'constraint' statements", stmt.span)
        env = Env(mod)
        params = self._bind_space_params(space, env, args)
        base = self._resolve_dotted(ext.name, env, ext.span)
        if not isinstance(base, SpaceRef):
            what = "a block" if isinstance(base, BlockVal) else _a(kind_of(base))
            raise NascSemanticError(f"'{'.'.join(ext.name)}' is {what}, not a space or arch", ext.span)
        chain = self._extends_chain + [space.name]
        if len(chain) > MAX_EXTENDS_DEPTH:
            raise NascSemanticError(f"'extends' is nested more than {MAX_EXTENDS_DEPTH} spaces deep", ext.span)
        if any(s is base.space for s in self._extends_specs + [space]):
            what = (f"{space.kind} '{space.name}' extends itself" if base.space is space else
                    f"'extends' forms a cycle: {' -> '.join(chain + [base.space.name])}")
            raise NascSemanticError(what, ext.span)
        base_args: dict[str, Any] = {}
        for arg in ext.args or ():
            if arg.name is None:
                raise NascSemanticError("arguments of 'extends' must be named (C = 36)", arg.span)
            base_args[arg.name] = (self.eval(arg.value, env), arg.span)
        self._collect_fixes(space, kind)
        self._extends_chain.append(space.name)
        self._extends_specs.append(space)
        try:
            _, base_env = self._instantiate_space(base, base_args, outer_fixes, kind=base.space.kind)
        finally:
            self._extends_chain.pop()
            self._extends_specs.pop()
        for stmt in space.body:
            if isinstance(stmt, A.Constraint):
                self._exec_stmt(stmt, base_env, where="space")
        return params, env

    def _collect_fixes(self, space: A.SpaceDef, kind: str) -> None:
        for stmt in space.body:
            if isinstance(stmt, A.Fix):
                path = stmt.path.text()
                if path in self.pins and self.pins[path].expr is not None:
                    raise NascSemanticError(f"decision '{path}' is fixed twice", stmt.path.span,
                                            (Note("first fixed here", self.pins[path].span),))
                if path not in self.pins:
                    self.pins[path] = Pin(path, stmt.value, span=stmt.path.span)
        if kind == "arch" and space.extends is None:
            for node in _walk_stmts(space.body):
                if isinstance(node, (A.Choice, A.Choose)):
                    word = "a choice" if isinstance(node, A.Choice) else "a choose"
                    raise NascSemanticError(f"arch '{space.name}' contains {word} at {node.span.line}:"
                                            f"{node.span.col}; use 'space', or pin it with 'fix'", node.span)

    def _bind_space_params(self, space: A.SpaceDef, env: Env, args: dict[str, Any]) -> dict[str, Any]:
        params: dict[str, Any] = {}
        declared = {p.name for p in space.params or ()}
        for name, (_, span) in args.items():
            if name not in declared:
                raise NascNameError(f"{space.kind} '{space.name}' has no parameter '{name}'"
                                    f"{did_you_mean(name, declared)}", span)
        for p in space.params or ():
            if p.name in args:
                value = args[p.name][0]
            elif p.default is not None:
                with self._naming(p.name):
                    value = self.eval(p.default, env)
            else:
                raise NascSemanticError(f"{space.kind} '{space.name}' needs a value for parameter '{p.name}'",
                                        p.span)
            env.vars[p.name] = value
            params[p.name] = value
        return params

    def _finish_pins(self) -> None:
        for pin in self.pins.values():
            if not pin.used and pin.expr is not None:
                paths = [d.path for d in self.decisions]
                raise NascSemanticError(f"fix path '{pin.path}' matches no decision{did_you_mean(pin.path, paths)}",
                                        pin.span)

    # ================================================================ statements
    def _exec_body(self, body: tuple[A.Stmt, ...], env: Env, where: str) -> None:
        for stmt in body:
            self._exec_stmt(stmt, env, where)

    def _exec_stmt(self, stmt: A.Stmt, env: Env, where: str) -> None:
        if isinstance(stmt, A.Assign):
            self._exec_assign(stmt, env)
        elif isinstance(stmt, A.InputDecl):
            if where != "space":
                raise NascSemanticError("'input' is only allowed in a space or arch body", stmt.span)
            self._declare_io("input", stmt.name, stmt.span)
            shape = self._eval_type(stmt.type, env)
            try:
                nbytes = tensor_bytes(shape, self.budget)
            except SymError as err:
                raise NascSemanticError(str(err), stmt.type.span) from None
            if nbytes > MAX_TENSOR_BYTES:
                raise NascSemanticError(f"input '{stmt.name}' is too large: at batch 1 it takes {nbytes:,} bytes at "
                                        f"fp32, more than the {MAX_TENSOR_BYTES:,} one tensor may use", stmt.type.span)
            node = self.graph.add("input", None, {}, (), shape, name=stmt.name, span=stmt.span,
                                  instance=self.scope.inst)
            env.vars[stmt.name] = Tensor(node.id, shape, stmt.span, stmt.name)
        elif isinstance(stmt, A.OutputDecl):
            if where != "space":
                raise NascSemanticError("'output' is only allowed in a space or arch body; a block returns "
                                        "its result with 'return'", stmt.span)
            self._declare_io("output", stmt.name, stmt.span)
            with self._naming(stmt.name):
                value = self.eval(stmt.value, env)
            t = self._expect_tensor(value, stmt.value.span, f"output '{stmt.name}'")
            if stmt.type is not None and stmt.type.dims is not None:
                declared = self._eval_type(stmt.type, env)
                if not _shapes_match(declared, t.shape):
                    raise NascSemanticError(f"output '{stmt.name}' is declared {fmt_shape(declared)} but its "
                                            f"value has shape {fmt_shape(t.shape)}", stmt.value.span,
                                            (Note(f"declared {fmt_shape(declared)} here", stmt.type.span),))
            self.graph.add("output", None, {}, (t.node,), t.shape, name=stmt.name, span=stmt.span,
                           instance=self.scope.inst)
            env.vars[stmt.name] = t
        elif isinstance(stmt, A.Repeat):
            self._exec_repeat(stmt, env, where)
        elif isinstance(stmt, A.If):
            cond = self.eval(stmt.cond, env)
            if isinstance(cond, Sym):
                raise NascSemanticError("this condition depends on a decision; 'if' needs a compile-time "
                                        "value (use a choice of ops, or a ternary between values)",
                                        stmt.cond.span)
            branch = stmt.body if _truthy(cond, stmt.cond.span) else (stmt.orelse or ())
            self._exec_body(branch, env, where)
        elif isinstance(stmt, A.Return):
            if where != "block":
                raise NascSemanticError("'return' is only allowed in a block; a space or arch ends with 'output' "
                                        "declarations", stmt.span)
            with self._naming(""):
                values = tuple(self.eval(v, env) for v in stmt.values)
            raise _Return(values[0] if len(values) == 1 else values)
        elif isinstance(stmt, A.Constraint):
            self._exec_constraint(stmt, env)
        elif isinstance(stmt, A.Fix):
            if where != "space":
                raise NascSemanticError("'fix' is only allowed in a space or arch body; pin the decision from the "
                                        "space instead (fix <instance>.<name> = value)", stmt.span)
        else:  # pragma: no cover - the parser produces nothing else
            raise NascSemanticError(f"unsupported statement {type(stmt).__name__}", getattr(stmt, "span", None))

    def _declare_io(self, kind: str, name: str, span: Span) -> None:
        if name in self._io:
            first_kind, first = self._io[name]
            raise NascSemanticError(f"'{name}' is declared twice (first as an {first_kind})", span,
                                    (Note("first declared here", first),))
        self._io[name] = (kind, span)

    def _exec_assign(self, stmt: A.Assign, env: Env) -> None:
        n_t, n_v = len(stmt.targets), len(stmt.values)
        if n_v == 1 and n_t > 1:
            with self._naming(stmt.targets[0]):
                value = self.eval(stmt.values[0], env)
            if not isinstance(value, tuple) or len(value) != n_t:
                raise NascSemanticError(f"cannot unpack {kind_of(value)} into {n_t} names", stmt.values[0].span)
            values = list(value)
        elif n_t != n_v:
            raise NascSemanticError(f"{n_t} names but {n_v} values", stmt.span)
        else:
            values = []
            for name, expr in zip(stmt.targets, stmt.values):
                with self._naming(name):
                    values.append(self.eval(expr, env))
        for name, value in zip(stmt.targets, values):
            if isinstance(value, Tensor):
                value = Tensor(value.node, value.shape, value.span, name)
                self.graph.hints.setdefault(value.node, name)
            env.assign(name, value)

    def _exec_repeat(self, stmt: A.Repeat, env: Env, where: str) -> None:
        count = self.eval(stmt.count, env)
        if isinstance(count, Sym):
            self._exec_gated_repeat(stmt, count, env, where)
            return
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise NascSemanticError(f"a repeat count must be a non-negative integer, got {_show(count)}",
                                    stmt.count.span)
        for i in range(count):
            self._run_iteration(stmt, i, env, where)

    def _run_iteration(self, stmt: A.Repeat, i: int, env: Env, where: str) -> None:
        self._tick(stmt.span)
        if stmt.var:
            env.vars[stmt.var] = i
        self.scope.loop.append(i)
        try:
            self._exec_body(stmt.body, env, where)
        finally:
            self.scope.loop.pop()

    def _exec_gated_repeat(self, stmt: A.Repeat, count: Sym, env: Env, where: str) -> None:
        if len(count.deps) != 1:
            raise NascSemanticError("a repeat count may depend on one decision only", stmt.count.span)
        values = list(count.table)
        if any(isinstance(v, bool) or not isinstance(v, int) or v < 0 for v in values):
            raise NascSemanticError(f"repeat counts must be non-negative integers, got {count!r}", stmt.count.span)
        names = sorted(_assigned_names(stmt.body))
        distinct = sorted(set(values))
        snapshots: dict[int, dict[str, Any]] = {}

        def snap() -> dict[str, Any]:
            return {n: env.lookup(n)[1] for n in names if env.lookup(n)[0]}

        if 0 in distinct:
            snapshots[0] = snap()
        for i in range(max(distinct)):
            self._run_iteration(stmt, i, env, where)
            if i + 1 in distinct:
                snapshots[i + 1] = snap()
        decision = count.deps[0]
        for name in names:
            per = [snapshots[v].get(name) for v in distinct]
            if any(p is None for p in per):
                raise NascSemanticError(f"'{name}' is only defined for some repeat counts", stmt.span)
            if all(p == per[0] for p in per):
                env.assign(name, per[0])
                continue
            if all(isinstance(p, Tensor) for p in per):
                select = tuple(frozenset(o for o, v in enumerate(values) if v == dv) for dv in distinct)
                shape = self._unify_shapes([p.shape for p in per], decision, select, stmt.span,
                                           f"'{name}' after the repeat",
                                           labels=tuple(f"{v} iteration{'s' if v != 1 else ''}" for v in distinct))
                node = self.graph.add("repeat_gate", None, {}, tuple(p.node for p in per), shape,
                                      decision=decision, select=select, instance=self.scope.inst, span=stmt.span)
                env.assign(name, Tensor(node.id, shape, stmt.span, name))
            elif all(not isinstance(p, (Tensor, OpVal, BlockVal, ChoiceOp, ChosenList, tuple)) for p in per):
                position = {v: i for i, v in enumerate(distinct)}
                env.assign(name, self._pick(self._lift(position.__getitem__, count, span=stmt.span), per, stmt.span))
            else:
                raise NascSemanticError(f"'{name}' ({kind_of(per[0])}) differs between repeat counts; only "
                                        "tensors and values may", stmt.span)

    def _eval_type(self, t: A.TypeExpr, env: Env) -> tuple[Any, ...]:
        if t.dims is None:
            raise NascSemanticError(f"a tensor type needs dimensions, e.g. {t.name}[B, 3, 32, 32]", t.span)
        dims: list[Any] = []
        for d in t.dims:
            if isinstance(d, int):
                dims.append(d)
            elif d == "?":
                dims.append("?")
            else:
                found, v = env.lookup(d)
                if found and isinstance(v, int) and not isinstance(v, bool):
                    dims.append(v)
                elif found and isinstance(v, Sym):
                    dims.append(v)
                else:
                    dims.append(d)
        return tuple(dims)

    # ================================================================ constraints
    def _exec_constraint(self, stmt: A.Constraint, env: Env) -> None:
        self.constraint_mode = True
        try:
            spec = self._constraint(stmt, env)
        finally:
            self.constraint_mode = False
        self.constraints.append(spec)

    def _constraint(self, stmt: A.Constraint, env: Env) -> ConstraintSpec:
        target, targs = self._target(stmt.target, env)
        hard, weight = True, 1.0
        if stmt.strength is not None and stmt.strength.kind == "soft":
            hard = False
            for arg in stmt.strength.args or ():
                if arg.name != "weight":
                    raise NascSemanticError("soft() takes one argument: weight", arg.span)
                w = self.eval(arg.value, env)
                if isinstance(w, bool) or not isinstance(w, (int, float)) or w < 0:
                    raise NascSemanticError(f"a soft weight must be a non-negative number, got {_show(w)}",
                                            arg.value.span)
                weight = float(w)
        elif stmt.strength is not None and stmt.strength.args:
            raise NascSemanticError("'hard' takes no arguments", stmt.strength.span)
        expr = stmt.expr
        while isinstance(expr, A.Paren):
            expr = expr.expr
        common = dict(target=target, target_args=targs, hard=hard, weight=weight, scope=self.scope.inst,
                      span=stmt.span)
        if isinstance(expr, A.Compare) and len(expr.ops) == 1:
            for side, other in zip(expr.operands, expr.operands[::-1]):
                other = _strip_parens(other)
                if isinstance(side, A.Name) and not self._is_known(side.id, env) and not (
                        isinstance(other, A.Name) and other.id in METRICS):
                    if side.id.lower() in _OUTCOMES:
                        raise NascSemanticError(f"'{side.id}' cannot be constrained: constraints bound cost metrics "
                                                f"({', '.join(METRICS)}); accuracy and loss are what the search "
                                                "optimizes, configured in an 'experiment' section", side.span)
                    raise NascNameError(f"unknown metric '{side.id}'" + (did_you_mean(side.id, METRICS) or
                                        "; a constraint bounds one of: " + ", ".join(METRICS)), side.span)
            lhs = self.eval(expr.operands[0], env)
            rhs = self.eval(expr.operands[1], env)
            op = expr.ops[0]
            if isinstance(rhs, (Metric, PathMetric)) and not isinstance(lhs, (Metric, PathMetric)):
                lhs, rhs = rhs, lhs
                op = {"<=": ">=", "<": ">", ">=": "<=", ">": "<", "==": "=="}.get(op, op)
            if op not in ("<=", "<", ">=", ">", "=="):
                raise NascSemanticError(f"a constraint compares with <=, <, >=, > or ==, not '{op}'", expr.span)
            bound_span = expr.operands[1].span
            if isinstance(lhs, PathMetric):
                bound = self._bound(rhs, "count", "min_path_ops", bound_span)
                return ConstraintSpec("min_path_ops", op, bound[0], "count", bound[1], nodes=(lhs.src.node,
                                      lhs.dst.node), exclude=lhs.exclude, **common)
            if isinstance(lhs, Metric):
                if target is not None and lhs.name in ("params", "flops", "macs", "depth"):
                    pass  # counts do not depend on the target; allowed for uniformity
                dim = METRICS[lhs.name]
                bound = self._bound(rhs, dim, lhs.name, bound_span)
                return ConstraintSpec(lhs.name, op, bound[0], dim, bound[1], **common)
        value = self.eval(expr, env)
        if isinstance(value, Predicate):
            return ConstraintSpec(value.name, None, None, "", "", nodes=value.nodes, **common)
        if isinstance(value, Metric):
            example = {"time": "5ms", "count": "1M", "bytes": "2MB"}[METRICS[value.name]]
            raise NascSemanticError(f"a constraint on '{value.name}' needs a bound, e.g. "
                                    f"'constraint {value.name} <= {example}'", stmt.expr.span)
        raise NascSemanticError("a constraint compares a metric (" + ", ".join(METRICS) + ") with a bound, or "
                                "is a predicate (connected(a, b), min_path_ops(...) >= n)", stmt.expr.span)

    def _bound(self, v: Any, dim: str, metric: str, span: Span) -> tuple[float, str]:
        names = {"time": "a time (e.g. 5ms)", "count": "a count (e.g. 1M)", "bytes": "a size in bytes (e.g. 2MB)"}
        if isinstance(v, QuantityVal):
            if v.dim != dim:
                raise NascSemanticError(f"unit mismatch: {metric} is {names[dim]}, but '{v.text}' is "
                                        f"{names[v.dim].split(' (')[0]}", span)
            return v.value, v.text
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise NascSemanticError(f"the bound of a {metric} constraint must be {names[dim]}, got {_show(v)}", span)
        if dim == "time":
            raise NascSemanticError(f"{metric} needs a time unit: write '{_show(v)}ms' (or us, ns, s), not "
                                    f"'{_show(v)}'", span)
        return float(v), str(v)

    def _target(self, t: A.TargetRef | None, env: Env) -> tuple[str | None, tuple[tuple[str, Any], ...]]:
        if t is None:
            return None, ()
        from ..targets import TARGET_NAMES, accepted_names, canonical_name

        name = canonical_name(t.name)  # an alias (`jetson`) stands for its board from here on
        if name is None:
            hint = did_you_mean(t.name, accepted_names())
            raise NascSemanticError(f"unknown target '{t.name}'" +
                                    (hint or "; known targets: " + ", ".join(TARGET_NAMES)),
                                    _head_span(t.span, t.name) if not t.quoted else t.span)
        args = []
        for arg in t.args or ():
            if arg.name is None:
                raise NascSemanticError("target arguments must be named (precision = \"fp16\")", arg.span)
            if arg.name not in ("precision", "batch", "backend", "threads"):
                raise NascSemanticError(f"unknown target argument '{arg.name}'"
                                        f"{did_you_mean(arg.name, ['precision', 'batch', 'backend', 'threads'])}",
                                        arg.span)
            args.append((arg.name, self.eval(arg.value, env)))
        return name, tuple(args)

    # ================================================================ expressions
    def eval(self, e: A.Expr, env: Env) -> Any:
        try:
            self.budget.charge(1)
        except BudgetExceeded as err:
            raise NascSemanticError(str(err), e.span) from None
        method = getattr(self, "_e_" + type(e).__name__)
        return method(e, env)

    def _e_Int(self, e: A.Int, env: Env) -> Any:
        return e.value

    def _e_Float(self, e: A.Float, env: Env) -> Any:
        return e.value

    def _e_Str(self, e: A.Str, env: Env) -> Any:
        return e.value

    def _e_Bool(self, e: A.Bool, env: Env) -> Any:
        return e.value

    def _e_Quantity(self, e: A.Quantity, env: Env) -> Any:
        dim, factor = UNITS[e.unit]
        return QuantityVal(e.number * factor, dim, e.text)

    def _e_Paren(self, e: A.Paren, env: Env) -> Any:
        return self.eval(e.expr, env)

    def _e_Name(self, e: A.Name, env: Env) -> Any:
        found, v = env.lookup(e.id)
        if found:
            return v
        mod = env.module
        if e.id in mod.names:
            return self._module_value(mod, e.id, e.span)
        lib = self.loader.ops
        if e.id in lib:
            return OpVal(lib.get(e.id), lib, span=e.span)
        if e.id in FUNCTIONS:
            return Func(e.id)
        if self.constraint_mode:
            if e.id in METRICS:
                return Metric(e.id, e.span)
            if e.id in PREDICATES:
                return Func(e.id)
        elif e.id in METRICS or e.id in PREDICATES:
            what = "metric" if e.id in METRICS else "predicate"
            raise NascNameError(f"'{e.id}' is a {what}: it can only be used in a 'constraint'", e.span)
        raise NascNameError(f"unknown name '{e.id}'" + self._suggest(e.id, env), e.span)

    def _is_known(self, name: str, env: Env) -> bool:
        """Whether a bare name resolves (to a variable, definition, op, function or metric)."""
        return (env.lookup(name)[0] or name in env.module.names or name in self.loader.ops or name in FUNCTIONS
                or name in METRICS or name in PREDICATES)

    def _suggest(self, name: str, env: Env) -> str:
        # an exact name in an imported module beats a merely similar local name
        for alias, v in env.module.names.items():
            if isinstance(v, Namespace) and name in v.module.names:
                return f"; did you mean '{alias}.{name}' (imported from {v.module.name})?"
        pool = env.visible() | set(env.module.names) | set(self.loader.ops.ops) | set(FUNCTIONS)
        if self.constraint_mode:
            pool |= set(METRICS) | set(PREDICATES)
        return did_you_mean(name, pool)

    def _module_value(self, mod: LoadedModule, name: str, span: Span) -> Any:
        v = mod.names[name]
        if isinstance(v, A.Const):
            if name not in mod.const_values:
                if name in self._call_stack:
                    chain = self._call_stack[self._call_stack.index(name):] + [name]
                    raise NascSemanticError(f"const '{name}' depends on itself: {' -> '.join(chain)}", span)
                if self._const_depth >= MAX_CONST_DEPTH:
                    raise NascSemanticError(f"consts are defined by other consts more than {MAX_CONST_DEPTH} deep "
                                            f"(at '{name}')", span)
                self._call_stack.append(name)
                self._const_depth += 1
                try:
                    saved = self.scope
                    self.scope = Scope("", "")
                    try:
                        value = self.eval(v.value, Env(mod))
                    finally:
                        self.scope = saved
                finally:
                    self._call_stack.pop()
                    self._const_depth -= 1
                if has_sym(value) or isinstance(value, (ChoiceOp, Tensor)):
                    raise NascSemanticError(f"const '{name}' must be a plain value, not a decision", v.value.span)
                mod.const_values[name] = value
            return mod.const_values[name]
        return v

    def _e_Attr(self, e: A.Attr, env: Env) -> Any:
        return self._attr_of(self.eval(e.obj, env), e.name, e.span, _tail_span(e.span, e.name))

    def _attr_of(self, obj: Any, name: str, span: Span, name_span: Span | None = None) -> Any:
        if isinstance(obj, Namespace):
            mod = obj.module
            if name not in mod.names:
                what = "block" if any(isinstance(v, BlockVal) for v in mod.names.values()) else "name"
                raise NascNameError(f"module '{mod.name}' has no {what} '{name}'"
                                    f"{did_you_mean(name, list(mod.names))}", name_span or span)
            return self._module_value(mod, name, span)
        raise NascSemanticError(f"{kind_of(obj)} has no attribute '{name}'", name_span or span)

    def _e_Index(self, e: A.Index, env: Env) -> Any:
        obj = self.eval(e.obj, env)
        idx = self.eval(e.index, env)
        if isinstance(obj, tuple):
            if isinstance(idx, bool) or not isinstance(idx, int):
                raise NascSemanticError(f"a list index must be an integer, got {_show(idx)}", e.index.span)
            if not -len(obj) <= idx < len(obj):
                raise NascSemanticError(f"index {idx} is out of range for a list of {len(obj)}", e.index.span)
            return obj[idx]
        if isinstance(obj, Sym) and isinstance(idx, int):
            return self._lift(lambda o: o[idx], obj, span=e.span)
        raise NascSemanticError(f"cannot index {_a(kind_of(obj))}", e.span)

    def _e_ListExpr(self, e: A.ListExpr, env: Env) -> Any:
        for it in e.items:
            if it.label is not None:
                raise NascSemanticError("candidate labels are only allowed in 'choice' and 'choose' lists",
                                        it.span)
        return tuple(self.eval(it.value, env) for it in e.items)

    def _e_Range(self, e: A.Range, env: Env) -> Any:
        if e.hi < e.lo:
            raise NascSemanticError(f"empty range {e.lo}..{e.hi}", e.span)
        if e.hi - e.lo >= MAX_UNROLL:
            raise NascSemanticError(f"range {e.lo}..{e.hi} has more than {MAX_UNROLL:,} elements", e.span)
        return tuple(range(e.lo, e.hi + 1))

    def _e_Comprehension(self, e: A.Comprehension, env: Env) -> Any:
        return tuple(v for v, _ in self._comprehension(e, env))

    def _comprehension(self, e: A.Comprehension, env: Env) -> list[tuple[Any, int]]:
        it = self.eval(e.iter, env)
        if not isinstance(it, tuple):
            raise NascSemanticError(f"a comprehension iterates over a list, got {kind_of(it)}", e.iter.span)
        out: list[tuple[Any, int]] = []
        for i, x in enumerate(it):
            self._tick(e.span)
            child = env.child()
            child.vars[e.var] = x
            self.scope.loop.append(i)
            try:
                if e.cond is not None:
                    c = self.eval(e.cond, child)
                    if isinstance(c, Sym):
                        raise NascSemanticError("a comprehension filter must not depend on a decision", e.cond.span)
                    if not _truthy(c, e.cond.span):
                        continue
                out.append((self.eval(e.expr, child), i))
            finally:
                self.scope.loop.pop()
        return out

    def _e_Unary(self, e: A.Unary, env: Env) -> Any:
        v = self.eval(e.operand, env)
        if e.op == "not":
            if isinstance(v, Sym):
                return self._lift(lambda x: not x, v, span=e.span)
            return not _truthy(v, e.operand.span)
        if isinstance(v, QuantityVal):
            return QuantityVal(-v.value, v.dim, "-" + v.text)
        self._need_number(v, e.operand.span, "negate")
        return self._lift(lambda x: -x, v, span=e.span)

    def _e_Ternary(self, e: A.Ternary, env: Env) -> Any:
        cond = self.eval(e.cond, env)
        if isinstance(cond, Sym):
            a, b = self.eval(e.then, env), self.eval(e.orelse, env)
            for v, sp in ((a, e.then.span), (b, e.orelse.span)):
                if isinstance(v, (Tensor, OpVal, BlockVal, ChoiceOp, ChosenList, tuple)):
                    raise NascSemanticError("this condition depends on a decision, so both branches must be "
                                            f"plain values; this one is {kind_of(v)}", sp)
            return self._lift(lambda c, x, y: x if c else y, cond, a, b, span=e.span)
        return self.eval(e.then if _truthy(cond, e.cond.span) else e.orelse, env)

    def _e_Compare(self, e: A.Compare, env: Env) -> Any:
        left = self.eval(e.operands[0], env)
        result: Any = True
        for op, rhs_e in zip(e.ops, e.operands[1:]):
            right = self.eval(rhs_e, env)
            if self.constraint_mode and isinstance(left, (Metric, PathMetric)):
                raise NascSemanticError("a metric comparison must be the whole constraint", e.span)
            step = self._compare(op, left, right, e.span)
            result = step if result is True else self._lift(lambda a, b: a and b, result, step, span=e.span)
            left = right
        return result

    def _compare(self, op: str, a: Any, b: Any, span: Span) -> Any:
        for v in (a, b):
            if isinstance(v, (Tensor, ChosenList)):
                raise NascSemanticError(f"cannot compare {_a(kind_of(v))}; use spatial(x) or channels(x)", span)
        if isinstance(a, QuantityVal) or isinstance(b, QuantityVal):
            if not (isinstance(a, QuantityVal) and isinstance(b, QuantityVal) and a.dim == b.dim):
                raise NascSemanticError(f"cannot compare {_show(a)} and {_show(b)}: units differ", span)
            a, b = a.value, b.value
        if op == "in":
            if not isinstance(b, tuple):
                raise NascSemanticError(f"'in' needs a list on the right, got {kind_of(b)}", span)
            return self._lift(lambda x: x in b, a, span=span)
        fns = {"==": lambda x, y: x == y, "!=": lambda x, y: x != y, "<": lambda x, y: x < y,
               "<=": lambda x, y: x <= y, ">": lambda x, y: x > y, ">=": lambda x, y: x >= y}
        if op not in ("==", "!="):
            for v in (a, b):
                if not isinstance(v, Sym) and (isinstance(v, bool) or not isinstance(v, (int, float, str))):
                    raise NascSemanticError(f"cannot order {kind_of(v)} values with '{op}'", span)
            if not isinstance(a, Sym) and not isinstance(b, Sym) and isinstance(a, str) != isinstance(b, str):
                raise NascSemanticError(f"cannot compare {kind_of(a)} {_show(a)} and {kind_of(b)} {_show(b)} with "
                                        f"'{op}'", span)
        try:
            return self._lift(fns[op], a, b, span=span)
        except TypeError:
            raise NascSemanticError(f"cannot compare {_show(a)} and {_show(b)}", span) from None

    def _e_Binary(self, e: A.Binary, env: Env) -> Any:
        if e.op == "|>":
            x = self.eval(e.left, env)
            f = self.eval(e.right, env)
            return self.apply(f, [x], e.right.span, e.span)
        if e.op in ("and", "or"):
            a = self.eval(e.left, env)
            if not isinstance(a, Sym):
                ta = _truthy(a, e.left.span)
                if (e.op == "and" and not ta) or (e.op == "or" and ta):
                    return a
                return self.eval(e.right, env)
            b = self.eval(e.right, env)
            fn = (lambda x, y: x and y) if e.op == "and" else (lambda x, y: x or y)
            return self._lift(fn, a, b, span=e.span)
        a = self.eval(e.left, env)
        b = self.eval(e.right, env)
        return self._arith(e.op, a, b, e)

    def _arith(self, op: str, a: Any, b: Any, e: A.Binary) -> Any:
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            if not (isinstance(a, Tensor) and isinstance(b, Tensor)):
                other = b if isinstance(a, Tensor) else a
                raise NascSemanticError(f"cannot apply '{op}' to a tensor and {_a(kind_of(other))}",
                                        e.span)
            opname = {"+": "add", "*": "mul"}.get(op)
            if opname is None:
                raise NascSemanticError(f"tensors support '+' (add) and '*' (multiply), not '{op}'", e.span)
            return self._op_node(opname, {}, [a, b], e.span,
                                 operand_spans=(e.left.span, e.right.span))
        if isinstance(a, tuple) and isinstance(b, tuple) and op == "+":
            if len(a) + len(b) > MAX_UNROLL:
                raise NascSemanticError(f"list of more than {MAX_UNROLL:,} elements", e.span)
            return a + b
        if isinstance(a, QuantityVal) or isinstance(b, QuantityVal):
            return self._quantity_arith(op, a, b, e.span)
        if op == "+" and isinstance(a, str) and isinstance(b, str):
            if len(a) + len(b) > MAX_STRING:
                raise NascSemanticError(f"string of more than {MAX_STRING:,} characters", e.span)
            return a + b
        self._need_number(a, e.left.span, op)
        self._need_number(b, e.right.span, op)

        def fn(x: Any, y: Any) -> Any:
            if op == "+":
                return x + y
            if op == "-":
                return x - y
            if op == "*":
                return x * y
            if y == 0 and op in ("/", "//", "%"):
                raise _DivZero()
            if op == "/":
                return x / y
            if op == "//":
                return x // y
            return x % y

        def checked(x: Any, y: Any) -> Any:
            r = fn(x, y)
            if isinstance(r, int) and r.bit_length() > MAX_INT_BITS:
                raise _Overflow()
            if isinstance(r, float) and not math.isfinite(r):
                raise _Overflow()
            return r

        try:
            return self._lift(checked, a, b, span=e.span)
        except _DivZero:
            raise NascSemanticError("division by zero", e.span) from None
        except _Overflow:
            raise NascSemanticError(f"arithmetic overflow: the result of '{op}' does not fit in 64 bits", e.span) \
                from None
        except OverflowError:
            raise NascSemanticError(f"arithmetic overflow in '{op}'", e.span) from None

    def _quantity_arith(self, op: str, a: Any, b: Any, span: Span) -> Any:
        if isinstance(a, QuantityVal) and isinstance(b, (int, float)) and op in ("*", "/"):
            return QuantityVal(a.value * b if op == "*" else a.value / b, a.dim, f"{a.text}{op}{b}")
        if isinstance(b, QuantityVal) and isinstance(a, (int, float)) and op == "*":
            return QuantityVal(b.value * a, b.dim, f"{a}*{b.text}")
        if isinstance(a, QuantityVal) and isinstance(b, QuantityVal) and op in ("+", "-") and a.dim == b.dim:
            return QuantityVal(a.value + b.value if op == "+" else a.value - b.value, a.dim, f"{a.text}{op}{b.text}")
        raise NascSemanticError(f"cannot apply '{op}' to {_show(a)} and {_show(b)}", span)

    def _need_number(self, v: Any, span: Span, op: str) -> None:
        if isinstance(v, Sym):
            vals = v.values()
            if all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in vals):
                return
        if isinstance(v, bool) or not isinstance(v, (int, float, Sym)):
            raise NascSemanticError(f"'{op}' needs numbers, got {kind_of(v)} {_show(v)}", span)

    def _lift(self, fn: Any, *args: Any, span: Span | None = None) -> Any:
        try:
            return lift(fn, *args, budget=self.budget)
        except SymError as err:
            raise NascSemanticError(str(err), span) from None
        except TypeError as err:
            raise NascSemanticError(f"invalid operands: {err}", span) from None

    def _pick(self, index: Any, options: list[Any], span: Span) -> Any:
        """``options[index]`` for a decision-dependent index (a choice among values)."""
        try:
            return pick(index, options, self.budget)
        except SymError as err:
            raise NascSemanticError(str(err), span) from None

    # ---------------------------------------------------------------- calls
    def _e_Call(self, e: A.Call, env: Env) -> Any:
        f = self.eval(e.func, env)
        if isinstance(f, Func):
            return self._call_func(f.name, e, env)
        if isinstance(f, BlockVal) and not f.bound and f.block.curried:
            return self._bind_meta(f, e, env)
        if isinstance(f, OpVal) and not f.bound:
            return self._bind_meta(f, e, env)
        args = []
        for a in e.args:
            if a.name is not None:
                raise NascSemanticError("tensors are passed positionally; named arguments bind meta parameters "
                                        "(write f(meta)(tensors))", a.span)
            args.append(self.eval(a.value, env))
        return self.apply(f, args, e.func.span, e.span)

    def _bind_meta(self, f: OpVal | BlockVal, e: A.Call, env: Env) -> Any:
        if isinstance(f, OpVal):
            names = [p.name for p in f.opdef.params]
            owner = f"op '{f.opdef.name}'"
        else:
            names = [p.name for p in f.block.meta]
            owner = f"block '{f.block.name}'"
        bound: dict[str, Any] = {}
        spans: dict[str, Span] = {}
        positional = True
        base = self.scope.local(self.scope.binding)
        defined = (Note(f"'{f.block.name}' is defined here", f.block.name_span),) if isinstance(f, BlockVal) else ()

        def too_many(at: Span) -> NascSemanticError:
            if not names:
                fname = f.opdef.name if isinstance(f, OpVal) else f.block.name
                return NascSemanticError(f"{owner} takes no meta arguments; write '{fname}', not "
                                         f"'{fname}(...)'", at, defined)
            return NascSemanticError(f"{owner} takes {len(names)} meta argument{'s' if len(names) != 1 else ''} "
                                     f"({', '.join(names)}), got {len(e.args)}", at, defined)
        if isinstance(f, OpVal) and e.args and all(a.name is None for a in e.args):
            # `relu(x)` applies an op to tensors; `conv(16, 3)` binds its meta arguments
            values = []
            for i, a in enumerate(e.args):
                with self._naming(join(base, names[i]) if i < len(names) else base, raw=True):
                    values.append(self.eval(a.value, env))
            if all(_is_tensorish(v) for v in values):
                return self.apply(f, values, e.func.span, e.span)
            if len(values) > len(names):
                raise too_many(e.args[len(names)].span)
            for name, a, v in zip(names, e.args, values):
                bound[name] = v
                spans[name] = a.value.span
        else:
            for i, a in enumerate(e.args):
                if a.name is None:
                    if not positional:
                        hint = (f"; name it ('{names[i]} = ...') or move it before the named ones"
                                if i < len(names) else "")
                        raise NascSemanticError(f"a positional argument cannot follow a named one{hint}", a.span)
                    if i >= len(names):
                        raise too_many(a.span)
                    pname = names[i]
                else:
                    positional = False
                    pname = a.name
                    if pname not in names:
                        raise NascNameError(f"{owner} has no parameter '{pname}'{did_you_mean(pname, names)}",
                                            _head_span(a.span, pname), defined)
                if pname in bound:
                    raise NascSemanticError(f"parameter '{pname}' of {owner} is given twice", a.span,
                                            (Note("first given here", spans[pname]),))
                with self._naming(join(base, pname), raw=True):
                    bound[pname] = self.eval(a.value, env)
                spans[pname] = a.value.span
        if isinstance(f, OpVal):
            for k, v in bound.items():
                if isinstance(v, (Tensor, ChosenList)):
                    raise NascSemanticError(f"parameter '{k}' of {owner} must be a value, got a tensor "
                                            f"(apply ops with x |> {f.opdef.name}(...))", spans[k])
                param = f.opdef.param(k)
                want = _PARAM_KINDS.get(param.kind) if param is not None else None
                if want is not None and not all(want[0](x) for x in (v.values() if isinstance(v, Sym) else [v])):
                    raise NascSemanticError(f"parameter '{k}' of {owner} must be {want[1]}, got {kind_of(v)} "
                                            f"{_show(v)}".rstrip(), spans[k])
            missing = [p.name for p in f.opdef.params if p.required and p.name not in bound]
            if missing:
                raise NascSemanticError(f"{owner} needs a value for parameter '{missing[0]}'", e.span)
            return OpVal(f.opdef, f.lib, tuple(bound.items()), True, e.span)
        for p in f.block.meta:
            if p.name not in bound:
                if p.default is None:
                    raise NascSemanticError(f"{owner} needs a value for parameter '{p.name}'", e.span,
                                            (Note(f"'{f.block.name}' is defined here", f.block.name_span),))
        return BlockVal(f.block, f.module, tuple(bound.items()), True, e.span)

    def _call_func(self, name: str, e: A.Call, env: Env) -> Any:
        if name in PREDICATES:
            return self._predicate(name, e, env)
        kw = {a.name: a for a in e.args if a.name is not None}
        if kw:
            raise NascSemanticError(f"{name}() takes no named arguments", next(iter(kw.values())).span)
        args = [self.eval(a.value, env) for a in e.args]
        return self.call_builtin(name, args, e.span, [a.value.span for a in e.args])

    def _predicate(self, name: str, e: A.Call, env: Env) -> Any:
        names = ["from", "to"] if name == "connected" else ["from", "to", "exclude"]
        got: dict[str, Any] = {}
        for i, a in enumerate(e.args):
            key = a.name if a.name is not None else (names[i] if i < len(names) else None)
            if key is None:
                raise NascSemanticError(f"{name}() takes at most {len(names)} arguments ({', '.join(names)}), got "
                                        f"{len(e.args)}", a.span)
            if key not in names:
                raise NascNameError(f"{name}() has no parameter '{key}'{did_you_mean(key, names)}",
                                    _head_span(a.span, key))
            if key in got:
                raise NascSemanticError(f"parameter '{key}' of {name}() is given twice", a.span)
            got[key] = self.eval(a.value, env)
        for key in ("from", "to"):
            if key not in got:
                raise NascSemanticError(f"{name}() needs '{key}' (a tensor)", e.span)
            if not isinstance(got[key], Tensor):
                raise NascSemanticError(f"'{key}' of {name}() must be a tensor, got {kind_of(got[key])}",
                                        next((a.value.span for i, a in enumerate(e.args)
                                              if (a.name or (names[i] if i < len(names) else None)) == key),
                                             e.span))
        if name == "connected":
            return Predicate("connected", (got["from"].node, got["to"].node))
        excl = got.get("exclude", ())
        if not isinstance(excl, tuple) or not all(isinstance(x, OpVal) for x in excl):
            raise NascSemanticError("min_path_ops(exclude=...) takes a list of ops, e.g. [skip, zero]", e.span)
        return PathMetric(got["from"], got["to"], tuple(x.opdef.name for x in excl))

    def call_builtin(self, name: str, args: list[Any], span: Span, arg_spans: list[Span] | None = None) -> Any:
        arg_spans = arg_spans or [span] * len(args)

        def one() -> Any:
            if len(args) != 1:
                raise NascSemanticError(f"{name}() takes 1 argument, got {len(args)}", span)
            return args[0]

        if name in ("sum", "mean", "concat"):
            x = one()
            if isinstance(x, ChosenList):
                return self._input_choice(x, {"sum": "sum", "mean": "mean", "concat": "concat"}[name], span)
            if not isinstance(x, tuple) or not x:
                raise NascSemanticError(f"{name}() takes a non-empty list, got {kind_of(x)}", arg_spans[0])
            if all(isinstance(t, Tensor) for t in x):
                if len(x) == 1:
                    return x[0]
                return self._op_node({"sum": "add", "mean": "mean", "concat": "concat"}[name], {}, list(x), span)
            if name == "concat":
                raise NascSemanticError("concat() joins tensors", arg_spans[0])
            for v in x:
                self._need_number(v, arg_spans[0], name)
            total = self._lift(lambda *vs: sum(vs), *x, span=span)
            return total if name == "sum" else self._lift(lambda t: t / len(x), total, span=span)
        if name == "len":
            x = one()
            if not isinstance(x, tuple):
                raise NascSemanticError(f"len() takes a list, got {kind_of(x)}", arg_spans[0])
            return len(x)
        if name == "range":
            if not 1 <= len(args) <= 2:
                raise NascSemanticError("range() takes 1 or 2 integers", span)
            for a, sp in zip(args, arg_spans):
                if isinstance(a, bool) or not isinstance(a, int):
                    raise NascSemanticError(f"range() takes integers, got {_show(a)}", sp)
            r = range(*args)
            if len(r) > MAX_UNROLL:
                raise NascSemanticError(f"range of {len(r)} elements is too long", span)
            return tuple(r)
        if name in ("spatial", "channels"):
            x = one()
            if not isinstance(x, Tensor) or len(x.shape) < 2:
                raise NascSemanticError(f"{name}() takes a tensor, got {kind_of(x)}", arg_spans[0])
            if name == "channels":
                return x.shape[1]
            if len(x.shape) < 4:
                raise NascSemanticError(f"spatial() needs a [B, C, H, W] tensor, got {fmt_shape(x.shape)}",
                                        arg_spans[0])
            return x.shape[2]
        if name in ("min", "max", "abs", "int", "float"):
            vals = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
            if not vals:
                raise NascSemanticError(f"{name}() needs arguments", span)
            for v in vals:
                self._need_number(v, span, name)
            if name in ("abs", "int", "float"):
                if len(vals) != 1:
                    raise NascSemanticError(f"{name}() takes 1 argument", span)
                fn = {"abs": abs, "int": int, "float": float}[name]
                return self._lift(fn, vals[0], span=span)
            fn2 = min if name == "min" else max
            return self._lift(lambda *vs: fn2(vs), *vals, span=span)
        raise NascNameError(f"unknown function '{name}'", span)  # pragma: no cover

    # ---------------------------------------------------------------- application
    def apply(self, f: Any, args: list[Any], fspan: Span, span: Span) -> Any:
        """Apply an op value, block, choice of ops or function to its tensor arguments."""
        if isinstance(f, Func):
            return self.call_builtin(f.name, args, span)
        if isinstance(f, OpVal):
            if not f.bound:
                missing = [p.name for p in f.opdef.params if p.required]
                if missing:
                    raise NascSemanticError(f"op '{f.opdef.name}' needs parameter '{missing[0]}' "
                                            f"(write {f.opdef.name}(...))", fspan)
            return self._op_node(f.opdef.name, dict(f.args), args, span, lib=f.lib, err_span=fspan)
        if isinstance(f, BlockVal):
            if not f.bound and f.block.curried:
                need = [p.name for p in f.block.meta if p.default is None]
                if need:
                    raise NascSemanticError(f"block '{f.block.name}' needs meta arguments ({', '.join(need)}); "
                                            f"write {f.block.name}(...)", fspan)
            return self._instantiate_block(f, args, span, fspan)
        if isinstance(f, ChoiceOp):
            return self._mixed(f, args, span)
        shown = f" ({_show(f)})" if _show(f) and not isinstance(f, Tensor) else ""
        raise NascSemanticError(f"cannot apply {_a(kind_of(f))}{shown} to a tensor: only ops, blocks and choices "
                                "of ops can be applied", fspan)

    def _op_node(self, op: str, attrs: dict[str, Any], args: list[Any], span: Span, lib: Any = None,
                 operand_spans: tuple[Span, ...] = (), err_span: Span | None = None) -> Tensor:
        """Add one op node; `err_span` is where a bad input or attribute is reported (the op
        itself in `x |> op(...)`), `span` the node's own span."""
        lib = lib or self.loader.ops
        at = err_span or span
        opdef = lib.get(op)
        tensors = []
        if opdef.arity < 0 and len(args) == 1 and isinstance(args[0], tuple):
            args = list(args[0])
        for a in args:
            if isinstance(a, ChosenList):
                raise NascSemanticError("the result of 'choose' must be reduced with sum(), mean() or "
                                        "concat() first", span)
            tensors.append(self._expect_tensor(a, span, f"input of '{op}'"))
        try:
            full = lib.bind(opdef, attrs)
        except OpError as err:
            raise NascSemanticError(str(err), at) from None
        if "identity" in opdef.flags and len(tensors) == 1:
            return tensors[0]
        shapes = [t.shape for t in tensors]

        def rule(sh: list[Any], at: dict[str, Any]) -> Any:
            return lib.shape(op, sh, at)

        try:
            shape = distribute(lift(rule, shapes, full, budget=self.budget))
            cost = lifted_cost(lib, op, shapes, full, self.budget)
            param_bytes, out_bytes = op_footprint(cost, shape, self.budget)
        except OpError as err:
            msg = str(err)
            notes: tuple[Note, ...] = ()
            if op in ("add", "mul") and len(tensors) == 2 and operand_spans:
                a, b = tensors
                msg = (f"cannot {'add' if op == 'add' else 'multiply'} {fmt_shape(a.shape)}"
                       f"{_where(a, operand_spans[0])} and {fmt_shape(b.shape)}{_where(b, operand_spans[1])}")
                notes = tuple(Note(f"'{t.name}' is {fmt_shape(t.shape)} here", t.span) for t in (a, b)
                              if t.name and t.span is not None)
            elif op in ("add", "mean", "concat") and len(tensors) > 1:
                notes = tuple(Note(f"input {i} is {fmt_shape(t.shape)}", t.span) for i, t in enumerate(tensors)
                              if t.span is not None)
            elif f"'{op}'" not in msg and f"{op} " not in msg:
                msg = f"op '{op}': {msg}"  # name the op when its rule (or a sub-op's) did not
            raise NascSemanticError(msg, at, notes) from None
        except SymError as err:
            raise NascSemanticError(str(err), at) from None
        except (TypeError, ValueError, ArithmeticError, KeyError, IndexError) as err:
            # a shape rule that choked on its arguments (custom ops are user code)
            raise NascSemanticError(f"op '{op}' cannot be applied to these inputs and arguments "
                                    f"({type(err).__name__}: {err})", at) from None
        for what, nbytes in (("parameters take", param_bytes), ("output at batch 1 takes", out_bytes)):
            if nbytes > MAX_TENSOR_BYTES:
                raise NascSemanticError(f"op '{op}' is too large to build: its {what} {nbytes:,} bytes at fp32, "
                                        f"more than the {MAX_TENSOR_BYTES:,} one op may use", at)
        self._work(at)
        node = self.graph.add("op", op, full, tuple(t.node for t in tensors), shape,
                              instance=self.scope.inst, span=span)
        self.graph.costs[node.id] = cost
        return Tensor(node.id, shape, span)

    def _expect_tensor(self, v: Any, span: Span | None, what: str) -> Tensor:
        if isinstance(v, Tensor):
            return v
        if isinstance(v, ChosenList):
            raise NascSemanticError(f"{what}: reduce the result of 'choose' with sum(), mean() or concat()", span)
        raise NascSemanticError(f"{what} must be a tensor, got {kind_of(v)} {_show(v)}", span)

    def _instantiate_block(self, f: BlockVal, args: list[Any], span: Span, fspan: Span | None = None) -> Any:
        block = f.block
        call = fspan or span  # the block as written at the call site: `cell(C)` in `x |> cell(C)`
        if block.name in self._call_stack:
            chain = " -> ".join(self._call_stack[self._call_stack.index(block.name):] + [block.name])
            raise NascSemanticError(f"blocks cannot recurse: {chain}", call,
                                    (Note(f"'{block.name}' is defined here", block.name_span),))
        if len(self._instances) >= MAX_BLOCK_NESTING:
            raise NascSemanticError(f"blocks are nested more than {MAX_BLOCK_NESTING} deep (block "
                                    f"'{block.name}' instantiated inside '{self._call_stack[-1]}')", call)
        self._work(call)
        if len(args) != len(block.tensors):
            names = f" ({', '.join(p.name for p in block.tensors)})" if block.tensors else ""
            raise NascSemanticError(f"block '{block.name}' takes {len(block.tensors)} tensor input"
                                    f"{'s' if len(block.tensors) != 1 else ''}{names}, got {len(args)}", call,
                                    (Note(f"'{block.name}' is defined here", block.name_span),))
        env = Env(f.module)
        bound = dict(f.args)
        for p in block.meta:
            if p.name in bound:
                env.vars[p.name] = bound[p.name]
        for p in block.meta:
            if p.name not in bound and p.default is not None:
                env.vars[p.name] = self.eval(p.default, env)
        for p, a in zip(block.tensors, args):
            is_list = p.type is not None and p.type.name == "tensor" and p.type.dims == ()
            if is_list:
                if not isinstance(a, tuple) or not all(isinstance(t, Tensor) for t in a):
                    raise NascSemanticError(f"input '{p.name}' of block '{block.name}' is a list of tensors, "
                                            f"got {kind_of(a)}", span)
            elif not isinstance(a, Tensor):
                raise NascSemanticError(f"input '{p.name}' of block '{block.name}' must be a tensor, got "
                                        f"{kind_of(a)}", span)
            env.vars[p.name] = a
        local = self.scope.alloc(self.scope.local(self.scope.binding))
        inst = join(self.scope.inst, local)
        group = None
        if block.shared is not None:
            if block.shared.key is None:
                group = block.name
            else:
                key = self.eval(block.shared.key, env)
                if isinstance(key, Sym) or not isinstance(key, (str, int, bool)):
                    raise NascSemanticError("a shared(key) key must be a plain string or number, not "
                                            f"{_a(kind_of(key))}", block.shared.key.span)
                group = str(key).lower() if isinstance(key, bool) else str(key)
                if not group.isidentifier():
                    raise NascSemanticError(f"shared group key {group!r} must be a name (letters, digits and "
                                            "'_')", block.shared.key.span)
            path = group
        else:
            path = join(self.scope.path, local)
        outer = self.scope
        self.scope = Scope(path, inst, group or outer.group)
        self._call_stack.append(block.name)
        self._instances.append(call)
        first_instance = False
        if group is not None:
            if group not in self.groups:
                self.groups[group] = _Group(block.name, call)
                first_instance = True
            elif self.groups[group].block != block.name:
                raise NascSemanticError(f"shared group '{group}' is used by two blocks: "
                                        f"'{self.groups[group].block}' and '{block.name}'", span)
            self._group_seen.append(set())
            self._group_calls.append(call)
        try:
            try:
                self._exec_body(block.body, env, where="block")
            except _Return as r:
                result = r.value
            else:
                end = Span(block.span.file, block.span.end_line, max(1, block.span.end_col - 1),
                           block.span.end_line, max(2, block.span.end_col))
                raise NascSemanticError(f"block '{block.name}' ends without 'return' (a block must return its "
                                        "output, e.g. 'return x')", end,
                                        (Note(f"'{block.name}' is defined here", block.name_span),))
        finally:
            self.scope = outer
            self._call_stack.pop()
            self._instances.pop()
            seen = self._group_seen.pop() if group is not None else None
            if group is not None:
                self._group_calls.pop()
        if group is not None and first_instance:
            self.groups[group].complete = True
        if group is not None and not first_instance and seen is not None:
            rec = self.groups[group]
            missing = sorted(set(rec.decisions) - seen)
            if missing:
                raise NascSemanticError(f"instances of shared block '{block.name}' disagree: the first instance "
                                        f"has decision '{missing[0]}', this one does not", call,
                                        (Note("first instance", rec.span),))
        return result

    # ---------------------------------------------------------------- decisions
    @contextmanager
    def _naming(self, name: str, raw: bool = False) -> Iterator[None]:
        """Set the binding that names decisions and instances created while evaluating."""
        saved = self.scope.binding, self.scope.loop
        if raw:
            # `name` already includes the loop suffixes (a call argument's path)
            self.scope.binding, self.scope.loop = name, []
        else:
            self.scope.binding = name
        try:
            yield
        finally:
            self.scope.binding = saved[0]
            self.scope.loop = saved[1]

    def _new_decision(self, kind: str, labels: tuple[str, ...], value_kind: str, span: Span, k: int = 1,
                      cand_text: tuple[str, ...] = ()) -> tuple[Decision, int | None]:
        scope = self.scope
        base = scope.local(scope.binding) if scope.binding is not None else scope.local("choice")
        local = scope.alloc(base)
        path = join(scope.path, local)
        existing = self.by_path.get(path)
        if existing is not None and scope.group is not None and existing.group == scope.group:
            rec = self.groups[scope.group]
            sig = (kind, len(labels) if kind == "oneof" else math.comb(len(labels), k), value_kind)
            if rec.decisions.get(path) != sig:
                raise NascSemanticError(f"instances of shared block '{rec.block}' disagree at decision '{path}': "
                                        f"{_sig_text(sig)} here, {_sig_text(rec.decisions.get(path))} in the "
                                        "first instance", span, self._instance_notes(rec))
            if self._group_seen:
                self._group_seen[-1].add(path)
            return existing, existing.fixed
        while existing is not None:
            local = scope.alloc(base)
            path = join(scope.path, local)
            existing = self.by_path.get(path)
        if len(self.decisions) >= MAX_DECISIONS:
            raise NascSemanticError(f"the space has more than {MAX_DECISIONS:,} decisions", span)
        d = Decision(len(self.decisions), path, kind, labels, value_kind, span, k=k, group=scope.group,
                     candidate_text=cand_text)
        pin = self.pins.get(path)
        if pin is not None:
            d.fixed = self._resolve_pin(d, pin)
            pin.used = True
        self.decisions.append(d)
        self.by_path[path] = d
        if scope.group is not None:
            rec = self.groups[scope.group]
            if rec.complete:
                raise NascSemanticError(f"instances of shared block '{rec.block}' disagree: decision '{path}' "
                                        "does not exist in the first instance", span, self._instance_notes(rec))
            rec.decisions[path] = (kind, d.n, value_kind)
            if self._group_seen:
                self._group_seen[-1].add(path)
        return d, d.fixed

    def _instance_notes(self, rec: _Group) -> tuple[Note, ...]:
        notes = []
        if self._group_calls:
            notes.append(Note("in this instance", self._group_calls[-1]))
        notes.append(Note("first instance", rec.span))
        return tuple(notes)

    def _resolve_pin(self, d: Decision, pin: Pin) -> int:
        if pin.option is not None:
            if not 0 <= pin.option < d.n:
                raise NascSemanticError(f"option {pin.option} is out of range for '{d.path}'", pin.span)
            return pin.option
        assert pin.expr is not None
        e = pin.expr
        while isinstance(e, A.Paren):
            e = e.expr
        if d.kind == "choose":
            if not isinstance(e, A.ListExpr) or not all(isinstance(i.value, A.Int) for i in e.items):
                raise NascSemanticError(f"'{d.path}' is a choose {d.k} of {len(d.labels)}: fix it with a list of "
                                        f"{d.k} candidate indices, e.g. [{', '.join(map(str, range(d.k)))}]", e.span)
            idx = tuple(sorted(int(i.value.value) for i in e.items))  # type: ignore[union-attr]
            if idx not in d.options:
                raise NascSemanticError(f"{list(idx)} is not a valid choice for '{d.path}' (choose {d.k} distinct "
                                        f"indices from 0 to {len(d.labels) - 1})", e.span)
            return d.options.index(idx)
        if isinstance(e, A.Name) and e.id in d.labels:
            return d.labels.index(e.id)
        text = None
        if isinstance(e, A.Int):
            text = str(e.value)
        elif isinstance(e, A.Float):
            text = repr(e.value)
        elif isinstance(e, A.Str):
            text = e.value
        elif isinstance(e, A.Bool):
            text = "true" if e.value else "false"
        elif isinstance(e, A.Name):
            text = e.id
        elif isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, (A.Int, A.Float)):
            text = "-" + str(e.operand.value)
        if text is not None:
            for i, (lab, ct) in enumerate(zip(d.labels, d.candidate_text or d.labels)):
                if text in (lab, ct):
                    return i
        shown = text if text is not None else self._text(e)
        hint = did_you_mean(shown, [lab for lab in d.labels if not lab.isdigit()]) if text is not None else ""
        raise NascSemanticError(f"'{shown}' is not a candidate of '{d.path}'" + (hint or "") +
                                " (candidates: " + ", ".join(d.labels) + ")", e.span)

    def _cands(self, e: A.Expr, env: Env) -> tuple[list[Any], list[str], list[str], list[Span]]:
        """Evaluate a candidate list: values, labels, candidate source texts and spans."""
        if isinstance(e, A.ListExpr):
            values, labels, texts, spans = [], [], [], []
            seen: dict[str, Span] = {}
            for i, it in enumerate(e.items):
                values.append(self.eval(it.value, env))
                text = self._text(it.value)
                label = it.label if it.label is not None else _auto_label(values[-1], text, i)
                if label in seen:
                    if it.label is not None:
                        raise NascSemanticError(f"duplicate candidate label '{label}'", it.span,
                                                (Note("first used here", seen[label]),))
                    label = f"{label}_{i}"
                seen[label] = it.span
                labels.append(label)
                texts.append(text)
                spans.append(it.value.span)
            return values, labels, texts, spans
        if isinstance(e, A.Range):
            vals = list(self._e_Range(e, env))
            return vals, [str(v) for v in vals], [str(v) for v in vals], [e.span] * len(vals)
        if isinstance(e, A.Comprehension):
            pairs = self._comprehension(e, env)
            vals = [v for v, _ in pairs]
            labels = [_auto_label(v, None, i) for v, i in pairs]
            return vals, labels, list(labels), [e.span] * len(vals)
        v = self.eval(e, env)
        if not isinstance(v, tuple):
            raise NascSemanticError(f"candidates must be a list, got {kind_of(v)}", e.span)
        labels = [_auto_label(x, None, i) for i, x in enumerate(v)]
        return list(v), labels, list(labels), [e.span] * len(v)

    def _text(self, e: A.Expr) -> str:
        from .printer import fmt_expr

        return fmt_expr(e)

    def _e_Choice(self, e: A.Choice, env: Env) -> Any:
        if isinstance(e.cands, A.ListExpr):  # before evaluating what may be 10^5 candidates
            self._check_options(len(e.cands.items), e.cands.span)
        values, labels, texts, spans = self._cands(e.cands, env)
        if not values:
            raise NascSemanticError("a choice needs at least one candidate", e.span)
        self._check_options(len(values), e.cands.span)
        vk = self._homogeneous(values, spans)
        d, fixed = self._new_decision("oneof", tuple(labels), vk, e.span, cand_text=tuple(texts))
        if fixed is not None:
            return values[fixed]
        if vk == "op":
            zero = frozenset(i for i, v in enumerate(values) if isinstance(v, OpVal) and "zero" in v.opdef.flags)
            d.zero_candidates = zero
            return ChoiceOp(d.id, tuple(values), tuple(labels), _local_of(d.path, self.scope.path), e.span)
        if vk == "tensor":
            tensors = [self._expect_tensor(v, s, "candidate") for v, s in zip(values, spans)]
            select = tuple(frozenset({i}) for i in range(len(tensors)))
            shape = self._unify_shapes([t.shape for t in tensors], d.id, select, e.span, f"choice '{d.path}'",
                                       labels=tuple(labels), spans=spans)
            node = self.graph.add("input_choice", None, {"k": 1, "reduce": "pick"}, tuple(t.node for t in tensors),
                                  shape, decision=d.id, select=tuple(range(len(tensors))), instance=self.scope.inst,
                                  span=e.span)
            return Tensor(node.id, shape, e.span)
        if vk == "list":
            raise NascSemanticError("a choice between lists is not supported; choose each element separately",
                                    e.span)
        return self._pick(leaf(d.id, list(range(len(values)))), values, e.span)

    def _e_Choose(self, e: A.Choose, env: Env) -> Any:
        k = self.eval(e.k, env)
        if isinstance(k, bool) or not isinstance(k, int):
            raise NascSemanticError(f"choose needs a plain integer count, got {_show(k)}", e.k.span)
        values, labels, texts, spans = self._cands(e.cands, env)
        if not 1 <= k <= len(values):
            n = len(values)
            bounds = (f"the count must be between 1 and {n}" if n > 1 else
                      ("the count must be 1" if n == 1 else "the list is empty"))
            raise NascSemanticError(f"cannot choose {k} of {n} candidate{'s' if n != 1 else ''}; {bounds}",
                                    e.k.span)
        self._check_options(math.comb(len(values), k), e.span)
        vk = self._homogeneous(values, spans)
        d, fixed = self._new_decision("choose", tuple(labels), vk, e.span, k=k, cand_text=tuple(texts))
        if fixed is not None:
            return tuple(values[i] for i in d.options[fixed])
        if vk != "tensor":
            raise NascSemanticError("'choose' selects among tensors (connectivity); for values use one choice "
                                    "per element", e.span)
        tensors = tuple(self._expect_tensor(v, s, "candidate") for v, s in zip(values, spans))
        return ChosenList(d.id, tensors, k, e.span)

    def _check_options(self, n: int, span: Span) -> None:
        """A decision with `n` options is an error past MAX_OPTIONS."""
        if n > MAX_OPTIONS:
            raise NascSemanticError(f"a decision with {n:,} options; one decision may have at most "
                                    f"{MAX_OPTIONS:,}", span)

    def _homogeneous(self, values: list[Any], spans: list[Span]) -> str:
        kinds = []
        for v in values:
            k = kind_of(v)
            kinds.append({"int": "value", "float": "value", "bool": "value", "str": "value",
                          "quantity": "value"}.get(k, k))
        first = kinds[0]
        for kind, v, sp in zip(kinds, values, spans):
            if kind != first:
                raise NascSemanticError(f"candidates of one choice must be of one kind: {kind_of(values[0])} "
                                        f"({spans[0].line}:{spans[0].col}) and {kind_of(v)} ({sp.line}:{sp.col})",
                                        sp)
        if first not in ("op", "tensor", "value", "list"):
            raise NascSemanticError(f"cannot choose among {first} values", spans[0])
        return first

    def _mixed(self, ch: ChoiceOp, args: list[Any], span: Span) -> Tensor:
        outs: list[Tensor] = []
        for cand, label in zip(ch.cands, ch.labels):
            with self._naming(f"{ch.local}.{label}", raw=True):
                out = self.apply(cand, list(args), ch.span or span, span)
            outs.append(self._expect_tensor(out, span, f"candidate '{label}'"))
        select = tuple(frozenset({i}) for i in range(len(outs)))
        d = self.decisions[ch.decision]
        shape = self._unify_shapes([t.shape for t in outs], ch.decision, select, span, f"choice '{d.path}'",
                                   labels=ch.labels, spans=[c.span if getattr(c, "span", None) else
                                                            (ch.span or span) for c in ch.cands])
        node = self.graph.add("mixed", None, {}, tuple(t.node for t in outs), shape, decision=ch.decision,
                              select=tuple(range(len(outs))), instance=self.scope.inst, span=span,
                              label=d.path)
        return Tensor(node.id, shape, span)

    def _input_choice(self, cl: ChosenList, reduce: str, span: Span) -> Tensor:
        shapes = [t.shape for t in cl.tensors]
        if reduce in ("sum", "mean"):
            for t in cl.tensors[1:]:
                if not _shapes_match(t.shape, cl.tensors[0].shape):
                    raise NascSemanticError(f"cannot {reduce} chosen tensors of shapes {fmt_shape(shapes[0])} and "
                                            f"{fmt_shape(t.shape)}", span)
            shape = cl.tensors[0].shape
        else:
            ch = shapes[0][1] if len(shapes[0]) > 1 else None
            if not all(s[1] == ch and s[2:] == shapes[0][2:] for s in shapes):
                raise NascSemanticError("concat of a choose needs candidates of equal shapes", span)
            shape = (shapes[0][0], ch * cl.k, *shapes[0][2:]) if isinstance(ch, int) else shapes[0]
        node = self.graph.add("input_choice", None, {"k": cl.k, "reduce": reduce}, tuple(t.node for t in cl.tensors),
                              shape, decision=cl.decision, select=tuple(range(len(cl.tensors))),
                              instance=self.scope.inst, span=span)
        return Tensor(node.id, shape, span)

    def _unify_shapes(self, shapes: list[tuple[Any, ...]], decision: int, select: tuple[frozenset[int], ...],
                      span: Span, what: str, labels: tuple[str, ...] | None = None,
                      spans: list[Span] | None = None) -> tuple[Any, ...]:
        first = shapes[0]
        if all(_shapes_match(s, first) for s in shapes):
            return first
        for i, s in enumerate(shapes):
            if len(s) != len(first) or s[0] != first[0] or s[2:] != first[2:]:
                la = f"'{labels[0]}'" if labels else "the first"
                lb = f"'{labels[i]}'" if labels else f"option {i}"
                at = spans[i] if spans and i < len(spans) else span
                notes = (Note(f"{la} is here", spans[0]),) if spans and spans[0] != at else ()
                raise NascSemanticError(f"candidates of {what} produce different shapes: {la} gives "
                                        f"{fmt_shape(first)}, {lb} gives {fmt_shape(s)}", at, notes)
        d = self.decisions[decision]
        option_to_input = [next(j for j, sel in enumerate(select) if o in sel) for o in range(d.n)]
        chan = self._pick(leaf(decision, option_to_input), [s[1] for s in shapes], span)
        return (first[0], chan, *first[2:])

    def _work(self, span: Span) -> None:
        self.work += 1
        if self.work > MAX_WORK:
            raise NascSemanticError(f"elaboration creates more than {MAX_WORK:,} ops and block instances; do "
                                    "blocks call other blocks many times over?", span)

    def _tick(self, span: Span) -> None:
        self.unrolled += 1
        if self.unrolled > MAX_UNROLL:
            raise NascSemanticError(f"elaboration unrolls more than {MAX_UNROLL} iterations; is a repeat count "
                                    "too large?", span)

    def _resolve_dotted(self, parts: tuple[str, ...], env: Env, span: Span) -> Any:
        v = self._e_Name(A.Name(parts[0], span), env)
        for p in parts[1:]:
            v = self._attr_of(v, p, span)
        return v


class _DivZero(Exception):
    pass


class _Overflow(Exception):
    pass


def _a(word: str) -> str:
    """`word` with its indefinite article: 'an int', 'a tensor'."""
    return ("an " if word[:1] in "aeiou" else "a ") + word


_PARAM_KINDS = {
    "int": (lambda x: isinstance(x, int) and not isinstance(x, bool), "an integer"),
    "float": (lambda x: isinstance(x, (int, float)) and not isinstance(x, bool), "a number"),
    "bool": (lambda x: isinstance(x, bool), "true or false"),
    "str": (lambda x: isinstance(x, str), "a string"),
}


def _sig_text(sig: tuple[str, int, str] | None) -> str:
    if sig is None:
        return "nothing"
    kind, n, vk = sig
    if kind == "oneof":
        return f"a choice of {n} {vk}{'s' if n != 1 else ''}"
    return f"a choose with {n} combination{'s' if n != 1 else ''} of {vk}s"


def _local_of(path: str, prefix: str) -> str:
    if prefix and path.startswith(prefix):
        rest = path[len(prefix):]
        return rest[1:] if rest.startswith(".") else rest
    return path


def _auto_label(v: Any, text: str | None, i: int) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, str)):
        return str(v)
    if isinstance(v, QuantityVal):
        return v.text
    if isinstance(v, OpVal) and not v.args:
        return v.opdef.name
    if text is not None:
        return text
    return str(i)


def _strip_parens(e: A.Expr) -> A.Expr:
    while isinstance(e, A.Paren):
        e = e.expr
    return e


def _head_span(span: Span, name: str) -> Span:
    """The span of the leading NAME of `NAME = value` (a named argument's name)."""
    return Span(span.file, span.line, span.col, span.line, span.col + len(name))


def _tail_span(span: Span, name: str) -> Span:
    """The span of the trailing NAME of `obj.NAME` (the attribute's own name)."""
    if span.end_line >= span.line and span.end_col - len(name) >= 1:
        return Span(span.file, span.end_line, span.end_col - len(name), span.end_line, span.end_col)
    return span


def _where(t: Tensor, span: Span) -> str:
    """`(name, l:c)`: where a named tensor was defined, else where the operand is written."""
    if t.name and t.span is not None:
        return f" ({t.name}, {t.span.line}:{t.span.col})"
    return f" ({span.line}:{span.col})"


def _shapes_match(a: tuple[Any, ...], b: tuple[Any, ...]) -> bool:
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if x == y:
            continue
        if isinstance(x, str) and isinstance(y, str):
            continue  # two symbolic batch dims
        if x == "?" or y == "?":
            continue
        return False
    return True


def _truthy(v: Any, span: Span) -> bool:
    if isinstance(v, bool):
        return v
    if isinstance(v, (int, float)):
        return v != 0
    raise NascSemanticError(f"expected a condition (bool), got {kind_of(v)} {_show(v)}", span)


def _show(v: Any) -> str:
    if isinstance(v, Tensor):
        return fmt_shape(v.shape)
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, Sym):
        vals = v.values()
        shown = [_show(x) or kind_of(x) for x in vals[:6]]
        return "{" + "|".join(shown) + ("|..." if len(vals) > 6 else "") + "}"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return repr(v)
    if isinstance(v, QuantityVal):
        return v.text
    if isinstance(v, OpVal):
        return v.opdef.name
    if isinstance(v, BlockVal):
        return v.block.name
    if isinstance(v, tuple):
        inner = ", ".join(_show(x) or kind_of(x) for x in v[:6])
        return f"[{inner}{', ...' if len(v) > 6 else ''}]"
    return ""


def _is_tensorish(v: Any) -> bool:
    if isinstance(v, (Tensor, ChosenList)):
        return True
    return isinstance(v, tuple) and bool(v) and all(isinstance(t, Tensor) for t in v)


def _assigned_names(body: tuple[A.Stmt, ...]) -> set[str]:
    out: set[str] = set()
    for s in body:
        if isinstance(s, A.Assign):
            out |= set(s.targets)
        elif isinstance(s, A.Repeat):
            out |= _assigned_names(s.body)
            if s.var:
                out.add(s.var)
        elif isinstance(s, A.If):
            out |= _assigned_names(s.body) | _assigned_names(s.orelse or ())
    return out


def _walk_stmts(body: tuple[A.Stmt, ...]) -> Iterator[Any]:
    stack: list[Any] = list(body)
    while stack:
        n = stack.pop()
        yield n
        if hasattr(n, "__dataclass_fields__"):
            for f in n.__dataclass_fields__:
                if f == "span":
                    continue
                v = getattr(n, f)
                if isinstance(v, tuple):
                    stack.extend(x for x in v if hasattr(x, "__dataclass_fields__"))
                elif hasattr(v, "__dataclass_fields__"):
                    stack.append(v)


def _check_outputs(graph: IRGraph, space: A.SpaceDef) -> None:
    if not graph.outputs:
        raise NascSemanticError(f"{space.kind} '{space.name}' has no 'output'", space.name_span)


def _mark_kept_edges(graph: IRGraph, decisions: list[Decision]) -> None:
    """A `zero` candidate cannot win on an edge that a `choose` keeps (it would be a no-op edge)."""
    for n in graph:
        if n.kind != "input_choice" or n.decision is None or decisions[n.decision].kind != "choose":
            continue
        for src in n.inputs:
            m = graph.node(src)
            if m.kind != "mixed" or m.decision is None:
                continue
            if all(graph.node(c).kind == "input_choice" for c, _ in graph.consumers(src)):
                d = decisions[m.decision]
                d.excluded = d.zero_candidates
