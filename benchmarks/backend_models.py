"""The benchmark architectures as `.nas` files plus weights, ready for `nasc build`.

* ``digits``: the architecture `nasc search examples/digits.nas` finds (the search
  runs once, ~10 s, into the work folder; its arch.nas is reused afterwards);
* ``mbv2``: `examples/mobilenet_v2.nas` (torchvision's MobileNetV2, 3,504,872 params)
  at the requested resolution, written to the work folder.

Weights are the seeded initialization with BN statistics randomized, saved as
safetensors so `nasc build --weights` loads them: a build that skipped or mis-folded BN
would then be visibly wrong in the agreement check (fresh BN is an identity).
"""

from __future__ import annotations

from pathlib import Path

from nasc_cli import run_nasc

from nasc import api
from nasc.backends.torch_ref.model import randomize_bn
from nasc.deploy import reference_module

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("digits", "mbv2")


def digits_arch(workdir: Path) -> Path:
    out = workdir / "digits_search"
    if not (out / "arch.nas").exists():
        run_nasc("search", str(ROOT / "examples" / "digits.nas"), "--out", str(out))
    return out / "arch.nas"


def mbv2_arch(workdir: Path, resolution: int) -> Path:
    text = (ROOT / "examples" / "mobilenet_v2.nas").read_text()
    if "res = 224" not in text:
        raise SystemExit("examples/mobilenet_v2.nas no longer declares `res = 224`; "
                         "update benchmarks/backend_models.py")
    path = workdir / f"mobilenet_v2_r{resolution}.nas"
    path.write_text(text.replace("res = 224", f"res = {resolution}"))
    return path


def arch_file(name: str, workdir: Path, resolution: int) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    return digits_arch(workdir) if name == "digits" else mbv2_arch(workdir, resolution)


def weights_with_random_bn(arch: Path, out: Path, seed: int = 0) -> Path:
    """The module `nasc build` makes from ``arch`` (same seed), BN randomized, as safetensors."""
    from safetensors.torch import save_file

    net = randomize_bn(reference_module(api.load(arch), seed=seed), seed)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(out))
    return out
