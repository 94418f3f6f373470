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
from .threads import truth as thread_truth

MAX_EVOLVE = 100_000


def evolve(repo: Repo, changed: int, new: int, seed: int, now: float) -> dict[str, Any]:
    """Change `changed` existing PRs and add `new` ones; returns what was done."""
    if changed < 0 or new < 0 or changed + new > MAX_EVOLVE:
        raise ValueError(f"changed and new must be between 0 and {MAX_EVOLVE}")
    if changed > repo.count:
        raise ValueError(f"{repo.full_name} has only {repo.count} pull requests")
    rng = random.Random(f"{repo.seed}|{repo.full_name}|evolve|{seed}|{repo.count}")
    clock = max(int(now), repo.newest_update()) + 1
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
    repo.evolved_until = clock - 1
    repo.touch(-1)  # orderings depend on every PR's metadata
    report["updated_until"] = iso(repo.evolved_until) if changed + new else None
    return report


def truth(repo: Repo) -> dict[str, Any]:
    """Every PR of `repo` as GitHub holds it now (the fields a sync must reproduce)."""
    out = []
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
    return {"repo": repo.full_name, "pull_requests": out}
