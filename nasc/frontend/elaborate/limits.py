"""The bounds of one elaboration: how much any input may make the compiler do.

Each bound turns input that would otherwise exhaust the stack, the memory or the
patience of the user into a located error at the construct that crosses it.  The
sections read them as ``limits.NAME`` when they check, so a test can lower one
(``monkeypatch.setattr(limits, "MAX_STEPS", ...)``) and see its effect.
"""

MAX_UNROLL = 10_000  # total repeat iterations + comprehension elements per elaboration
MAX_WORK = 100_000  # ops + block instances per elaboration (blocks calling blocks can grow exponentially)
MAX_BLOCK_NESTING = 50  # block instances inside block instances (keeps elaboration off Python's stack limit)
MAX_EXTENDS_DEPTH = 50  # spaces extending spaces (same reason)
MAX_CONST_DEPTH = 100  # consts defined by consts defined by consts ... (same reason)
MAX_INT_BITS = 63  # compile-time integers are bounded like int64
#: Steps per elaboration: expressions evaluated, plus the decision combinations each
#: lifted rule (a shape, a cost, arithmetic on a decision) is evaluated for.  The limits
#: above bound how often a body runs, not how much one run does (a long body inside a
#: long repeat, a rule over a wide decision table in every layer); this one makes every
#: elaboration end within seconds.  The examples take at most ~11,000 steps, 5,000
#: sequential choices ~220,000.
MAX_STEPS = 2_000_000
#: Decisions per space.  Each one is a variable of exact counting and a parameter the
#: search learns; published spaces have tens to hundreds, and the analysis stays within
#: seconds up to this many.
MAX_DECISIONS = 10_000
#: Options of one decision (the values of a `choice`, the combinations of a `choose`).
#: Each option is a row of every table that depends on the decision, and `choose k of n`
#: reaches millions of combinations from a short list (`choose 10 of` 30 tensors: 3*10^7).
MAX_OPTIONS = 100_000
#: Characters of a string built with `+`: `s = s + s` doubles, so a short loop would
#: otherwise exhaust memory.  Far longer than any path, label or key needs.
MAX_STRING = 1 << 16
#: Bytes of one op's parameters, and of one activation tensor at batch 1, at fp32 (the
#: largest over the space's decisions).  An op beyond it cannot be built or trained on
#: the machines nasc targets, so it is reported where it is written instead of when a
#: later stage tries to allocate it; the largest op in the examples needs under 10 MB.
MAX_TENSOR_BYTES = 1 << 31
