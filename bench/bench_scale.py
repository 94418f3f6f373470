"""At the scale users run it (issue 29): 1,000 repositories, 1M PRs, six months of history.

Usage: python bench/bench_scale.py [--quick] [--repositories N] [--prs N] [--days D]
                                   [--sync-minutes M] [--commit-prs N] [--children R,C,T]
                                   [--writes]

The data is what today's product leaves after D days without `recover`, loaded with bulk SQL
(generate_series): every repository backfilled (one completed chunk per 50 PRs) and then
synced every M minutes, each sync round a completed 'sync' chunk row (1% of them failed), 95%
of the backfills completed and 5% still active; N PRs spread evenly, each with R reviews and
C comments, every T-th with a review thread of one comment (--children, default 1,1,10: the
children's indexes at the loaded size; 3,2 as the page below is slower to load). Then:

1. the console's whole poll (`collect_stats` with a `PollCache`, what each refresh reads),
   p50/p95 over polls, and the same read whole (no cache: every row sent and validated);
2. the bytes one poll receives with nothing changed (the text of every value it reads);
3. `stats --json` and `recover --dry-run`, each the CLI as a user runs it (process start
   included);
4. a 37-PR `commit_chunk` (3 reviews, 2 comments and a review thread of 2 comments per PR)
   at the loaded size against the same at `--commit-prs` PRs (100,000, children alike; a
   scratch database of its own), median of 20, and the WAL each page writes;
5. `remove --dry-run`'s count of the largest repository (best of 3);
6. rows each table gains per idle sync round (the freshness probe's store calls for every
   repository, each found unchanged), scaled to a day of rounds every M minutes;
7. the cleanup drained as `recover` drains it (everything completed over a day ago, 5,000
   rows a batch): ms per batch, the last ten against the first ten.

--writes measures 4-7 only (the loaded size reached in less time).

Aims (issue 29): poll p95 < 100 ms, < 50 KB a poll with nothing changed, stats --json and
recover --dry-run < 1 s each, commit_chunk at 5M <= 1.5x its time at 100k, remove's count
< 1 s, no table growing with idle rounds, a cleanup batch costing the same at the end of a
backlog as at its start.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import figure, print_figures, scratch_database
from core.monitoring import PollCache, collect_stats
from core.store import migrations, postgres_store
from tests.support.store_rows import pull_request

NAME = "scale (issue 29)"
PRS_PER_CHUNK = 50

LOAD = """
INSERT INTO repositories (owner, name)
SELECT 'scale', 'repo' || g FROM generate_series(1, %(repos)s) g;
INSERT INTO progressive_backfill_state (repository_id, status, total_prs, processed_prs,
                                        last_chunk_number, created_at, started_at,
                                        completed_at, synced_at, fresh_as_of, sync_watermark,
                                        sync_count, progressed_at)
SELECT r.id, CASE WHEN k %% 20 = 0 THEN 'active' ELSE 'completed' END,
       %(per_repo)s, %(per_repo)s,
       %(chunks_per_repo)s + %(rounds)s,
       now() - make_interval(days => %(days)s) - interval '1 day',
       now() - make_interval(days => %(days)s) - interval '1 day',
       CASE WHEN k %% 20 = 0 THEN NULL ELSE now() - make_interval(days => %(days)s) END,
       now() - make_interval(mins => k %% %(sync_minutes)s),
       now() - make_interval(mins => k %% %(sync_minutes)s),
       now() - interval '1 day', %(rounds)s, now() - interval '1 day'
  FROM (SELECT id, (row_number() OVER (ORDER BY name))::integer AS k FROM repositories) r;
CREATE TEMP TABLE b AS
SELECT s.id, s.repository_id, (row_number() OVER (ORDER BY s.id))::integer AS k
  FROM progressive_backfill_state s;
INSERT INTO pull_requests (repository_id, github_id, database_id, number, title, body, state,
                           created_at, updated_at, additions, deletions, changed_files,
                           base_ref_name, head_ref_name, url, labels, merged, merged_at,
                           closed_at)
