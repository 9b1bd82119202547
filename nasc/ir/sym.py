"""Decision-dependent values.

``C = choice [8, 16]`` makes ``C`` a :class:`Sym`: a value that depends on one or
more decisions, stored as a table over their candidate indices.  Arithmetic, shape
rules and cost rules are *lifted* over Syms by evaluating them once per
combination of the decisions involved, so every op rule is written for plain
integers, yet the IR knows exactly how each width, kernel size, shape and cost
varies with the decisions (what width masking, min/max costs and exact counting
need).  A Sym whose table does not depend on a decision drops it; one that depends
on none collapses to its plain value.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence


class SymError(Exception):
    """Too many interacting decisions, or a value of varying structure."""


class BudgetExceeded(SymError):
    """The work bound of a :class:`Budget` was reached."""


#: Upper bound on the number of decision combinations one lifted rule is evaluated for.
MAX_TABLE = 200_000

#: Types that never hold a Sym: substitute and collect return at once on them (most
#: leaves of shapes and attributes are these).
_ATOMS = frozenset({int, float, str, bool, type(None)})


class Budget:
    """A bound on the evaluations one elaboration may make, so no input can make it run unboundedly.

    Each lifted rule charges the number of decision combinations it is evaluated for
    (a rule on plain values charges 1); the elaborator charges each expression it
    evaluates.  One elaboration owns one budget: nothing is shared between runs.
    """

    def __init__(self, limit: int, what: str) -> None:
        self.limit = limit
        self.what = what  # the end of the error message: what was being bounded
        self.used = 0

    def charge(self, n: int) -> None:
        self.used += n
        if self.used > self.limit:
            raise BudgetExceeded(f"elaboration takes more than {self.limit:,} steps ({self.what})")


@dataclass(frozen=True)
class Sym:
    deps: tuple[int, ...]  # decision ids, ascending
    sizes: tuple[int, ...]  # number of candidates of each decision
    table: tuple[Any, ...]  # row-major over deps

    def at(self, assignment: Mapping[int, int]) -> Any:
        if len(self.deps) == 1:
            return self.table[assignment[self.deps[0]]]
        idx = 0
        for d, n in zip(self.deps, self.sizes):
            idx = idx * n + assignment[d]
        return self.table[idx]

    def values(self) -> list[Any]:
        """Distinct values in first-seen order (linear in the table for hashable values)."""
        return distinct(self.table)

    def __repr__(self) -> str:
        vals = self.values()
        return "{" + "|".join(str(v) for v in vals) + "}"


def is_sym(x: Any) -> bool:
    return isinstance(x, Sym)


def distinct(values: Iterable[Any]) -> list[Any]:
    """The distinct items of `values` in first-seen order: an item is kept unless it is
    ``==`` to one kept earlier.

    Hashable items are looked up in a dict (equal items hash equal), so the usual table
    of numbers or shapes takes linear time instead of a quadratic scan; an unhashable
    item is compared with every kept item, and a hashable one also with the kept
    unhashable ones, so the result is the same as the plain scan's.
    """
    hashed: dict[Any, None] = {}
    loose: list[Any] = []
    out: list[Any] = []
    for v in values:
        try:
            hash(v)
        except TypeError:
            if v in out:
                continue
            loose.append(v)
        else:
            if v in hashed or v in loose:
                continue
            hashed[v] = None
        out.append(v)
    return out


def leaf(decision: int, values: list[Any]) -> Any:
    """The value of a one-of decision whose candidates are plain values."""
    return reduce(Sym((decision,), (len(values),), tuple(values)))


def reduce(s: Sym) -> Any:
    """Drop decisions the table does not depend on; collapse constants."""
    if len(s.deps) == 1:  # the common case, without the general index arithmetic
        first = s.table[0]
        return s if any(v != first for v in s.table) else first
    deps, sizes, table = list(s.deps), list(s.sizes), list(s.table)
    i = 0
    while i < len(deps):
        n = sizes[i]
        inner = math.prod(sizes[i + 1:])
        outer = math.prod(sizes[:i])
        if _varies(table, n, inner, outer):
            i += 1
            continue
        block = n * inner
        table = [v for o in range(outer) for v in table[o * block:o * block + inner]]
        del deps[i]
        del sizes[i]
    if not deps:
        return table[0]
    return Sym(tuple(deps), tuple(sizes), tuple(table))


def _varies(table: list[Any], n: int, inner: int, outer: int) -> bool:
    """Whether a row-major table differs between the options of one of its decisions.

    The decision has `n` options; `inner` entries follow each option and `outer` blocks
    of ``n * inner`` precede it.  Options are compared a slice at a time -- contiguous
    runs when blocks are few, strided ones when they are many -- so the scan runs at C
    speed, in at most sqrt(len(table)) slices per option.
    """
    block = n * inner
    if outer <= inner:
        for o in range(outer):
            base = o * block
            first = table[base:base + inner]
            for c in range(1, n):
                if table[base + c * inner:base + (c + 1) * inner] != first:
                    return True
        return False
    for j in range(inner):
        first = table[j::block]
        for c in range(1, n):
            if table[c * inner + j::block] != first:
                return True
    return False


def _column(s: Sym, ids: tuple[int, ...], sizes: tuple[int, ...]) -> list[Any]:
    """The values of `s` at every combination of `ids` (row-major); `s.deps` is a subset of `ids`."""
    stride: dict[int, int] = {}
    step = 1
    for d, n in zip(reversed(s.deps), reversed(s.sizes)):
        stride[d] = step
        step *= n
    index = [0]
    for d, n in zip(ids, sizes):
        st = stride.get(d, 0)
        index = [x + i * st for x in index for i in range(n)]
    table = s.table
    return [table[x] for x in index]


def _assignment(flat: int, ids: tuple[int, ...], sizes: tuple[int, ...]) -> dict[int, int]:
    """The combination at row-major position `flat` of a table over `ids`."""
    a: dict[int, int] = {}
    for d, n in zip(reversed(ids), reversed(sizes)):
        flat, a[d] = divmod(flat, n)
    return a


def collect(x: Any, out: dict[int, int]) -> None:
    """Gather the decisions (id -> size) of every Sym nested in tuples, lists and dicts."""
    if type(x) in _ATOMS:
        return
    if isinstance(x, Sym):
        for d, n in zip(x.deps, x.sizes):
            out[d] = n
    elif isinstance(x, (tuple, list)):
        for y in x:
            collect(y, out)
    elif isinstance(x, dict):
        for y in x.values():
            collect(y, out)


def has_sym(x: Any) -> bool:
    return _syms(x, {})


def substitute(x: Any, assignment: Mapping[int, int]) -> Any:
    """`x` with every Sym nested in tuples, lists and dicts replaced by its value under `assignment`."""
    if type(x) in _ATOMS:
        return x
    if isinstance(x, Sym):
        return x.at(assignment)
    if isinstance(x, tuple):
        return tuple([y if type(y) in _ATOMS else substitute(y, assignment) for y in x])
    if isinstance(x, list):
        return [y if type(y) in _ATOMS else substitute(y, assignment) for y in x]
    if isinstance(x, dict):
        return {k: v if type(v) in _ATOMS else substitute(v, assignment) for k, v in x.items()}
    return x


def combos(deps: Mapping[int, int]):
    """Yield assignments (dict) over the given decisions in row-major order."""
    ids = sorted(deps)
    for idx in itertools.product(*(range(deps[d]) for d in ids)):
        yield dict(zip(ids, idx))


def _table_shape(deps: Mapping[int, int], budget: Budget | None) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The (ids, sizes) of a table over `deps`, charged to `budget`; too large a table is an error."""
    ids = tuple(sorted(deps))
    sizes = tuple(deps[d] for d in ids)
    n = math.prod(sizes)
    if n > MAX_TABLE:
        raise SymError(f"a value depends on {len(ids)} decisions at once ({n:,} combinations); "
                       "too many to track")
    if budget is not None:
        budget.charge(n)
    return ids, sizes


