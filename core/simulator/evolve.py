"""GitHub moves on: `evolve` changes existing pull requests and adds new ones; `truth` says what
GitHub holds now. For syncs, their tests and the bench.

An evolution is a pure function of (simulator seed, repository, the request's seed, what the
repository holds): the same seed on the same state gives the same changes. Every change moves
the PR's `updatedAt` past every `updatedAt` the repository has shown (GitHub's clock only goes
forward), one second apart, in the order the changes are listed.
"""

from __future__ import annotations

import random
from typing import Any

from .data import LABELS, VERBS, Repo, iso
from .ids import node_id
from .threads import (
    comment_count,
    kept_comments,
    live_comments,
    position,
    review_comment,
    thread_count,
)
from .threads import truth as thread_truth

MAX_EVOLVE = 100_000


def evolve(
    repo: Repo,
    changed: int,
    new: int,
    seed: int,
    now: float,
    edit_comments: int = 0,
    delete_comments: int = 0,
    touch_pr: bool = False,
) -> dict[str, Any]:
    """Change `changed` existing PRs and add `new` ones; then edit `edit_comments` and delete
    `delete_comments` of the repository's conversation comments, and as many of its inline
    review comments (replies only are deleted: a thread keeps its first comment), their PRs'
    `updatedAt` unmoved unless `touch_pr` (GitHub does not document that either moves it).
    Fewer when the repository has fewer. Returns what was done (node ids under
    comments_edited, comments_deleted_quietly, review_comments_edited,
    review_comments_deleted_quietly)."""
    if min(changed, new, edit_comments, delete_comments) < 0 or (
        changed + new + edit_comments + delete_comments > MAX_EVOLVE
    ):
        raise ValueError(f"changed, new and the comment counts must be between 0 and {MAX_EVOLVE}")
    if changed > repo.count:
        raise ValueError(f"{repo.full_name} has only {repo.count} pull requests")
    rng = random.Random(f"{repo.seed}|{repo.full_name}|evolve|{seed}|{repo.count}")
    clock = first_clock = max(int(now), repo.newest_update()) + 1
    report: dict[str, Any] = {
        "repo": repo.full_name,
        "changed": [],
        "new": [],
        "reviews_added": 0,
        "comments_added": 0,
        "comments_deleted": 0,
        "labels_changed": 0,
        "closed": 0,
        "merged": 0,
        "titles_edited": 0,
    }
    for i in sorted(rng.sample(range(repo.count), changed), key=lambda _: rng.random()):
        _, _, _, _, state, n_reviews, n_comments, labels = repo.meta(i)
        fields: dict[str, Any] = {"updated": clock}
        if state == "OPEN" and rng.random() < 0.7:
            fields["state"] = "MERGED" if rng.random() < 0.6 else "CLOSED"
            fields["closed"] = clock
            fields["merged"] = clock if fields["state"] == "MERGED" else None
            report["merged" if fields["state"] == "MERGED" else "closed"] += 1
        if rng.random() < 0.5:
            title = f"{rng.choice(VERBS)} {repo.pull_request(i)['title']} (edited {seed})"
            repo.overrides.setdefault(i, {}).update(title=title, body=f"Edited: {title}")
            report["titles_edited"] += 1
        if rng.random() < 0.5:
            toggled = set(labels) ^ {rng.randrange(len(LABELS))}
            fields["labels"] = tuple(sorted(toggled))
            report["labels_changed"] += 1
        add_reviews, add_comments = rng.randrange(3), rng.randrange(4)
        fields["n_reviews"] = n_reviews + add_reviews
        fields["n_comments"] = n_comments + add_comments
        report["reviews_added"] += add_reviews
        report["comments_added"] += add_comments
        alive = repo.kept("comment", i)
        if alive and rng.random() < 0.5:
            gone = rng.sample(alive, min(len(alive), 1 + rng.randrange(2)))
            repo.deleted.setdefault(("comment", i), set()).update(gone)
            report["comments_deleted"] += len(gone)
        repo.evolved[i] = repo.evolved.get(i, {}) | fields
        repo.touch(i)
        report["changed"].append(repo.number(i))
        clock += 1
    first = repo.count
    repo.count += new
    for i in range(first, repo.count):
        repo.evolved[i] = {
            "created": clock,
            "updated": clock,
            "closed": None,
            "merged": None,
            "state": "OPEN",
        }
        repo.touch(i)
        report["new"].append(repo.number(i))
        clock += 1
    report["comments_edited"], report["comments_deleted_quietly"] = [], []
    for wanted, done in (
        (edit_comments, "comments_edited"),
        (delete_comments, "comments_deleted_quietly"),
    ):
        for i, j in _pick_comments(repo, rng, wanted):
            comment = repo.comments(i)[j]
            if done == "comments_edited":
                body = f"{comment['body']} (edited {seed}.{len(report[done])})"
                repo.edited[("comment", i, j)] = (body, clock)
            else:
                repo.deleted.setdefault(("comment", i), set()).add(j)
            report[done].append(comment["id"])
            if touch_pr:
                repo.evolved[i] = repo.evolved.get(i, {}) | {"updated": clock}
            repo.touch(i)
            clock += 1
    report["review_comments_edited"], report["review_comments_deleted_quietly"] = [], []
    for wanted, done in (
        (edit_comments, "review_comments_edited"),
        (delete_comments, "review_comments_deleted_quietly"),
    ):
        replies_only = done == "review_comments_deleted_quietly"
        for i, t, j in _pick_review_comments(repo, rng, wanted, replies_only):
            if replies_only:
                repo.deleted.setdefault(("review_comment", i), set()).add(position(t, j))
            else:
                body = (
                    f"{review_comment(repo, i, t, j)['body']} (edited {seed}.{len(report[done])})"
                )
                repo.edited[("review_comment", i, position(t, j))] = (body, clock)
            report[done].append(node_id("review_comment", repo.slot, i, position(t, j)))
            if touch_pr:
                repo.evolved[i] = repo.evolved.get(i, {}) | {"updated": clock}
            repo.touch(i)
            clock += 1
    repo.evolved_until = clock - 1
    repo.touch(-1)  # orderings depend on every PR's metadata
    report["updated_until"] = iso(repo.evolved_until) if clock > first_clock else None
    return report


