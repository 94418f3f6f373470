"""Throughput of the two hottest SQL functions at 1, 4 and 16 concurrent sessions.

- get_next_chunk_number on ONE backfill (the worst case: every caller queues on one row lock)
- claim_backfill over 20,000 backfills (SKIP LOCKED in a CTE; each claim takes a fresh one)

Usage: python bench/bench_store.py [--seconds S]
Aim (issue 2): >= 2,000 numbers/s and >= 500 claims/s at 16 sessions on a 2-core machine.
Reference, measured in the same run: `SELECT 1` round trips per second at 16 sessions (the
ceiling any one-statement SQL function can reach on this server and machine).
"""

from __future__ import annotations

import argparse
import asyncio
import time

import psycopg
from support import figure, print_figures, report, scratch_database

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


def measure(seconds: float) -> dict[str, float]:
    figures: dict[str, float] = {}
    with scratch_database("bench_store") as url:
        with psycopg.connect(url, autocommit=True) as conn:
            (state_id,) = conn.execute(
                "SELECT backfill_state_id FROM register_backfill('bench', 'numbers', 1)"
            ).fetchone()
        figures["select1_per_s_16"] = asyncio.run(_rate(url, 16, seconds, "SELECT 1", ()))
        for sessions in (1, 4, 16):
            figures[f"chunk_numbers_per_s_{sessions}"] = asyncio.run(
                _rate(url, sessions, seconds, "SELECT get_next_chunk_number(%s)", (state_id,))
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
                _rate(url, sessions, seconds, "SELECT * FROM claim_backfill('w', 300)", ())
            )
    figures = {k: round(v, 1) for k, v in figures.items()}
    figures["numbers_ratio_to_aim"] = round(figures["chunk_numbers_per_s_16"] / 2000, 2)
    figures["claims_ratio_to_aim"] = round(figures["claims_per_s_16"] / 500, 2)
    return figures


def rows(figures: dict[str, float], seconds: float) -> list[dict]:
    ceiling = figures["select1_per_s_16"]
    reference = "`SELECT 1` round trips/s, 16 sessions"
    note = f"{seconds:g} s per measurement; embedded Postgres on this machine"
    return [
        figure(
            "store (issue 2)",
            "get_next_chunk_number, 16 sessions, one backfill",
            figures["chunk_numbers_per_s_16"],
            "numbers/s",
            reference,
            ceiling,
            ">= 2,000/s",
            figures["chunk_numbers_per_s_16"] >= 2000,
            note,
        ),
        figure(
            "store (issue 2)",
            "claim_backfill, 16 sessions, 20,000 backfills",
            figures["claims_per_s_16"],
            "claims/s",
            reference,
            ceiling,
            ">= 500/s",
            figures["claims_per_s_16"] >= 500,
            note,
        ),
    ]


def run(quick: bool) -> list[dict]:
    seconds = 1.0 if quick else 2.0
    result = rows(measure(seconds), seconds)
    print_figures(result)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    args = parser.parse_args()
    figures = measure(args.seconds)
    report(
        "store",
        figures,
        "get_next_chunk_number/s at 1/4/16 sessions: "
        + " / ".join(f"{figures[f'chunk_numbers_per_s_{n}']:,.0f}" for n in (1, 4, 16))
        + "; claims/s: "
        + " / ".join(f"{figures[f'claims_per_s_{n}']:,.0f}" for n in (1, 4, 16))
        + f"; SELECT 1/s at 16: {figures['select1_per_s_16']:,.0f}",
    )


if __name__ == "__main__":
    main()
