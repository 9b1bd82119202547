"""Elaboration: evaluate a space at compile time into decisions + IR + constraints.

Blocks are instantiated, repeats unrolled (to their maximum when the count is a
decision), comprehensions expanded and ``if``s folded.  Each ``choice``/``choose``
creates a decision (or, when the decision is pinned by ``fix`` or by an
assignment, evaluates straight to the chosen candidate -- which is how a fully
decided architecture is elaborated with the very same code).

The work is split by what it evaluates, one mixin class per module, combined by
:class:`~.driver.Elaborator` (see :mod:`.core` for how they share state):

==================  ==========================================================
:mod:`.core`        shared state, expression dispatch, bounded primitives
:mod:`.nodes`       op nodes and decision-selected shapes
:mod:`.names`       names, consts and module attributes
:mod:`.operators`   unary, comparison, boolean and arithmetic operators
:mod:`.expressions` literals, lists, ranges, comprehensions, indexing
:mod:`.decisions`   `choice` / `choose`, decision paths, shared groups
:mod:`.pins`        `fix` pins and how they select options
:mod:`.blocks`      block instances
:mod:`.functions`   builtin functions and constraint predicates
:mod:`.calls`       meta binding and application to tensors
:mod:`.constraints` `constraint` statements
:mod:`.repeats`     `repeat`, unrolled or gated by a decision
:mod:`.statements`  the other statements of space and block bodies
:mod:`.spaces`      spaces, archs, `extends`
:mod:`.driver`      the elaborator and its whole-space checks
:mod:`.limits`      the bounds on what one elaboration may do
==================  ==========================================================

The limits are re-exported here for reading; they are checked as
``limits.NAME``, so a change must be made on :mod:`.limits` itself.
"""

from .driver import Elaborator
from .limits import (MAX_BLOCK_NESTING, MAX_CONST_DEPTH, MAX_DECISIONS, MAX_EXTENDS_DEPTH, MAX_INT_BITS,
                     MAX_OPTIONS, MAX_STEPS, MAX_STRING, MAX_TENSOR_BYTES, MAX_UNROLL, MAX_WORK)
from .metrics import METRICS, PREDICATES
from .pins import Pin
from .scope import Env, Scope, join

__all__ = [
    "Elaborator", "Env", "Pin", "Scope", "join", "METRICS", "PREDICATES",
    "MAX_BLOCK_NESTING", "MAX_CONST_DEPTH", "MAX_DECISIONS", "MAX_EXTENDS_DEPTH", "MAX_INT_BITS", "MAX_OPTIONS",
    "MAX_STEPS", "MAX_STRING", "MAX_TENSOR_BYTES", "MAX_UNROLL", "MAX_WORK",
]
