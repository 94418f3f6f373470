"""The engine works without the console: importing all of `core` never loads textual."""

from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import core


def test_core_never_imports_textual() -> None:
    modules = sorted(m.name for m in pkgutil.walk_packages(core.__path__, "core."))
    assert "core.backfill.worker" in modules and "core.simulator.server" in modules
    script = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == []


def test_headless_commands_do_not_import_textual() -> None:
    script = (
        "import json, sys\n"
        "from console import cli\n"
        "cli.build_parser()\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'textual')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    )
    assert json.loads(result.stdout) == [], "worker/cron runs must not pay for the UI"
