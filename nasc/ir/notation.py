"""Plain-text names of a space and of an assignment of its decisions.

The content hash names a space in arch headers and search checkpoints; `fix` lines,
the NAS-Bench-201 string and the DARTS genotype name an assignment.  None of them
needs the `.nas` printer, so they stay in the IR, which never depends on the
frontend (the printed arch itself is :mod:`nasc.frontend.archtext`).
"""

from __future__ import annotations

import hashlib
import re

from .space import Decision, SearchSpace


def space_hash(space: SearchSpace) -> str:
    """sha256 of the elaborated space (IR + decisions), so cosmetic edits keep it."""
    h = hashlib.sha256()
    h.update(space.graph.dump().encode())
    for d in space.decisions:
        h.update(f"{d.path}|{d.kind}|{d.k}|{','.join(d.labels)}|{d.fixed}\n".encode())
    return h.hexdigest()


def fix_value(d: Decision, option: int) -> str:
    """The value a `fix` line pins: a choose's index list, a label that is a name, else the
    candidate's source text (a label such as `16` or `true` is not a name)."""
    if d.kind == "choose":
        return d.option_label(option)
    label = d.labels[option]
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", label) and label not in ("true", "false"):
        return label
    text = d.candidate_text[option] if d.candidate_text else label
    return text


def fix_lines(space: SearchSpace, assignment: dict[str, int]) -> list[str]:
    """`fix PATH = VALUE` per assigned decision, sorted by path so equal assignments print alike."""
    lines = []
    for path in sorted(assignment):
        d = space.decision(path)
        lines.append(f"fix {path} = {fix_value(d, assignment[path])}")
    return lines


def nb201_string(space: SearchSpace, assignment: dict[str, int]) -> str | None:
    """The NAS-Bench-201 arch string, when the space has NB201's cell decisions."""
    edges = [["e01"], ["e02", "e12"], ["e03", "e13", "e23"]]
    found = {}
    for d in space.decisions:
        m = re.fullmatch(r"(?:.*\.)?(e[0-3][0-3])", d.path)
        if m and d.path in assignment:
            found[m.group(1)] = d.labels[assignment[d.path]]
    if set(found) != {e for row in edges for e in row}:
        return None
    parts = []
    for row in edges:
        parts.append("|" + "|".join(f"{found[e]}~{e[1]}" for e in row) + "|")
    return "+".join(parts)


def darts_genotype(space: SearchSpace, assignment: dict[str, int]) -> str | None:
    """The DARTS genotype (op, input index) pairs per cell type, for DARTS-like spaces."""
    groups: dict[str, list[tuple[str, int]]] = {}
    for d in space.decisions:
        m = re.fullmatch(r"(\w+)\.n(\d+)", d.path)
        if not m or d.kind != "choose" or d.path not in assignment:
            continue
        group = m.group(1)
        chosen = d.options[assignment[d.path]]
        for j in chosen:
            edge = f"{d.path}[{j}]"
            if edge not in assignment:
                return None
            groups.setdefault(group, []).append((space.decision(edge).labels[assignment[edge]], j))
    if not groups:
        return None
    return " ".join(f"{g}=[" + ",".join(f"({op},{j})" for op, j in pairs) + "]" for g, pairs in sorted(groups.items()))
