"""A database that gives up waiting: a lock held past `lock_timeout` (55P03) or a statement
cancelled by `statement_timeout` (57014). A command ends in one line and exit 4 with nothing
half-done; a worker retries with backoff, goes on once the lock is free, and gives up with the
same line after a bounded number of tries in a row (worker.py MAX_BUSY_IN_A_ROW). Locks are
held by a real second connection; the timeouts are the database's own settings (`ALTER
DATABASE ... SET`)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.backfill.worker import Worker, WorkerOptions
from core.errors import DatabaseBusy
from core.simulator import RepoSpec, SimConfig, Simulator
from core.store.store import Store
from tests.support.harness import cli, environ_without_secrets
from tests.support.recovery_rows import chunk_row, dump, stuck_chunk
from tests.support.refusals import BUSY, refused_in_one_line
from tests.support.worker_runs import settings

RECOVERY_LOCK = 8243104023350440569  # recover_stuck_chunks' advisory lock (20250110000000)


def database_sets(admin_url: str, database_url: str, **settings: str) -> None:
    """`ALTER DATABASE ... SET name = value` for new sessions (what a role's or a managed
    database's defaults are)."""
    name = conninfo_to_dict(database_url)["dbname"]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        for setting, value in settings.items():
            conn.execute(
                sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    sql.Identifier(name), sql.Identifier(setting), sql.Literal(value)
                )
            )


@contextmanager
def held(database_url: str, statement: str) -> Iterator[psycopg.Connection]:
    """A second session holding what `statement` takes, in an open transaction, until the
    context ends (or the test commits it)."""
    with psycopg.connect(database_url) as other:
        other.execute(statement)
        yield other
        other.rollback()


def env_for(database_url: str, tmp_path: Path) -> dict[str, str]:
    env = environ_without_secrets()
    env.update(DATABASE_URL=database_url, BACKFILL_DATA_DIR=str(tmp_path / "data"))
    return env


async def test_recover_while_another_recovery_holds_the_lock_says_so_and_changes_nothing(
    pg_admin_url: str, database_url: str, db: psycopg.Connection, store: Store, tmp_path: Path
) -> None:
    _, stuck = await stuck_chunk(store, db, "stuck", minutes=120, expected=None)
    database_sets(pg_admin_url, database_url, lock_timeout="200ms")
    env = env_for(database_url, tmp_path)
    before = dump(db)
    with held(database_url, f"SELECT pg_advisory_xact_lock({RECOVERY_LOCK})"):
        result = await asyncio.to_thread(cli, env, "recover")
        refused_in_one_line(result, BUSY, "lock", "55P03", "run the command again")
    assert dump(db) == before
    assert chunk_row(db, stuck.id)["status"] == "processing"
    # The other recovery is done: the same command does the work.
    result = await asyncio.to_thread(cli, env, "recover")
    assert result.returncode == 0, result.stderr
    assert chunk_row(db, stuck.id)["status"] != "processing"


def test_migrate_cancelled_by_statement_timeout_says_so(
    pg_admin_url: str, database_url: str, db: psycopg.Connection, tmp_path: Path
) -> None:
    """A table lock held by a long transaction and no lock_timeout: migrate waits until the
    database's statement_timeout cancels it (57014)."""
    database_sets(pg_admin_url, database_url, statement_timeout="300ms")
    before = dump(db)
    with held(database_url, "LOCK TABLE backfill_schema_migrations IN ACCESS EXCLUSIVE MODE"):
        result = cli(env_for(database_url, tmp_path), "migrate")
    refused_in_one_line(result, BUSY, "57014", "statement timeout")
    assert dump(db) == before


def sim_for(*repos: RepoSpec) -> Simulator:
    return Simulator(SimConfig(repos=list(repos), seed=1))


async def work(database_url: str, sim: Simulator) -> Worker:
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        worker = Worker(
            engine.store,
            engine.client,
            engine.presence,
            WorkerOptions(until_idle=True, idle_interval=0.001, max_runtime=60),
        )
        await worker.run()
        return worker


async def test_a_worker_retries_a_lock_timeout_and_goes_on_once_the_lock_is_free(
    pg_admin_url: str, database_url: str, db: psycopg.Connection
) -> None:
    sim = sim_for(RepoSpec("o", "r", 40))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/r"])
    database_sets(pg_admin_url, database_url, lock_timeout="100ms")
    with held(
        database_url, "LOCK TABLE progressive_backfill_state IN ACCESS EXCLUSIVE MODE"
    ) as other:
        async with open_engine(settings(database_url), transport=sim.transport()) as engine:
            worker = Worker(
                engine.store,
                engine.client,
                engine.presence,
                WorkerOptions(until_idle=True, idle_interval=0.001, max_runtime=60),
            )
            running = asyncio.create_task(worker.run())
            while worker.stats.errors < 2 and not running.done():  # noqa: ASYNC110 - a count
                await asyncio.sleep(0.01)
            await asyncio.to_thread(other.commit)  # the other transaction ends: lock free
            await running
    assert worker.stats.errors >= 2 and worker.stats.pages > 0
    row = db.execute("SELECT status, processed_prs FROM progressive_backfill_state").fetchone()
    assert row is not None and (row["status"], row["processed_prs"]) == ("completed", 40)


async def test_a_worker_gives_up_after_the_bound_with_one_line(
    pg_admin_url: str, database_url: str, db: psycopg.Connection
) -> None:
    sim = sim_for(RepoSpec("o", "r", 40))
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/r"])
    database_sets(pg_admin_url, database_url, lock_timeout="50ms")
    before = dump(db)
    with (
        held(database_url, "LOCK TABLE progressive_backfill_state IN ACCESS EXCLUSIVE MODE"),
        pytest.raises(DatabaseBusy, match="55P03"),
    ):
        await work(database_url, sim)
    after = dump(db)
    assert after["progressive_backfill_state"] == before["progressive_backfill_state"]
    assert after["backfill_chunks"] == before["backfill_chunks"] == []
