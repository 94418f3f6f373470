"""Building rows and pages for store tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any


def actor(login: str, kind: str = "User") -> dict[str, Any]:
    return {"github_id": f"U_{login}", "login": login, "type": kind, "database_id": None}


def pull_request(
    number: int,
    *,
    reviews: int = 0,
    comments: int = 0,
    author: str | None = "alice",
    prefix: str = "PR",
) -> dict[str, Any]:
    created = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(hours=number)
    return {
        "github_id": f"{prefix}_{number}",
        "database_id": 1000 + number,
        "number": number,
        "title": f"Change {number}",
        "body": "body",
        "state": "MERGED",
        "is_draft": False,
        "merged": True,
        "created_at": created.isoformat(),
        "updated_at": created.isoformat(),
        "closed_at": created.isoformat(),
        "merged_at": created.isoformat(),
        "additions": 10,
        "deletions": 2,
        "changed_files": 1,
        "base_ref_name": "main",
        "head_ref_name": f"feature-{number}",
        "url": f"https://github.com/o/r/pull/{number}",
        "author": actor(author) if author else None,
        "commits_count": 1,
        "labels": ["bug"],
        "reviews": [
            {
                "github_id": f"{prefix}R_{number}_{i}",
                "database_id": None,
                "author": actor(f"reviewer{i % 3}"),
                "state": "APPROVED",
                "body": "",
                "submitted_at": created.isoformat(),
                "created_at": created.isoformat(),
                "url": None,
            }
            for i in range(reviews)
        ],
        "comments": [
            {
                "github_id": f"{prefix}C_{number}_{i}",
                "database_id": None,
                "author": actor("dependabot[bot]", "Bot") if i % 2 else None,
                "body": "comment",
                "created_at": created.isoformat(),
                "updated_at": None,
                "url": None,
            }
            for i in range(comments)
        ],
    }
