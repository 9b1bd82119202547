"""`experiment` sections: a typed schema, validation with positions, and `--set` overrides.

Experiments hold the dataset, split, seed and the search/train settings.  They
are not part of the space: never hashed into it, never copied into a frozen
arch.  Every key is checked against :data:`SCHEMA` (unknown keys and wrong types
are errors at the offending line and column), and values may only be literals
(an experiment cannot refer to space variables).  Precedence: ``--set`` >
the experiment section > the chosen algorithm's own defaults
(:data:`ALGORITHM_DEFAULTS`) > :data:`SCHEMA` defaults.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, Sequence

from .errors import ExperimentError, Span, UsageError, did_you_mean
from .frontend import ast as A
from .frontend.values import UNITS


@dataclass(frozen=True)
class Key:
    """One setting: its type and default (None = no default, the stage decides)."""

    type: str  # int | float | bool | str | time | choice
    default: Any = None
    choices: tuple[str, ...] = ()
    doc: str = ""


SCHEMA: dict[str, Any] = {
    "dataset": Key("str", "sklearn:digits", doc="sklearn:digits | sklearn:digits32 | npz:PATH | folder:PATH"),
    "seed": Key("int", 0),
    "device": Key("str", "cpu"),
    "accuracy_tolerance": Key("float", 1.0, doc="percentage points of test accuracy nasc compile's passes may "
                                                "lose against the retrained fp32 model"),
    "split": {
        "train": Key("float", 0.6), "val": Key("float", 0.2), "test": Key("float", 0.2),
    },
    "search": {
        "algo": Key("choice", "darts", ("darts", "gdas", "fairdarts", "snas", "pcdarts")),
        "order": Key("int", 1, doc="1 = first-order DARTS, 2 = second-order (finite differences)"),
        "epochs": Key("int", 50),
        "batch": Key("int", 64),
        "w_lr": Key("float", 0.025), "w_lr_min": Key("float", 0.001), "w_momentum": Key("float", 0.9),
        "w_wd": Key("float", 3e-4), "grad_clip": Key("float", 5.0),
        "a_lr": Key("float", 3e-4), "a_wd": Key("float", 1e-3), "a_beta1": Key("float", 0.5),
        "a_beta2": Key("float", 0.999),
        "tau_start": Key("float", 10.0), "tau_end": Key("float", 0.1),
        "tau_schedule": Key("choice", "linear", ("linear", "exponential")),
        "partial_channels": Key("int", 1, doc="PC-DARTS K (1 = off; algo pcdarts defaults to 4)"),
        "latency_weight": Key("float", 0.0), "penalty": Key("float", 1.0),
        "l1": Key("float", 0.0), "beta_reg": Key("float", 0.0), "aux_skip": Key("float", 0.0),
        "zero_one": Key("float", 0.0, doc="FairDARTS zero-one loss weight (algo fairdarts defaults to 10)"),
        "pcgrad": Key("bool", False),
        "skip_warn": Key("float", 0.5), "early_stop": Key("bool", False), "beam": Key("int", 8),
        "warmup": Key("int", 0),
    },
    "train": {
        "epochs": Key("int", 20), "batch": Key("int", 64), "lr": Key("float", 0.05),
        "momentum": Key("float", 0.9), "wd": Key("float", 3e-4), "grad_clip": Key("float", 5.0),
    },
    "budget": {"wallclock": Key("time", None)},
}

# The settings that make an algorithm what its paper describes, used when the
# experiment selects that algorithm and sets no value of its own: without them
# "fairdarts" would run without its zero-one loss and "pcdarts" on all channels.
ALGORITHM_DEFAULTS: dict[str, dict[str, Any]] = {
    "fairdarts": {"zero_one": 10.0},  # w_01 of the FairDARTS paper
    "pcdarts": {"partial_channels": 4},  # K of the PC-DARTS paper
}


def defaults(schema: dict[str, Any] = SCHEMA) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in schema.items():
        out[k] = defaults(v) if isinstance(v, dict) else v.default
    return out


def _literal(e: A.Expr, key: str) -> Any:
    while isinstance(e, A.Paren):
        e = e.expr
    if isinstance(e, (A.Int, A.Float, A.Str, A.Bool)):
        return e.value
    if isinstance(e, A.Unary) and e.op == "-" and isinstance(e.operand, (A.Int, A.Float)):
        return -e.operand.value
    if isinstance(e, A.Quantity):
        dim, factor = UNITS[e.unit]
        return (dim, e.number * factor)
    raise ExperimentError(f"'{key}' must be a literal (experiments cannot refer to names or compute)", e.span)


_WANT = {"int": "an integer", "float": "a number", "bool": "true or false", "str": "a string",
         "choice": "a string", "time": "a time such as 60s"}


def _coerce(key: str, spec: Key, value: Any, span: Span | None) -> Any:
    t = spec.type
    if t == "int" and isinstance(value, int) and not isinstance(value, bool):
        return value
    if t == "float" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if t == "bool" and isinstance(value, bool):
        return value
    if t == "str" and isinstance(value, str):
        return value
    if t == "choice" and isinstance(value, str):
        if value not in spec.choices:
            raise ExperimentError(f"'{key}' must be one of {', '.join(spec.choices)}; got {value!r}"
                                  f"{did_you_mean(value, spec.choices)}", span)
        return value
    if t == "time" and isinstance(value, tuple) and value[0] == "time":
        return value[1]
    return _fail(key, _WANT[t], value, span)


def _fail(key: str, want: str, value: Any, span: Span | None) -> Any:
    if isinstance(value, tuple):
        shown = f"{value[1]:g} ({value[0]})"
    elif isinstance(value, bool):
        shown = "true" if value else "false"
    elif isinstance(value, str):
        shown = f'"{value}"'
    else:
        shown = repr(value)
    raise ExperimentError(f"'{key}' must be {want}, got {shown}", span)


def _apply(items: tuple[A.Setting | A.Section, ...], schema: dict[str, Any], out: dict[str, Any],
           prefix: str, explicit: dict[str, Span | None]) -> None:
    for it in items:
        if isinstance(it, A.Section):
            sub = schema.get(it.name)
            if not isinstance(sub, dict):
                raise ExperimentError(f"unknown experiment section '{prefix}{it.name}'"
                                      f"{did_you_mean(it.name, [k for k, v in schema.items() if isinstance(v, dict)])}",
                                      it.span)
            _apply(it.items, sub, out[it.name], f"{prefix}{it.name}.", explicit)
            continue
        node, target = schema, out
        for part in it.key[:-1]:
            nxt = node.get(part)
            if not isinstance(nxt, dict):
                raise ExperimentError(f"unknown experiment section '{prefix}{part}'"
                                      f"{did_you_mean(part, list(node))}", it.span)
            node, target = nxt, target[part]
        last = it.key[-1]
        full = prefix + ".".join(it.key)
        spec = node.get(last)
        if not isinstance(spec, Key):
            head = full[:len(full) - len(last)]  # the suggestion is a whole key, as the user writes it
            raise ExperimentError(f"unknown experiment key '{full}'{did_you_mean(full, [head + k for k in node])}",
                                  it.span)
        target[last] = _coerce(full, spec, _literal(it.value, full), it.value.span)
        explicit[full] = it.span


def resolve(exp: A.Experiment | None, overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Defaults, then the section's settings, then ``--set key=value`` overrides.

    Keys neither the section nor ``--set`` names take the chosen algorithm's defaults.
    """
    cfg = copy.deepcopy(defaults())
    explicit: dict[str, Span | None] = {}  # dotted key -> where it was set (None: --set)
    if exp is not None:
        _apply(exp.items, SCHEMA, cfg, "", explicit)
    for raw in overrides:
        explicit[apply_override(cfg, raw)] = None
    _algorithm_settings(cfg["search"], explicit)
    _check_ranges(cfg, explicit)
    split = cfg["split"]
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        raise ExperimentError(f"split fractions must sum to 1, got {total:g}", exp.span if exp else None)
    return cfg


