"""Helpers for backend tests: small real torch models and tool probes (imported by the tests)."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import pytest
import torch
from torch import nn

HAS_TVM = importlib.util.find_spec("tvm") is not None
HAS_CROSS = shutil.which("aarch64-linux-gnu-g++") is not None
needs_tvm = pytest.mark.skipif(not HAS_TVM, reason="apache-tvm not installed (pip install 'nasc[tvm]')")


class Block(nn.Module):
    """BasicBlock: conv-BN-ReLU-conv-BN + identity, ReLU."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b1 = nn.BatchNorm2d(c)
        self.c2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.b2 = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.b2(self.c2(torch.relu(self.b1(self.c1(x))))))


class TinyNet(nn.Module):
    """Stem conv/BN/ReLU6, a residual block, a strided depthwise-separable conv, pool, fc."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6())
        self.block = Block(8)
        self.dw = nn.Sequential(nn.Conv2d(8, 8, 3, stride=2, padding=1, groups=8, bias=False), nn.BatchNorm2d(8),
                                nn.ReLU(), nn.Conv2d(8, 16, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.dw(self.block(self.stem(x)))
        return self.fc(torch.flatten(nn.functional.adaptive_avg_pool2d(y, 1), 1))


def randomised(model: nn.Module, seed: int = 0) -> nn.Module:
    """Random BN statistics, so a backend that skipped BN would be visibly wrong."""
    from nasc.backends.torch_ref.model import randomize_bn

    return randomize_bn(model, seed)


def rel_err(out: np.ndarray, ref: np.ndarray) -> float:
    """Max abs difference relative to the output scale (the acceptance metric)."""
    return float(np.abs(out - ref).max() / max(float(np.abs(ref).max()), 1e-12))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for_key(tracker_port: int, key: str, timeout: float = 60.0) -> None:
    from tvm import rpc

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            summary = rpc.connect_tracker("127.0.0.1", tracker_port).summary()
            if key in summary.get("queue_info", {}):
                return
        except (RuntimeError, OSError):
            pass
        time.sleep(0.5)
    raise TimeoutError(f"RPC server with key {key} did not register within {timeout} s")


@contextlib.contextmanager
def loopback_tracker(key: str) -> Iterator[str]:
    """A real TVM RPC tracker and one server registered under ``key``, both on this machine;
    yields the tracker's ``HOST:PORT``; both process groups are stopped afterwards."""
    tracker_port, server_port = free_port(), free_port()
    common: dict[str, Any] = dict(start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tracker = subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_tracker", "--host", "127.0.0.1",
                                "--port", str(tracker_port), "--port-end", str(tracker_port + 1)], **common)
    server = None
    try:
        server = subprocess.Popen([sys.executable, "-m", "tvm.exec.rpc_server", "--host", "127.0.0.1",
                                   "--port", str(server_port), "--port-end", str(server_port + 1),
                                   "--tracker", f"127.0.0.1:{tracker_port}", "--key", key], **common)
        _wait_for_key(tracker_port, key)
        yield f"127.0.0.1:{tracker_port}"
    finally:
        for proc in (server, tracker):
            if proc is not None:
                os.killpg(proc.pid, signal.SIGTERM)  # the group: their popen workers die too
                proc.wait(timeout=30)


def elf_machine(path: Path) -> int:
    from nasc.backends.tvm.device_code import elf_machine as machine

    m = machine(path.read_bytes()[:64])
    assert m is not None, f"{path} is not an ELF file"
    return m
