"""Which machine a latency was measured on, as text that stays the same across runs.

Tables from several hosts meet in one store (a device farm's exports, a laptop's own
measurements), and a number measured on one CPU says little about another.  The
fingerprint names what changes the number -- CPU model, core count, OS and architecture --
and nothing that changes between runs of the same machine (host name, load, the CPUs a
process happens to be pinned to), so re-measuring on the same host replaces like with like.
"""

from __future__ import annotations

import os


def host_fingerprint() -> str:
    """``x86_64-linux-gnu; Intel(R) Xeon(R) CPU @ 2.20GHz; 2 cores`` for this machine."""
    # imported here: every nasc command builds the parser that imports this module
    from nasc.backends.hostinfo import cpu_model_name, host_triple

    return f"{host_triple()}; {cpu_model_name()}; {os.cpu_count() or 1} cores"


def rpc_host(device_key: str) -> str:
    """The host of a latency measured through a TVM RPC tracker: the device's key there (the
    tracker's address changes with the network; the key names the device, or the pool of
    identical devices, the measurements are about)."""
    return f"rpc:{device_key}"


__all__ = ["host_fingerprint", "rpc_host"]
