"""Errors the CLI turns into one clear line and a non-zero exit.

Every message here is safe to print: none of them may carry a secret.
"""

import logging


class BackfillError(Exception):
    """Base for errors that end a command with a message instead of a traceback."""

    exit_code = 1


class ConfigError(BackfillError):
    """A setting is missing or malformed; the message names the variable to fix."""

    exit_code = 2


class StoreUnavailable(BackfillError):
    """The database cannot be reached; the message says which setting points at it."""


class ConnectionDropped(StoreUnavailable):
    """The database ended an established session (a restart, a failover, an administrator's
    pg_terminate_backend, another backend's crash), or refused one for now (shutting down,
    starting up, recovering, every connection slot taken): trying again shortly may succeed,
    unlike a refused setting."""


class ServerNotListening(StoreUnavailable):
    """Nothing answers where the database should be (connection refused, no socket): a wrong
    host or port, or a server between its stop and its start. Only the second is worth trying
    again, and only a server seen restarting tells them apart."""


class MigrationError(BackfillError):
    """A migration cannot be applied (or an applied one was edited)."""


class MigrationNotAllowed(MigrationError):
    """The role may not change the schema (not its owner, no right to create, or roles only a
    superuser can create): nothing was changed, and the message says who must act."""

    exit_code = 4


class PageTooLarge(BackfillError):
    """The store's transport refused a request as too large (a gateway's HTTP 413).

    The worker splits the page into smaller commits; one PR too large alone is refused."""


class DatabaseRefused(BackfillError):
    """The database refuses what the product needs, and will until someone changes it (see
    core/store/refusals.py): trying again cannot help, so a worker stops instead of looping."""

    exit_code = 4


class DatabaseReadOnly(DatabaseRefused):
    """Writes are refused: a replica (hot standby), or `default_transaction_read_only` on."""


class DatabaseUnsupported(DatabaseRefused):
    """The server is one the product cannot use: older than the supported PostgreSQL, or a
    database whose encoding is not UTF-8 (GitHub's text is Unicode)."""


class DatabaseBusy(BackfillError):
    """The database gave up waiting: a lock held past `lock_timeout` (55P03) or a statement
    cancelled by `statement_timeout` (57014). Worth trying again later; workers retry it with
    backoff, a bounded number of times in a row. 75 is sysexits.h's EX_TEMPFAIL ("a temporary
    failure: the user is invited to retry")."""

    exit_code = 75


def side_failure_level(exc: BaseException) -> int:
    """The logging level for a side write that failed (a rate-limit record, a heartbeat, a
    ledger entry, an event): best effort, so logged and the work goes on. A `DatabaseRefused`
    (read-only, unsupported) is DEBUG: the command's own next write meets the same refusal and
    says it in its one error line, so a warning would only say it twice."""
    return logging.DEBUG if isinstance(exc, DatabaseRefused) else logging.WARNING
