"""The names a `constraint` adds to the language: cost metrics and structural predicates.

They are names only inside a constraint (elsewhere using one is an error that says
so), and both the name lookup and the constraint builder need them, so they live
apart from either.
"""

#: metric -> the dimension of its bound ("count", "time" or "bytes")
METRICS = {"params": "count", "flops": "count", "macs": "count", "latency": "time",
           "peak_memory": "bytes", "depth": "count"}
PREDICATES = ("connected", "min_path_ops")
