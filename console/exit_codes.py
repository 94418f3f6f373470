"""Every exit status of `backfill-console`, in one table: `console.cli.build_parser` prints
each command's under "exit status" in its --help, and tests/console/test_exit_codes.py fails when a
command can exit with a status its list lacks."""

from __future__ import annotations

import argparse
import re
import signal
import textwrap

from core.errors import BackfillError, ConfigError, DatabaseBusy, DatabaseRefused
from core.github.errors import AuthenticationError

DONE = 0
FAILED = BackfillError.exit_code  # 1
USAGE = ConfigError.exit_code  # 2: argparse's own status for a bad argument, too
BAD_TOKEN = AuthenticationError.exit_code  # 3
DATABASE_REFUSES = DatabaseRefused.exit_code  # 4 (MigrationNotAllowed too)
DATABASE_BUSY = DatabaseBusy.exit_code  # 75, sysexits.h's EX_TEMPFAIL
INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports a Ctrl-C
TERMINATED = 128 + signal.SIGTERM  # 143, as a shell reports SIGTERM

_ANY: dict[int, str] = {
    DONE: "done",
    FAILED: "an error: one line on stderr says what",
    USAGE: "a bad argument or setting: the message names it",
    INTERRUPTED: "interrupted (Ctrl-C)",
    TERMINATED: "terminated (SIGTERM)",
}
# Commands that open the database (load core.store); `simulate` does not.
_COMMON: dict[int, str] = _ANY | {
    FAILED: "an error: one line on stderr says what (e.g. the database is unreachable)",
    DATABASE_REFUSES: "the database refuses, until someone changes it: read-only (a replica, "
    "default_transaction_read_only), not UTF-8, older than PostgreSQL 15, or this role may not "
    "change the schema; the line says what to do",
    DATABASE_BUSY: "the database is busy: a lock not granted within lock_timeout, or a "
    "statement cancelled by statement_timeout; run it again later",
}
# Commands that talk to GitHub in their own process (the console's actions report GitHub's
# refusals on screen instead).
_GITHUB: dict[int, str] = {
    BAD_TOKEN: "GitHub rejected the token (401 Bad credentials): set a valid, unrevoked one",
}
# Worker, backfill and sync finish the page in hand on Ctrl-C or SIGTERM and exit 0 or 1.
_WORKING: dict[int, str] = {
    INTERRUPTED: "interrupted (Ctrl-C) before the work began; once working, Ctrl-C finishes "
    "the page in hand and the status is 0 or 1",
    TERMINATED: "terminated (SIGTERM) before the work began; once working, as Ctrl-C",
}

# The command (None: the console itself) -> each status it can exit with, and what it means.
EXIT_CODES: dict[str | None, dict[int, str]] = {
    None: _COMMON | {FAILED: "the terminal went away, or an error at start"},
    "migrate": _COMMON | {FAILED: "a migration could not be applied (or an applied one was "
                          "edited), or another error"},
    "stats": _COMMON | {FAILED: "the repository has no backfill, or another error"},
    "recover": _COMMON | {FAILED: "a chunk could not be processed (its row was held), or "
                          "another error"},
    "add": _COMMON | _GITHUB | {FAILED: "a repository was not added (the reason is shown; "
                                "the others were), or another error",
                                USAGE: "a bad OWNER/NAME (with --from: every bad line named "
                                "by its number, nothing added) or a --from file that cannot "
                                "be read"},
    "retry": _COMMON | {FAILED: "a backfill was not retried (it was not failed), or "
                        "another error"},
    "remove": _COMMON | {FAILED: "nothing was deleted (not confirmed, or already gone), or "
                         "another error"},
    "worker": _COMMON | _GITHUB | _WORKING | {
        FAILED: "the run stored nothing and the work it failed at is not done (a cron or "
        "Actions job then fails), or another error",
    },
    "backfill": _COMMON | _GITHUB | _WORKING | {
        FAILED: "a backfill failed or a repository was not added, or another error",
    },
    "sync": _COMMON | _GITHUB | _WORKING | {
        FAILED: "a repository's sync did not finish (its data is not fresh), or another error",
    },
    "simulate": _ANY | {
        DONE: "stopped (Ctrl-C or SIGTERM)",
        FAILED: "cannot listen on the address",
    },
    "demo": _COMMON,
}  # fmt: skip


def exit_status_help(command: str | None) -> str:
    """The "exit status" section of `command`'s --help: one status a line."""
    lines = [f"  {code:>3}  {meaning}" for code, meaning in sorted(EXIT_CODES[command].items())]
    return "exit status:\n" + "\n".join(lines)


class HelpFormatter(argparse.HelpFormatter):
    """Wraps each line of a description or epilog on its own (argparse's default joins them
    all into one paragraph): a list, such as the exit statuses, keeps one item a line, and
    an item's continuation lines are indented under its text."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        out = []
        for line in text.splitlines():
            body = line.lstrip()
            lead = indent + line[: len(line) - len(body)]
            item = _ITEM.match(line) if line != body else None  # "  KEY  its text"
            hang = indent + " " * len(item.group(0)) if item else lead
            out.append(textwrap.fill(body, width, initial_indent=lead, subsequent_indent=hang))
        return "\n".join(out)


_ITEM = re.compile(r"\s+\S+\s+")
