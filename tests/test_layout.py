"""The test tree's two rules (tests/README.md): a helper two test files share lives in
tests/support, so no test module imports another test module or a conftest; and no two test
files share a base name, so a module's tests are found by name alone."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _test_files() -> list[Path]:
    return sorted(p for p in TESTS.rglob("test_*.py") if "__pycache__" not in p.parts)


def _imported_modules(path: Path) -> set[str]:
    modules: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom):
            modules.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
    return modules


def _is_test_module(module: str) -> bool:
    """A test file, a conftest, or any module of the test tree outside tests/support."""
    if module.startswith("."):
        return True  # relative: a sibling of a test file, never the support package
    parts = module.split(".")
    if parts[0] != "tests" or len(parts) == 1:
        return False
    return parts[1] != "support"


def test_no_test_module_imports_another_test_module() -> None:
    offenders = [
        f"{path.relative_to(TESTS)} imports {module}"
        for path in [*_test_files(), *TESTS.rglob("conftest.py")]
        for module in sorted(_imported_modules(path))
        if _is_test_module(module)
    ]
    assert offenders == [], "move the shared helper into tests/support:\n" + "\n".join(offenders)


def test_no_two_test_files_share_a_base_name() -> None:
    by_name: dict[str, list[str]] = defaultdict(list)
    for path in _test_files():
        by_name[path.name].append(str(path.relative_to(TESTS)))
    repeated = {name: paths for name, paths in by_name.items() if len(paths) > 1}
    assert repeated == {}, f"rename so each base name is unique: {repeated}"


def test_the_rules_catch_what_they_forbid() -> None:
    """The checks can fail: an import of a test module and of a feature-folder helper are
    caught; the support package, the product and the standard library are not."""
    assert _is_test_module("tests.backfill.test_worker")
    assert _is_test_module("tests.conftest")
    assert _is_test_module("tests.store.helpers")
    assert _is_test_module(".harness")
    assert not _is_test_module("tests.support.harness")
    assert not _is_test_module("core.store")
    assert not _is_test_module("pytest")
