"""Throughput of the two hottest SQL functions at 1, 4 and 16 concurrent sessions.

- get_next_chunk_number on ONE backfill (the worst case: every caller queues on one row lock)
- claim_backfill over 20,000 backfills (SKIP LOCKED in a CTE; each claim takes a fresh one)

Usage: python bench/bench_store.py [--seconds S]
Aim (issue 2): >= 2,000 numbers/s and >= 500 claims/s at 16 sessions on a 2-core machine.
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg
from support import report, scratch_database

BACKFILLS = 20_000


async def _rate(url: str, sessions: int, seconds: float, statement: str, params: tuple) -> float:
    conns = [await psycopg.AsyncConnection.connect(url, autocommit=True) for _ in range(sessions)]
    done = 0
    stop_at = time.perf_counter() + seconds

    async def loop(conn: psycopg.AsyncConnection) -> None:
        nonlocal done
        while time.perf_counter() < stop_at:
            cur = await conn.execute(statement, params)
            if await cur.fetchone() is None:
                return
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in conns))
    elapsed = time.perf_counter() - started
    for c in conns:
        await c.close()
    return done / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    figures: dict[str, float] = {}
    with scratch_database("bench_store") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            (state_id,) = conn.execute(
                "SELECT backfill_state_id FROM register_backfill('bench', 'numbers', 1)"
            ).fetchone()
        for sessions in (1, 4, 16):
            figures[f"chunk_numbers_per_s_{sessions}"] = asyncio.run(
                _rate(url, sessions, args.seconds, "SELECT get_next_chunk_number(%s)", (state_id,))
            )
        for sessions in (1, 4, 16):
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("TRUNCATE repositories CASCADE")
                conn.execute(
                    "INSERT INTO repositories (owner, name) "
                    "SELECT 'bench', 'r' || g FROM generate_series(1, %s) g",
                    (BACKFILLS,),
                )
                conn.execute(
                    "INSERT INTO progressive_backfill_state (repository_id) "
                    "SELECT id FROM repositories"
                )
                conn.execute("ANALYZE")
            figures[f"claims_per_s_{sessions}"] = asyncio.run(
                _rate(url, sessions, args.seconds, "SELECT * FROM claim_backfill('w', 300)", ())
            )
    figures = {k: round(v, 1) for k, v in figures.items()}
    figures["numbers_ratio_to_aim"] = round(figures["chunk_numbers_per_s_16"] / 2000, 2)
    figures["claims_ratio_to_aim"] = round(figures["claims_per_s_16"] / 500, 2)
    report(
        "store",
        figures,
        "get_next_chunk_number/s at 1/4/16 sessions: "
        + " / ".join(f"{figures[f'chunk_numbers_per_s_{n}']:,.0f}" for n in (1, 4, 16))
        + "; claims/s: "
        + " / ".join(f"{figures[f'claims_per_s_{n}']:,.0f}" for n in (1, 4, 16)),
    )


if __name__ == "__main__":
    main()
