"""Every status a command can exit with is listed in its --help (console/exit_codes.py).

What a command can exit with is read from the code, not from the table: the statuses
`console.cli.main` returns for any command (its literals, and the `exit_code` of every
`BackfillError` it turns into one line: GitHub's only for the commands that talk to GitHub in
their own process), the literals the command's own function returns or exits with, the
console application's `return_code`s where a command runs it, argparse's usage error, and a
SIGTERM the command does not trap. The database's statuses (the errors only core.store raises:
4 refused, 75 busy) count only for a command that loads core.store, read by importing what the
command imports (its module, and the modules its function and the helpers it names import
lazily) in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import inspect
import os
import pkgutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest

import console
import core
from console import cli
from console.exit_codes import EXIT_CODES
from core.errors import BackfillError
from core.github.errors import GitHubError

USAGE_ERROR = 2  # argparse's exit status for a bad argument
TERMINATED = 128 + signal.SIGTERM  # the shell's status for a SIGTERM nobody traps


def _subparsers() -> dict[str | None, argparse.ArgumentParser]:
    parser = cli.build_parser()
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return {None: parser, **action.choices}


def _all_subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _all_subclasses(sub)


def _error_codes() -> tuple[set[int], set[int]]:
    """Exit codes of every BackfillError in the code base: (GitHub's, the others')."""
    for package in (core, console):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            importlib.import_module(module.name)
    errors = set(_all_subclasses(BackfillError)) | {BackfillError}
    github = {e.exit_code for e in errors if issubclass(e, GitHubError)}
    return github, {e.exit_code for e in errors if not issubclass(e, GitHubError)}


def _constructed(path: Path) -> set[str]:
    """Names of the classes `path`'s code calls (`Name(...)`, `module.Name(...)`)."""
    tree = ast.parse(path.read_text())
    calls = (n.func for n in ast.walk(tree) if isinstance(n, ast.Call))
    return {getattr(f, "id", getattr(f, "attr", "")) for f in calls}


@cache
def _store_only_codes() -> frozenset[int]:
    """Statuses of the errors raised in core.store and nowhere else (4, 75)."""
    _error_codes()  # every error class imported
    errors: dict[str, int] = {e.__name__: e.exit_code for e in _all_subclasses(BackfillError)}
    store: set[int] = set()
    elsewhere: set[int] = set()
    for package in (core, console):
        for path in Path(package.__path__[0]).rglob("*.py"):
            inside = "store" in path.relative_to(Path(core.__path__[0]).parent).parts[:2]
            named = {errors[n] for n in _constructed(path) if n in errors}
            (store if inside else elsewhere).update(named)
    return frozenset(store - elsewhere)


def _imported_by(func: Callable[..., Any]) -> list[str]:
    """The modules `func` loads: its module, and those imported inside it or inside the
    functions of its module it names (imports done lazily, when it runs)."""
    module = inspect.getmodule(func)
    assert module is not None
    named = {n.id for n in ast.walk(ast.parse(textwrap.dedent(inspect.getsource(func))))
             if isinstance(n, ast.Name)} | {func.__name__}  # fmt: skip
    found = [module.__name__]
    for top in ast.parse(inspect.getsource(module)).body:
        if isinstance(top, ast.FunctionDef | ast.AsyncFunctionDef) and top.name in named:
            for node in ast.walk(top):
                if isinstance(node, ast.Import):
                    found += [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom):
                    base = importlib.util.resolve_name(
                        "." * node.level + (node.module or ""), module.__package__ or ""
                    )
                    found += [base] + [f"{base}.{alias.name}" for alias in node.names]
    return found


