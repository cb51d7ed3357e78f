"""House rules that keep the code one house (issue 12): short functions, imports only downward, no global state.

Import cycles: tests/test_import_graph.py. The floors: docs/DESIGN.md section 2.
"""

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "napari_irdm"
MAX_FUNCTION_LINES = 120

#: floors, bottom first: a module may import its own floor and those below, never one above
FLOORS = [
    {"errors", "geometry", "data", "progress", "device", "_signals", "_json", "_version", "methods",
     "crystallography"},
    {"io", "resources"},
    {"simulate", "tomo", "analysis", "align", "dl", "scale"},
    {"train"},
    {"_cli", "cli", "_napari"},
]


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        yield ".".join(parts), path, ast.parse(path.read_text(encoding="utf-8"))


def test_no_function_over_120_lines():
    long = []
    for name, _path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long.append(f"{name}.{node.name}: {n} lines")
    assert not long, long


def _top_imports(tree):
    """napari_irdm modules imported at module level (not inside functions)."""
    out = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("napari_irdm")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("napari_irdm") and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.If):  # TYPE_CHECKING blocks do not run
            continue
    return out


def _floor(module: str) -> int:
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else ""
    for i, floor in enumerate(FLOORS):
        if top in floor:
            return i
    return 0  # napari_irdm itself (version + data types)


def test_imports_never_run_back_up():
    bad = []
    for name, _path, tree in _modules():
        for imp in _top_imports(tree) | _all_imports(tree):
            if _floor(imp) > _floor(name):
                bad.append(f"{name} -> {imp}")
    assert not bad, bad


def _all_imports(tree):
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("napari_irdm") and node.level == 0:
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("napari_irdm")}
    return out


def _library_files():
    """The core: everything but the two shells (a shell may set up its own process)."""
    return [p for p in SRC.rglob("*.py") if p.relative_to(SRC).parts[0] not in ("_cli", "_napari", "cli.py")]


@pytest.mark.parametrize("banned", ["torch.backends.cudnn.benchmark =", "matplotlib.use(", "os.umask(",
                                    "np.random.seed(", "random.seed(", "call_supported", "importlib.import_module(f"])
def test_no_process_global_state_or_fallback_in_the_library(banned):
    hits = [f"{p.relative_to(SRC)}:{i + 1}" for p in _library_files()
            for i, line in enumerate(p.read_text(encoding="utf-8").splitlines()) if banned in line]
    if banned == "importlib.import_module(f":  # the one lazy table of RosettaSciIO readers is not a fallback
        hits = [h for h in hits if not h.startswith("io/_rsciio.py")]
    assert not hits, hits


def test_global_torch_seed_only_inside_fork_rng():
    """``torch.manual_seed`` changes the caller's RNG unless it runs inside ``torch.random.fork_rng()``."""
    bad = []
    for name, _path, tree in _modules():
        forked = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.With) and any("fork_rng" in ast.unparse(i.context_expr) for i in node.items):
                forked |= {id(n) for n in ast.walk(node)}
        for node in ast.walk(tree):
            func = ast.unparse(node.func) if isinstance(node, ast.Call) else ""
            if func in ("torch.manual_seed", "torch.cuda.manual_seed", "torch.cuda.manual_seed_all") \
                    and id(node) not in forked:
                bad.append(f"{name}:{node.lineno}")
    assert not bad, bad
