"""No import cycles between modules, nor between packages.

A cycle means two stages cannot be understood, tested or replaced apart, and it makes
import order matter.  Imports are read from the source (``ast``), including imports inside
functions: a lazy import hides a cycle from the interpreter but not from a reader.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
# where each installed package's source lives (pyproject's package-dir)
PACKAGES = {"nasc": ROOT / "nasc", "nasc.backends": ROOT / "backends", "nasc.grammar": ROOT / "grammar"}


def module_files(packages: dict[str, Path]) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under each package folder."""
    mods: dict[str, Path] = {}
    for prefix, folder in packages.items():
        for path in folder.rglob("*.py"):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            mods[".".join([prefix, *parts])] = path
    return mods


def _imported(name: str, path: Path, node: ast.AST, mods: dict[str, Path]) -> list[str]:
    """Modules one import statement loads: ``from pkg import mod`` loads ``pkg.mod``, and
    ``pkg`` itself only for names that are not modules (what its ``__init__`` defines)."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if not isinstance(node, ast.ImportFrom):
        return []
    if node.level:
        here = name.split(".")
        keep = len(here) - node.level + (1 if path.name == "__init__.py" else 0)
        base = ".".join(here[:keep] + ([node.module] if node.module else []))
    else:
        base = node.module or ""
    return [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]


def import_graph(packages: dict[str, Path]) -> nx.DiGraph:
    """Edges module -> module it imports (the longest known prefix of each import)."""
    mods = module_files(packages)
    graph = nx.DiGraph()
    graph.add_nodes_from(mods)
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _imported(name, path, node, mods):
                while target and target not in mods:
                    target = target.rpartition(".")[0]
                if target and target != name:
                    graph.add_edge(name, target)
    return graph


def package_of(module: str, graph: nx.DiGraph) -> str:
    """The innermost package a module belongs to (a package is its own package)."""
    is_package = any(other.startswith(module + ".") for other in graph)
    return module if is_package else module.rpartition(".")[0]


def package_graph(graph: nx.DiGraph) -> nx.DiGraph:
    """Packages (folders) with an edge when a module of one imports a module of another,
    ignoring a package's imports of its own sub-packages and parents (``__init__`` re-exports)."""
    out = nx.DiGraph()
    for a, b in graph.edges:
        pa, pb = package_of(a, graph), package_of(b, graph)
        if pa == pb or pb.startswith(pa + ".") or pa.startswith(pb + "."):
            continue
        out.add_edge(pa, pb, via=(a, b))
    return out


def cycles(graph: nx.DiGraph) -> list[list[str]]:
    return [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]


def describe(graph: nx.DiGraph, cycle: list[str]) -> str:
    sub = graph.subgraph(cycle)
    return "; ".join(f"{a} -> {b}" + (f" (via {sub.edges[a, b]['via'][0]})" if "via" in sub.edges[a, b] else "")
                     for a, b in sub.edges)


def test_no_module_imports_itself_through_others() -> None:
    graph = import_graph(PACKAGES)
    assert graph.number_of_nodes() > 50  # the walk found the code base
    found = cycles(graph)
    assert not found, "import cycles: " + " | ".join(describe(graph, c) for c in found)


def test_no_package_cycles() -> None:
    graph = package_graph(import_graph(PACKAGES))
    found = cycles(graph)
    assert not found, "package cycles: " + " | ".join(describe(graph, c) for c in found)


def test_the_check_sees_cycles_through_lazy_relative_imports(tmp_path: Path) -> None:
    pkg = tmp_path / "p"
    for folder in ("x", "y"):
        (pkg / folder).mkdir(parents=True)
        (pkg / folder / "__init__.py").write_text("")
    (pkg / "__init__.py").write_text("")
    (pkg / "x" / "a.py").write_text("from ..y import b\n")
    (pkg / "y" / "b.py").write_text("def f():\n    from ..x.a import g\n")
    (pkg / "y" / "c.py").write_text("import p.x\n")  # a package import, no cycle by itself
    graph = import_graph({"p": pkg})
    assert cycles(graph) == [["p.x.a", "p.y.b"]]
    assert cycles(package_graph(graph)) == [["p.x", "p.y"]]
    (pkg / "y" / "b.py").write_text("def f():\n    return 1\n")
    assert cycles(import_graph({"p": pkg})) == []
