"""Pass infrastructure: passes as frozen dataclasses, a registry object, pipeline strings, instruments.

A pass is a frozen dataclass whose fields are its options and whose ``name`` is what a
pipeline string calls it (xDSL style)::

    fold-bn,fuse,mixed-precision{dtype=fp16},quantize{scheme=int8,calib=256}

Option values are parsed from the field's type annotation (``bool``, ``int``,
``float``, ``str`` or a ``Literal`` of choices), so a pass declares its options once.
Unknown passes and options get a "did you mean" and the list of valid names; a failing
pass is reported with its position and the passes that ran before it, because a pass
usually fails on what an earlier one produced.  Instruments (print, verify, time) are
callbacks around each pass and never change the IR.
"""

from __future__ import annotations

import dataclasses
import re
import sys
import time
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Literal, Mapping, Protocol, Sequence, TextIO

from ..errors import NascError, Span, VerifyError, did_you_mean
from .optir import OptIR

PIPELINE_FILE = "<pipeline>"


class PassError(NascError):
    """A pass cannot transform this IR (bad order, unsupported op); raised by passes."""


class PipelineError(NascError):
    """A pipeline string that does not parse, names an unknown pass or a bad option."""


class PassFailure(NascError):
    """A pass (or the verifier after it) failed; the message names the pass and its predecessors."""

    def __init__(self, message: str, pass_text: str, before: tuple[str, ...]) -> None:
        super().__init__(message)
        self.pass_text = pass_text
        self.before = before


@dataclass(frozen=True)
class Calibration:
    """Where calibration inputs come from: a function of the sample count, plus a sentence
    for reports.  Kept as a callable so no pass loads a dataset it does not need."""

    batches: Callable[[int], list[dict[str, Any]]]
    source: str


@dataclass(frozen=True)
class PassContext:
    """What passes may read besides the IR: the op library and calibration data."""

    lib: Any  # nasc.ir.ops.OpLibrary
    calibration: Calibration | None = None
    seed: int = 0


@dataclass(frozen=True)
class PassResult:
    ir: OptIR
    stats: Mapping[str, Any] = field(default_factory=dict)


class Pass(Protocol):
    """What every pass is: a frozen dataclass with a ``name`` and ``run``."""

    name: ClassVar[str]

    def run(self, ir: OptIR, ctx: PassContext) -> PassResult: ...


def pass_options(p: Any) -> dict[str, Any]:
    return {f.name: getattr(p, f.name) for f in dataclasses.fields(p)}


def pass_text(p: Any) -> str:
    """Canonical pipeline text of a configured pass (options that differ from defaults)."""
    opts = []
    for f in dataclasses.fields(p):
        v = getattr(p, f.name)
        if f.default is not dataclasses.MISSING and v == f.default:
            continue
        opts.append(f"{f.name}={_fmt_option(v)}")
    return p.name + ("{" + ",".join(opts) + "}" if opts else "")


def _fmt_option(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


# ---------------------------------------------------------------- registry
class PassRegistry:
    """Pass classes by name.  An ordinary object (no module-level registry): build one with
    :func:`nasc.passes.default_registry` and extend it with :meth:`register`."""

    def __init__(self) -> None:
        self._passes: dict[str, type] = {}

    def register(self, cls: type) -> type:
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9-]*", name):
            raise ValueError(f"pass class {cls.__name__} needs a lower-case `name` (letters, digits, '-')")
        if not dataclasses.is_dataclass(cls) or not cls.__dataclass_params__.frozen:  # type: ignore[attr-defined]
            raise ValueError(f"pass '{name}' must be a frozen dataclass (its fields are its options)")
        if name in self._passes:
            raise ValueError(f"pass '{name}' is already registered")
        self._passes[name] = cls
        return cls

    def names(self) -> list[str]:
        return sorted(self._passes)

    def __contains__(self, name: str) -> bool:
        return name in self._passes

    def get(self, name: str, span: Span | None = None, source: str | None = None) -> type:
        try:
            return self._passes[name]
        except KeyError:
            raise _pipeline_error(f"unknown pass '{name}'{did_you_mean(name, self._passes)}; "
                                  f"known passes: {', '.join(self.names())}", span, source) from None

    def create(self, name: str, options: Mapping[str, str], spans: Mapping[str, Span] | None = None,
               source: str | None = None, span: Span | None = None) -> Any:
        """Instantiate pass ``name`` from string option values, checking names and types."""
        cls = self.get(name, span, source)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        hints = typing.get_type_hints(cls)
        kwargs: dict[str, Any] = {}
        for key, raw in options.items():
            where = (spans or {}).get(key, span)
            if key not in fields:
                known = ", ".join(sorted(fields)) or "none"
                raise _pipeline_error(f"pass '{name}' has no option '{key}'{did_you_mean(key, fields)}; "
                                      f"its options: {known}", where, source)
            kwargs[key] = _convert(name, key, raw, hints[key], where, source)
        try:
            return cls(**kwargs)
        except (ValueError, TypeError) as e:  # __post_init__ checks of option combinations
            raise _pipeline_error(f"pass '{name}': {e}", span, source) from None

    def describe(self) -> list[dict[str, Any]]:
        """Each pass with its options, defaults and first docstring line (for help output)."""
        out = []
        for name in self.names():
            cls = self._passes[name]
            hints = typing.get_type_hints(cls)
            opts = [{"name": f.name, "type": _type_name(hints[f.name]),
                     "default": None if f.default is dataclasses.MISSING else f.default}
                    for f in dataclasses.fields(cls)]
            out.append({"name": name, "options": opts, "doc": (cls.__doc__ or "").strip().splitlines()[0]})
        return out


