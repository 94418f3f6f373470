"""Recovery over 1,000,000 chunks of which 1% are stuck: seconds for the scan and the fix.

Usage: python bench/bench_recovery.py [--chunks N] [--stuck-percent P] [--prs-per-chunk K]

Uses BENCH_DATABASE_URL (a server where it may create and drop a database) or an embedded
Postgres (core/embedded.py) in a temporary directory. Rows are made with generate_series
in SQL, not through the store API, so the setup takes seconds. Prints one JSON line, then one
line for humans, and the plan of the stuck scan (it must use backfill_chunks_status_started_idx).

Data: 100 backfills of N/100 chunks each; completed chunks started over the last 40 days
(a quarter older than the 30-day cleanup age); stuck chunks (processing, started 31-90 minutes
ago) carry K recorded PR numbers of which a varying share is stored, so both decisions occur.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import dict_row
from support import figure, print_figures

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store import migrations

BACKFILLS = 100

SETUP = """
INSERT INTO repositories (owner, name)
SELECT 'bench', 'repo' || g FROM generate_series(1, %(backfills)s) g;
INSERT INTO progressive_backfill_state (repository_id, total_prs, status)
SELECT id, 1000000, 'active' FROM repositories;
CREATE TEMP TABLE b AS
SELECT s.id, s.repository_id, row_number() OVER (ORDER BY s.id) - 1 AS k
  FROM progressive_backfill_state s;
-- Chunk g belongs to backfill g mod 100; one in (100 / stuck_percent) is stuck, spread over
-- every backfill.
INSERT INTO backfill_chunks (backfill_state_id, chunk_number, status, started_at,
                             completed_at, pr_numbers, pr_count, inserted_prs, claim_token,
                             worker_id)
SELECT b.id, g / %(backfills)s + 1,
       CASE WHEN stuck THEN 'processing' ELSE 'completed' END,
       CASE WHEN stuck THEN now() - make_interval(mins => 31 + g %% 60)
            ELSE now() - make_interval(secs => (g::bigint * 7919) %% (40 * 86400)) END,
       CASE WHEN stuck THEN NULL
            ELSE now() - make_interval(secs => (g::bigint * 7919) %% (40 * 86400)) END,
       CASE WHEN stuck THEN ARRAY(SELECT (g / %(backfills)s) * %(prs)s + n
                                    FROM generate_series(1, %(prs)s) n) END,
       CASE WHEN stuck THEN %(prs)s END,
       CASE WHEN stuck THEN NULL ELSE 0 END,
       CASE WHEN stuck THEN 1 END,
       'bench-worker'
  FROM generate_series(0, %(chunks)s - 1) g
  CROSS JOIN LATERAL (SELECT (g / %(backfills)s + g) %% %(every)s = 7 AS stuck) x
  JOIN b ON b.k = g %% %(backfills)s;
-- Stored PRs for stuck chunks: the first (chunk_number mod (K+1)) of each chunk's numbers.
INSERT INTO pull_requests (repository_id, github_id, number, title, state, created_at,
                           updated_at)
SELECT s.repository_id, 'PR_' || c.id || '_' || n, n, 'bench', 'OPEN', now(), now()
  FROM backfill_chunks c
  JOIN progressive_backfill_state s ON s.id = c.backfill_state_id
  CROSS JOIN LATERAL unnest(c.pr_numbers[1:(c.chunk_number %% (%(prs)s + 1))]) n
 WHERE c.status = 'processing';
