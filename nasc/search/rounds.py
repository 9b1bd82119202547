"""The measured-latency loop: search, discretize, measure, store, refit, and search again.

A hard ``latency <= B on T`` is only as good as the model that predicts T.  When T can be
measured -- a recorded device (a table lookup) or ``cpu`` (this machine) -- each round
searches with the current model, measures the architecture it found
(:func:`nasc.latency.sources.measure_arch`, which stores the result), and refits the model
on everything stored (:func:`nasc.latency.resolve.latency_model_for`).  It stops when the
measured latency holds and does not waste the budget (at least ``FLOOR * B``, the budget-used band), or after
``rounds`` rounds.  The next round's model is the refitted one times its error on the
architecture just measured (:class:`nasc.latency.fitted.Corrected`): the budget is aimed
where that measurement says it lies.

A budget below the fastest architecture the model knows (the minimum of its per-node
values over the space) is reported as infeasible, with the fastest architecture measured
so far, instead of being searched again -- once the model rests on at least one
measurement (the bare prior says little about a device).

Every round appends one line to ``rounds.jsonl`` (:mod:`.rounds_log`) and keeps its
``arch.nas``, ``pinned.nas``, ``summary.json`` and ``search.jsonl`` in ``rounds/rK/``.  The
search itself runs in the output folder, so an interrupted round resumes from its checkpoint
(whose fingerprint names the round's model) and finished rounds are not redone.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from ..errors import NascError
from ..fsio import write_json
from ..ir.analysis import bounds
from ..ir.space import ConstraintSpec, SearchSpace
from ..latency.fitted import Corrected, scaled
from ..latency.kernel_source import kernels_timed
from ..latency.model import LatencyModel, prior_for
from ..latency.resolve import DEFAULT_BACKEND, NB201_FACT, LatencyModels, fitted_on, model_identity, predicted_backend
from ..latency.sources import ArchMeasurement, DecidedArch, decided_arch, measure_arch
from ..latency.store import LatencyStore
from ..progress import tick
from ..targets import resolve_target
from .budget_use import wastes
from .discretize import ConstraintChecker, holds
from .measured_archs import MeasuredArchs, arch_key_of, with_measured
from .objectives import node_values
from .rounds_log import RoundsLog
from .run import (CHECKPOINT, SearchResult, checkpoint_matches, latency_targets, rediscretize, search,
                  search_fingerprint)

if TYPE_CHECKING:
    from nasc.backends import MeasureProtocol

    from ..api import Compiled

MAX_CORRECTION = 1.5
"""The correction of the next round's model stays within [1 / MAX_CORRECTION, MAX_CORRECTION]:
one architecture's reading (the Raspberry Pi's tables have slow outliers) must not throw the
model far off."""
PROBE = 0.95
"""Where a first round aims the bare prior's fastest architecture when the prior puts them
all over the budget (a share of the bound)."""
KEPT = ("arch.nas", "pinned.nas", "summary.json", "search.jsonl")
"""The files of a round kept in ``rounds/rK/`` (and restored when its architecture is chosen)."""


class LatencyBudgetInfeasible(NascError):
    """No architecture of the space can meet the latency budget, by the measured model."""


PROBES = {"recorded": 24, "cpu": 4}
"""Architectures measured per round beside the one found, by kind of target (see
:meth:`_Loop.probe`): a lookup in a recorded table costs nothing, a build and measurement
here (or through RPC, counted as ``cpu``) a few seconds each."""


@dataclass(frozen=True)
class LoopSettings:
    """How the loop measures: at most ``rounds`` rounds (0: no loop, no measurement), the
    latency store's path, the backend and protocol of a local measurement, and how many
    probe architectures a round measures beside its own (None: :data:`PROBES` of the target's kind)."""

    rounds: int
    store: Path
    backend: str = DEFAULT_BACKEND
    protocol: "MeasureProtocol | None" = None
    probes: int | None = None

    @property
    def threads(self) -> int:
        """The intra-op threads measurements run on (the protocol's; by default
        :class:`nasc.backends.MeasureProtocol`'s): one thread count is one configuration of a
        host, so the models are fitted on records of this count only."""
        from nasc.backends import MeasureProtocol

        return int((self.protocol or MeasureProtocol()).threads)

    @property
    def device_key(self) -> str | None:
        """The device's key at the RPC tracker the protocol names (None: measured here)."""
        return self.protocol.device_key if self.protocol is not None and self.protocol.rpc else None


def looped_budget(space: SearchSpace, remote: bool = False) -> ConstraintSpec | None:
    """The hard latency budget the loop closes: the first ``latency <= B`` (or ``<``) on the
    whole network whose target can be measured -- a recorded device or ``cpu``, or with
    ``remote`` (a TVM RPC tracker serves the device) any target TVM builds for."""
    kinds = ("cpu", "cuda", "jetson") if remote else ("recorded", "cpu")
    for c in space.constraints:
        if c.hard and c.metric == "latency" and c.scope == "" and c.op in ("<=", "<") and c.bound is not None \
                and resolve_target(c.target or "cpu").kind in kinds:
            return c
    return None


def fastest_latency(space: SearchSpace, model: LatencyModel) -> float:
    """The minimum over the space of the model's per-node latencies (seconds; its linear part
    for a model that refines decided architectures): what no architecture can beat."""
    values = node_values(space, space.ops, "latency", model)
    low, _ = bounds(space, {n: scaled(v, 1e9) for n, v in values.items()})  # exact integers of ns
    return low / 1e9


def search_with_rounds(compiled: "Compiled", cfg: dict[str, Any], out: Path, settings: LoopSettings, *,
                       space_name: str | None = None, resume: bool | None = False, target: str | None = None,
                       progress: TextIO | None = None, experiment_ref: str | None = None) -> SearchResult:
    """`nasc search` with the loop when the space has a budget it closes (module docstring),
    else one search whose latency models come from the store.

    ``resume``: True continues the rounds ``out`` holds for this very search and the
    checkpoint of the round underway (an error when there is neither); None does so when
    there is something to continue and starts afresh otherwise (`nasc compile`); False
    starts afresh."""
    space = compiled.elaborate(space_name)
    budget = looped_budget(space, remote=settings.device_key is not None)
    if budget is None or settings.rounds == 0:
        latency = LatencyModels(space, settings.store, backend=settings.backend, threads=settings.threads)
        if resume is None:
            resume = checkpoint_matches(out, space, cfg, model_identity(latency, latency_targets(space, target)))
        return search(compiled, cfg, out, space.name, resume=resume, target=target, progress=progress,
                      experiment_ref=experiment_ref, latency=latency)
    return _Loop(compiled, cfg, out, settings, space, budget, target, progress, experiment_ref).run(resume)


class _Loop:
    """One loop's state: the space, the budget it closes and the rounds so far."""

    def __init__(self, compiled: "Compiled", cfg: dict[str, Any], out: Path, settings: LoopSettings,
                 space: SearchSpace, budget: ConstraintSpec, target: str | None, progress: TextIO | None,
                 experiment_ref: str | None) -> None:
        self.compiled, self.cfg, self.out, self.settings = compiled, cfg, out, settings
        self.space, self.budget, self.target = space, budget, target
        self.device = resolve_target(budget.target or "cpu").name
        assert budget.bound is not None
        self.bound_s = budget.bound
        self.progress, self.experiment_ref = progress, experiment_ref
        self.resuming = False
        identity = [search_fingerprint(space, cfg), budget.describe(), settings.backend]
        self.log = RoundsLog(out, "\n".join(identity))

    def say(self, text: str) -> None:
        if self.progress is not None:
            self.progress.write(text + "\n")
            self.progress.flush()

    def run(self, resume: bool | None) -> SearchResult:
        self.out.mkdir(parents=True, exist_ok=True)
        self.resuming = resume is not False
        rounds = self.log.read() if self.resuming else self.log.start()
        if resume and not rounds and not (self.out / CHECKPOINT).exists():
            raise NascError(f"nothing to resume: {self.out} holds no round of this search and no checkpoint")
        while not (rounds and rounds[-1]["done"]) and len(rounds) < self.settings.rounds:
            rounds.append(self.round(len(rounds) + 1, rounds))
        if rounds[-1].get("infeasible"):  # a resumed loop that had stopped there
            raise LatencyBudgetInfeasible(rounds[-1]["message"], self.budget.span)
        return self.finish(rounds)

    def model_for(self, number: int, rounds: list[dict[str, Any]]) -> LatencyModel:
        """Round ``number``'s model: the store's, corrected by its error on the last round's arch,
        answering the architectures measured so far with their measurement
        (:mod:`.measured_archs`).

        A first round whose model is the bare prior and puts every architecture over the
        budget does not give up on a guess: it aims at the prior's fastest architectures
        (scaled so that the fastest sits at ``PROBE * B``) to measure one of them."""
        return with_measured(self.refitted(rounds), self.space, self.readings(rounds), self.reading_source())

    def reading_source(self) -> str:
        """How this loop's latencies are obtained: ``recorded`` (a table), ``rpc`` or ``measured`` (here)."""
        if self.settings.device_key is not None:
            return "rpc"
        return "recorded" if resolve_target(self.device).kind == "recorded" else "measured"

    @staticmethod
    def readings(rounds: list[dict[str, Any]]) -> list[tuple[dict[str, int], float]]:
        """Every (assignment, ms) the loop measured so far: each round's arch and its probes."""
        out = []
        for r in rounds:
            if r.get("measured_ms") is not None:
                out.append((r["assignment"], r["measured_ms"]))
            out.extend((p["assignment"], p["measured_ms"]) for p in r.get("probed", []))
        return out

    def refitted(self, rounds: list[dict[str, Any]]) -> LatencyModel:
        """The store's model for the device, corrected by its error on the last round's arch."""
        base = self.models()(self.device)
        if not rounds:
            floor = fastest_latency(self.space, base)
            if base == prior_for(self.device) and floor > self.bound_s:
                return Corrected(base, PROBE * self.bound_s / floor, "the prior puts every architecture over the "
                                 "budget; this round measures one of its fastest")
            return base
        last = rounds[-1]
        predicted = self.checker(lambda t: base).value(self.budget, self.complete(last["assignment"]))
        if predicted is None or predicted[0] <= 0:
            return base
        factor = min(MAX_CORRECTION, max(1 / MAX_CORRECTION, last["measured_ms"] / 1e3 / predicted[0]))
        if abs(factor - 1) < 0.005:
            return base
        return Corrected(base, round(factor, 6), f"measured/predicted on round {last['round']}'s arch")

    def complete(self, assignment: dict[str, int]) -> dict[str, int]:
        """An arch's (active) assignment with every other free decision at an allowed option:
        the constraint checker reads every decision, and an inactive one changes nothing."""
        from ..latency.decided_kernels import first_allowed

        rest = {d.path: first_allowed(d) for d in self.space.free}
        return {**rest, **assignment}

    def checker(self, latency: Any) -> ConstraintChecker:
        from ..api import pins_from_assignment

        return ConstraintChecker(self.space, self.space.ops,
                                 lambda a: self.compiled.elaborate(self.space.name, pins_from_assignment(a)), latency)

    def round(self, number: int, rounds: list[dict[str, Any]]) -> dict[str, Any]:
        """Search with this round's model, measure the arch and the probes, choose again from
        the same α when a probe landed in the band and the arch did not, log the round."""
        model = self.model_for(number, rounds)
        self.refuse_infeasible(model, rounds)
        latency = self.models(model)
        latency_id = model_identity(latency, latency_targets(self.space, self.target))
        self.say(f"round {number}/{self.settings.rounds}: searching with {model.name}")
        tick(self.progress, "round", number - 1, self.settings.rounds)
        resume = self.resuming and checkpoint_matches(self.out, self.space, self.cfg, latency_id)
        result = search(self.compiled, self.cfg, self.out, self.space.name, resume=resume, target=self.target,
                        progress=self.progress, experiment_ref=self.experiment_ref, latency=latency,
                        alternatives=self.probes_wanted())
        plain = model.base if isinstance(model, MeasuredArchs) else model  # the prediction, not a lookup
        kept = self.out / "rounds" / f"r{number}"
        shutil.rmtree(kept, ignore_errors=True)  # what an interrupted attempt at this round left
        with LatencyStore(self.settings.store) as store:
            arch, measured = self.measure(result.assignment, store, kept / "artifact")
            probed = self.probe(number, result, store, kept / "probes")
        first_choice = None
        if not self.lands(measured.median_ms) and any(self.lands(p["measured_ms"]) for p in probed):
            readings = [*self.readings(rounds), (result.assignment, measured.median_ms),
                        *((p["assignment"], p["measured_ms"]) for p in probed)]
            informed = with_measured(plain, self.space, readings, self.reading_source())
            again = rediscretize(self.compiled, self.cfg, self.out, self.space.name, latency, self.models(informed),
                                 self.target, self.experiment_ref)
            if arch_key_of(self.space, self.complete(again.assignment)) != \
                    arch_key_of(self.space, self.complete(result.assignment)):
                first_choice = {"arch_key": arch.key, "nb201": arch.nb201, "measured_ms": measured.median_ms}
                with LatencyStore(self.settings.store) as store:
                    arch, measured = self.measure(again.assignment, store, kept / "artifact-chosen-again")
                result = again
                self.say(f"round {number}: chose again from the same search with the {len(readings)} measured "
                         "architectures known")
        predicted = self.checker(lambda t: plain).value(self.budget, self.complete(result.assignment))
        known = isinstance(model, MeasuredArchs) and arch_key_of(self.space, self.complete(result.assignment)) \
            in model.measured
        kept.mkdir(parents=True, exist_ok=True)
        for name in KEPT:
            shutil.copyfile(self.out / name, kept / name)
        ms, bound_ms = measured.median_ms, self.bound_s * 1e3
        ok = holds(ms / 1e3, self.budget)
        entry = {"round": number, "arch_key": arch.key, "arch_sha256": result.summary["arch_sha256"],
                 "nb201": arch.nb201, "assignment": result.assignment,
                 "predicted_ms": predicted[0] * 1e3 if predicted else None, "model": model.name,
                 "measured_ms": ms, "source": measured.source, "how": measured.how,
                 "model_error": (predicted[0] * 1e3 / ms - 1) if predicted and ms > 0 else None,
                 "bound_ms": bound_ms, "holds": ok, "budget_used": ms / bound_ms, "measured_before": known,
                 "first_choice": first_choice, "probes": len(probed), "probed": probed,
                 "done": self.lands(ms)}
        self.log.append(entry)
        tick(self.progress, "round", number, self.settings.rounds)
        verdict = ("holds" if entry["done"] else f"holds but uses {ms / bound_ms:.0%} of it") if ok else "misses it"
        self.say(f"round {number}: predicted {entry['predicted_ms']:.3f} ms, measured {ms:.3f} ms ({measured.source}, "
                 f"{measured.how}); the budget of {bound_ms:g} ms {verdict}")
        return entry

    def models(self, model: LatencyModel | None = None) -> LatencyModels:
        """The space's latency models, with ``model`` for the budget's device when given (else
        the store's, fitted on the device's own records when it is measured through RPC)."""
        key = self.settings.device_key
        return LatencyModels(self.space, self.settings.store, backend=self.settings.backend,
                             threads=self.settings.threads, overrides={self.device: model} if model is not None else None,
                             device_keys={self.device: key} if key is not None else None)

    def lands(self, ms: float) -> bool:
        """Whether a measured latency (ms) meets the budget without wasting it: at least the
        budget-used band's floor, unless a latency weight made the budget a ceiling
        (:func:`~.budget_use.wastes`)."""
        return holds(ms / 1e3, self.budget) and not wastes(ms, self.bound_s * 1e3, self.cfg)

    def beside(self, store: LatencyStore) -> bool:
        """Whether this loop times its architectures beside nasc's reference workload: when
        this host's kernel records of the device in ``store`` were timed so only (the space
        profiled with ``nasc profile --beside-reference``), its model reads only records timed
        so, and a measurement timed alone would never reach the refit."""
        if self.settings.device_key is not None or resolve_target(self.device).kind != "cpu":
            return False
        backend = predicted_backend(store, self.device, self.settings.backend, threads=self.settings.threads)
        return bool(kernels_timed(store, self.device, backend, self.settings.threads))

    def measure(self, assignment: dict[str, int], store: LatencyStore,
                workdir: Path) -> tuple[DecidedArch, ArchMeasurement]:
        """Measure (and store) the architecture ``assignment`` picks."""
        arch = decided_arch(self.compiled, self.space, assignment)
        return arch, measure_arch(arch, self.device, store, workdir=workdir, backend=self.settings.backend,
                                  protocol=self.settings.protocol, beside_reference=self.beside(store))

    def probes_wanted(self) -> int:
        wanted = self.settings.probes
        if wanted is None:
            wanted = PROBES["cpu" if self.settings.device_key is not None else resolve_target(self.device).kind]
        return wanted

    def probe(self, number: int, result: SearchResult, store: LatencyStore, workdir: Path) -> list[dict[str, Any]]:
        """Measure (and store) up to :meth:`probes_wanted` more architectures, so the next
        round knows more than one reading: first the discretization's alternatives (the next
        most likely assignments predicted inside the band: where a model error would have put
        the choice), then the found arch's neighbours (one decision changed), then seeded
        random ones (the rest of the space, for the refit).  Architectures a source cannot
        measure are skipped.  Returns each probe's active assignment and latency (ms)."""
        import random

        from ..api import random_assignment

        wanted = self.probes_wanted()
        rng = random.Random(f"{self.cfg.get('seed', 0)}/{number}")
        by_path = {d.path: d for d in self.space.decisions}
        chosen = result.assignment
        alternatives = result.summary.get("discretization", {}).get("alternatives", [])
        near = [{**chosen, path: o} for path, at in chosen.items() if path in by_path
                for o in range(by_path[path].n) if o != at and o not in by_path[path].excluded]
        rng.shuffle(near)
        far = (random_assignment(self.space, rng.randrange(2**32)) for _ in range(4 * wanted))
        seen = {arch_key_of(self.space, self.complete(chosen))}
        probed: list[dict[str, Any]] = []
        for candidate in (*alternatives, *near, *far):
            if len(probed) >= wanted:
                break
            full = self.complete(candidate)
            key = arch_key_of(self.space, full)
            if key in seen:
                continue
            seen.add(key)
            try:
                arch = decided_arch(self.compiled, self.space, full)
                got = measure_arch(arch, self.device, store, workdir=workdir / str(len(probed)),
                                   backend=self.settings.backend, protocol=self.settings.protocol,
                                   beside_reference=self.beside(store))
            except NascError:
                continue
            probed.append({"assignment": dict(key), "measured_ms": got.median_ms, "arch_key": arch.key})
        shutil.rmtree(workdir, ignore_errors=True)  # the probes' artifacts: only their latencies are kept
        if probed:
            self.say(f"round {number}: measured {len(probed)} more architectures (alternatives, neighbours, "
                     "random) for the next round")
        return probed

    def refuse_infeasible(self, model: LatencyModel, rounds: list[dict[str, Any]]) -> None:
        """Stop, saying so, when the model (resting on a measurement) puts every
        architecture over the budget and none measured so far meets it."""
        if not rounds and (model == prior_for(self.device) or isinstance(model, Corrected)):
            return  # nothing measured yet: the prior alone does not say what the device can do
        floor = fastest_latency(self.space, model)
        if holds(floor, self.budget) or any(r["holds"] for r in rounds):
            return
        fastest = self.fastest_stored()
        seen = (f"the fastest of the {fastest['of']} measured architectures it was fitted on is {fastest['arch_key'][:12]}"
                f"{' (' + fastest['nb201'] + ')' if fastest.get('nb201') else ''} at {fastest['measured_ms']:.3f} ms "
                f"({fastest['source']})") if fastest else "no architecture was measured"
        message = (f"no architecture of space '{self.space.name}' can meet '{self.budget.describe()}': the fastest "
                   f"the model knows takes {floor * 1e3:.3f} ms ({model.name}); {seen}")
        self.log.append({"round": len(rounds) + 1, "infeasible": True, "message": message,
                         "fastest_model_ms": floor * 1e3, "model": model.name, "bound_ms": self.bound_s * 1e3,
                         "fastest_measured": fastest, "holds": False, "done": True})
        raise LatencyBudgetInfeasible(message, self.budget.span)

    def fastest_stored(self) -> dict[str, Any] | None:
        """The fastest architecture the store holds for the budget's target, of those its
        model is fitted on: key, NB201 string (when known), latency and source."""
        with LatencyStore(self.settings.store) as store:
            key, threads = self.settings.device_key, self.settings.threads
            backend = predicted_backend(store, self.device, self.settings.backend, device_key=key, threads=threads)
            medians = fitted_on(store, self.device, backend=backend, device_key=key, threads=threads)
            if not medians:
                return None
            key = min(medians, key=lambda k: medians[k])
            facts = store.arch_facts([key]).get(key, {})
        source = self.reading_source()
        return {"arch_key": key, "nb201": facts.get(NB201_FACT), "measured_ms": medians[key], "source": source,
                "of": len(medians)}

    def finish(self, rounds: list[dict[str, Any]]) -> SearchResult:
        """Restore the chosen round's files, state its measured latency in summary.json."""
        chosen = self.log.choose(rounds)
        if chosen["round"] != rounds[-1]["round"]:
            for name in KEPT:
                shutil.copyfile(self.out / "rounds" / f"r{chosen['round']}" / name, self.out / name)
        summary = RoundsLog.summary_of(self.out)
        summary["measured_latency"] = {
            "constraint": self.budget.describe(), "target": self.device, "median_ms": chosen["measured_ms"],
            "source": chosen["source"], "how": chosen["how"], "bound_ms": chosen["bound_ms"], "holds": chosen["holds"],
            "budget_used": chosen["budget_used"], "round": chosen["round"], "rounds": len(rounds),
            "predicted_ms": chosen["predicted_ms"], "model": chosen["model"]}
        write_json(self.out / "summary.json", summary)
        return SearchResult(self.out, dict(chosen["assignment"]), summary)


__all__ = ["PROBES", "LatencyBudgetInfeasible", "LoopSettings", "fastest_latency", "looped_budget",
           "search_with_rounds"]
