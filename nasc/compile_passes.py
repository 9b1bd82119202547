"""Which optimization passes ``nasc compile`` runs, chosen and checked before any stage runs.

Why a default per precision and target: ``--precision`` names what the artifact computes in,
and the passes are how it gets there, so the two must agree (an int8 compile without a
``quantize`` pass would ship a float model labelled int8).  The defaults:

* every precision: ``fold-bn,fuse`` (``fuse{target=T}`` for a GPU target: its kernel rules);
* ``fp16`` / ``bf16``: ``mixed-precision{dtype=...}`` after them (first and last layer and
  reductions kept in fp32, the pass's defaults);
* ``int8``: ``quantize`` after them, calibrated on the experiment's training split.  For a
  GPU target the activations are symmetric s8 (TensorRT's explicit-quantization networks
  need it) and weights keep all 8 bits (``reduce_range`` works around an x86 ONNX Runtime
  kernel limit, not a GPU one).

A pipeline given with ``--passes`` replaces the default and must agree with ``--precision``.
Parsing imports no torch, so a typo costs a fraction of a second (:mod:`nasc.passes.base`
gives the did-you-mean).
"""

from __future__ import annotations

from .errors import UsageError

LOW_FLOAT = ("fp16", "bf16")


def default_pipeline(precision: str, target: str) -> str:
    """The pipeline ``nasc compile --precision P --target T`` runs without ``--passes``."""
    from .targets import resolve_target

    spec = resolve_target(target)  # an alias (jetson) names its board: fuse takes canonical names
    gpu = spec.kind != "cpu"
    parts = ["fold-bn", f"fuse{{target={spec.name}}}" if gpu else "fuse"]
    if precision in LOW_FLOAT:
        parts.append(f"mixed-precision{{dtype={precision}}}")
    elif precision == "int8":
        parts.append("quantize{act=s8,reduce_range=false}" if gpu else "quantize")
    return ",".join(parts)


def check_pipeline(text: str | None, precision: str, target: str) -> str:
    """The canonical text of the pipeline to run (the default when ``text`` is None); a
    pipeline that does not parse, or contradicts ``precision``, is a user error."""
    from .passes.base import parse_pipeline
    from .passes.registry import default_registry

    pipe = parse_pipeline(default_pipeline(precision, target) if text is None else text, default_registry())
    names = [p.name for p in pipe.passes]
    dtypes = {str(getattr(p, "dtype", "")) for p in pipe.passes if p.name == "mixed-precision"}
    given = f"--passes '{text}'"
    if precision == "int8" and "quantize" not in names:
        raise UsageError(f"--precision int8 needs a quantize pass and {given} has none; add one "
                         f"(the default for int8 is '{default_pipeline(precision, target)}')")
    if precision != "int8" and "quantize" in names:
        raise UsageError(f"{given} quantizes to int8 but --precision is {precision}; give --precision int8")
    if precision in LOW_FLOAT and dtypes != {precision}:
        raise UsageError(f"--precision {precision} needs a mixed-precision{{dtype={precision}}} pass; {given} "
                         + (f"converts to {', '.join(sorted(dtypes))}" if dtypes else "has none"))
    if precision == "fp32" and dtypes:
        raise UsageError(f"{given} converts to {', '.join(sorted(dtypes))} but --precision is {precision}; "
                         f"give --precision {sorted(dtypes)[0]}")
    return pipe.text()