def _type_name(t: Any) -> str:
    if typing.get_origin(t) is Literal:
        return "|".join(str(a) for a in typing.get_args(t))
    return getattr(t, "__name__", str(t))


def _convert(pass_name: str, key: str, raw: str, hint: Any, span: Span | None, source: str | None) -> Any:
    what = f"option '{key}' of pass '{pass_name}'"
    if typing.get_origin(hint) is Literal:
        choices = [str(a) for a in typing.get_args(hint)]
        if raw not in choices:
            raise _pipeline_error(f"{what} must be one of {', '.join(choices)}; got '{raw}'"
                                  f"{did_you_mean(raw, choices)}", span, source)
        return raw
    if hint is bool:
        if raw not in ("true", "false"):
            raise _pipeline_error(f"{what} must be true or false; got '{raw}'", span, source)
        return raw == "true"
    if hint is int:
        try:
            return int(raw)
        except ValueError:
            raise _pipeline_error(f"{what} must be an integer; got '{raw}'", span, source) from None
    if hint is float:
        try:
            return float(raw)
        except ValueError:
            raise _pipeline_error(f"{what} must be a number; got '{raw}'", span, source) from None
    if hint is str:
        return raw
    raise TypeError(f"pass '{pass_name}' option '{key}' has an unsupported type {hint!r}")


def _pipeline_error(message: str, span: Span | None, source: str | None) -> PipelineError:
    err = PipelineError(message, span)
    err.source_text = source  # lets render() quote the pipeline with a caret without a SourceCache
    return err


# ---------------------------------------------------------------- pipeline strings
_TOKEN = re.compile(r"\s*(?:(?P<name>[A-Za-z_][A-Za-z0-9_\-]*)|(?P<value>[^\s,{}=]+)|(?P<punct>[,{}=])|(?P<end>$))")


@dataclass(frozen=True)
class _Tok:
    kind: str
    text: str
    col: int  # 1-based