ANALYZE;
"""


def connect_admin() -> tuple[str, Any]:
    external = os.environ.get("BENCH_DATABASE_URL")
    if external:
        return external, None
    from core.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(Path(tempfile.mkdtemp()) / "pg")
    return server.acquire(), server


def stuck_scan_plan(conn: psycopg.Connection, stuck_minutes: int) -> str:
    """EXPLAIN ANALYZE of recovery_plan's own body (a function call would hide its plan)."""
    body = conn.execute("SELECT prosrc FROM pg_proc WHERE proname = 'recovery_plan'").fetchone()[
        "prosrc"
    ]
    body = re.sub(r"\bp_stuck_minutes\b", str(stuck_minutes), body).strip().rstrip(";")
    rows = conn.execute(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {body}").fetchall()
    return "\n".join(r["QUERY PLAN"] for r in rows)


def measure(chunks: int, stuck_percent: int, prs_per_chunk: int) -> tuple[dict[str, Any], str]:
    """Build the data, run a dry run, the live recovery and the cleanup drain; time them."""
    admin_url, server = connect_admin()
    dbname = f"bench_recovery_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    url = make_conninfo(admin_url, dbname=dbname)
    try:
        with psycopg.connect(url) as conn:
            migrations.apply(conn)
        with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
            started = time.perf_counter()
            params = {
                "backfills": BACKFILLS,
                "chunks": chunks,
                "every": 100 // stuck_percent,
                "prs": prs_per_chunk,
            }
            with psycopg.ClientCursor(conn) as cur:  # several statements: client-side binding
                cur.execute(SETUP, params)
            setup_seconds = time.perf_counter() - started
            stuck = conn.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
            ).fetchone()["n"]
            plan = stuck_scan_plan(conn, 30)

            def timed(query: str, params: tuple[Any, ...]) -> tuple[float, dict[str, Any]]:
                t = time.perf_counter()
                result = conn.execute(query, params).fetchone()["r"]
                return time.perf_counter() - t, result

            # Reference: the least any fix must do - one bare UPDATE of every stuck chunk
            # (no PR check, no decision), rolled back so the recovery below sees the same data.
            conn.execute("BEGIN")
            t = time.perf_counter()
            conn.execute(
                "UPDATE backfill_chunks SET status = 'failed', error = 'bench', failed_at = now(), "
                "claim_token = NULL WHERE status = 'processing' "
                "AND started_at < now() - interval '30 minutes'"
            )
            bare_update_s = time.perf_counter() - t
            conn.execute("ROLLBACK")
            dry_s, dry = timed("SELECT recover_stuck_chunks(%s, %s, true) AS r", (30, 30))
            live_s, live = timed("SELECT recover_stuck_chunks(%s, %s, false) AS r", (30, 30))
            drain_s, batches, deleted = 0.0, 1, live["cleanup"]["deleted"]
            remaining = live["cleanup"]["remaining"]
            while remaining > 0:
                s, more = timed("SELECT prune_completed_chunks(%s, 5000) AS r", (30,))
                drain_s, batches = drain_s + s, batches + 1
                deleted, remaining = deleted + more["deleted"], more["remaining"]
                if more["deleted"] == 0:
                    break
            left = conn.execute(
                "SELECT count(*) AS n FROM backfill_chunks WHERE status = 'processing'"
            ).fetchone()["n"]
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(dbname))
            )
        if server is not None:
            server.destroy()

    decisions = [c["decision"] for c in live["chunks"]]
    uses_index = "backfill_chunks_status_started_idx" in plan
    result = {
        "benchmark": "recovery",
        "chunks": chunks,
        "stuck": stuck,
        "prs_per_stuck_chunk": prs_per_chunk,
        "setup_seconds": round(setup_seconds, 2),
        "bare_update_seconds": round(bare_update_s, 3),
        "dry_run_seconds": round(dry_s, 3),
        "scan_and_fix_seconds": round(live_s, 3),
        "recovered_completed": decisions.count("completed"),
        "recovered_failed": decisions.count("failed"),
        "applied": sum(1 for c in live["chunks"] if c["outcome"] == "applied"),
        "processing_left": left,
        "cleanup_eligible": dry["cleanup"]["eligible"],
        "cleanup_deleted": deleted,
        "cleanup_batches": batches,
        "cleanup_drain_seconds": round(drain_s, 3),
        "plan_uses_status_started_idx": uses_index,
        "cpus": os.cpu_count(),
    }
    return result, plan


def run(quick: bool) -> list[dict]:
    chunks = 200_000 if quick else 1_000_000
    result, _ = measure(chunks, 1, 50)
    ok = result["plan_uses_status_started_idx"] and result["processing_left"] == 0
    rows = [
        figure(
            "recovery (issue 6)",
            f"recover_stuck_chunks, {chunks:,} chunks, {result['stuck']:,} stuck (scan + fix)",
            result["scan_and_fix_seconds"],
            "s",
            "one bare UPDATE of the stuck chunks (no checks)",
            result["bare_update_seconds"],
            "< 5 s; stuck-scan plan uses the index",
            ok and (result["scan_and_fix_seconds"] < 5 if not quick else None),
            f"index used: {result['plan_uses_status_started_idx']}; "
            f"{result['applied']:,} chunks fixed, {result['processing_left']} left processing"
            + ("; --quick: 200k chunks, the aim is for 1M" if quick else ""),
        )
    ]
    print_figures(rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=1_000_000)
    parser.add_argument("--stuck-percent", type=int, default=1, choices=(1, 2, 5, 10))
    parser.add_argument("--prs-per-chunk", type=int, default=50)
    args = parser.parse_args()
    result, plan = measure(args.chunks, args.stuck_percent, args.prs_per_chunk)
    stuck, left, uses_index = (
        result["stuck"],
        result["processing_left"],
        result["plan_uses_status_started_idx"],
    )
    print(json.dumps(result))
    print(
        f"recovery over {args.chunks:,} chunks ({stuck:,} stuck): scan+fix "
        f"{result['scan_and_fix_seconds']:.2f} s (dry run {result['dry_run_seconds']:.2f} s; "
        f"bare UPDATE of the stuck {result['bare_update_seconds']:.2f} s), "
        f"{result['applied']:,} applied "
        f"({result['recovered_completed']:,} completed, {result['recovered_failed']:,} failed), "
        f"{left} left processing; cleanup {result['cleanup_deleted']:,} chunks in "
        f"{result['cleanup_batches']} batches {result['cleanup_drain_seconds']:.2f} s; "
        f"index used: {uses_index}"
    )
    print("stuck scan plan:\n" + plan)
    return 0 if uses_index and left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