def _pick_comments(repo: Repo, rng: random.Random, k: int) -> list[tuple[int, int]]:
    """K distinct live conversation comments (PR index, position), drawn at random; fewer
    when the repository has fewer. Probes random PRs first, then walks them all."""
    picked: set[tuple[int, int]] = set()
    order = list(range(repo.count))
    rng.shuffle(order)
    for i in order:
        if len(picked) >= k:
            break
        alive = repo.kept("comment", i)  # one per PR: k distinct PRs
        if alive:
            picked.add((i, rng.choice(alive)))
    return sorted(picked)


def _pick_review_comments(
    repo: Repo, rng: random.Random, k: int, replies_only: bool
) -> list[tuple[int, int, int]]:
    """K distinct live review comments (PR index, thread, position), one per PR, drawn at
    random (`replies_only`: never a thread's first); fewer when the repository has fewer."""
    picked: list[tuple[int, int, int]] = []
    order = list(range(repo.count))
    rng.shuffle(order)
    for i in order:
        if len(picked) >= k:
            break
        alive = [
            (t, j)
            for t in range(thread_count(repo, i))
            for j in kept_comments(repo, i, t, comment_count(repo, i, t))
            if j or not replies_only
        ]
        if alive:
            t, j = rng.choice(alive)
            picked.append((i, t, j))
    return sorted(picked)


def truth(repo: Repo, bodies: bool = False) -> dict[str, Any]:
    """Every PR of `repo` as GitHub holds it now (the fields a sync must reproduce); with
    `bodies`, every live conversation comment's and review comment's body and updatedAt by
    node id under "bodies"."""
    out = []
    texts: dict[str, dict[str, str]] = {}
    for i in range(repo.count):
        pr = repo.pull_request(i)
        reviews, comments = repo.reviews(i), repo.comments(i)
        out.append(
            {
                "number": pr["number"],
                "id": pr["id"],
                "state": pr["state"],
                "merged": pr["merged"],
                "title": pr["title"],
                "updatedAt": pr["updatedAt"],
                "reviews": [reviews[j]["id"] for j in repo.kept("review", i)],
                "comments": [comments[j]["id"] for j in repo.kept("comment", i)],
                "labels": [LABELS[k][0] for k in pr["_labels"]],
                "review_threads": thread_truth(repo, i),
            }
        )
        if bodies:
            for j in repo.kept("comment", i):
                c = comments[j]
                texts[c["id"]] = {"body": c["body"], "updatedAt": c["updatedAt"]}
            for rc in live_comments(repo, i):
                texts[rc["id"]] = {"body": rc["body"], "updatedAt": rc["updatedAt"]}
    found: dict[str, Any] = {"repo": repo.full_name, "pull_requests": out}
    if bodies:
        found["bodies"] = texts
    return found
