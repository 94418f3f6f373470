"""`backfill-console recover`: the spec's flags mean what they say (the original read
--stuck-threshold=60 and --cleanup-days=7 as 90), bad values change nothing, exit codes."""

from __future__ import annotations

import json

import psycopg
import pytest

from core.store import Store
from tests.support.recovery_cli import cli
from tests.support.recovery_rows import chunk_row, dump, stuck_chunk
from tests.support.store_rows import pull_request


@pytest.mark.parametrize("form", ["equals", "separate"])
async def test_stuck_threshold_60_means_60_minutes(store: Store, db, cli_env, form: str) -> None:
    _, young = await stuck_chunk(store, db, "young", minutes=59, expected=2, stored=2)
    _, old = await stuck_chunk(store, db, "old", minutes=61, expected=2, stored=2)
    flag = ["--stuck-threshold=60"] if form == "equals" else ["--stuck-threshold", "60"]

    dry = await cli(cli_env, "recover", *flag, "--dry-run", "--json")
    assert dry.code == 0, dry.err
    report = json.loads(dry.out)
    assert report["stuck_minutes"] == 60
    assert [c["chunk_id"] for c in report["chunks"]] == [str(old.id)]

    live = await cli(cli_env, "recover", *flag, "--json")
    assert live.code == 0, live.err
    assert chunk_row(db, old.id)["status"] == "completed"
    assert chunk_row(db, young.id)["status"] == "processing"


async def test_cleanup_days_7_means_7_days(store: Store, db, cli_env) -> None:
    await store.register_backfill("octo", "repo", 10)
    lease = await store.claim_backfill("w", lease_seconds=300)
    assert lease is not None
    numbers = []
    for n, days in ((1, 6), (2, 8)):
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None
        assert (
            await store.commit_chunk(
                chunk, [pull_request(n)], cursor_after=f"c{n}", has_next_page=True, total_prs=10
            )
        ).committed
        db.execute(
            "UPDATE backfill_chunks SET started_at = now() - make_interval(days => %s), "
            "completed_at = now() - make_interval(days => %s) WHERE id = %s",
            (days, days, chunk.id),
        )
        numbers.append(chunk.chunk_number)

    dry = await cli(cli_env, "recover", "--cleanup-days=7", "--dry-run", "--json")
    assert dry.code == 0, dry.err
    assert json.loads(dry.out)["cleanup"]["eligible"] == 1

    live = await cli(cli_env, "recover", "--cleanup-days", "7", "--json")
    assert live.code == 0, live.err
    assert json.loads(live.out)["cleanup"]["deleted"] == 1
    left = db.execute("SELECT chunk_number FROM backfill_chunks").fetchall()
    assert [r["chunk_number"] for r in left] == [numbers[0]]  # the 6-day-old one stays


async def test_default_threshold_comes_from_chunk_recovery_minutes(
    store: Store, db, cli_env
) -> None:
    await stuck_chunk(store, db, "a44", minutes=44, expected=1)
    _, over = await stuck_chunk(store, db, "a46", minutes=46, expected=1)
    run = await cli({**cli_env, "CHUNK_RECOVERY_MINUTES": "45"}, "recover", "--dry-run", "--json")
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert report["stuck_minutes"] == 45
    assert [c["chunk_id"] for c in report["chunks"]] == [str(over.id)]


@pytest.mark.parametrize(
    "args",
    [
        ["--stuck-threshold=abc"],
        ["--stuck-threshold", "-5"],
        ["--stuck-threshold=0"],
        ["--stuck-threshold=1.5"],
        ["--cleanup-days=abc"],
        ["--cleanup-days=-5"],
        ["--cleanup-days", "0"],
    ],
)
async def test_invalid_values_are_usage_errors_and_change_nothing(
    store: Store, db, cli_env, args: list[str]
) -> None:
    await stuck_chunk(store, db, "repo", minutes=120, expected=1)
    before = dump(db)
    run = await cli(cli_env, "recover", *args)
    assert run.code == 2
    assert "usage: backfill-console recover" in run.err
    assert args[-1].split("=")[-1] in run.err  # names the bad value
    assert run.out == ""
    assert dump(db) == before


async def test_human_output_has_a_dry_run_banner_table_and_totals(
    store: Store, db, cli_env
) -> None:
    await stuck_chunk(store, db, "mostly", minutes=31, expected=5, stored=4)
    await stuck_chunk(store, db, "barely", minutes=31, expected=5, stored=1)
    wide = {**cli_env, "COLUMNS": "200"}

    dry = await cli(wide, "recover", "--dry-run")
    assert dry.code == 0, dry.err
    assert "DRY RUN" in dry.out and "nothing was written" in dry.out
    assert "octo/mostly" in dry.out and "recovered 4/5" in dry.out
    assert "octo/barely" in dry.out and "partial 1/5" in dry.out
    assert "stuck 2: 1 completed, 1 failed" in dry.out

    live = await cli(wide, "recover")
    assert live.code == 0, live.err
    assert "DRY RUN" not in live.out
    assert "applied 2, skipped 0, busy 0" in live.out


async def test_exit_1_when_a_chunk_could_not_be_processed(
    store: Store, db, cli_env, database_url
) -> None:
    _, chunk = await stuck_chunk(store, db, "held", minutes=31, expected=1)
    with psycopg.connect(database_url) as holder:
        holder.execute("SELECT 1 FROM backfill_chunks WHERE id = %s FOR UPDATE", (chunk.id,))
        run = await cli(cli_env, "recover", "--json")
        holder.rollback()
    assert run.code == 1
    report = json.loads(run.out)
    assert report["ok"] is False and report["totals"]["busy"] == 1
    assert chunk_row(db, chunk.id)["status"] == "processing"
    rerun = await cli(cli_env, "recover", "--json")
    assert rerun.code == 0
    assert chunk_row(db, chunk.id)["status"] == "failed"