def _syms(x: Any, out: dict[int, Sym]) -> bool:
    """Add every Sym nested in `x` to `out` (by identity, first-seen order); whether there was one."""
    if type(x) in _ATOMS:
        return False
    if isinstance(x, Sym):
        out.setdefault(id(x), x)
        return True
    if isinstance(x, (tuple, list)):
        return any([_syms(y, out) for y in x])
    if isinstance(x, dict):
        return any([_syms(y, out) for y in x.values()])
    return False


def _keyable(v: Any) -> bool:
    """Whether equal values of this kind are interchangeable: ints, strings, None and tuples
    of them (not bools or floats: 1 == True and 0.0 == -0.0, yet a rule may tell them apart)."""
    t = type(v)
    if t is int or t is str or v is None:
        return True
    return t is tuple and all(_keyable(y) for y in v)


_UNSEEN = object()


def lift(fn: Callable[..., Any], *args: Any, budget: Budget | None = None, **kwargs: Any) -> Any:
    """Call `fn` on plain values, once per combination of the decisions in its arguments.

    Only the arguments that hold a Sym are substituted per combination; the others are
    passed as they are, so a rule with many plain arguments costs no more per
    combination than its own body.  Combinations that give every Sym involved the same
    values share one evaluation when those values are ints, strings or tuples of them
    (a width that is 4 under 2^17 combinations is computed with once): `fn` must be a
    function of its arguments, as rules and arithmetic are.
    """
    found: dict[int, Sym] = {}
    varying = [i for i, x in enumerate(args) if _syms(x, found)]
    varying_kw = [k for k, x in kwargs.items() if _syms(x, found)]
    if not found:
        if budget is not None:
            budget.charge(1)
        return fn(*args, **kwargs)
    syms = list(found.values())
    ids, sizes = _table_shape({d: n for s in syms for d, n in zip(s.deps, s.sizes)}, budget)
    memo: dict[Any, Any] | None = {} if all(_keyable(v) for s in syms for v in s.table) else None
    call_args = list(args)
    call_kwargs = dict(kwargs)
    table = []
    if not varying_kw and len(varying) == 1 and isinstance(args[varying[0]], Sym):
        # one bare Sym argument: its table is already in the result's order
        pos = varying[0]
        for v in args[pos].table:
            r = _UNSEEN if memo is None else memo.get(v, _UNSEEN)
            if r is _UNSEEN:
                call_args[pos] = v
                r = fn(*call_args, **kwargs)
                if memo is not None:
                    memo[v] = r
            table.append(r)
        return reduce(Sym(ids, sizes, tuple(table)))

    def call(a: Mapping[int, int]) -> Any:
        for i in varying:
            call_args[i] = substitute(args[i], a)
        for k in varying_kw:
            call_kwargs[k] = substitute(kwargs[k], a)
        return fn(*call_args, **call_kwargs)

    if memo is None:
        table = [call(a) for a in combos(dict(zip(ids, sizes)))]
    else:
        for flat, key in enumerate(zip(*[_column(s, ids, sizes) for s in syms])):
            r = memo.get(key, _UNSEEN)
            if r is _UNSEEN:
                r = memo[key] = call(_assignment(flat, ids, sizes))
            table.append(r)
    return reduce(Sym(ids, sizes, tuple(table)))


