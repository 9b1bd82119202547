"""Running a computation for every architecture of a space at once, by cases.

A computation on a space's decided graph (:mod:`nasc.latency.decided`) reads decisions
through a :class:`Known`.  The :class:`Explorer` starts it knowing nothing; the first
read of an undetermined decision raises :class:`Need`, and the computation is started
again once per option.  A run that completes read only determined decisions, so its
result is the result of every architecture its *condition* admits -- a condition is a
DNF over decision literals (:mod:`nasc.ir.analysis`'s representation), and the
conditions of the completed runs partition the architectures.

Reading decision by decision multiplies the cases by every decision read, even where
the computation only needs a coarse fact -- "does this value have one consumer?" reads
every choice that could consume it.  So a computation may also *ask* a question
(:meth:`Known.ask`) with a key: the Explorer computes the question's answer table once
per space (answer -> the condition under which it is the answer, by the same exploration)
and continues once per answer, under its condition conjoined with the current one,
dropping answers the current condition rules out.  A run's result then holds for every
architecture of its condition (each read and each answer is fixed there), and the runs
still cover every architecture: the answers' conditions cover all of them.  Exactness is
kept; only the number of cases shrinks to the number of distinct answers.

Architectures are valid assignments: an option a ``choose`` excludes may be taken only
where its decision is inactive.  Every completed top-level run is checked for it, reading
by cases as well, so no result comes from an assignment that is not an architecture.
"""

from __future__ import annotations

from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence, TypeVar

from ..ir.analysis import and_lit, dnf_eval, or_
from ..ir.space import DNF, FALSE, TRUE, Decision

T = TypeVar("T")


class Need(Exception):
    """The computation read decision ``decision``, which its condition leaves open."""

    def __init__(self, decision: int) -> None:
        super().__init__(decision)
        self.decision = decision


class Ask(Exception):
    """The computation asked question ``key`` (answered by ``compute``), not yet answered here."""

    def __init__(self, key: Hashable, compute: Callable[["Known"], Any]) -> None:
        super().__init__(key)
        self.key = key
        self.compute = compute


class Known(Mapping[int, int]):
    """What a run may read: the options its condition fixes (and fixed decisions), and the
    answers given so far.  Reading anything else raises :class:`Need` or :class:`Ask`; every
    evaluation of decisions (``Sym.at``, ``dnf_eval``) reads through this mapping."""

    def __init__(self, condition: DNF, answers: Mapping[Hashable, Any], fixed: Mapping[int, int],
                 notes: dict[Hashable, Any] | None = None) -> None:
        self.condition = condition
        self.answers = answers
        self.fixed = fixed
        self._determined = _determined(condition)
        self.notes: dict[Hashable, Any] = notes if notes is not None else {}
        """What the run found so far, all true under its condition: a run started again under a
        stronger condition (after :class:`Need` or :class:`Ask`) starts from a copy of it."""

    def __getitem__(self, decision: int) -> int:
        if decision in self.fixed:
            return self.fixed[decision]
        if decision in self._determined:
            return self._determined[decision]
        raise Need(decision)

    def __iter__(self) -> Iterator[int]:
        return iter(self._determined)

    def __len__(self) -> int:
        return len(self._determined)

    def ask(self, key: Hashable, compute: Callable[["Known"], T]) -> T:
        """The answer to question ``key`` here; ``compute`` answers it given a :class:`Known`
        (it must answer the same for the same architecture, whoever asks)."""
        if key in self.answers:
            return self.answers[key]
        raise Ask(key, compute)


def _determined(condition: DNF) -> dict[int, int]:
    """The decisions every term of ``condition`` fixes to one and the same option."""
    terms = [dict(t) for t in condition]
    if not terms:
        return {}
    out: dict[int, int] = {}
    for d, allowed in terms[0].items():
        if len(allowed) == 1 and all(t.get(d) == allowed for t in terms[1:]):
            out[d] = next(iter(allowed))
    return out


