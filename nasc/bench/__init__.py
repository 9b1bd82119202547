"""``nasc bench``: a latency regression gate for CI.

An artifact's latency is timed in the same run as a fixed reference workload shipped with
nasc (:mod:`.reference`), in interleaved rounds of fresh processes (:mod:`.rounds`), and
the ratio ``artifact_over_reference`` is compared with a committed baseline
(:mod:`.baseline`, :mod:`.gate`); :mod:`.commands` is the CLI.  See docs/ci.md.
"""
