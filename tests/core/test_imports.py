"""The capabilities' imports, read from the source with ``ast`` (nothing is imported):

(a) no module imports another capability's module inside a function (a hidden import hides a cycle) — the app
    factory (``crm/__init__.py``: ``create_app`` and the CLI registration) aside, and the core, which imports no
    capability and so can hide no cycle;
(b) the capabilities form no import cycle;
(c) the core (``crm/core``, ``crm/extensions.py``) imports no capability;
(d) a capability imports only its own layer and the layers below it (:data:`LAYERS`).

A lower capability that must make a higher one act sends a blinker signal (``crm/<capability>/signals.py``) that
the higher one answers in ``crm/<capability>/subscribers.py``; the 一企一档 page, its search and its history take
what the capabilities above add through ``crm/enterprises/hooks.py``. A new capability adds itself to LAYERS.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CRM = ROOT / "crm"

# Lower numbers are lower layers: a capability imports its own layer and below, never above.
LAYERS: dict[str, int] = {
    "core": 0,  # crm/core, crm/extensions.py: shared mechanisms only
    "auth": 1, "reference": 1,
    "holidays": 2, "notifications": 2, "scheduler": 2,
    "enterprises": 3,
    "rosters": 4,
    "service": 5,
    "meetings": 6,
    "dashboard": 7,
    "tasks": 8,
    "api": 9, "web": 9, "history": 9, "demo": 9, "backup": 9, "app": 9,  # the top: JSON API, pages, factory
}
FACTORY = "crm/__init__.py"  # create_app and the CLI registration may import anything, anywhere


@dataclass(frozen=True)
class Import:
    path: str  # crm/… relative to the repository
    line: int
    importer: str  # capability
    module: str  # dotted name imported
    imported: str  # its capability
    in_function: bool


def capability(module: str) -> str | None:
    """``crm.rosters.domain`` → ``rosters``; ``crm.core.audit`` and ``crm.extensions`` → ``core``; ``crm`` → ``app``."""
    parts = module.split(".")
    if parts[0] != "crm":
        return None
    if len(parts) == 1:
        return "app"
    if parts[1] in ("core", "extensions"):
        return "core"
    return parts[1]


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _targets(node: ast.Import | ast.ImportFrom, package: str) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:  # relative: resolve against the importing package
        anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
        base = ".".join([*anchor, base] if base else anchor)
    if base == "crm":  # from crm import web
        return [f"crm.{alias.name}" for alias in node.names]
    return [base]


def _walk(node: ast.AST, in_function: bool):
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child, in_function
        yield from _walk(child, in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda))


def crm_imports() -> list[Import]:
    found: list[Import] = []
    for path in sorted(CRM.rglob("*.py")):
        name = module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        importer = capability(name)
        for node, in_function in _walk(ast.parse(path.read_text(encoding="utf-8"), str(path)), False):
            for target in _targets(node, package):
                imported = capability(target)
                if imported is not None and imported != importer:
                    found.append(Import(path.relative_to(ROOT).as_posix(), node.lineno, importer, target, imported,
                                        in_function))
    return found


def _where(edge: Import) -> str:
    return f"{edge.path}:{edge.line}: {edge.importer} imports {edge.module} ({edge.imported})"


def test_every_capability_has_a_layer():
    packages = {p.name for p in CRM.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in CRM.glob("*.py") if p.name not in ("__init__.py", "extensions.py")}
    missing = sorted((packages | modules) - set(LAYERS))
    assert not missing, f"add these capabilities to LAYERS in {Path(__file__).name}: {', '.join(missing)}"


def test_no_function_level_import_of_another_capability():
    hidden = [edge for edge in crm_imports() if edge.in_function and edge.path != FACTORY and edge.imported != "core"]
    assert not hidden, (
        "imports inside a function hide a dependency (and maybe a cycle): import at module level when the "
        "dependency goes downward, else let the lower capability send a signal the higher one answers\n"
        + "\n".join(_where(edge) for edge in hidden))


def test_the_core_imports_no_capability():
    upward = [edge for edge in crm_imports() if edge.importer == "core"]
    assert not upward, ("the core knows no capability: let the capability register with it instead\n"
                        + "\n".join(_where(edge) for edge in upward))


def test_capabilities_import_only_downward():
    upward = [edge for edge in crm_imports() if LAYERS[edge.imported] > LAYERS[edge.importer]]
    assert not upward, ("a capability imports a higher one: send a signal (crm/<capability>/signals.py) or offer a "
                        "hook (crm/enterprises/hooks.py) that the higher one answers\n"
                        + "\n".join(f"{_where(edge)}: layer {LAYERS[edge.importer]} → {LAYERS[edge.imported]}"
                                    for edge in upward))


def find_cycle(edges: dict[str, dict[str, Import]]) -> list[str] | None:
    """One cycle of the capability graph as ``[a, b, …, a]``, or ``None``."""
    state: dict[str, int] = {}  # 1 on the path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, {})):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_no_import_cycle_between_capabilities():
    edges: dict[str, dict[str, Import]] = defaultdict(dict)
    for edge in crm_imports():
        edges[edge.importer].setdefault(edge.imported, edge)  # the first import names the edge
    cycle = find_cycle(edges)
    assert cycle is None, ("the capabilities import each other in a cycle: " + " → ".join(cycle) + "\n"
                           + "\n".join(_where(edges[a][b]) for a, b in zip(cycle, cycle[1:], strict=False)))


def test_the_checker_sees_hidden_imports_and_cycles(tmp_path):
    """The walk itself: a function-level import is seen as one, and a cycle is named."""
    tree = ast.parse("import os\n\ndef f():\n    from crm.service import assignments\n")
    assert [(type(node).__name__, inside) for node, inside in _walk(tree, False)] == [
        ("Import", False), ("ImportFrom", True)]
    a = Import("crm/a.py", 1, "rosters", "crm.service.x", "service", False)
    b = Import("crm/b.py", 1, "service", "crm.rosters.y", "rosters", False)
    assert find_cycle({"rosters": {"service": a}, "service": {"rosters": b}}) == ["rosters", "service", "rosters"]
    assert find_cycle({"rosters": {"service": a}}) is None
