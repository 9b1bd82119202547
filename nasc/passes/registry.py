"""The built-in passes, in a registry object made fresh per call (no module-level state)."""

from __future__ import annotations

from .base import PassRegistry


def default_registry() -> PassRegistry:
    from .transforms.fold_bn import FoldBN
    from .transforms.fuse import Fuse
    from .transforms.mixed_precision import MixedPrecision
    from .transforms.quantize import Quantize

    reg = PassRegistry()
    for cls in (FoldBN, Fuse, MixedPrecision, Quantize):
        reg.register(cls)
    return reg
