"""The monitoring reads count what they show from indexes that stay small: rates from the
window's completions only, open chunks whatever their age, the syncing flag by a join, and
only the workers heard from recently. Each is planned with its real window and without JIT."""

from __future__ import annotations

from core.monitoring import PollCache, collect_stats
from core.recovery import recover
from core.store import Store

MONITORING = (
    "backfill_progress",
    "backfill_progress_snapshot",
    "chunk_statistics",
    "sync_freshness_snapshot",
    "backfill_workers_snapshot",
)


def chunk(
    db, state, number: int, status: str, started: str, *, kind: str = "backfill", prs: int = 0
) -> None:
    """A chunk `started` ago (an interval), finished a minute after it started."""
    db.execute(
        """INSERT INTO backfill_chunks (backfill_state_id, chunk_number, status, started_at,
                                        completed_at, failed_at, error, claim_token,
                                        inserted_prs, kind)
           VALUES (%(s)s, %(n)s, %(st)s, now() - %(ago)s::interval,
                   CASE WHEN %(st)s = 'completed' THEN now() - %(ago)s::interval
                                                       + interval '1 minute' END,
                   CASE WHEN %(st)s = 'failed' THEN now() - %(ago)s::interval END,
                   CASE WHEN %(st)s = 'failed' THEN 'boom' END, 1, %(prs)s, %(k)s)""",
        {"s": state, "n": number, "st": status, "ago": started, "prs": prs, "k": kind},
    )


async def test_counts_come_from_the_window_and_the_open_chunks(store: Store, db) -> None:
    alpha = (await store.register_backfill("octo", "alpha", 1000)).backfill_state_id
    beta = (await store.register_backfill("octo", "beta", 10)).backfill_state_id
    chunk(db, alpha, 1, "completed", "200 days", prs=500)  # history: outside every window
    chunk(db, alpha, 2, "completed", "10 minutes", prs=50)  # the rate's window
    chunk(db, alpha, 3, "failed", "100 days")  # open: counted however old
    chunk(db, alpha, 4, "processing", "2 hours")
    chunk(db, beta, 1, "processing", "1 minute", kind="sync")

    by_id = {p.backfill_state_id: p for p in await store.backfill_progress()}
    a = by_id[alpha]
    assert (a.chunks_processing, a.chunks_failed) == (1, 1)
    assert a.prs_per_minute == 5  # 50 PRs since the chunk started 10 minutes ago
    assert by_id[beta].chunks_processing == 1 and by_id[beta].prs_per_minute == 0

    stats = await store.chunk_statistics()  # backfill chunks started in the last 24 hours
    assert (stats.completed, stats.failed, stats.processing, stats.stuck, stats.total) == (
        1,
        0,
        1,
        1,
        2,
    )
    syncing = {f.backfill_state_id: f.syncing for f in await store.freshness()}
    assert syncing == {alpha: False, beta: True}


async def test_only_workers_heard_from_recently_are_sent(store: Store, db) -> None:
    await store.worker_heartbeat("live", host="h", pid=1, status="running")
    await store.worker_heartbeat("stopped", host="h", pid=2, status="stopped", detail="done")
    await store.worker_heartbeat("gone", host="h", pid=3, status="stopped", detail="done")
    db.execute("UPDATE workers SET heartbeat_at = now() - interval '11 minutes' WHERE id = 'gone'")
    assert [(w.id, w.alive) for w in await store.workers()] == [
        ("live", True),
        ("stopped", False),
    ]
    assert len(db.execute("SELECT * FROM backfill_workers()").fetchall()) == 3  # all kept


def test_each_read_plans_with_its_window_and_without_jit(db) -> None:
    rows = db.execute(
        "SELECT proname, proconfig FROM pg_proc WHERE proname = ANY(%s)", (list(MONITORING),)
    ).fetchall()
    settings = {r["proname"]: set(r["proconfig"] or ()) for r in rows}
    assert set(settings) == set(MONITORING)
    for name, config in settings.items():
        assert "jit=off" in config, name
    for name in ("backfill_progress", "chunk_statistics"):  # the ones taking a window
        assert "plan_cache_mode=force_custom_plan" in settings[name], name


