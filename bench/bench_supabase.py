"""PRs stored per second through the PostgREST transport against the psycopg one.

Both transports commit the same pages - 100 PRs each, with reviews, comments and authors - by
the same SQL function `commit_chunk`, into twin databases on one Postgres. PostgREST is the
real binary (tests/support/supabase_stack.py), behind the `/rest/v1` proxy as supabase-py expects.
Timed: start_chunk + commit_chunk per page, at 1 and 4 concurrent workers (one backfill each).

Usage: python bench/bench_supabase.py [--pages N] [--reviews R] [--comments C]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from support import admin_url, figure, print_figures, report

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.store import Store, postgres_store, supabase_store
from tests.support.store_rows import pull_request
from tests.support.supabase_stack import SupabaseStack, Unavailable, ensure_roles, prepare_database

PAGE = 100


def pages(worker: int, count: int, reviews: int, comments: int) -> list[list[dict[str, Any]]]:
    return [
        [
            pull_request(
                p * PAGE + n + 1,
                reviews=reviews,
                comments=comments,
                prefix=f"W{worker}_",
                author=f"user{n % 17}",
            )
            for n in range(PAGE)
        ]
        for p in range(count)
    ]


async def store_prs(store: Store, workers: int, data: list[list[list[dict[str, Any]]]]) -> float:
    """PRs per second committed by `workers` concurrent workers, one backfill each."""
    leases = []
    for w in range(workers):
        total = len(data[w]) * PAGE
        reg = await store.register_backfill("bench", f"{data[w][0][0]['github_id']}", total)
        lease = await store.claim_backfill(f"w{w}", 600, only=[reg.backfill_state_id])
        assert lease is not None
        leases.append(lease)

    async def work(w: int) -> None:
        for i, page in enumerate(data[w]):
            chunk = await store.start_chunk(leases[w], f"w{w}")
            assert chunk is not None
            result = await store.commit_chunk(
                chunk, page, cursor_after=f"c{i}", has_next_page=True, total_prs=10**6
            )
            assert result.committed and result.inserted_prs == PAGE

    started = time.perf_counter()
    await asyncio.gather(*(work(w) for w in range(workers)))
    elapsed = time.perf_counter() - started
    return sum(len(d) for d in data[:workers]) * PAGE / elapsed


async def run_both(stack: SupabaseStack, pg_url: str, args: argparse.Namespace) -> dict[str, float]:
    figures: dict[str, float] = {}
    postgres = await postgres_store(pg_url, max_size=8)
    supabase = await supabase_store(stack.url, stack.service_key)
    try:
        warm = [pages(99, 2, args.reviews, args.comments)]  # connections, plans, caches
        await store_prs(postgres, 1, warm)
        await store_prs(supabase, 1, [pages(98, 2, args.reviews, args.comments)])
        for workers in (1, 4):
            # Fresh PR ids per run; the same data for both transports.
            data = [
                pages(workers * 10 + w, args.pages, args.reviews, args.comments)
                for w in range(workers)
            ]
            figures[f"postgres_prs_per_s_{workers}"] = await store_prs(postgres, workers, data)
            figures[f"supabase_prs_per_s_{workers}"] = await store_prs(supabase, workers, data)
    finally:
        await supabase.close()
        await postgres.close()
    return figures


def measure(pages_per_worker: int, reviews: int, comments: int) -> dict[str, float]:
    args = argparse.Namespace(pages=pages_per_worker, reviews=reviews, comments=comments)
    with admin_url() as admin, tempfile.TemporaryDirectory() as tmp:
        # Twin databases: one for each transport, so neither sees the other's rows.
        password = ensure_roles(admin)
        pg_url = prepare_database(admin, "bench_supabase_pg")
        rest_url = prepare_database(admin, "bench_supabase_rest")
        stack = SupabaseStack(rest_url, password, Path(tmp)).start()
        try:
            figures = asyncio.run(run_both(stack, pg_url, args))
        finally:
            stack.stop()
    out: dict[str, float] = {k: round(v, 1) for k, v in figures.items()}
    for workers in (1, 4):
        out[f"ratio_{workers}"] = round(
            figures[f"supabase_prs_per_s_{workers}"] / figures[f"postgres_prs_per_s_{workers}"], 3
        )
    out.update(page_size=PAGE, reviews_per_pr=reviews, comments_per_pr=comments)
    return out


def run(quick: bool) -> list[dict]:
    pages_per_worker = 8 if quick else 20
    try:
        out = measure(pages_per_worker, 3, 2)
    except Unavailable as exc:
        rows = [
            figure(
                "Supabase transport (issue 8)",
                "PRs stored/s through PostgREST",
                0,
                "PRs/s",
                "psycopg, same pages",
                0,
                "a ratio (no aim set)",
                None,
                f"skipped: PostgREST unavailable ({exc})",
            )
        ]
        print_figures(rows)
        return rows
    rows = [
        figure(
            "Supabase transport (issue 8)",
            f"PRs stored/s through PostgREST, {w} worker(s)",
            out[f"supabase_prs_per_s_{w}"],
            "PRs/s",
            "psycopg transport, same pages, same SQL function",
            out[f"postgres_prs_per_s_{w}"],
            "a ratio; no aim in issue 8",
            None,
            f"{pages_per_worker} pages of 100 PRs per worker, 3 reviews + 2 comments per PR",
        )
        for w in (1, 4)
    ]
    print_figures(rows)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=20, help="pages per worker (100 PRs each)")
    parser.add_argument("--reviews", type=int, default=3, help="reviews per PR")
    parser.add_argument("--comments", type=int, default=2, help="comments per PR")
    args = parser.parse_args()
    out = measure(args.pages, args.reviews, args.comments)
    report(
        "supabase",
        out,
        "PRs stored/s, PostgREST vs psycopg: "
        + "; ".join(
            f"{w} worker(s) {out[f'supabase_prs_per_s_{w}']:,.0f} vs "
            f"{out[f'postgres_prs_per_s_{w}']:,.0f} (ratio {out[f'ratio_{w}']:.2f})"
            for w in (1, 4)
        ),
    )


if __name__ == "__main__":
    main()