def _tokens(text: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while True:
        m = _TOKEN.match(text, pos)
        if m is None:  # pragma: no cover - the value branch matches any other character
            raise AssertionError(text[pos:])
        kind = m.lastgroup or "end"
        start = m.start(kind)
        out.append(_Tok(kind, m.group(kind), start + 1))
        if kind == "end":
            return out
        pos = m.end()


def _span(tok: _Tok) -> Span:
    width = max(1, len(tok.text))
    return Span(PIPELINE_FILE, 1, tok.col, 1, tok.col + width)


def parse_pipeline(text: str, registry: PassRegistry) -> "PassPipeline":
    """Parse ``name{key=value,...},name,...`` into configured passes (empty text: no passes)."""
    if "\n" in text:
        raise _pipeline_error("a pipeline is one line", None, text)
    toks = _tokens(text)
    i = 0
    passes: list[Any] = []

    def expect(kind: str, what: str, punct: str | None = None) -> _Tok:
        nonlocal i
        t = toks[i]
        if t.kind != kind or (punct is not None and t.text != punct):
            shown = "end of pipeline" if t.kind == "end" else f"'{t.text}'"
            raise _pipeline_error(f"expected {what}, found {shown}", _span(t), text)
        i += 1
        return t

    if toks[0].kind == "end":
        return PassPipeline(())
    while True:
        name_tok = expect("name", "a pass name")
        opts: dict[str, str] = {}
        spans: dict[str, Span] = {}
        if toks[i].kind == "punct" and toks[i].text == "{":
            i += 1
            while True:
                key = expect("name", "an option name")
                if key.text in opts:
                    raise _pipeline_error(f"option '{key.text}' given twice", _span(key), text)
                expect("punct", "'='", "=")
                t = toks[i]
                if t.kind not in ("name", "value"):
                    raise _pipeline_error(f"expected a value for '{key.text}'", _span(t), text)
                i += 1
                opts[key.text] = t.text
                spans[key.text] = _span(t)
                if toks[i].kind == "punct" and toks[i].text == ",":
                    i += 1
                    continue
                expect("punct", "',' or '}'", "}")
                break
        passes.append(registry.create(name_tok.text, opts, spans, text, _span(name_tok)))
        if toks[i].kind == "end":
            break
        expect("punct", "',' between passes", ",")
    return PassPipeline(tuple(passes))


# ---------------------------------------------------------------- instruments
class Instrument(Protocol):
    """Called around every pass; must not change the IR."""

    def before(self, index: int, p: Any, ir: OptIR) -> None: ...

    def after(self, index: int, p: Any, ir: OptIR, seconds: float) -> None: ...


@dataclass
class PrintAfterEach:
    """``--print-after-each``: the IR dump after every pass (MLIR style header, stderr by default)."""

    stream: TextIO = field(default_factory=lambda: sys.stderr)

    def before(self, index: int, p: Any, ir: OptIR) -> None:
        if index == 0:
            self.stream.write("// ----- IR before the pipeline -----\n" + ir.dump())

    def after(self, index: int, p: Any, ir: OptIR, seconds: float) -> None:
        self.stream.write(f"// ----- IR after {pass_text(p)} -----\n" + ir.dump())


@dataclass
class VerifyEach:
    """Run the IR verifier on the input and after every pass (``nasc opt`` does unless
    ``--no-verify-each``), so a broken IR is blamed on the pass that produced it."""

    lib: Any

    def before(self, index: int, p: Any, ir: OptIR) -> None:
        if index == 0:
            from .verify import verify

            verify(ir, self.lib)

    def after(self, index: int, p: Any, ir: OptIR, seconds: float) -> None:
        from .verify import verify

        verify(ir, self.lib)


@dataclass
class TimePasses:
    """``--time-passes``: wall-clock seconds per pass (time.perf_counter on this machine)."""

    rows: list[tuple[str, float]] = field(default_factory=list)

    def before(self, index: int, p: Any, ir: OptIR) -> None:
        pass

    def after(self, index: int, p: Any, ir: OptIR, seconds: float) -> None:
        self.rows.append((pass_text(p), seconds))

    def report(self) -> str:
        total = sum(s for _, s in self.rows) or 1e-12
        lines = ["===-------------------------------------------------------------------------===",
                 "  pass execution times (wall clock, time.perf_counter, measured on this machine)",
                 "===-------------------------------------------------------------------------==="]
        for text, s in self.rows:
            lines.append(f"  {s * 1e3:10.2f} ms  {100 * s / total:5.1f}%  {text}")
        lines.append(f"  {total * 1e3:10.2f} ms  100.0%  total")
        return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- running
@dataclass(frozen=True)
class PassRecord:
    text: str
    name: str
    options: Mapping[str, Any]
    seconds: float
    stats: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {"text": self.text, "name": self.name, "options": dict(self.options),
                "seconds": round(self.seconds, 6), "stats": dict(self.stats)}


@dataclass(frozen=True)
class PipelineRun:
    ir: OptIR
    records: tuple[PassRecord, ...]


@dataclass(frozen=True)
class PassPipeline:
    passes: tuple[Pass, ...]

    def text(self) -> str:
        return ",".join(pass_text(p) for p in self.passes)

    def run(self, ir: OptIR, ctx: PassContext, instruments: Sequence[Instrument] = ()) -> PipelineRun:
        """Apply the passes in order.  A :class:`PassError` or :class:`VerifyError` becomes a
        :class:`PassFailure` naming the pass and its predecessors; any other exception is a
        bug and propagates with the same context added as a note."""
        records: list[PassRecord] = []
        done: list[str] = []
        if not self.passes:  # still let the verifier / --print-after-each see the input
            try:
                for inst in instruments:
                    inst.before(0, None, ir)
            except VerifyError as e:
                raise PassFailure(f"the IR given to the pipeline is invalid: {e.message}", "", ()) from e
        for index, p in enumerate(self.passes):
            text = pass_text(p)
            where = _where(text, index, len(self.passes), done)
            try:
                for inst in instruments:
                    inst.before(index, p, ir)
            except VerifyError as e:
                raise PassFailure(f"the IR given to the pipeline is invalid: {e.message}", text, ()) from e
            t0 = time.perf_counter()
            try:
                result = p.run(ir, ctx)
            except (PassError, VerifyError) as e:
                raise PassFailure(f"{where} failed: {e.message}", text, tuple(done)) from e
            except Exception as e:
                e.add_note(f"nasc: raised by {where}")
                raise
            seconds = time.perf_counter() - t0
            ir = result.ir.evolve(applied=(*ir.applied, text))
            try:
                for inst in instruments:
                    inst.after(index, p, ir, seconds)
            except VerifyError as e:
                raise PassFailure(f"the IR after {where} is invalid: {e.message}", text, tuple(done)) from e
            records.append(PassRecord(text, p.name, pass_options(p), seconds, result.stats))
            done.append(text)
        return PipelineRun(ir, tuple(records))


def _where(text: str, index: int, total: int, done: list[str]) -> str:
    after = f"after {', '.join(done)}" if done else "the first pass"
    return f"pass '{text}' ({index + 1} of {total}, {after})"
