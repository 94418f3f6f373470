"""Errors the CLI turns into one clear line and a non-zero exit.

Every message here is safe to print: none of them may carry a secret.
"""


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
