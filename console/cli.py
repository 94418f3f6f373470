"""`backfill-console`: one entry point, one module per subcommand in `console.commands`.

Every failure the user can fix ends as one line on stderr and a non-zero exit; tracebacks are
for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from core.errors import BackfillError

# Each module exposes `register(subparsers)`, which adds its parser and sets `func`.
COMMAND_MODULES = [
    "console.commands.migrate",
    "console.commands.stats",
    "console.commands.recover",
    "console.commands.add",
    "console.commands.worker",
    "console.commands.backfill",
    "console.commands.simulate",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="backfill-console",
        description=(
            "Backfill the pull-request history of GitHub repositories into Postgres or "
            "Supabase. Configuration comes from the environment or a .env file "
            "(DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_KEY, GITHUB_TOKEN, ...); with no "
            "database configured an embedded Postgres is used."
        ),
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 0
    try:
        return int(func(args) or 0)
    except BackfillError as exc:
        print(f"backfill-console: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("backfill-console: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
