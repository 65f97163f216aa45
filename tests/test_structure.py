"""The package's shape: no module reaches into another's private names, and the import graph has no cycle.

Both are read from the code itself (ast), lazy imports inside functions included: a cycle hidden in a
function body is still a cycle, and it is what made analyse <-> plots impossible to test in isolation.
"""

from __future__ import annotations

import ast
from pathlib import Path

from rewild_testlib import REPO

PACKAGE = REPO / "rewild"


def module_name(path: Path) -> str:
    rel = path.relative_to(REPO).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def resolve(current: str, is_package: bool, level: int, target: str | None) -> str:
    if level == 0:
        return target or ""
    base = current.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (level - 1)]
    return ".".join(base + ([target] if target else []))


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, str | None, int]]:
    """(imported module, imported name or None, line) for every import of a rewild module in `path`."""
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    out: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names if a.name.split(".")[0] == "rewild"]
        elif isinstance(node, ast.ImportFrom):
            mod = resolve(name, is_package, node.level, node.module)
            if mod.split(".")[0] != "rewild":
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                # `from rewild import generate` imports a module, not a name of the package
                out.append((sub, None, node.lineno) if sub in known else (mod, alias.name, node.lineno))
    return out


def private_uses(path: Path, module_aliases: dict[str, str]) -> list[tuple[str, str, int]]:
    """`alias._name` attribute uses where alias is an imported rewild module."""
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in module_aliases
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append((module_aliases[node.value.id], node.attr, node.lineno))
    return found


def aliases(path: Path, name: str, known: set[str]) -> dict[str, str]:
    tree = ast.parse(path.read_text())
    is_package = path.name == "__init__.py"
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                if a.name in known and a.asname:
                    out[a.asname] = a.name
        elif isinstance(node, ast.ImportFrom):
            mod = resolve(name, is_package, node.level, node.module)
            for a in node.names:
                if f"{mod}.{a.name}" in known:
                    out[a.asname or a.name] = f"{mod}.{a.name}"
    return out


def test_no_module_uses_another_modules_private_names():
    mods = modules()
    known = set(mods)
    offences = []
    for name, path in mods.items():
        for target, imported, line in imports(name, path, known):
            if imported and imported.startswith("_") and target != name:
                offences.append(f"{path.relative_to(REPO)}:{line} imports {target}.{imported}")
        for target, attr, line in private_uses(path, aliases(path, name, known)):
            if target != name:
                offences.append(f"{path.relative_to(REPO)}:{line} uses {target}.{attr}")
    assert not offences, "private names used across modules:\n" + "\n".join(offences)


def import_graph() -> dict[str, set[str]]:
    mods = modules()
    known = set(mods)
    graph: dict[str, set[str]] = {name: set() for name in mods}
    for name, path in mods.items():
        for target, _imported, _line in imports(name, path, known):
            # importing a name from a package imports its __init__; importing a submodule imports that file
            dep = target if target in known else target.rsplit(".", 1)[0]
            if dep in known and dep != name and not name.startswith(dep + "."):
                graph[name].add(dep)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(graph[node]):
            if state.get(dep) == 1:
                return stack[stack.index(dep) :] + [dep]
            if dep not in state:
                cycle = visit(dep)
                if cycle:
                    return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_import_graph_has_no_cycle():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_cycle_finder_sees_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