@dataclass(frozen=True)
class Range:
    """Allowed values of a numeric key: an interval, each end open or closed (None: unbounded)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    hi_open: bool = False

    def holds(self, v: float) -> bool:
        return ((self.lo is None or (v > self.lo if self.lo_open else v >= self.lo))
                and (self.hi is None or (v < self.hi if self.hi_open else v <= self.hi)))

    def describe(self) -> str:
        if self.hi is None:
            return f"{'greater than' if self.lo_open else 'at least'} {self.lo:g}"
        return f"in {'(' if self.lo_open else '['}{self.lo:g}, {self.hi:g}{')' if self.hi_open else ']'}"


POSITIVE, NON_NEGATIVE, AT_LEAST_1 = Range(0, lo_open=True), Range(0), Range(1)
FRACTION, UNIT_OPEN = Range(0, 1), Range(0, 1, hi_open=True)
RANGES: dict[str, Range] = {
    "seed": NON_NEGATIVE, "accuracy_tolerance": Range(0, 100),
    "split.train": Range(0, 1, lo_open=True), "split.val": Range(0, 1, lo_open=True),
    "split.test": Range(0, 1, lo_open=True),
    "search.order": Range(1, 2), "search.epochs": AT_LEAST_1, "search.batch": AT_LEAST_1,
    "search.w_lr": POSITIVE, "search.w_lr_min": NON_NEGATIVE, "search.w_momentum": UNIT_OPEN,
    "search.w_wd": NON_NEGATIVE, "search.grad_clip": POSITIVE, "search.a_lr": POSITIVE, "search.a_wd": NON_NEGATIVE,
    "search.a_beta1": UNIT_OPEN, "search.a_beta2": UNIT_OPEN, "search.tau_start": POSITIVE, "search.tau_end": POSITIVE,
    "search.latency_weight": NON_NEGATIVE, "search.penalty": NON_NEGATIVE, "search.l1": NON_NEGATIVE,
    "search.beta_reg": NON_NEGATIVE, "search.aux_skip": NON_NEGATIVE, "search.zero_one": NON_NEGATIVE,
    "search.skip_warn": FRACTION, "search.beam": AT_LEAST_1, "search.warmup": NON_NEGATIVE,
    "search.partial_channels": AT_LEAST_1,
    "train.epochs": AT_LEAST_1, "train.batch": AT_LEAST_1, "train.lr": POSITIVE, "train.momentum": UNIT_OPEN,
    "train.wd": NON_NEGATIVE, "train.grad_clip": POSITIVE, "budget.wallclock": POSITIVE,
}
"""Value ranges of numeric keys: a negative learning rate or zero epochs is a user mistake that
must be named here, not a run that "trains" with a loss of 0.000 and exits 0."""


def _check_ranges(cfg: dict[str, Any], explicit: dict[str, Span | None]) -> None:
    for key, rng in RANGES.items():
        section, _, last = key.rpartition(".")
        value = (cfg[section] if section else cfg)[last]
        if value is not None and not rng.holds(value):
            where = "" if explicit.get(key) is not None else " (from --set)" if key in explicit else ""
            raise ExperimentError(f"'{key}' must be {rng.describe()}, got {value:g}{where}", explicit.get(key))
    s = cfg["search"]
    if s["warmup"] >= s["epochs"]:
        raise ExperimentError(f"'search.warmup' ({s['warmup']}) must be less than 'search.epochs' ({s['epochs']}): "
                              "with no epoch after the warm-up the architecture would be chosen without any search",
                              explicit.get("search.warmup") or explicit.get("search.epochs"))


def _algorithm_settings(search: dict[str, Any], explicit: dict[str, Span | None]) -> None:
    """Fill the algorithm's own defaults into keys nobody set, then reject settings that contradict it."""
    for key, value in ALGORITHM_DEFAULTS.get(search["algo"], {}).items():
        if f"search.{key}" not in explicit:
            search[key] = value
    k = search["partial_channels"]
    where = explicit.get("search.partial_channels")
    if search["algo"] == "pcdarts" and k == 1:
        raise ExperimentError("algo \"pcdarts\" with partial_channels = 1 would be plain DARTS; set "
                              "partial_channels to a K >= 2 (PC-DARTS uses 4) or use algo \"darts\"", where)


