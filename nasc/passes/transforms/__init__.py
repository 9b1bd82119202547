"""The optimization passes themselves, one per module: ``fold-bn``, ``fuse``,
``mixed-precision``, ``quantize``.

Each is a frozen dataclass (its fields are its options) that maps an
:class:`~nasc.passes.optir.OptIR` to a new one; what they share -- the pass protocol
(:mod:`nasc.passes.base`), roles, kernel planning, the int8 arithmetic -- lives beside
this package in :mod:`nasc.passes`, so adding a pass means adding a module here and a
line in :func:`nasc.passes.registry.default_registry`.
"""
