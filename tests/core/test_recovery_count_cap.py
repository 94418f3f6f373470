"""Recovery's cleanup counts stop at a cap (migration 20250660000000): past it the report
says "at least", so a dry run reads what it shows, not months of chunk history. The cap is
small here so a handful of rows prove it; the deletes are the same as uncapped."""

from __future__ import annotations

from rich.console import Console

from console.commands.recover import render, to_json
from core.recovery import recover
from core.store import Store
from tests.support.recovery_rows import dump
from tests.support.store_rows import pull_request


async def old_chunks(store: Store, db, name: str, completed: int) -> None:
    """`completed` completed chunks and one failed chunk of octo/`name`, all 8 days old."""
    await store.register_backfill("octo", name, 100)
    lease = await store.claim_backfill("w", lease_seconds=300)
    assert lease is not None
    for n in range(1, completed + 1):
        chunk = await store.start_chunk(lease, "w")
        assert chunk is not None
        result = await store.commit_chunk(
            chunk, [pull_request(n)], cursor_after=f"c{n}", has_next_page=True, total_prs=100
        )
        assert result.committed
    failed = await store.start_chunk(lease, "w")
    assert failed is not None and await store.fail_chunk(failed, "boom")
    assert await store.release(lease)
    db.execute(
        "UPDATE backfill_chunks c SET started_at = now() - interval '8 days', "
        "completed_at = CASE WHEN c.status = 'completed' THEN now() - interval '8 days' END, "
        "failed_at = CASE WHEN c.status = 'failed' THEN now() - interval '8 days' END "
        "FROM progressive_backfill_state s, repositories r "
        "WHERE c.backfill_state_id = s.id AND r.id = s.repository_id AND r.name = %s",
        (name,),
    )


async def test_a_dry_run_counts_to_its_cap_and_says_at_least(store: Store, db) -> None:
    await old_chunks(store, db, "big", completed=7)
    before = dump(db)

    capped = await recover(
        store, stuck_minutes=60 * 24 * 30, cleanup_days=7, dry_run=True, count_cap=4
    )
    exact = await recover(
        store, stuck_minutes=60 * 24 * 30, cleanup_days=7, dry_run=True, count_cap=7
    )

    assert dump(db) == before
    c = capped.cleanup
    assert (c.eligible, c.eligible_at_least, c.remaining, c.count_cap) == (4, True, 4, 4)
    assert sum(b.chunks for b in c.per_backfill) == 4
    assert (c.failed_eligible, c.failed_eligible_at_least) == (1, False)
    e = exact.cleanup
    assert (e.eligible, e.eligible_at_least, e.failed_eligible) == (7, False, 1)

    out = to_json(capped)
    assert out["cleanup"]["eligible_at_least"] is True
    assert out["totals"]["cleanup_eligible"] == 4
    assert out["totals_at_least"] == {"cleanup_eligible": True}
    assert to_json(exact)["totals_at_least"] == {"cleanup_eligible": False}
    console = Console(record=True, width=200)
    render(capped, console)
    text = console.export_text()
    assert "4+ eligible" in text and "would delete 4+" in text
    console = Console(record=True, width=200)
    render(exact, console)
    assert "7 eligible" in console.export_text()


async def test_a_capped_failed_count_says_at_least_too(store: Store, db) -> None:
    await old_chunks(store, db, "one", completed=1)
    await old_chunks(store, db, "two", completed=1)

    report = await recover(
        store, stuck_minutes=60 * 24 * 30, cleanup_days=7, dry_run=True, count_cap=1
    )

    c = report.cleanup
    assert (c.eligible, c.eligible_at_least) == (1, True)
    assert (c.failed_eligible, c.failed_eligible_at_least) == (1, True)


async def test_a_live_run_past_the_cap_still_deletes_everything_old(store: Store, db) -> None:
    await old_chunks(store, db, "big", completed=7)

    report = await recover(
        store,
        stuck_minutes=60 * 24 * 30,
        cleanup_days=7,
        dry_run=False,
        cleanup_batch=3,
        count_cap=4,
    )

    c = report.cleanup
    # Counted to 4 when it started; the drain deleted all 7, so 7 were eligible.
    assert (c.eligible, c.deleted, c.remaining, c.eligible_at_least) == (7, 7, 0, True)
    assert c.failed_deleted == 1
    left = db.execute("SELECT count(*) AS n FROM backfill_chunks").fetchone()["n"]
    assert left == 0
    pruned = db.execute("SELECT sum(chunks_pruned) AS n FROM progressive_backfill_state")
    assert pruned.fetchone()["n"] == 7
