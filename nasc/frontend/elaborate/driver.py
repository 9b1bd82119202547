"""The elaborator: every section combined, and what is checked once the whole space
has been elaborated.
"""

from __future__ import annotations

from typing import Any

from ...errors import NascError, NascNameError, NascSemanticError, Note, did_you_mean
from ...ir.graph import IRGraph
from ...ir.space import Decision, SearchSpace
from .. import ast as A
from ..values import LoadedModule, SpaceRef
from .calls import Calls
from .spaces import Spaces


class Elaborator(Spaces, Calls):
    """Evaluates one space (with optional pins) into a :class:`SearchSpace`."""

    def elaborate(self, mod: LoadedModule, name: str, args: dict[str, Any] | None = None) -> SearchSpace:
        """Elaborate space or arch `name` of `mod` (`args` bind its parameters), then check what needs the whole
        result: it has outputs, an arch leaves no decision free, and a space's decisions reach an output.
        """
        ref = mod.names.get(name)
        if not isinstance(ref, SpaceRef):
            spaces = [n for n, v in mod.names.items() if isinstance(v, SpaceRef)]
            raise NascNameError(f"{mod.name} has no space or arch '{name}'{did_you_mean(name, spaces)}")
        space = ref.space
        params, body_env = self._instantiate_space(ref, args or {}, outer_fixes=(), kind=space.kind)
        self._finish_pins()
        result = SearchSpace(space.name, space.kind, mod.name, self.decisions, self.graph, self.constraints,
                             params, self.loader.ops, warnings=self.warnings)
        _check_outputs(self.graph, space)
        _mark_kept_edges(self.graph, self.decisions)
        from ...ir.analysis import annotate_activity

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


def _check_outputs(graph: IRGraph, space: A.SpaceDef) -> None:
    """A space without an `output` computes nothing a search could score."""
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
