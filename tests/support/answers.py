"""Runs a backfill against a simulator with chosen answers, and reads back what it stored."""

from __future__ import annotations

from typing import Any

from core.backfill.runtime import Engine
from core.backfill.worker import Worker, WorkerOptions
from core.simulator import RepoSpec, SimConfig, Simulator


async def run(engine: Engine, **options: Any) -> Worker:
    opts: dict[str, Any] = dict(
        until_idle=True, idle_interval=0.05, max_failures_in_a_row=3, cooldown_base=1
    )
    opts.update({"max_runtime": 60, **options})
    worker = Worker(engine.store, engine.client, engine.presence, WorkerOptions(**opts))
    await worker.run()
    return worker


def state(db) -> dict[str, dict[str, Any]]:
    rows = db.execute(
        """SELECT r.owner || '/' || r.name AS repo, s.status, s.last_error, s.processed_prs,
                  s.total_prs,
                  (SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id) AS stored,
                  (SELECT count(*) FROM backfill_chunks c
                    WHERE c.backfill_state_id = s.id AND c.status = 'processing') AS processing,
                  (SELECT count(*) FROM backfill_chunks c
                    WHERE c.backfill_state_id = s.id AND c.status = 'failed') AS failed,
                  (SELECT array_agg(c.error ORDER BY c.chunk_number) FROM backfill_chunks c
                    WHERE c.backfill_state_id = s.id AND c.status = 'failed') AS errors
             FROM repositories r JOIN progressive_backfill_state s ON s.repository_id = r.id"""
    ).fetchall()
    return {row["repo"]: row for row in rows}


def sim_for(*repos: RepoSpec, **config: Any) -> Simulator:
    return Simulator(SimConfig(repos=list(repos), seed=1, **config))
