"""The benchmark architectures, built from `.nas` files by the frontend.

* ``digits``: the architecture `nasc search examples/digits.nas` finds (the search
  runs once, ~10 s, into a cache folder; its arch.nas is reused afterwards);
* ``mbv2``: `examples/mobilenet_v2.nas` (torchvision's MobileNetV2, 3,504,872 params)
  at the requested resolution.

BN statistics are randomized so a missing BN fold would show numerically.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import torch
from torch import nn

from nasc import api
from nasc.backends.torch_ref.model import randomize_bn
from nasc.lower.arch import ArchNet

ROOT = Path(__file__).resolve().parent.parent


def digits_arch(workdir: Path) -> Path:
    out = workdir / "digits_search"
    if not (out / "arch.nas").exists():
        subprocess.run([sys.executable, "-m", "nasc", "search", str(ROOT / "examples" / "digits.nas"), "--out",
                        str(out)], check=True, capture_output=True)
    return out / "arch.nas"


def _arch_net(path: Path, text: str | None = None) -> ArchNet:
    compiled = api.load_text(text, path.name) if text is not None else api.load(path)
    space = compiled.elaborate()
    torch.manual_seed(0)
    return ArchNet(space.graph.prune(), compiled.loader.ops)


def models(resolution: int, workdir: Path | None = None) -> dict[str, tuple[nn.Module, tuple[int, ...]]]:
    work = workdir or Path(tempfile.gettempdir()) / "nasc-bench-backends"
    work.mkdir(parents=True, exist_ok=True)
    mbv2_text = (ROOT / "examples" / "mobilenet_v2.nas").read_text().replace("res = 224", f"res = {resolution}")
    digits = _arch_net(digits_arch(work))
    mbv2 = _arch_net(ROOT / "examples" / "mobilenet_v2.nas", mbv2_text)
    return {"digits": (randomize_bn(digits), (1, *digits.input_shapes[0][1:])),
            "mbv2": (randomize_bn(mbv2), (1, *mbv2.input_shapes[0][1:]))}
