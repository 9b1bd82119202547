"""The built-in passes, in a registry object made fresh per call (no module-level state)."""

from __future__ import annotations

from .base import PassRegistry


def default_registry() -> PassRegistry:
    from .fold_bn import FoldBN
    from .fuse import Fuse
    from .mixed_precision import MixedPrecision
    from .quantize import Quantize

    reg = PassRegistry()
    for cls in (FoldBN, Fuse, MixedPrecision, Quantize):
        reg.register(cls)
    return reg
