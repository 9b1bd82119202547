"""The fixed reference workload every ``nasc bench`` run times beside the artifact.

Why a reference: on a shared or throttled machine an artifact's absolute latency moves
with whatever else runs; the same machine state slows a second, fixed network alike, so
the ratio of the two (``artifact_over_reference``) is what a baseline can hold.

What it is: ``reference.onnx``, the arch ``reference.nas`` built by ``nasc build
--backend onnxruntime`` from a seeded initialization (seed 0), shipped as package data.
Its sha256 is pinned here (:data:`SHA256`): a reference that changed, even by one byte,
would change every ratio, so it is checked before each run and a baseline made with
another reference is refused.  It always runs on ONNX Runtime (:data:`BACKEND`); for an
ONNX Runtime artifact that is the artifact's own runtime, for a TVM or torch artifact the
output says the reference ran on another runtime.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nasc.backends import Artifact, BuildOptions
from nasc.backends.integrity import sha256_file
from nasc.backends.manifest import library_versions, write_manifest
from nasc.backends.targets import get_target
from nasc.errors import NascError

HERE = Path(__file__).resolve().parent
ARCH = HERE / "reference.nas"
ONNX = HERE / "reference.onnx"
NAME = "bench_reference"
SHA256 = "59277a670d94b82cdf5360d86b6b628af84b290436ae579a907ead507b00d97d"
BACKEND = "onnxruntime"
INPUTS = {"x": ((1, 1, 16, 16), "float32")}
OUTPUTS = ("logits",)
SEED = 0


def identity() -> dict[str, object]:
    """What a baseline records about the reference (and refuses to compare across)."""
    return {"name": NAME, "sha256": SHA256, "backend": BACKEND, "precision": "fp32",
            "input_shapes": {k: list(s) for k, (s, _) in INPUTS.items()},
            "source": f"nasc/bench/{ARCH.name} built with `nasc build --backend {BACKEND}` "
                      f"(seeded initialization, seed {SEED}), shipped as nasc/bench/{ONNX.name}"}


def beside_label() -> str:
    """How a latency timed beside this reference names it (``protocol.beside`` in the latency
    store): its name and sha256 prefix, so ratios to another reference never mix."""
    return f"{NAME}:{SHA256[:12]}"


def check_shipped(path: Path = ONNX) -> None:
    """Refuse a reference file whose bytes are not the pinned ones."""
    try:
        actual = sha256_file(path)
    except OSError as e:
        raise NascError(f"the reference workload {path} cannot be read ({e.strerror or e}); reinstall nasc") from None
    if actual != SHA256:
        raise NascError(f"the reference workload {path} has sha256 {actual}, not the pinned {SHA256}; "
                        "every baseline's ratio depends on it (reinstall nasc, or update SHA256 in "
                        "nasc/bench/reference.py and rewrite every baseline)")


def materialize(out_dir: Path) -> Artifact:
    """The reference as an ONNX Runtime artifact folder in ``out_dir`` (checked, then copied
    and given a manifest for this host), so it is timed by the same code as any artifact."""
    check_shipped()
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ONNX, out_dir / "model.onnx")
    options = BuildOptions(seed=SEED, weights=f"random initialization (seed {SEED})", output_names=OUTPUTS)
    art = write_manifest(out_dir, backend=BACKEND, target=get_target("cpu"), precision="fp32", entry="model.onnx",
                         inputs=INPUTS, output_names=OUTPUTS, options=options, versions=library_versions(),
                         notes=[f"nasc bench reference workload {NAME} (sha256 {SHA256})"])
    if art.files["model.onnx"] != SHA256:  # the copy, hashed by the manifest, is the pinned file too
        raise NascError(f"the reference workload copied to {out_dir} does not match the pinned sha256")
    return art
