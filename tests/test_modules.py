"""Imports ($NASC_PATH, the standard library), custom ops from Python, packaging and laziness."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from nasc import api
from nasc.cli import main
from nasc.errors import NascImportError

from .conftest import EXAMPLES, ROOT, heavy_loaded


def test_stdlib_import() -> None:
    text = """import "std/cells.nas" as cells
    space s {
        input x: f32[B, 3, 8, 8]
        h = x |> conv(8, 3)
        output y = h |> cells.nb201_edge(8) |> gap |> linear(2)
    }"""
    space = api.load_text(text, "s.nas").elaborate()
    assert [d.path for d in space.free] == ["y"] and space.free[0].labels[0] == "none"


def test_nasc_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "mycells.nas").write_text("block twice(C)(x) { return x |> conv(C, 3) |> conv(C, 3) }\n")
    work = tmp_path / "work"
    work.mkdir()
    (work / "s.nas").write_text('import "mycells.nas" as m\nspace s {\n    input x: f32[B, 1, 8, 8]\n'
                                "    output y = x |> m.twice(4)\n}\n")
    with pytest.raises(NascImportError, match="cannot find 'mycells.nas'"):
        api.load(work / "s.nas")
    monkeypatch.setenv("NASC_PATH", str(lib))
    space = api.load(work / "s.nas").elaborate()
    assert api.summarize(space)["params"] == [1 * 4 * 9 + 4 * 4 * 9] * 2


def test_relative_import_wins_and_is_loaded_once(tmp_path: Path) -> None:
    (tmp_path / "a.nas").write_text("const W = 8\n")
    (tmp_path / "b.nas").write_text('import "a.nas"\nconst V = a.W * 2\n')
    (tmp_path / "m.nas").write_text('import "a.nas"\nimport "b.nas"\nspace s {\n    input x: f32[B, 1, 4, 4]\n'
                                    "    output y = x |> conv(a.W + b.V, 1)\n}\n")
    compiled = api.load(tmp_path / "m.nas")
    rec = api.summarize(compiled.elaborate())
    assert rec["params"][0] == 1 * 24


CUSTOM = '''
import nasc

ops = nasc.op_library()


def _shape(in_shapes, C, k=3):
    b, _, h, w = in_shapes[0]
    return (b, C, h, w)


def _cost(in_shapes, out, C, k=3):
    per = in_shapes[0][1] * C * k * k
    return {"params": per, "macs": per * out[2] * out[3]}


@ops.op("swish_conv", shape=_shape, cost=_cost)
def swish_conv(in_shapes, C, k=3):
    """conv k x k (no bias) then SiLU."""
    from torch import nn
    return nn.Sequential(nn.Conv2d(in_shapes[0][1], C, k, padding=k // 2, bias=False), nn.SiLU())
'''


def test_custom_op_from_python(tmp_path: Path) -> None:
    (tmp_path / "myops.py").write_text(CUSTOM)
    (tmp_path / "s.nas").write_text('import "myops.py" as my\nspace s {\n    input x: f32[B, 2, 8, 8]\n'
                                    "    h = x |> choice [a: my.swish_conv(4), b: my.swish_conv(4, k = 5)]\n"
                                    "    output y = h |> gap |> linear(3)\n}\n")
    compiled = api.load(tmp_path / "s.nas")
    rec = api.summarize(compiled.elaborate())
    assert rec["size"] == 2
    assert rec["params"] == [2 * 4 * 9 + 4 * 3 + 3, 2 * 4 * 25 + 4 * 3 + 3]
    assert rec["macs"][1] == 2 * 4 * 25 * 64 + 12


def test_custom_op_needs_a_shape_rule() -> None:
    lib = api.op_library()
    with pytest.raises(TypeError):
        lib.op("bad")  # type: ignore[call-arg]


def test_custom_op_module_must_define_ops(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty.py").write_text("x = 1\n")
    (tmp_path / "s.nas").write_text('import "empty.py" as e\n')
    assert main(["check", str(tmp_path / "s.nas")]) == 2
    assert "must define `ops = nasc.op_library()`" in capsys.readouterr().err


def test_ir_json_and_dot(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ir", str(EXAMPLES / "digits_tiny.nas"), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    kinds = {n["kind"] for n in doc["graph"]["nodes"]}
    assert {"input", "output", "param_choice", "mixed", "input_choice", "repeat_gate"} <= kinds
    assert doc["decisions"][0]["path"] == "C"
    assert main(["ir", str(EXAMPLES / "digits_tiny.nas"), "--dot"]) == 0
    assert capsys.readouterr().out.startswith("digraph nasc {")


def test_ir_dump_is_deterministic(capsys: pytest.CaptureFixture[str]) -> None:
    outs = []
    for _ in range(2):
        assert main(["ir", str(EXAMPLES / "nb201.nas"), "--fix", "nb201_cell.e01=skip_connect"]) == 0
        outs.append(capsys.readouterr().out)
    assert outs[0] == outs[1] and "mixed(d" in outs[0]


def test_import_nasc_is_light() -> None:
    proc, loaded = heavy_loaded("import nasc; nasc.load(" + repr(str(EXAMPLES / "nb201.nas")) + ").elaborate()")
    assert proc.returncode == 0 and loaded == set(), (proc.stderr, loaded)


def test_every_package_is_listed_in_pyproject() -> None:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(cfg["packages"])
    dirs = cfg["package-dir"]
    found = set()
    for pkg, folder in dirs.items():
        base = ROOT / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            found.add(".".join([pkg, *rel.parts]) if rel.parts else pkg)
    assert found <= listed, sorted(found - listed)


def test_every_shipped_table_is_package_data() -> None:
    """A wheel carries the shipped tables: every file under nasc/data/ but the code matches
    one of the package-data patterns of ``nasc.data``."""
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    patterns = cfg["package-data"]["nasc.data"]
    base = ROOT / "nasc" / "data"
    files = [p for p in base.rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")]
    assert files
    for path in files:
        rel = path.relative_to(base)
        assert any(rel.match(p) for p in patterns), f"{path.relative_to(ROOT)} is not package data"


def test_module_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "nasc", "check", str(EXAMPLES / "nb201.nas"), "--json"],
                         capture_output=True, text=True)
    assert out.returncode == 0 and json.loads(out.stdout)["spaces"][0]["size"] == 15625
