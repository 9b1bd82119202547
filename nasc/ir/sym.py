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
from typing import Any, Callable, Mapping


class SymError(Exception):
    """Too many interacting decisions, or a value of varying structure."""


#: Upper bound on the number of decision combinations one lifted rule is evaluated for.
MAX_TABLE = 200_000


@dataclass(frozen=True)
class Sym:
    deps: tuple[int, ...]  # decision ids, ascending
    sizes: tuple[int, ...]  # number of candidates of each decision
    table: tuple[Any, ...]  # row-major over deps

    def at(self, assignment: Mapping[int, int]) -> Any:
        idx = 0
        for d, n in zip(self.deps, self.sizes):
            idx = idx * n + assignment[d]
        return self.table[idx]

    def values(self) -> list[Any]:
        """Distinct values in first-seen order."""
        seen: list[Any] = []
        for v in self.table:
            if v not in seen:
                seen.append(v)
        return seen

    def __repr__(self) -> str:
        vals = self.values()
        return "{" + "|".join(str(v) for v in vals) + "}"


def is_sym(x: Any) -> bool:
    return isinstance(x, Sym)


def leaf(decision: int, values: list[Any]) -> Any:
    """The value of a one-of decision whose candidates are plain values."""
    return reduce(Sym((decision,), (len(values),), tuple(values)))


def reduce(s: Sym) -> Any:
    """Drop decisions the table does not depend on; collapse constants."""
    deps, sizes, table = list(s.deps), list(s.sizes), list(s.table)
    i = 0
    while i < len(deps):
        n = sizes[i]
        inner = math.prod(sizes[i + 1:])
        outer = math.prod(sizes[:i])
        varies = False
        for o in range(outer):
            base = o * n * inner
            for j in range(inner):
                v0 = table[base + j]
                for c in range(1, n):
                    if table[base + c * inner + j] != v0:
                        varies = True
                        break
                if varies:
                    break
            if varies:
                break
        if varies:
            i += 1
            continue
        table = [table[o * n * inner + j] for o in range(outer) for j in range(inner)]
        del deps[i]
        del sizes[i]
    if not deps:
        return table[0]
    return Sym(tuple(deps), tuple(sizes), tuple(table))


def collect(x: Any, out: dict[int, int]) -> None:
    """Gather the decisions (id -> size) of every Sym nested in tuples, lists and dicts."""
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
    found: dict[int, int] = {}
    collect(x, found)
    return bool(found)


def substitute(x: Any, assignment: Mapping[int, int]) -> Any:
    if isinstance(x, Sym):
        return x.at(assignment)
    if isinstance(x, tuple):
        return tuple(substitute(y, assignment) for y in x)
    if isinstance(x, list):
        return [substitute(y, assignment) for y in x]
    if isinstance(x, dict):
        return {k: substitute(v, assignment) for k, v in x.items()}
    return x


def combos(deps: Mapping[int, int]):
    """Yield assignments (dict) over the given decisions in row-major order."""
    ids = sorted(deps)
    for idx in itertools.product(*(range(deps[d]) for d in ids)):
        yield dict(zip(ids, idx))


def lift(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call `fn` on plain values, once per combination of the decisions in its arguments."""
    deps: dict[int, int] = {}
    collect(args, deps)
    collect(kwargs, deps)
    if not deps:
        return fn(*args, **kwargs)
    ids = tuple(sorted(deps))
    sizes = tuple(deps[d] for d in ids)
    if math.prod(sizes) > MAX_TABLE:
        raise SymError(f"a value depends on {len(ids)} decisions at once ({math.prod(sizes):,} combinations); "
                       "too many to track")
    table = []
    for a in combos(deps):
        table.append(fn(*substitute(args, a), **substitute(kwargs, a)))
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
