"""The layers the code is organised in, enforced on the import statements themselves (AST):
spec -> core -> present -> cli, with run beside core; numpy and numba only inside run/; no cycles.

Every import counts, at module level or inside a function: a lazy import still ties two modules."""

from __future__ import annotations

import ast
from pathlib import Path

from .conftest import ROOT

PACKAGE = ROOT / "attncalc"
# layer -> layers it may import (besides itself)
ALLOWED = {
    "escape": set(), "errors": {"escape"}, "units": set(), "dtypes": {"errors"},
    "spec": {"escape", "errors", "units", "dtypes"},
    "core": {"escape", "errors", "units", "dtypes", "spec"},
    "present": {"escape", "errors", "units", "dtypes", "spec", "core"},
    "run": {"escape", "errors", "units", "dtypes", "spec", "core"},
    "cli": {"escape", "errors", "units", "dtypes", "spec", "core", "present", "run"},
    "__init__": {"escape", "errors", "units", "dtypes", "spec", "core", "present"},
    "__main__": {"cli"},
}
HEAVY = {"numpy", "numba", "scipy", "torch"}


def modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        if parts[-1] == "__init__" and len(parts) > 1:
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path) -> list[str]:
    """Absolute names of the modules ``name`` imports (attncalc-internal ones without the prefix)."""
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
                found.append(base)
                continue
            up = package[: len(package) - (node.level - 1)] if node.level > 1 else package
            base = ".".join([*up, *(node.module.split(".") if node.module else [])])
            found += [f"{base}.{a.name}" if not node.module else base for a in node.names]
    return [("attncalc." + f if not f.startswith("attncalc") else f) if f.split(".")[0] in LAYERS else f for f in found]


LAYERS = set(ALLOWED) | {"attncalc"}


def layer(module: str) -> str:
    return module.removeprefix("attncalc.").split(".")[0] or "__init__"


def internal(modnames: dict[str, Path], target: str) -> str | None:
    """The attncalc module an import resolves to (the longest known prefix), or None if external."""
    t = target.removeprefix("attncalc.") if target.startswith("attncalc") else None
    if t is None:
        return None
    while t and t not in modnames:
        t = t.rpartition(".")[0]
    return t or "__init__"


def graph() -> dict[str, set[str]]:
    mods = modules()
    return {m: {t for t in (internal(mods, i) for i in imports(m, p)) if t and t != m} for m, p in mods.items()}


def test_imports_follow_the_layers():
    bad = []
    for mod, targets in graph().items():
        own = layer(mod)
        for t in targets:
            if layer(t) != own and layer(t) not in ALLOWED[own]:
                bad.append(f"{mod} ({own}) imports {t} ({layer(t)})")
    assert not bad, "\n".join(bad)


def test_numpy_and_numba_only_in_run():
    bad = []
    for mod, path in modules().items():
        heavy = {i.split(".")[0] for i in imports(mod, path)} & HEAVY
        if heavy and layer(mod) != "run":
            bad.append(f"{mod} imports {', '.join(sorted(heavy))}")
    assert not bad, "\n".join(bad)


def test_no_import_cycles():
    g = graph()
    state: dict[str, int] = {}
    cycles = []

    def visit(m: str, stack: list[str]) -> None:
        state[m] = 1
        for t in sorted(g.get(m, ())):
            if state.get(t) == 1:
                cycles.append(" -> ".join(stack[stack.index(t):] + [t]))
            elif t not in state:
                visit(t, stack + [t])
        state[m] = 2

    for m in sorted(g):
        if m not in state:
            visit(m, [m])
    # a package's __init__ importing its own submodules is how packages work, not a cycle of design
    cycles = [c for c in cycles if not any(c.split(" -> ")[0] == p for p in ("cli", "run.execute", "run.kernels", "__init__"))]
    assert not cycles, "\n".join(cycles)


def test_the_checker_sees_a_wrong_way_import(tmp_path):
    """The rule can fail: core importing present, or numpy outside run, would be reported."""
    assert "present" not in ALLOWED["core"] and "numpy" in HEAVY
    g = graph()
    assert "core.report" in g["present.document"]  # an allowed downward import is found
    assert any(layer(t) == "core" for t in g["run.plan"])