def without_clock(report) -> tuple[list[dict], list[dict]]:
    """Progress and freshness rows without what moves with the clock between two reads."""
    moving = {"observed_at", "lag_seconds"}
    return (
        [p.model_dump(exclude=moving) for p in report.progress],
        [f.model_dump(exclude=moving) for f in report.freshness],
    )


async def test_a_poll_with_a_cache_shows_what_a_whole_read_shows(store: Store, db) -> None:
    states = [
        (await store.register_backfill("octo", name, 10)).backfill_state_id
        for name in ("b", "a", "c")
    ]
    chunk(db, states[0], 1, "failed", "1 day")
    cache = PollCache()
    first = await collect_stats(store, cache=cache)
    assert without_clock(first) == without_clock(await collect_stats(store))
    assert len(first.progress) == 3 and len(first.freshness) == 3

    unchanged = await store.monitoring_changes(list(cache.progress), list(cache.freshness))
    assert [unchanged[k] for k in ("progress", "progress_gone", "freshness", "freshness_gone")] == [
        [],
        [],
        [],
        [],
    ]

    assert await store.pause_backfill(states[1])
    db.execute("DELETE FROM repositories WHERE name = 'c'")
    changed = await store.monitoring_changes(list(cache.progress), list(cache.freshness))
    assert len(changed["progress"]) == 1 and len(changed["progress_gone"]) == 2
    merged = await collect_stats(store, cache=cache)
    assert without_clock(merged) == without_clock(await collect_stats(store))
    assert [p.status for p in merged.progress] == ["pending", "paused"]
    for f in merged.freshness:
        assert f.lag_seconds is None  # none completed


PR_TABLES = (
    "pull_requests",
    "reviews",
    "comments",
    "contributors",
    "review_threads",
    "review_comments",
)


async def test_the_database_size_and_its_growth_follow_from_the_prs_stored(
    store: Store, db
) -> None:
    empty = await store.database_size()
    assert empty.database_bytes > 0
    assert (empty.prs, empty.bytes_per_pr, empty.bytes_per_day) == (0, None, 0)

    state = (await store.register_backfill("octo", "sized", 300)).backfill_state_id
    db.execute(
        """INSERT INTO pull_requests (repository_id, github_id, number, title, body, state,
                                      created_at, updated_at)
           SELECT s.repository_id, 'PR_' || n, n, 'title ' || n, repeat('x', 500), 'OPEN',
                  now(), now()
             FROM progressive_backfill_state s, generate_series(1, 300) n
            WHERE s.id = %s""",
        (state,),
    )
    chunk(db, state, 1, "completed", "3 days", prs=100)  # stored before the last day
    chunk(db, state, 2, "completed", "2 hours", prs=120)
    chunk(db, state, 3, "completed", "30 minutes", kind="sync", prs=80)
    chunk(db, state, 4, "processing", "1 minute", prs=999)  # not stored yet

    size = await store.database_size()
    pr_bytes = db.execute(
        "SELECT sum(pg_total_relation_size(t::regclass))::bigint AS b FROM unnest(%s::text[]) t",
        (list(PR_TABLES),),
    ).fetchone()["b"]
    assert (size.prs, size.pr_bytes, size.prs_last_day) == (300, pr_bytes, 200)
    assert size.bytes_per_pr == round(pr_bytes / 300)
    assert size.bytes_per_day == size.bytes_per_pr * 200
    assert size.database_bytes > pr_bytes > empty.pr_bytes

    report = (await collect_stats(store, with_size=True)).to_json()
    assert report["database"] == size.model_dump(mode="json")
    assert set(report["database"]) == {
        "database_bytes",
        "pr_bytes",
        "prs",
        "bytes_per_pr",
        "prs_last_day",
        "bytes_per_day",
    }
    assert (await collect_stats(store)).size is None  # the console's poll does not count PRs