class Explorer:
    """Explores computations over the architectures of one space; keeps the answer tables of
    the questions asked (one object per space and enumeration: nothing is shared beyond it)."""

    def __init__(self, decisions: Sequence[Decision]) -> None:
        self.decisions = decisions
        self.sizes = {d.id: d.n for d in decisions}
        # fixed decisions, and those with one option (conditions never name them: a literal that
        # allows every option is dropped)
        self.fixed = {d.id: d.fixed if d.fixed is not None else 0 for d in decisions if d.fixed is not None or d.n == 1}
        self.tables: dict[Hashable, dict[Any, DNF]] = {}
        self._checks_validity = any(d.excluded and d.active_if != FALSE for d in decisions)

    def explore(self, fn: Callable[[Known], T]) -> Iterator[tuple[DNF, T]]:
        """``(condition, result)`` of every completed run of ``fn``, over valid architectures only."""
        def checked(known: Known) -> tuple[bool, T]:
            result = fn(known)
            return (not self._checks_validity or self._valid(known)), result

        for condition, (ok, result) in self._runs(checked):
            if ok:
                yield condition, result

    def _runs(self, fn: Callable[[Known], T]) -> Iterator[tuple[DNF, T]]:
        stack: list[tuple[DNF, Mapping[Hashable, Any], dict[Hashable, Any]]] = [(TRUE, {}, {})]
        while stack:
            condition, answers, notes = stack.pop()
            known = Known(condition, answers, self.fixed, notes)
            try:
                result = fn(known)
            except Need as need:
                n = self.sizes[need.decision]
                for o in reversed(range(n)):
                    child = and_lit(condition, need.decision, frozenset({o}), n)
                    if child != FALSE:
                        stack.append((child, answers, dict(known.notes)))
                continue
            except Ask as asked:
                for answer, when in self.table(asked.key, asked.compute).items():
                    child = self.conjoin(condition, when)
                    if child != FALSE:
                        stack.append((child, {**answers, asked.key: answer}, dict(known.notes)))
                continue
            yield condition, result

    def table(self, key: Hashable, compute: Callable[[Known], Any]) -> dict[Any, DNF]:
        """Answer -> the condition (over all assignments) under which ``compute`` gives it."""
        if key not in self.tables:
            groups: dict[Any, DNF] = {}
            for condition, answer in self._runs(compute):
                groups[answer] = or_(groups[answer], condition, self.sizes) if answer in groups else condition
            self.tables[key] = groups
        return self.tables[key]

    def conjoin(self, a: DNF, b: DNF) -> DNF:
        """``a and b`` as a DNF (FALSE when no assignment satisfies both)."""
        if b == TRUE:
            return a
        out: DNF = FALSE
        for term in b:
            part = a
            for d, allowed in term:
                part = and_lit(part, d, allowed, self.sizes[d])
                if part == FALSE:
                    break
            if part != FALSE:
                out = or_(out, part, self.sizes) if out != FALSE else part
        return out

    def _valid(self, known: Known) -> bool:
        """Whether an architecture lies in the run's condition: every decision the condition
        restricts either keeps to options its ``choose`` does not exclude or is inactive.

        Only restricted decisions are checked: any other takes an option it allows, which
        changes no checked clause (a clause that depended on it would have read it, and so
        restricted it).  Reading is by cases like everything else, so the check is exact."""
        restricted = {d for term in known.condition for d, _ in term}
        for d in self.decisions:
            if not d.excluded or d.active_if == FALSE:
                continue
            if d.id not in restricted and len(d.excluded) < d.n:
                continue
            may = set().union(*(dict(term).get(d.id, range(d.n)) for term in known.condition))
            if may.isdisjoint(d.excluded):
                continue
            if (len(d.excluded) >= d.n or known[d.id] in d.excluded) and dnf_eval(d.active_if, known):
                return False
        return True


__all__ = ["Ask", "Explorer", "Known", "Need"]
