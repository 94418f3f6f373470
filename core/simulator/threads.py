"""A PR's review threads and their inline review comments, drawn from (seed, repository, PR).

GitHub's types (`PullRequestReviewThread`, `PullRequestReviewComment`; docs.github.com
GraphQL reference, objects): a thread sits on one place of the diff (`path`, `line`,
`originalLine`, `diffSide`), is resolved (by a User) or not, outdated when the code moved
(`line` null then), collapsed when resolved; each comment has its review and, past the first,
replies to the thread's first comment.

Proportions, after public counts of review activity (most PRs get no inline comments, a few
get many): 60% of PRs have no thread, 35% have 1-6, 4% have 6-25, 1% more than 100 (more than
one page); a thread has 1 comment (55%), 2-3 (30%), 4-10 (14.7%) or 100-159 (0.3%).

`evolve` edits review comments (`Repo.edited[("review_comment", i, t * COMMENT_SPAN + j)]`)
and deletes replies (`Repo.deleted[("review_comment", i)]`, same positions): a thread keeps
its first comment, so it never empties and every reply's `replyTo` still exists.
"""

from __future__ import annotations

from typing import Any

from .data import Draw, Repo, iso
from .ids import COMMENT_SPAN, node_id

PATHS = (
    "src/app.py", "src/api/client.ts", "README.md", "lib/core/engine.go", "docs/usage.md",
    "tests/test_api.py", "cmd/main.rs", "web/src/components/Table.tsx",
)  # fmt: skip
REMARKS = (
    "nit: naming", "Could this be a constant?", "Why is this needed?", "Missing a test here.",
    "This breaks on empty input.", "Done.", "Good catch, fixed.", "+1",
    "Please add a docstring.", "Can we avoid the extra allocation?",
)  # fmt: skip


def thread_count(repo: Repo, i: int) -> int:
    d = Draw(repo.seed, repo.key, "threads", i)
    roll = d.below(1000)
    if roll < 600:
        return 0
    if roll < 950:
        return 1 + d.below(6)
    if roll < 990:
        return 6 + d.below(20)
    return 100 + d.below(120)


def comment_count(repo: Repo, i: int, t: int) -> int:
    roll = Draw(repo.seed, repo.key, "thread", i, t).below(1000)
    if roll < 550:
        return 1
    if roll < 850:
        return 2 + roll % 2
    if roll < 997:
        return 4 + roll % 7
    return 100 + roll % 60


def position(t: int, j: int) -> int:
    """Comment j of thread t as one number (the node id's second number, the edit keys)."""
    return t * COMMENT_SPAN + j


def kept_comments(repo: Repo, i: int, t: int, count: int) -> list[int]:
    """Positions j (within thread t of PR i, `count` comments) not deleted on GitHub."""
    gone = repo.deleted.get(("review_comment", i))
    if not gone:
        return list(range(count))
    return [j for j in range(count) if position(t, j) not in gone]


def thread(repo: Repo, i: int, t: int) -> dict[str, Any]:
    """Thread t of PR i (as GitHub's node; `_count`: its comments)."""
    d = Draw(repo.seed, repo.key, "thread", i, t)
    resolved = d.below(100) < 45
    outdated = d.below(100) < 20
    original = 1 + d.below(400)
    multi = d.below(10) == 0
    return {
        "__typename": "PullRequestReviewThread",
        "_repo": repo,
        "_i": i,
        "_t": t,
        "_count": comment_count(repo, i, t),
        "_created": iso(repo.meta(i)[0] + 400 * (t + 1)),
        "id": node_id("thread", repo.slot, i, t),
        "path": d.pick(list(PATHS)),
        "line": None if outdated else original + d.below(5),
        "originalLine": original,
        "startLine": None if outdated or not multi else original - 2,
        "originalStartLine": original - 2 if multi else None,
        "diffSide": "LEFT" if d.below(8) == 0 else "RIGHT",
        "startDiffSide": ("RIGHT" if multi else None),
        "isResolved": resolved,
        "isOutdated": outdated,
        "isCollapsed": resolved,
        "resolvedBy": repo.actors.user((repo.slot * 131 + d.below(16)) % 997) if resolved else None,
        "subjectType": "LINE",
    }


def review_comment(repo: Repo, i: int, t: int, j: int) -> dict[str, Any]:
    """Comment j of thread t of PR i."""
    owner = thread(repo, i, t)
    d = Draw(repo.seed, repo.key, "review_comment", i, t, j)
    full = 7 * 10**15 + (repo.slot + 1) * 10**12 + i * 10**6 + t * 1000 + j
    number = repo.number(i)
    at = iso(repo.meta(i)[0] + 400 * (t + 1) + 60 * j)
    reviews = repo.reviews(i)
    review = reviews[d.below(len(reviews))] if len(reviews) else None
    return {
        "__typename": "PullRequestReviewComment",
        "_repo": repo,
        "_i": i,
        "_review": review,
        "_reply_to": (i, t, 0) if j else None,
        "id": node_id("review_comment", repo.slot, i, t * COMMENT_SPAN + j),
        "databaseId": None,
        "fullDatabaseId": str(full),
        "author": repo.actors.pick(d, repo.slot, bot_pct=6),
        "authorAssociation": "CONTRIBUTOR",
        "body": d.pick(list(REMARKS)) + ("" if j else f" (line {owner['originalLine']})"),
        "path": owner["path"],
        "line": owner["line"],
        "originalLine": owner["originalLine"],
        "diffHunk": f"@@ -{owner['originalLine']},3 +{owner['originalLine']},4 @@",
        "outdated": owner["isOutdated"],
        "createdAt": at,
        "updatedAt": at,
        "publishedAt": at,
        "url": f"{repo.url}/pull/{number}#discussion_r{full}",
        "resourcePath": f"/{repo.full_name}/pull/{number}#discussion_r{full}",
        "_t": t,
        "_j": j,
        **_edit(repo, i, t, j),
    }


def _edit(repo: Repo, i: int, t: int, j: int) -> dict[str, Any]:
    edit = repo.edited.get(("review_comment", i, position(t, j)))
    return {} if edit is None else {"body": edit[0], "updatedAt": iso(edit[1])}


def live_comments(repo: Repo, i: int) -> list[dict[str, Any]]:
    """PR i's review comments GitHub still has, thread by thread."""
    out = []
    for t in range(thread_count(repo, i)):
        for j in kept_comments(repo, i, t, comment_count(repo, i, t)):
            out.append(review_comment(repo, i, t, j))
    return out


def totals(repo: Repo) -> tuple[int, int]:
    """(review threads, review comments) over all PRs; O(n), for stats only."""
    threads = comments = 0
    for i in range(repo.count):
        n = thread_count(repo, i)
        threads += n
        comments += sum(comment_count(repo, i, t) for t in range(n))
    for (kind, _), gone in repo.deleted.items():
        if kind == "review_comment":
            comments -= len(gone)
    return threads, comments


def truth(repo: Repo, i: int) -> list[dict[str, Any]]:
    """PR i's threads as /_sim/truth lists them."""
    out = []
    for t in range(thread_count(repo, i)):
        th = thread(repo, i, t)
        out.append(
            {
                "id": th["id"],
                "isResolved": th["isResolved"],
                "isOutdated": th["isOutdated"],
                "comments": [
                    node_id("review_comment", repo.slot, i, position(t, j))
                    for j in kept_comments(repo, i, t, th["_count"])
                ],
            }
        )
    return out
