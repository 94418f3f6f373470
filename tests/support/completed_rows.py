"""Many completed repositories at once, by bulk SQL (no backfill walks): the rows a finished
backfill and sync leave, for tests of what is done with completed repositories at scale."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import psycopg


def mark_completed(
    db: psycopg.Connection,
    names: Sequence[str],
    *,
    total_prs: int | None,
    watermark: datetime | None,
    synced_minutes_ago: int = 60,
) -> None:
    """Register `names` (OWNER/NAME) completed, synced `synced_minutes_ago` minutes ago up
    to `watermark` (GitHub's newest updatedAt applied), holding `total_prs` PRs, their
    comments and review comments verified by that sync's upkeep (a first upkeep verifies
    every repository: at a thousand, 2,000 more listings, none of them what a test of the
    rows at scale is about). Commits."""
    owners = [n.split("/", 1)[0] for n in names]
    repos = [n.split("/", 1)[1] for n in names]
    db.execute(
        """
        WITH r AS (
            INSERT INTO repositories (owner, name)
            SELECT * FROM unnest(%s::text[], %s::text[])
            RETURNING id
        )
        INSERT INTO progressive_backfill_state
               (repository_id, status, total_prs, processed_prs, started_at, completed_at,
                sync_watermark, synced_at, fresh_as_of, sync_count,
                comments_verified_at, review_comments_verified_at)
        SELECT r.id, 'completed', %s, coalesce(%s, 0),
               now() - interval '2 days', now() - interval '1 day', %s,
               now() - make_interval(mins => %s), now() - make_interval(mins => %s), 1,
               now() - make_interval(mins => %s), now() - make_interval(mins => %s)
          FROM r
        """,
        (
            owners,
            repos,
            total_prs,
            total_prs,
            watermark,
            *[synced_minutes_ago] * 4,
        ),
    )
    db.commit()
