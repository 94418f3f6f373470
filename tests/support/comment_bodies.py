"""What the database holds of a repository's conversation comments and inline review
comments, in `/_sim/truth?bodies=1`'s shape, to compare with it."""

from __future__ import annotations

import psycopg

_BODIES = """
SELECT c.github_id, c.body, c.updated_at FROM {table} c
  JOIN pull_requests p ON p.id = c.pull_request_id
  JOIN repositories r ON r.id = p.repository_id
 WHERE %(repo)s::text IS NULL OR lower(r.owner || '/' || r.name) = lower(%(repo)s::text)
"""


def stored_bodies(database_url: str, repo: str | None = None) -> dict[str, dict[str, str]]:
    """{node id: {"body", "updatedAt"}} of every stored comment and review comment (of `repo`,
    "OWNER/NAME", or of every repository)."""
    found: dict[str, dict[str, str]] = {}
    with psycopg.connect(database_url) as db:
        for table in ("comments", "review_comments"):
            for gid, body, at in db.execute(_BODIES.format(table=table), {"repo": repo}):
                found[gid] = {"body": body, "updatedAt": f"{at:%Y-%m-%dT%H:%M:%SZ}"}
    return found


def stored_threads(database_url: str, repo: str) -> dict[str, list[str]]:
    """{thread node id: its stored review comments' node ids, in REST id order}."""
    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT t.github_id, rc.github_id FROM review_threads t "
            "JOIN pull_requests p ON p.id = t.pull_request_id "
            "JOIN repositories r ON r.id = p.repository_id "
            "LEFT JOIN review_comments rc ON rc.thread_id = t.id "
            "WHERE lower(r.owner || '/' || r.name) = lower(%s) "
            "ORDER BY t.github_id, rc.database_id",
            (repo,),
        ).fetchall()
    threads: dict[str, list[str]] = {}
    for thread, comment in rows:
        threads.setdefault(thread, [])
        if comment is not None:
            threads[thread].append(comment)
    return threads


def truth_threads(truth: dict) -> dict[str, list[str]]:
    """The same from `/_sim/truth` (its `review_threads` per PR)."""
    return {
        t["id"]: list(t["comments"]) for pr in truth["pull_requests"] for t in pr["review_threads"]
    }