def test_the_size_is_read_by_service_role_only_with_its_owners_rights(db) -> None:
    """Owner's rights (pg_database_size needs CONNECT, which a role may lack); a pinned
    search_path; service_role alone may run it, as every other read."""
    row = db.execute(
        "SELECT p.prosecdef, p.proconfig, "
        "has_function_privilege('service_role', p.oid, 'EXECUTE') AS service, "
        "has_function_privilege('anon', p.oid, 'EXECUTE') AS anon, "
        "has_function_privilege('authenticated', p.oid, 'EXECUTE') AS authenticated "
        "FROM pg_proc p WHERE p.oid = 'database_size()'::regprocedure"
    ).fetchone()
    assert row == {
        "prosecdef": True,
        "proconfig": ["search_path=pg_catalog, pg_temp", "jit=off"],
        "service": True,
        "anon": False,
        "authenticated": False,
    }
    db.execute("SET ROLE service_role")
    assert db.execute("SELECT database_size() AS s").fetchone()["s"]["database_bytes"] > 0


async def test_failed_counts_follow_every_way_a_chunk_fails_or_goes(store: Store, db) -> None:
    """The poll reads each backfill's failed chunks from chunk_failure_counts, kept by
    triggers: failing (fail_chunk, a row inserted failed), stuck chunks failed by recovery,
    a failed chunk moved back, the cleanup's deletes and a removal all leave it equal to the
    chunks that are failed."""
    alpha = await store.register_backfill("octo", "alpha", 1000)
    beta = await store.register_backfill("octo", "beta", 1000)
    lease = await store.claim_backfill("w", only=[alpha.backfill_state_id], lease_seconds=1)
    assert lease is not None
    for _ in range(3):
        started = await store.start_chunk(lease, "w")
        assert started is not None and await store.fail_chunk(started, "boom")
    stuck = await store.start_chunk(lease, "w")  # its lease runs out: recovery fails it
    assert stuck is not None
    db.execute(
        "UPDATE backfill_chunks SET started_at = now() - interval '2 hours' WHERE id = %s",
        (stuck.id,),
    )
    db.execute(
        "UPDATE progressive_backfill_state SET lease_expires_at = now() - interval '1 hour' "
        "WHERE id = %s",
        (alpha.backfill_state_id,),
    )
    chunk(db, beta.backfill_state_id, 1, "failed", "40 days")  # the cleanup deletes it
    chunk(db, beta.backfill_state_id, 2, "failed", "1 day")
    chunk(db, beta.backfill_state_id, 3, "completed", "1 day")
    await recover(store, stuck_minutes=30, cleanup_days=30, dry_run=False)
    db.execute(  # one failed chunk of alpha counted as done after all
        "UPDATE backfill_chunks SET status = 'completed', completed_at = now(), "
        "failed_at = NULL WHERE id = (SELECT id FROM backfill_chunks WHERE status = 'failed' "
        "AND backfill_state_id = %s ORDER BY chunk_number LIMIT 1)",
        (alpha.backfill_state_id,),
    )

    actual = {
        r["backfill_state_id"]: r["n"]
        for r in db.execute(
            "SELECT backfill_state_id, count(*) AS n FROM backfill_chunks "
            "WHERE status = 'failed' GROUP BY backfill_state_id"
        ).fetchall()
    }
    assert actual == {alpha.backfill_state_id: 3, beta.backfill_state_id: 1}
    shown = {p.backfill_state_id: p.chunks_failed for p in await store.backfill_progress()}
    assert shown == actual

    await store.remove_repository(alpha.repository_id, dry_run=False)
    counted = db.execute("SELECT backfill_state_id, failed FROM chunk_failure_counts")
    assert {r["backfill_state_id"]: r["failed"] for r in counted} == {beta.backfill_state_id: 1}
