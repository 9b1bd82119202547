"""Names of the hardware targets a constraint or `--target` may name.

The full target records (TVM target, backends, precisions) live in
``nasc.backends.targets``; this list is what the frontend needs to validate
``constraint ... on TARGET`` without importing any backend.  The ``recorded-*``
targets answer latency from measured device tables (NAS-Bench-201 data).
"""

from __future__ import annotations

TARGET_NAMES: tuple[str, ...] = (
    "cpu",
    "cuda",
    "jetson-orin-nano",
    "jetson-agx-orin",
    "jetson-xavier-nx",
    "jetson-agx-xavier",
    "jetson-nano",
    "recorded-raspi4",
    "recorded-titanxp",
    "recorded-xeon-gold-6226",
)