SELECT b.repository_id, 'PR_' || b.k || '_' || n, b.k * 1000000 + n, n,
       'Change number ' || n, repeat('text ', 40), 'MERGED', t,
       now() - make_interval(days => 200) + make_interval(mins => n), 10, 2, 1,
       'main', 'feature-' || n, 'https://github.com/scale/repo' || b.k || '/pull/' || n,
       '{bug}', true, t, t
  FROM b CROSS JOIN generate_series(1, %(per_repo)s) n
  CROSS JOIN LATERAL (SELECT now() - make_interval(days => 400)
                             + make_interval(mins => n) AS t) x;
INSERT INTO backfill_chunks (backfill_state_id, chunk_number, status, started_at,
                             completed_at, pr_count, inserted_prs, cursor_after, worker_id,
                             kind)
SELECT b.id, g, 'completed',
       now() - make_interval(days => %(days)s + 1, secs => g * 20),
       now() - make_interval(days => %(days)s + 1, secs => g * 20 - 5),
       %(chunk_prs)s, %(chunk_prs)s, 'cursor' || g, 'bench-worker', 'backfill'
  FROM b CROSS JOIN generate_series(1, %(chunks_per_repo)s) g;
INSERT INTO backfill_chunks (backfill_state_id, chunk_number, status, started_at,
                             completed_at, failed_at, error, claim_token, pr_count,
                             inserted_prs, worker_id, kind)
SELECT b.id, %(chunks_per_repo)s + g,
       CASE WHEN (g + b.k) %% 100 = 0 THEN 'failed' ELSE 'completed' END,
       t, CASE WHEN (g + b.k) %% 100 = 0 THEN NULL ELSE t + interval '1 second' END,
       CASE WHEN (g + b.k) %% 100 = 0 THEN t + interval '1 second' END,
       CASE WHEN (g + b.k) %% 100 = 0 THEN '502 from GitHub' END,
       1, 0, 0, 'bench-worker', 'sync'
  FROM b CROSS JOIN generate_series(1, %(rounds)s) g
  CROSS JOIN LATERAL (SELECT now() - make_interval(days => %(days)s)
                             + make_interval(mins => g * %(sync_minutes)s - b.k %% 15) AS t) x;
"""


CHILDREN = """
INSERT INTO contributors (github_id, login, type)
SELECT 'U_scale' || g, 'scale' || g, 'User' FROM generate_series(1, 100) g
ON CONFLICT DO NOTHING;
CREATE TEMP TABLE people AS
SELECT id, (row_number() OVER (ORDER BY github_id))::integer - 1 AS k FROM contributors;
INSERT INTO reviews (pull_request_id, github_id, author_id, state, body, submitted_at,
                     created_at)
SELECT p.id, 'PRR_' || p.github_id || '_' || g, a.id, 'APPROVED', '', p.created_at,
       p.created_at
  FROM pull_requests p CROSS JOIN generate_series(1, %(reviews)s) g
  JOIN people a ON a.k = (p.number + g) %% 100;
INSERT INTO comments (pull_request_id, github_id, author_id, body, created_at)
SELECT p.id, 'IC_' || p.github_id || '_' || g, a.id, 'a comment', p.created_at
  FROM pull_requests p CROSS JOIN generate_series(1, %(comments)s) g
  JOIN people a ON a.k = (p.number + 7 * g) %% 100;
INSERT INTO review_threads (pull_request_id, github_id, path, line)
SELECT p.id, 'PRRT_' || p.github_id, 'src/app.py', 12
  FROM pull_requests p WHERE p.number %% %(thread_every)s = 0;
INSERT INTO review_comments (pull_request_id, thread_id, github_id, author_id, body, path,
                             created_at)
SELECT t.pull_request_id, t.id, 'PRRC_' || t.github_id, NULL, 'nit', 'src/app.py', now()
  FROM review_threads t
