"""The import graph of the project's packages, read from the source (ast, every import
statement, those inside functions included: a lazy import is still a dependency). Each
arrow points one way: no package imports one that imports it back, and no module is part
of an import cycle, except inside softswitch's compiler (softswitch/core), whose front end
is mutually recursive by nature."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = sorted(p.parent.name for p in ROOT.glob("*/__init__.py"))
CYCLES_ALLOWED_IN = "softswitch.core"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")}


def _type_checking_only(tree: ast.Module) -> set[int]:
    """Line numbers of the imports under `if TYPE_CHECKING:` (for annotations, never run)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if isinstance(n, ast.Import | ast.ImportFrom):
                        lines.add(n.lineno)
    return lines


def _resolve(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` refers to: itself, or the closest enclosing package."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


@functools.cache
def import_graph() -> nx.DiGraph:
    """Module -> module it imports, for every import in the project's packages."""
    modules = _modules()
    g = nx.DiGraph()
    g.add_nodes_from(modules)
    for mod, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_only(tree)
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom) or node.lineno in skip:
                continue
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join([*up, base] if base else up)
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                         for a in node.names]  # fmt: skip
            for n in names:
                target = _resolve(n, modules)
                if target is not None and target != mod:
                    g.add_edge(mod, target)
    return g


def _package(mod: str) -> str:
    return mod.split(".")[0]


def test_the_graph_is_read_from_the_source() -> None:
    g = import_graph()
    # arrows the code is known to have, across and within packages
    assert g.has_edge("experiments.runner", "experiments.round")
    assert g.has_edge("experiments.round", "modelsync.launch")
    assert g.has_edge("modelsync.sender", "wire.frames")
    assert g.has_edge("controlplane.paths", "controlplane.graph")
    assert {"experiments", "softswitch", "wire"} <= set(PACKAGES)


def test_no_module_is_part_of_an_import_cycle() -> None:
    g = import_graph()
    cycles = [
        sorted(c)
        for c in nx.strongly_connected_components(g)
        if len(c) > 1 and not all(m.startswith(CYCLES_ALLOWED_IN + ".") for m in c)
    ]
    assert cycles == [], "modules that import each other (directly or around a loop):\n" + (
        "\n".join(" <-> ".join(c) for c in cycles)
    )


def test_packages_form_layers() -> None:
    g = import_graph()
    layers = nx.DiGraph()
    layers.add_nodes_from(PACKAGES)
    for a, b in g.edges:
        if _package(a) != _package(b):
            layers.add_edge(_package(a), _package(b))
    loops = [sorted(c) for c in nx.strongly_connected_components(layers) if len(c) > 1]
    assert loops == [], f"packages that import each other: {loops}"


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("modelsync", "experiments"),  # runs in the hosts
        ("controlplane", "testbed"),  # drives a real network the same way (no Mininet)
        ("softswitch", "controlplane"),  # a target, as BMv2 is
        ("wire", "modelsync"),
        ("topologies", "controlplane"),
    ],
)
def test_lower_layers_do_not_reach_higher_ones(low: str, high: str) -> None:
    g = import_graph()
    reached = {
        (m, d) for m in g if _package(m) == low for d in nx.descendants(g, m) if _package(d) == high
    }
    assert reached == set(), f"{low} imports {high} (directly or through others): {reached}"
