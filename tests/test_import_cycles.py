"""No import circle among the project's own modules, and an engine that never imports textual.

Read from the source with `ast`, not by importing: every `import` counts wherever it stands.
Inside a function: moving an import there is how a circle hides from Python's import
machinery, not a way out of it. Under `if TYPE_CHECKING:`: a module that needs another's types
to be written knows that module, and the circle it closes is the coupling (the detail screen
that typed the app to reach into it was one). An import names the deepest module of the
project it reaches (`from console import cli` is `console.cli`; `from core.store.models import
X` is `core.store.models`), so a package's `__init__` counts only where a name is taken from it.
"""

from __future__ import annotations

import ast
from collections import deque
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("core", "console")


def modules(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, Path]:
    """Every module under `packages`, by dotted name (a package by its own name)."""
    found: dict[str, Path] = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join(parts)] = path
    return found


def imported_modules(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name`'s file imports, relative imports resolved, each the deepest
    module named: `from X import Y` is X.Y where Y is a module, else X."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if not isinstance(node, ast.ImportFrom):
            continue
        base = node.module or ""
        if node.level:
            here = name.split(".") if is_package else name.split(".")[:-1]
            anchor = here[: len(here) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        for alias in node.names:
            names.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    deepest = (_deepest(imported, known) for imported in names)
    return {module for module in deepest if module is not None and module != name}


def _deepest(imported: str, known: set[str]) -> str | None:
    """The longest leading part of the dotted `imported` that is a module of the project."""
    parts = imported.split(".")
    candidates = (".".join(parts[:n]) for n in range(len(parts), 0, -1))
    return next((c for c in candidates if c in known), None)


def import_graph(root: Path, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports."""
    found = modules(root, packages)
    return {name: imported_modules(name, path, set(found)) for name, path in found.items()}


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan), each a circle of
    imports (or several sharing modules)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component: set[str] = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(frozenset(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def circle(graph: dict[str, set[str]], component: frozenset[str]) -> str:
    """The shortest way round `component` from its first module, for the failure message."""
    start = min(component)
    paths = {start: [start]}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for target in sorted(graph[node] & component):
            if target == start:
                return " -> ".join([*paths[node], start])
            if target not in paths:
                paths[target] = [*paths[node], target]
                queue.append(target)
    raise AssertionError(f"{sorted(component)} is not a circle")


def test_no_import_cycle_among_the_projects_modules() -> None:
    graph = import_graph(ROOT)
    assert "console.app" in graph and "core.backfill.worker" in graph
    found = set(cycles(graph))
    circles = [circle(graph, c) for c in found]
    assert not circles, "import circles:\n" + "\n".join(circles)


def textual_imports(root: Path) -> list[str]:
    """Every import of textual under `root`'s `core/`, wherever it stands."""
    offenders = []
    for name, path in modules(root, ("core",)).items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                wanted = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                wanted = [node.module or ""]
            else:
                continue
            offenders += [f"{name}: {w}" for w in wanted if w.split(".")[0] == "textual"]
    return offenders


def test_no_module_of_core_names_textual() -> None:
    """Not even in a function or for type checking: the engine serves other clients than
    the console (the CLI, headless workers, scheduled jobs)."""
    assert textual_imports(ROOT) == []


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A package with a circle hidden in a function, one closed under TYPE_CHECKING only, and
    a module that only takes a name from a package's `__init__`."""
    package = tmp_path / "core"
    (package / "inner").mkdir(parents=True)
    files = {
        "__init__.py": "from core.d import X\n",
        "a.py": "from core.b import thing\n",
        "b.py": "def thing():\n    from . import a\n    return a\n",
        "c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import core.inner.e\n",
        "d.py": "X = 1\ndef later():\n    from textual.app import App\n    return App\n",
        "f.py": "from core import X\n",
        "inner/__init__.py": "",
        "inner/e.py": "from .. import c\n",
    }
    for name, text in files.items():
        (package / name).write_text(text)
    return tmp_path


def test_the_check_sees_circles_in_functions_and_under_type_checking(tree: Path) -> None:
    graph = import_graph(tree, ("core",))
    assert graph["core.b"] == {"core.a"}, "a relative import in a function counts"
    assert graph["core.inner.e"] == {"core.c"}, "from .. import c is the module core.c"
    assert graph["core.f"] == {"core"} and graph["core"] == {"core.d"}
    found = cycles(graph)
    assert set(found) == {frozenset({"core.a", "core.b"}), frozenset({"core.c", "core.inner.e"})}
    assert circle(graph, frozenset({"core.a", "core.b"})) == "core.a -> core.b -> core.a"


def test_the_check_sees_textual_imported_in_a_function(tree: Path) -> None:
    assert textual_imports(tree) == ["core.d: textual.app"]