def _loads_store(func: Callable[..., Any]) -> bool:
    """Whether running `func` loads core.store (a fresh interpreter imports what it does)."""
    probe = (
        "import importlib, sys\n"
        f"for name in {_imported_by(func)!r}:\n"
        "    try: importlib.import_module(name)\n"
        "    except ImportError: pass  # `from module import function`\n"
        "print(any(m == 'core.store' or m.startswith('core.store.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return out.stdout.strip() == "True"


def _ints(node: ast.expr | None) -> set[int]:
    """The integer literals an expression can evaluate to (`N`, `A if c else B`, `x or N`)."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return {node.value}
    if isinstance(node, ast.IfExp):
        return _ints(node.body) | _ints(node.orelse)
    if isinstance(node, ast.BoolOp):
        return set().union(*(_ints(v) for v in node.values))
    return set()


def _literal_statuses(source: str) -> set[int]:
    """Statuses code returns or exits with: `return N`, `sys.exit(N)`, `SystemExit(N)`,
    `exit(return_code=N)` (a Textual app's)."""
    codes: set[int] = set()
    for node in ast.walk(ast.parse(textwrap.dedent(source))):
        if isinstance(node, ast.Return):
            codes |= _ints(node.value)
        elif isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if name in ("exit", "SystemExit") and node.args:
                codes |= _ints(node.args[0])
            codes |= {c for k in node.keywords if k.arg == "return_code" for c in _ints(k.value)}
    return codes


def _possible(command: str | None, func: Callable[..., Any]) -> set[int]:
    github, others = _error_codes()
    codes = _literal_statuses(inspect.getsource(cli.main)) | others | {USAGE_ERROR, TERMINATED}
    if command in cli.TOKEN_COMMANDS and command is not None:  # the console shows them
        codes |= github
    source = inspect.getsource(func)
    codes |= _literal_statuses(source)
    if "return_code" in source:  # it runs the console application: its exits are ours
        codes |= _literal_statuses(inspect.getsource(importlib.import_module("console.app")))
    if not _loads_store(func):  # it never opens the database: the database's statuses are not
        codes -= _store_only_codes()  # its
    return codes


def _documented(parser: argparse.ArgumentParser) -> set[int]:
    """The statuses under "exit status:" in the parser's --help."""
    text = parser.format_help().split("exit status:\n", 1)
    assert len(text) == 2, f"{parser.prog} --help has no exit status section"
    lines = text[1].splitlines()
    return {int(line.split()[0]) for line in lines if line[:5].strip().isdigit()}


@pytest.mark.parametrize("command", list(_subparsers()), ids=lambda c: c or "console")
def test_every_status_a_command_can_exit_with_is_in_its_help(command: str | None) -> None:
    parser = _subparsers()[command]
    func = parser.get_default("func") or cli.run_console
    possible = _possible(command, func)
    assert possible - set(EXIT_CODES[command]) == set(), "missing from console/exit_codes.py"
    assert set(EXIT_CODES[command]) - possible == set(), "listed, but it cannot exit with it"
    assert _documented(parser) == set(EXIT_CODES[command])


def test_the_table_names_exactly_the_commands() -> None:
    assert set(EXIT_CODES) == set(_subparsers())


def test_a_new_status_would_be_caught() -> None:
    """The reading of the code can fail the test: a status no table lists is found."""

    def run(args: argparse.Namespace) -> int:
        if args.odd:
            raise SystemExit(7)
        return 6 if args.other else 0

    assert _literal_statuses(inspect.getsource(run)) == {0, 6, 7}
    assert {6, 7}.isdisjoint(EXIT_CODES["worker"])


def test_a_revoked_token_is_documented_where_it_can_happen() -> None:
    from core.github.errors import AuthenticationError

    for command in ("worker", "backfill", "sync", "add"):
        assert AuthenticationError.exit_code in _documented(_subparsers()[command])


def test_the_database_statuses_are_the_stores_and_simulate_never_loads_it() -> None:
    """The reading can fail: 4 and 75 are found as core.store's, `simulate` is found not to
    load it, and a command that opens the database is found to."""
    assert _store_only_codes() == {4, 75}
    commands = _subparsers()
    assert not _loads_store(commands["simulate"].get_default("func"))
    assert _loads_store(commands["worker"].get_default("func"))
    assert _loads_store(commands["demo"].get_default("func"))  # lazily, through the console
    assert _loads_store(cli.run_console)


def test_simulate_help_works_with_no_database_reachable(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": "postgresql://nobody@127.0.0.1:9/none"}
    env.pop("SUPABASE_URL", None)
    out = subprocess.run(
        [sys.executable, "-m", "console.cli", "simulate", "--help"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stderr == "", out.stderr
    statuses = out.stdout.split("exit status:\n", 1)[1].splitlines()
    listed = {int(line.split()[0]) for line in statuses if line[:5].strip().isdigit()}
    assert listed == {0, 1, 2, 130, 143}
