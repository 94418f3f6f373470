"""`stats --json` agrees with the spec's own statistics SQL, overall and per backfill (the
original's filter filtered nothing)."""

from __future__ import annotations

import json

from core.recovery import recover
from core.store import Store
from tests.support.recovery_cli import cli
from tests.support.recovery_rows import stuck_chunk
from tests.support.spec_statistics import SPEC_STATISTICS, seed

PER_BACKFILL = SPEC_STATISTICS.replace(
    "WHERE started_at > NOW() - INTERVAL '24 hours';",
    "WHERE started_at > NOW() - INTERVAL '24 hours' AND backfill_state_id = %s;",
)


async def arrange(store: Store, db) -> None:
    await seed(store, db)  # octo/alpha: completed, failed, processing; octo/old: 2 days old
    await stuck_chunk(store, db, "stuck", minutes=31, expected=4, stored=1)
    await stuck_chunk(store, db, "fine", minutes=45, expected=4, stored=4)


def chunk_numbers(report: dict) -> dict[str, int]:
    c = report["chunks"]
    return {"stuck": c["processing"], "completed": c["completed"], "failed": c["failed"]}


async def test_stats_json_agrees_with_the_specs_sql(store: Store, db, cli_env) -> None:
    await arrange(store, db)
    for _ in range(2):  # before recovery and after it
        run = await cli(cli_env, "stats", "--json")
        assert run.code == 0, run.err
        spec = db.execute(SPEC_STATISTICS).fetchone()
        assert chunk_numbers(json.loads(run.out)) == spec
        await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    # After recovery nothing older than the threshold is processing; the chunks moved to
    # completed/failed in both views.
    assert spec == {"stuck": 1, "completed": 4, "failed": 2}


async def test_stats_repo_filters_to_that_backfill(store: Store, db, cli_env) -> None:
    await arrange(store, db)
    states = {
        r["repo"]: r["id"]
        for r in db.execute(
            "SELECT r.owner || '/' || r.name AS repo, s.id FROM progressive_backfill_state s "
            "JOIN repositories r ON r.id = s.repository_id"
        ).fetchall()
    }
    everything = json.loads((await cli(cli_env, "stats", "--json")).out)
    for repo in ("octo/alpha", "octo/stuck", "octo/empty"):
        run = await cli(cli_env, "stats", "--repo", repo.upper(), "--json")
        assert run.code == 0, run.err
        report = json.loads(run.out)
        assert chunk_numbers(report) == db.execute(PER_BACKFILL, (states[repo],)).fetchone()
        assert [p["repository"] for p in report["progress"]] == [repo]
    alpha = json.loads((await cli(cli_env, "stats", "--repo=octo/alpha", "--json")).out)
    assert alpha["chunks"] != everything["chunks"]  # the filter really filters
    assert alpha["chunks"]["total"] == 3 < everything["chunks"]["total"]


async def test_stats_repo_rejects_unknown_and_malformed_names(store: Store, db, cli_env) -> None:
    await arrange(store, db)
    unknown = await cli(cli_env, "stats", "--repo", "octo/nope")
    assert unknown.code == 1
    assert (
        unknown.err.strip() == "backfill-console: error: octo/nope has no backfill (add it first)"
    )
    malformed = await cli(cli_env, "stats", "--repo", "not-a-repo")
    assert malformed.code == 2 and "expected OWNER/NAME" in malformed.err


def test_a_held_row_restamped_equals_its_model_copy() -> None:
    """The poll's cheap copy of a held row is what model_copy makes: equal values, the same
    fields set, the original unchanged (frozen models)."""
    from datetime import UTC, datetime, timedelta
    from uuid import uuid4

    from core.monitoring import restamped
    from core.store.models import Freshness

    then = datetime(2026, 1, 1, tzinfo=UTC)
    row = Freshness.model_validate(
        {
            "backfill_state_id": uuid4(),
            "repository": "octo/a",
            "status": "completed",
            "watermark": None,
            "synced_at": then,
            "fresh_as_of": then,
            "lag_seconds": None,
            "syncing": False,
            "sync_requested_at": None,
            "syncs": 3,
            "observed_at": then,
        }
    )
    later = then + timedelta(minutes=5)
    copy = restamped(row, observed_at=later, lag_seconds=300)
    assert copy == row.model_copy(update={"observed_at": later, "lag_seconds": 300})
    assert copy.model_fields_set == row.model_fields_set
    assert copy.model_dump() == {**row.model_dump(), "observed_at": later, "lag_seconds": 300}
    assert (row.observed_at, row.lag_seconds) == (then, None)