def apply_override(cfg: dict[str, Any], raw: str) -> str:
    """``--set search.epochs=2``: the value is parsed as a .nas literal and type-checked; returns the key."""
    if "=" not in raw:
        raise UsageError(f"--set takes key=value, got '{raw}'")
    key, text = (x.strip() for x in raw.split("=", 1))
    parts = key.split(".")
    node: Any = SCHEMA
    target = cfg
    for p in parts[:-1]:
        if not isinstance(node.get(p), dict):
            raise UsageError(f"--set: unknown experiment section '{p}'{did_you_mean(p, list(node))}")
        node, target = node[p], target[p]
    spec = node.get(parts[-1])
    if not isinstance(spec, Key):
        head = key[:len(key) - len(parts[-1])]
        raise UsageError(f"--set: unknown experiment key '{key}'{did_you_mean(key, [head + k for k in node])}")
    from .errors import NascSyntaxError
    from .frontend.parse import Parser

    if spec.type in ("str", "choice") and not text.startswith('"'):
        # a path or name typed in a shell (`--set dataset=npz:data/x.npz`): the text is the string
        target[parts[-1]] = _coerce(key, spec, text, None)
        return ".".join(parts)
    try:
        mod = Parser().parse(f"experiment {{ v = {text} }}", f"--set {raw}")
    except NascSyntaxError:
        raise UsageError(f"--set {raw}: '{text}' is not a value for '{key}' ({_WANT[spec.type]}; strings may be "
                         'quoted: --set \'dataset="npz:data/x.npz"\')') from None
    setting = mod.items[0].items[0]  # type: ignore[union-attr]
    assert isinstance(setting, A.Setting)  # the text parsed above holds exactly one setting
    value = _literal(setting.value, key) if not isinstance(setting.value, A.Name) else setting.value.id
    target[parts[-1]] = _coerce(key, spec, value, None)
    return ".".join(parts)


def select(module: Any, name: str | None) -> tuple[A.Experiment | None, str | None]:
    """The experiment section `name` of a loaded module (or its only one); (None, None) if it has none."""
    exps = module.experiments
    if name is not None:
        if name not in exps:
            known = [n for n in exps if n]
            raise UsageError(f"{module.name} has no experiment '{name}'{did_you_mean(name, known)}"
                             + (f"; it has: {', '.join(known)}" if known else ""))
        return exps[name], name
    if not exps:
        return None, None
    if len(exps) > 1:
        raise UsageError(f"{module.name} has several experiments ({', '.join(n or '<unnamed>' for n in exps)}); "
                         "pick one with --experiment NAME")
    (only,) = exps
    return exps[only], only or ""


def header_reference(text: str) -> tuple[str, str] | None:
    """The `# experiment: PATH :: NAME` line that `nasc search` writes into an arch."""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        body = line[1:].strip()
        if body.startswith("experiment:") and "::" in body:
            path, name = body[len("experiment:"):].split("::", 1)
            return path.strip(), name.strip()
    return None