def pick(index: Any, options: Sequence[Any], budget: Budget | None = None) -> Any:
    """``options[index]`` where the index (and any option) may depend on decisions.

    The same value as ``lift(lambda i, *vs: vs[i], index, *options)``, but each
    combination looks at only the option it picks, so a choice among n values costs
    O(n) rather than O(n^2).
    """
    deps: dict[int, int] = {}
    collect(index, deps)
    collect(options, deps)
    if not deps:
        if budget is not None:
            budget.charge(1)
        return options[index]
    ids, sizes = _table_shape(deps, budget)
    picked = _column(index, ids, sizes) if isinstance(index, Sym) else [index] * math.prod(sizes)
    columns: dict[int, list[Any]] = {}  # of the Sym options that are picked somewhere
    table = []
    for flat, i in enumerate(picked):
        option = options[i]
        if isinstance(option, Sym):
            if i not in columns:
                columns[i] = _column(option, ids, sizes)
            table.append(columns[i][flat])
        elif has_sym(option):
            table.append(substitute(option, _assignment(flat, ids, sizes)))
        else:
            table.append(option)
    return reduce(Sym(ids, sizes, tuple(table)))


def distribute(x: Any) -> Any:
    """Turn a Sym of equal-length tuples into a tuple of Syms (a shape with varying dims)."""
    if not isinstance(x, Sym):
        return x
    lengths = {len(v) if isinstance(v, tuple) else -1 for v in x.table}
    if len(lengths) != 1 or -1 in lengths:
        raise SymError("the rank of this tensor depends on a decision")
    (n,) = lengths
    return tuple(reduce(Sym(x.deps, x.sizes, tuple(v[i] for v in x.table))) for i in range(n))


def extremes(x: Any) -> tuple[Any, Any]:
    if isinstance(x, Sym):
        return min(x.table), max(x.table)
    return x, x
