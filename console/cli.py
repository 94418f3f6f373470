"""`backfill-console`: one entry point, one module per subcommand in `console.commands`.

Every failure the user can fix ends as one line on stderr and a non-zero exit; tracebacks are
for bugs only.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from console.commands.args import refresh_seconds
from console.exit_codes import HelpFormatter, exit_status_help
from core.errors import BackfillError

# Each module exposes `register(subparsers)`, which adds its parser and sets `func`.
COMMAND_MODULES = [
    "console.commands.migrate",
    "console.commands.stats",
    "console.commands.recover",
    "console.commands.add",
    "console.commands.retry",
    "console.commands.remove",
    "console.commands.worker",
    "console.commands.backfill",
    "console.commands.sync",
    "console.commands.simulate",
    "console.commands.demo",
]


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; `only`: the one command being run, whose module alone is
    imported (each command's module loads what it runs: the GitHub client, the simulator, the
    store; `stats` must not pay ~0.4 s of start for `worker`'s). Its parser, help and errors
    are the same as in the whole parser."""
    parser = argparse.ArgumentParser(
        prog="backfill-console",
        description=(
            "Backfill the pull-request history of GitHub repositories into Postgres or "
            "Supabase. Configuration comes from the environment or a .env file "
            "(DATABASE_URL, SUPABASE_URL, SUPABASE_SERVICE_KEY, GITHUB_TOKEN, ...); with no "
            "database configured an embedded Postgres is used."
        ),
    )
    add_console_arguments(parser)
    subparsers = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        description="With no COMMAND, the console opens (press ? in it for its keys).",
    )
    for name in COMMAND_MODULES:
        if only is None or name.rsplit(".", 1)[1] == only:
            importlib.import_module(name).register(subparsers)
    # Every command's exit statuses, from the one table (console.exit_codes).
    parser.formatter_class = HelpFormatter
    parser.epilog = exit_status_help(None)
    for command, sub in subparsers.choices.items():
        sub.formatter_class = HelpFormatter
        sub.epilog = "\n\n".join(filter(None, [sub.epilog, exit_status_help(command)]))
    return parser


def add_console_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--readonly",
        action="store_true",
        help="console only watches: every key that changes something is hidden",
    )
    parser.add_argument(
        "--refresh",
        type=refresh_seconds,
        default=2.0,
        metavar="SECONDS",
        help="console refresh interval (default 2, at least 0.5; + and - change it live)",
    )
    parser.add_argument(
        "--keys",
        default=os.environ.get("BACKFILL_CONSOLE_KEYS", ""),
        metavar="MAP",
        help="remap console keys, e.g. recover_live=R,quit=ctrl+q (or BACKFILL_CONSOLE_KEYS)",
    )
    parser.add_argument(
        "--truecolor",
        action="store_true",
        help="force 24-bit colour (ssh does not forward COLORTERM; TEXTUAL_COLOR_SYSTEM works too)",
    )


def run_console(args: argparse.Namespace) -> int:
    """Open the console against the configured database (textual is imported only here)."""
    if args.truecolor:
        os.environ["TEXTUAL_COLOR_SYSTEM"] = "truecolor"
    from console.app import BackfillConsole, tune_garbage_collector
    from console.backend import Backend
    from console.keys import parse_keymap
    from console.local_workers import LocalWorkers
    from core.config import load_settings
    from core.errors import ConfigError

    try:
        keymap = parse_keymap(args.keys)
    except ValueError as exc:
        raise ConfigError(f"--keys: {exc}") from None
    settings = load_settings()
    app = BackfillConsole(
        Backend(settings),
        local_workers=None if args.readonly else LocalWorkers(settings.data_dir / "logs"),
        readonly=args.readonly,
        refresh=args.refresh,
        keymap=keymap,
    )
    tune_garbage_collector()
    app.run()
    return app.return_code or 0


# Commands that send GITHUB_TOKEN somewhere (None: the console, which starts workers).
# Every command that sends GITHUB_TOKEN somewhere says where when it is not GitHub.
TOKEN_COMMANDS = ("worker", "backfill", "add", "sync", None)


def say_where_the_token_goes() -> None:
    """When GITHUB_GRAPHQL_URL is not GitHub's, say to which host the token goes (a `.env` in
    the working directory can set it)."""
    from core.config import load_settings, token_destination_notice

    try:
        notice = token_destination_notice(load_settings())
    except BackfillError:
        return  # the command itself reports the bad setting
    if notice:
        print(f"backfill-console: {notice}", file=sys.stderr)


def command_named(argv: Sequence[str]) -> str | None:
    """The command `argv` runs when it is one of ours, read as argparse reads it: the first
    word that is neither an option nor an option's value; None for the console, `--help` or a
    word that is no command (the whole parser then prints its help or its error)."""
    valued = {"--refresh", "--keys"}  # the console's options that take a value
    words = iter(argv)
    for word in words:
        if word in ("-h", "--help"):
            return None
        if word in valued:
            next(words, None)
        elif not word.startswith("-"):
            known = {m.rsplit(".", 1)[1] for m in COMMAND_MODULES}
            return word if word in known else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(command_named(words))
    args = parser.parse_args(words)
    func = getattr(args, "func", run_console)
    try:
        if args.command in TOKEN_COMMANDS:
            say_where_the_token_goes()
        return int(func(args) or 0)
    except BackfillError as exc:
        print(f"backfill-console: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("backfill-console: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `stats --json | head`: the reader left; no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except Exception as exc:
        from core.store.postgres import connection_dropped
        from core.store.refusals import refusal

        refused = refusal(exc)  # read-only, a lock or statement timeout: one line, its status
        if refused is not None:
            print(f"backfill-console: error: {refused}", file=sys.stderr)
            return refused.exit_code
        if not connection_dropped(exc):
            raise  # a bug: its traceback
        # The database ended the session mid-command (a restart, a failover): not a bug. The
        # server's first line only (its CONTEXT lines quote SQL; it never holds the URL).
        said = str(exc).strip().splitlines()
        reason = said[0] if said else type(exc).__name__
        print(
            f"backfill-console: error: the database dropped the connection ({reason}); "
            "each step is its own transaction: run the command again",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
