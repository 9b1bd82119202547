"""``nasc sweep``: many compiles of one space as Ray tasks, gathered into a Pareto front.

A sweep asks where the accuracy/latency trade-off of a space lies: every (latency weight
λ, seed) pair is one ordinary ``nasc compile`` into a directory of its own, and the
finished runs' reports are gathered into ``front.json`` (every run, mean and spread per λ,
the non-dominated set, its hypervolume with the reference point stated) and ``front.png``.
Baselines (random search, regularized evolution) compile sampled architectures under the
same harness and the same compute budget, so their fronts compare with a sweep's.

Modules: :mod:`.plan` (arguments, the manifest, the task list), :mod:`.tasks` (one task: a
compile in a child process), :mod:`.hypervolume`, :mod:`.front` (gathering), :mod:`.plot`,
:mod:`.baselines` (sampling and mutating architectures), :mod:`.stop` (stop rules),
:mod:`.driver` (Ray, the loop), :mod:`.command` (the CLI).  Ray is imported by the driver
only, so ``import nasc`` never loads it.
"""
