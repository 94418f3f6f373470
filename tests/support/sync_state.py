"""Comparing the database with the simulator's truth (`/_sim/truth`), field by field."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.request
from typing import Any

import psycopg
from psycopg.rows import dict_row

FIELDS = ("id", "state", "merged", "title", "reviews", "comments", "labels")


def stored(database_url: str, repo: str) -> dict[int, dict[str, Any]]:
    """The repository's PRs as stored, in the shape of /_sim/truth."""
    owner, name = repo.split("/")
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        rows = db.execute(
            """
            SELECT p.number, p.github_id AS id, p.state, p.merged, p.title,
                   p.updated_at, p.labels,
                   coalesce((SELECT array_agg(v.github_id ORDER BY v.github_id) FROM reviews v
                              WHERE v.pull_request_id = p.id), '{}') AS reviews,
                   coalesce((SELECT array_agg(c.github_id ORDER BY c.github_id) FROM comments c
                              WHERE c.pull_request_id = p.id), '{}') AS comments,
                   coalesce((SELECT jsonb_agg(jsonb_build_object(
                                'id', t.github_id, 'isResolved', t.is_resolved,
                                'isOutdated', t.is_outdated,
                                'comments', coalesce((SELECT jsonb_agg(rc.github_id)
                                                        FROM review_comments rc
                                                       WHERE rc.thread_id = t.id), '[]')))
                               FROM review_threads t
                              WHERE t.pull_request_id = p.id), '[]') AS review_threads
              FROM pull_requests p JOIN repositories r ON r.id = p.repository_id
             WHERE r.owner = %s AND r.name = %s
            """,
            (owner, name),
        ).fetchall()
    return {row["number"]: row for row in rows}


def differences(database_url: str, truth: dict[str, Any]) -> list[str]:
    """Every field where the database and GitHub's truth disagree (empty: equal)."""
    have = stored(database_url, truth["repo"])
    out = []
    want = {pr["number"]: pr for pr in truth["pull_requests"]}
    for number in sorted(set(want) - set(have)):
        out.append(f"#{number} missing")
    for number in sorted(set(have) - set(want)):
        out.append(f"#{number} not on GitHub")
    for number in sorted(set(want) & set(have)):
        w, h = want[number], have[number]
        for field in FIELDS:
            a, b = w[field], h[field]
            if field in ("reviews", "comments", "labels"):
                a, b = sorted(a), sorted(b)
            if a != b:
                out.append(f"#{number} {field}: GitHub {a!r}, database {b!r}")
        if "review_threads" in w and _threads(w["review_threads"]) != _threads(h["review_threads"]):
            out.append(
                f"#{number} review_threads: GitHub {_threads(w['review_threads'])!r}, "
                f"database {_threads(h['review_threads'])!r}"
            )
    return out


def _threads(threads: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Threads in one order, each with its state and its comments' ids in one order."""
    return sorted(
        (t["id"], t["isResolved"], t["isOutdated"], tuple(sorted(t["comments"]))) for t in threads
    )


def sync_state(database_url: str, repo: str) -> dict[str, Any]:
    owner, name = repo.split("/")
    with psycopg.connect(database_url, row_factory=dict_row) as db:
        row = db.execute(
            """
            SELECT s.* FROM progressive_backfill_state s
              JOIN repositories r ON r.id = s.repository_id
             WHERE r.owner = %s AND r.name = %s
            """,
            (owner, name),
        ).fetchone()
    assert row is not None
    return row


def sigkill_mid_sync(database_url: str, repo: str, victim: subprocess.Popen[str]) -> None:
    """SIGKILL `victim` once its sync of `repo` has committed a page (the walk's cursor is
    set), so it dies mid-walk; the process is reaped whatever happens."""
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if sync_state(database_url, repo)["sync_cursor"] is not None:
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the sync never committed a page")
        os.kill(victim.pid, signal.SIGKILL)
    finally:
        victim.kill()
        victim.wait(10)


# Each answer takes 50 ms, so a sync walk of the 400 changed PRs (eleven pages) lasts over a
# second after its first page is committed: the 50 ms poll below kills the worker mid-walk.
# (It was 150 ms: the backfill and every walk paid for it, ~25 s of the suite in these tests.)
SLOW_ANSWERS = ("--latency-ms", "50")


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())
