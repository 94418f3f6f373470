"""The embedded Postgres used when no database is configured.

pgserver ships Postgres binaries in a wheel. Its data directory lives in the user data dir (or
`BACKFILL_DATA_DIR`); pgserver's inter-process lock and handle list let several processes
(the console, workers, `stats`) share one server, which stops when the last of them exits.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from core.errors import StoreUnavailable

log = logging.getLogger(__name__)


def embedded_database_url(data_dir: Path) -> str:
    """Start (or join) the embedded server and return a libpq URL for it (unix socket)."""
    pgdata = data_dir / "pgdata"
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # platformdirs warns about XDG_RUNTIME_DIR
            import pgserver

            server = pgserver.get_server(pgdata, cleanup_mode="stop")
        return str(server.get_uri())
    except Exception as exc:  # pgserver raises assorted subprocess/OS errors
        log.debug("embedded postgres failed", exc_info=True)
        raise StoreUnavailable(
            f"could not start the embedded Postgres in {pgdata}: {exc.__class__.__name__}. "
            "Set BACKFILL_DATA_DIR to a writable directory or DATABASE_URL to use your own "
            "database."
        ) from None


def stop_embedded(data_dir: Path) -> None:
    """Stop the embedded server now, whoever else holds it (for throwaway data: the demo).

    pgserver stops it when its last handle closes, but a SIGKILLed process never closes its
    handle, so a server whose users were killed would otherwise run on.
    """
    pgdata = data_dir / "pgdata"
    if not (pgdata / "postmaster.pid").exists():
        return
    import pgserver

    try:
        pgserver.pg_ctl(["-w", "stop", "-m", "immediate"], pgdata=pgdata)  # type: ignore[attr-defined]
    except Exception:  # already stopped, or stopping: nothing left to do
        log.debug("stopping embedded postgres failed", exc_info=True)
