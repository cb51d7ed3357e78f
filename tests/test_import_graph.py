"""The package's module-level import graph has no cycle (issue 12: no import circle).

A cycle among modules imported at module level works only by the luck of import order and
breaks when a new import is added; imports inside functions (lazy imports) are not edges.
"""

from __future__ import annotations

import ast
from pathlib import Path

import napari_irdm

ROOT = Path(napari_irdm.__file__).resolve().parent
PKG = "napari_irdm"


def _modules() -> dict[str, Path]:
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join([PKG, *parts])] = path
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _all_import_nodes(body):
    """Every import statement, including those inside functions (lazy imports)."""
    for node in ast.walk(ast.Module(body=list(body), type_ignores=[])):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


def _import_nodes(body):
    """Import statements run when the module is imported (not those inside functions or
    under ``if TYPE_CHECKING:``)."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_nodes(node.body)
            yield from _import_nodes(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _import_nodes(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _import_nodes(node.body)


def import_graph(*, lazy: bool = False) -> dict[str, set[str]]:
    """module -> the package modules it imports at module level (``lazy``: anywhere)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in (_all_import_nodes if lazy else _import_nodes)(tree.body):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_pkg else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join(anchor + ([base] if base else []))
                # ``from pkg import submodule`` depends on the submodule (loading a module always
                # loads its parent packages first; that is not an edge), a name on its module
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            for t in targets:
                if t in mods and t != name:
                    graph[name].add(t)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    comps: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return comps


def test_the_graph_is_read():
    g = import_graph()
    # known edges, so a parser that reads nothing cannot pass the cycle test
    assert "napari_irdm.geometry" in g["napari_irdm.analysis._reflections"]
    assert "napari_irdm.crystallography" in g["napari_irdm.simulate.crystal"]
    assert "napari_irdm.crystallography" in g["napari_irdm.analysis.bragg"]
    # lazy imports inside functions are not module-level edges
    assert "napari_irdm.simulate.store" not in g["napari_irdm.analysis.bragg"]


def test_cycle_finder_finds_a_cycle():
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_among_package_modules():
    cycles = find_cycles(import_graph())
    assert not cycles, "module-level import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


#: lazy (function-level) import circles still in the tree, each with its owner; none may be added
KNOWN_LAZY_CIRCLES = [
]


def test_no_new_circle_through_lazy_imports():
    g = import_graph(lazy=True)
    assert "napari_irdm.simulate.store" in g["napari_irdm.analysis.bragg"]  # a lazy edge is read
    cycles = [c for c in find_cycles(g) if c not in KNOWN_LAZY_CIRCLES]
    assert not cycles, "import circles through lazy imports: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_crystallography_and_analysis_do_not_import_simulate_or_torch():
    g = import_graph()
    for mod in ("napari_irdm.crystallography", "napari_irdm.analysis.bragg", "napari_irdm.analysis._reflections"):
        assert not any(t.startswith("napari_irdm.simulate") for t in g[mod]), (mod, g[mod])
    src = (ROOT / "crystallography.py").read_text(encoding="utf-8")
    assert "torch" not in src


if __name__ == "__main__":  # a quick report: python tests/test_import_graph.py
    print("module-level cycles:", find_cycles(import_graph()) or "none")
    print("cycles with lazy imports:", find_cycles(import_graph(lazy=True)) or "none")
