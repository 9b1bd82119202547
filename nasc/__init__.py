"""nasc: a compiler for hardware-aware neural architecture search.

The pipeline, in processing order: parse (``nasc.frontend.parse``) ->
elaborate (``nasc.frontend.elaborate``: decision table + IR + constraints) ->
cost model (``nasc.ir.cost``) -> freeze / print (``nasc.frontend.archtext``).
``import nasc`` is cheap: torch, TVM and TensorRT load only when a stage needs them.
"""

from .api import Compiled, Frozen, freeze, load, load_text, op_library, summarize
from .errors import NascError

__all__ = ["Compiled", "Frozen", "NascError", "freeze", "load", "load_text", "op_library", "summarize"]
__version__ = "0.1.0"
