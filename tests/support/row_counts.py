"""Stored rows per repository counted for real, to hold `repository_row_counts` (kept by
triggers, migration 20250661000000) equal to them."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import psycopg

KINDS = ("pull_requests", "reviews", "comments", "review_threads", "review_comments")


def real_counts(db: psycopg.Connection[Any]) -> dict[UUID, dict[str, int]]:
    """count(*) of every stored table per repository, every repository listed
    (`db` must return dict rows)."""
    rows = db.execute(
        "SELECT r.id, "
        "(SELECT count(*) FROM pull_requests p WHERE p.repository_id = r.id) AS pull_requests, "
        + ", ".join(
            f"(SELECT count(*) FROM {t} x JOIN pull_requests p ON p.id = x.pull_request_id "
            f"WHERE p.repository_id = r.id) AS {t}"
            for t in KINDS[1:]
        )
        + " FROM repositories r"
    ).fetchall()
    return {row["id"]: {k: row[k] for k in KINDS} for row in rows}


def kept_counts(db: psycopg.Connection[Any]) -> dict[UUID, dict[str, int]]:
    """`repository_row_counts` as the same shape; a repository without a row has zeros."""
    rows = db.execute(
        "SELECT r.id, "
        + ", ".join(f"coalesce(k.{t}, 0) AS {t}" for t in KINDS)
        + " FROM repositories r LEFT JOIN repository_row_counts k ON k.repository_id = r.id"
    ).fetchall()
    return {row["id"]: {k: row[k] for k in KINDS} for row in rows}
