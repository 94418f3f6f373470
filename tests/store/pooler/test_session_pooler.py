"""Through a session pooler (a pooler's port 5432): `migrate` several at once, a backfill to
the end, and no setting left for the pooler's next client of a server connection."""

from __future__ import annotations

import psycopg
import pytest

from core.store import migrations
from tests.support.harness import check_invariants, cli, engine_env, simulator
from tests.support.migrate_runs import applied_names, finish, start_migrate
from tests.support.pgbouncer import PgBouncer

pytestmark = pytest.mark.slow


def test_every_command_through_a_session_pooler(
    session_pooler: PgBouncer, empty_database_url: str, cli_env: dict[str, str]
) -> None:
    pooled = session_pooler.url(empty_database_url)
    runs = [start_migrate(cli_env, pooled) for _ in range(4)]
    outputs = finish(runs, timeout=120)
    for run, (_, err) in zip(runs, outputs, strict=True):
        assert run.returncode == 0, err
    each = sorted(name for out, _ in outputs for name in applied_names(out))
    assert each == sorted(m.path.name for m in migrations.discover())

    env = {**cli_env, "DATABASE_URL": pooled}
    with simulator(["session/pooled:250"], seed=13) as sim:
        env = engine_env(env, sim)
        assert cli(env, "add", "session/pooled").returncode == 0
        for command in (("worker", "--until-idle"), ("recover",), ("stats",)):
            run = cli(env, *command, timeout=300)
            assert run.returncode == 0, (command, run.stderr)
        stats = sim.stats()
    check_invariants(empty_database_url, stats)
    # The next client of each server connection the product used starts afresh.
    with psycopg.connect(pooled, application_name="another-client") as conn:
        assert conn.execute("SHOW statement_timeout").fetchone() == ("0",)
        assert conn.execute("SHOW application_name").fetchone() == ("another-client",)