"""


def load_children(url: str, *, reviews: int, comments: int, thread_every: int) -> float:
    """Reviews and comments for every loaded PR, a review thread (one comment) for every
    `thread_every`-th: the children's tables and indexes at the loaded size. Seconds taken."""
    started = time.perf_counter()
    params = {"reviews": reviews, "comments": comments, "thread_every": thread_every}
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        with conn.transaction():
            for statement in CHILDREN.split(";\n"):
                if statement.strip():
                    conn.execute(statement, params)
        conn.execute("VACUUM ANALYZE")
    return time.perf_counter() - started


def load(url: str, *, repos: int, prs: int, days: int, sync_minutes: int) -> dict[str, Any]:
    """Bulk-load the history; the seconds it took and the rows made."""
    per_repo = max(prs // repos, 1)
    params = {
        "repos": repos,
        "per_repo": per_repo,
        "chunk_prs": min(PRS_PER_CHUNK, per_repo),
        "chunks_per_repo": max(per_repo // PRS_PER_CHUNK, 1),
        "rounds": days * 24 * 60 // sync_minutes - 1,
        "days": days,
        "sync_minutes": sync_minutes,
    }
    started = time.perf_counter()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SET maintenance_work_mem = '256MB'")
        conn.execute("ALTER TABLE progressive_backfill_state DISABLE TRIGGER USER")
        with conn.transaction():
            for statement in LOAD.split(";\n"):
                if statement.strip():
                    conn.execute(statement, params)
        conn.execute("ALTER TABLE progressive_backfill_state ENABLE TRIGGER USER")
        conn.execute("VACUUM ANALYZE")
        chunks = conn.execute("SELECT count(*) FROM backfill_chunks").fetchone()[0]
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
    return {
        "seconds": time.perf_counter() - started,
        "chunks": chunks,
        "prs": per_repo * repos,
        "bytes": size,
    }


def poll_bytes(url: str) -> tuple[int, int]:
    """What one poll receives with nothing changed, as the console polls (only the rows it
    does not hold) and as a whole read (`stats`): the text of every value read."""
    rest = [
        "SELECT backfill_workers_snapshot()::text",
        "SELECT coalesce(json_agg(x)::text, '') FROM chunk_statistics("
        "interval '24 hours', NULL, 30) x",
        "SELECT coalesce(json_agg(x)::text, '') FROM github_rate_limit_rows() x",
        "SELECT coalesce(json_agg(x)::text, '') FROM (SELECT * FROM recovery_plan(30) LIMIT 100) x",
    ]
    whole = [
        "SELECT backfill_progress_snapshot(interval '15 minutes')::text",
        "SELECT sync_freshness_snapshot()::text",
    ]
    changes = "SELECT monitoring_changes(interval '15 minutes', %s, %s)"
    with psycopg.connect(url) as conn:

        def size(queries: list[str]) -> int:
            return sum(len(conn.execute(q).fetchone()[0].encode()) for q in queries)

        first = conn.execute(changes, (None, None)).fetchone()[0]
        known = ([r["h"] for r in first["progress"]], [r["h"] for r in first["freshness"]])
        again = conn.execute(
            "SELECT monitoring_changes(interval '15 minutes', %s, %s)::text", known
        )
        delta = len(again.fetchone()[0].encode())
        return size(rest) + delta, size(rest) + size(whole)


async def polls(url: str, count: int, *, cached: bool = True) -> list[float]:
    """Milliseconds of `count` polls. `cached`: as the console polls (its PollCache: only the
    rows that changed are sent and validated); else a whole read of the same (as `stats`)."""
    store = await postgres_store(url, max_size=6)
    try:
        cache = PollCache() if cached else None
        await collect_stats(store, cache=cache)  # connections made, plans warm, rows held
        times = []
        for _ in range(count):
            started = time.perf_counter()
            await collect_stats(store, cache=cache)
            times.append((time.perf_counter() - started) * 1000)
        return times
    finally:
        await store.close()


def cli_seconds(url: str, *args: str, runs: int = 3) -> float:
    """The best of `runs` wall times of the CLI as a user runs it.

    The CLI reads the migrations in the tree when it starts; the database has those the tree
    held when the load began, up to ~40 minutes earlier at six months. A migration added in
    between (a merge, another helper's commit in a shared tree) makes every command refuse
    with "the database schema is behind", exit 1: that was the six-month `stats --json` exit
    1 of the first run, not a fault of six months of history. Said so here, not measured."""
    with psycopg.connect(url) as conn:
        behind = migrations.pending(conn)
    if behind:
        names = ", ".join(m.name for m in behind)
        print(
            f"{' '.join(args)} not measured: the tree gained {len(behind)} migration(s) "
            f"after the load began ({names})",
            file=sys.stderr,
        )
        return float("inf")
    env = {**os.environ, "DATABASE_URL": url}
    env.pop("SUPABASE_URL", None)
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "console.cli", *args],
            env=env,
            check=False,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if done.returncode != 0:  # a figure, not a crash: the others still count
            print(
                f"{' '.join(args)} exited {done.returncode}: {done.stderr[-500:]}", file=sys.stderr
            )
            return float("inf")
        best = min(best, time.perf_counter() - started)
    return best


async def commit_ms(url: str, pages: int = 20) -> tuple[float, float]:
    """Median ms and median WAL KB of a 37-PR commit_chunk (3 reviews, 2 comments, a review
    thread with 2 comments per PR) into a fresh backfill of the loaded database."""
    store = await postgres_store(url, max_size=2)
    try:
        reg = await store.register_backfill("commit", f"bench{time.time_ns()}", 10_000)
        lease = await store.claim_backfill("bench-commit", only=[reg.backfill_state_id])
        assert lease is not None
        times, wal = [], []
        with psycopg.connect(url, autocommit=True) as conn:
            for page in range(pages):
                chunk = await store.start_chunk(lease, "bench-commit")
                assert chunk is not None
                prs = [
                    pull_request(
                        page * 37 + i + 1,
                        reviews=3,
                        comments=2,
                        threads=[2],
                        prefix=f"B{time.time_ns()}",
                    )
                    for i in range(37)
                ]
                before = conn.execute("SELECT pg_current_wal_insert_lsn()").fetchone()[0]
                started = time.perf_counter()
                result = await store.commit_chunk(
                    chunk, prs, cursor_after=f"c{page}", has_next_page=True, total_prs=10_000
                )
                times.append((time.perf_counter() - started) * 1000)
                assert result.committed
                wal.append(
                    float(
                        conn.execute(
                            "SELECT pg_current_wal_insert_lsn() - %s::pg_lsn", (before,)
                        ).fetchone()[0]
                    )
                    / 1024
                )
        return statistics.median(times), statistics.median(wal)
    finally:
        await store.close()


async def prune_batches(url: str, cleanup_days: int, batch: int = 5000) -> dict[str, Any]:
    """Drain the cleanup as `recover` does after its first batch (count=False, one short
    transaction each): ms per batch, the first ten against the last ten."""
    store = await postgres_store(url, max_size=2)
    times: list[float] = []
    deleted = 0
    try:
        while True:
            started = time.perf_counter()
            done = await store.prune_completed_chunks(
                cleanup_days=cleanup_days, batch=batch, count=False
            )
            times.append((time.perf_counter() - started) * 1000)
            step = int(done["deleted"]) + int(done["failed_deleted"])
            deleted += step
            if not done["more"] or step == 0:
                break
    finally:
        await store.close()
    full = times[:-1] or times  # the last batch is partial
    return {
        "first": statistics.median(full[:10]),
        "last": statistics.median(full[-10:]),
        "batches": len(times),
        "deleted": deleted,
        "seconds": sum(times) / 1000,
    }


async def remove_count_ms(url: str) -> tuple[float, int]:
    """`remove --dry-run` of the repository with the most PRs: ms of its count, its PRs."""
    with psycopg.connect(url) as conn:
        repository_id, prs = conn.execute(
            "SELECT repository_id, count(*) FROM pull_requests GROUP BY 1 ORDER BY 2 DESC LIMIT 1"
        ).fetchone()
    store = await postgres_store(url, max_size=2)
    try:
        await store.remove_repository(repository_id, dry_run=True)  # plans and cache warm
        times = []
        for _ in range(3):
            started = time.perf_counter()
            counted = await store.remove_repository(repository_id, dry_run=True)
            times.append((time.perf_counter() - started) * 1000)
        assert counted.pull_requests == prs
        return min(times), prs
    finally:
        await store.close()


COUNTED = ("backfill_chunks", "workers", "progressive_backfill_state", "pull_requests")


async def idle_round_rows(url: str, repositories: int) -> dict[str, int]:
    """Rows each table gains in one sync round that finds nothing, over `repositories`
    completed repositories, as a round runs now: the freshness probe claims them a hundred at
    a time (`claim_probe`) and settles each unchanged (`settle_probe`, GitHub's count and no
    newer PR), so no sync walk starts."""

    def counts() -> dict[str, int]:
        with psycopg.connect(url) as conn:
            return {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in COUNTED}

    with psycopg.connect(url) as conn:  # every completed repository due
        conn.execute("UPDATE progressive_backfill_state SET synced_at = now() - interval '1 hour'")
        totals = dict(conn.execute("SELECT id, total_prs FROM progressive_backfill_state"))
    before = counts()
    store = await postgres_store(url, max_size=2)
    try:
        done = 0
        while done < repositories:
            leases = await store.claim_probe("bench-probe", older_than=timedelta(minutes=30))
            if not leases:
                break
            for lease in leases:
                settled = await store.settle_probe(lease, None, totals[lease.backfill_state_id])
                assert settled == "unchanged", settled
            done += len(leases)
    finally:
        await store.close()
    after = counts()
    return {t: after[t] - before[t] for t in COUNTED}


def read_figures(url: str, quick: bool, setting: str) -> list[dict[str, Any]]:
    """Figures 1-3: the console's poll, its bytes, `stats --json` and `recover --dry-run`."""
    rows: list[dict[str, Any]] = []
    for label, cached in (
        ("console's whole poll (as the console polls, its PollCache): p95", True),
        ("the same read whole, every row sent and validated (as `stats`): p95", False),
    ):
        times = asyncio.run(polls(url, 10 if quick else 40, cached=cached))
        p95 = sorted(times)[max(int(len(times) * 0.95) - 1, 0)]
        rows.append(
            figure(
                NAME,
                label,
                p95,
                "ms",
                "the 2 s refresh",
                2000,
                "p95 < 100 ms",
                p95 < 100,
                f"p50 {statistics.median(times):.1f} ms over {len(times)} polls; {setting}",
            )
        )
    size, whole = poll_bytes(url)
    rows.append(
        figure(
            NAME,
            "bytes one poll receives, nothing changed",
            size / 1000,
            "KB",
            "a whole read of the same (as `stats`)",
            whole / 1000,
            "< 50 KB",
            size < 50_000,
            setting,
        )
    )
    for label, args in (
        ("`stats --json`", ("stats", "--json")),
        ("`recover --dry-run`", ("recover", "--dry-run", "--json")),
    ):
        seconds = cli_seconds(url, *args)
        rows.append(
            figure(
                NAME,
                f"{label}, process start included",
                seconds,
                "s",
                "the aim",
                1,
                "< 1 s",
                seconds < 1,
                f"best of 3; {setting}",
            )
        )
    return rows


def measure(quick: bool, args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    reviews, comments, thread_every = args.children
    kids = (
        f"{reviews} review(s), {comments} comment(s) per PR, a review thread with a comment on "
        f"every {thread_every}th"
    )
    with scratch_database("bench_scale") as url:
        loaded = load(
            url,
            repos=args.repositories,
            prs=args.prs,
            days=args.days,
            sync_minutes=args.sync_minutes,
        )
        loaded["seconds"] += load_children(
            url, reviews=reviews, comments=comments, thread_every=thread_every
        )
        with psycopg.connect(url) as conn:
            loaded["bytes"] = conn.execute(
                "SELECT pg_database_size(current_database())"
            ).fetchone()[0]
        setting = (
            f"{args.repositories:,} repositories, {loaded['prs']:,} PRs ({kids}), "
            f"{loaded['chunks']:,} chunk rows ({args.days} days, a sync round every "
            f"{args.sync_minutes} min), {loaded['bytes'] / 1e9:.2f} GB, loaded in "
            f"{loaded['seconds']:.0f} s"
        )
        if not args.writes:
            rows.extend(read_figures(url, quick, setting))
        big, big_wal = asyncio.run(commit_ms(url))
        removal_ms, removal_prs = asyncio.run(remove_count_ms(url))
        gained = asyncio.run(idle_round_rows(url, args.repositories))
        pruned = asyncio.run(prune_batches(url, cleanup_days=1))
    with scratch_database("bench_scale_small") as small_url:
        load(small_url, repos=100, prs=args.commit_prs, days=1, sync_minutes=60)
        load_children(small_url, reviews=reviews, comments=comments, thread_every=thread_every)
        small, small_wal = asyncio.run(commit_ms(small_url))
    rows.append(
        figure(
            NAME,
            f"37-PR commit_chunk at {loaded['prs']:,} PRs (median of 20)",
            big,
            "ms",
            f"the same at {args.commit_prs:,} PRs",
            small,
            "<= 1.5x at 5M PRs",
            big <= 1.5 * small if loaded["prs"] >= 5_000_000 else None,
            "each PR with 3 reviews, 2 comments, a review thread of 2 comments; WAL a page "
            f"{big_wal:,.0f} KB against {small_wal:,.0f} KB; loaded {kids}",
        )
    )
    rows.append(
        figure(
            NAME,
            f"`remove --dry-run` count of a {removal_prs:,}-PR repository (best of 3)",
            removal_ms,
            "ms",
            "the aim",
            1000,
            "< 1 s, whatever the database's size",
            removal_ms < 1000,
            setting,
        )
    )
    rows.append(
        figure(
            NAME,
            "cleanup: ms per 5,000-row batch, the last ten against the first ten",
            pruned["last"],
            "ms",
            "the first ten batches",
            pruned["first"],
            "linear in what it deletes (ratio ~1)",
            pruned["last"] <= 1.5 * pruned["first"],
            f"{pruned['deleted']:,} rows deleted in {pruned['batches']} batches, "
            f"{pruned['seconds']:.1f} s (count=False, as `recover` drains)",
        )
    )
    per_day = 24 * 60 // args.sync_minutes
    grown = {t: n * per_day for t, n in gained.items() if n}
    rows.append(
        figure(
            NAME,
            "rows gained per day by idle sync rounds (all tables)",
            sum(grown.values()),
            "rows/day",
            "none",
            0,
            "none grows with idle rounds",
            not grown,
            f"{args.repositories:,} repositories probed unchanged, a round every "
            f"{args.sync_minutes} min: "
            + (", ".join(f"{t} {n:,}" for t, n in grown.items()) or "none"),
        )
    )
    return rows


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repositories", type=int, default=None)
    p.add_argument("--prs", type=int, default=None)
    p.add_argument("--days", type=int, default=None)
    p.add_argument("--sync-minutes", type=int, default=15)
    p.add_argument("--commit-prs", type=int, default=100_000)
    p.add_argument(
        "--children",
        type=lambda v: tuple(int(x) for x in v.split(",")),
        default=(1, 1, 10),
        metavar="R,C,T",
        help="loaded per PR: R reviews, C comments, a review thread on every T-th (1,1,10)",
    )
    p.add_argument(
        "--writes", action="store_true", help="only the write figures (4-7), not the reads"
    )
    return p


def arguments(quick: bool, argv: list[str] | None = None) -> argparse.Namespace:
    args = parser().parse_args(argv if argv is not None else [])
    quick = quick or args.quick
    args.repositories = args.repositories or (100 if quick else 1000)
    args.prs = args.prs or (50_000 if quick else 1_000_000)
    args.days = args.days or (14 if quick else 180)
    if quick:
        args.commit_prs = min(args.commit_prs, 20_000)
    return args


def run(quick: bool) -> list[dict[str, Any]]:
    return measure(quick, arguments(quick))


def main() -> None:
    args = arguments(False, sys.argv[1:])
    print_figures(measure(args.quick, args))


if __name__ == "__main__":
    main()
