"""One PR's malformed data is refused for that PR alone; the rest of its page commits.

The simulator's aimed faults `nested_not_list` and `nested_no_id` break one PR's nested data
in the page that lists it. That PR is recorded in pull_request_failures (like a PR the
database refuses), the other PRs of the page are stored in the same chunk, and the backfill
completes because stored + refused reaches GitHub's count. A malformation of the page's own
structure (its pageInfo, the PR list itself) still fails the whole page.
"""

from __future__ import annotations

from typing import Any

import pytest

from core.backfill.registry import add_repositories
from core.backfill.runtime import open_engine
from core.github.pager import AnswerProblem, RepoBuffer
from core.simulator import FaultSpec, RepoSpec
from tests.support.answers import run, sim_for, state
from tests.support.worker_runs import settings


def failures(db) -> list[dict[str, Any]]:
    return db.execute(
        "SELECT f.github_id, f.number, f.error, c.status AS chunk_status, c.pr_count "
        "FROM pull_request_failures f LEFT JOIN backfill_chunks c ON c.id = f.chunk_id"
    ).fetchall()


@pytest.mark.parametrize(
    ("kind", "words"),
    [("nested_not_list", "reviews.nodes is dict, not a list"), ("nested_no_id", "has no id")],
)
async def test_one_malformed_pr_is_refused_and_its_page_commits(database_url, db, kind, words):
    sim = sim_for(RepoSpec("o", "mixed", 30))
    repo = sim.world.repos[0]
    # A PR that has a review or a comment to break, in the middle of the first page.
    number = next(
        repo.pull_request(i)["number"]
        for i in range(5, repo.count)
        if sum(repo.pull_request(i)["_counts"][:2]) > 0
    )
    async with open_engine(settings(database_url), transport=sim.transport()) as engine:
        await add_repositories(engine.store, engine.client, ["o/mixed"])
        sim.config.faults = FaultSpec.parse(f"{kind}@o/mixed#{number}")
        worker = await run(engine)
    row = state(db)["o/mixed"]
    # Completed: 29 stored + 1 refused = GitHub's 30; no chunk failed, nothing processing.
    assert (row["status"], row["stored"], row["failed"], row["processing"]) == (
        "completed",
        29,
        0,
        0,
    )
    assert row["processed_prs"] == 29 and row["total_prs"] == 30
    refused = failures(db)
    assert len(refused) == 1, refused
    assert refused[0]["number"] == number
    assert words in refused[0]["error"] and "not the shape asked for" in refused[0]["error"]
    # The page that listed it committed the others in the same chunk.
    assert refused[0]["chunk_status"] == "completed" and refused[0]["pr_count"] >= 5
    stored = db.execute("SELECT count(*) AS n FROM pull_requests WHERE number = %s", (number,))
    assert stored.fetchone()["n"] == 0  # never stored half-read
    assert sim.stats()["faults"][kind] == 1
    assert worker.stats.failures == 0


def test_a_malformed_page_structure_still_fails_the_page() -> None:
    """pageInfo or the PR list itself malformed: no PR can be trusted, the page fails."""
    node = {"id": "PR_1", "number": 1}
    with pytest.raises((AnswerProblem, AttributeError, TypeError, KeyError)):
        RepoBuffer(None).add_page(
            {"totalCount": 1, "pageInfo": "broken", "edges": [{"cursor": "c1", "node": node}]}
        )
    # An edge that is no object is one PR refused alone, like a null edge (tests/github/
    # test_pager.py); a PR list that is no list fails the page.
    with pytest.raises(AnswerProblem, match="not the shape"):
        RepoBuffer(None).add_page({"totalCount": 1, "pageInfo": {}, "edges": {"0": node}})
    # An edge without its cursor: nothing to move past, the page fails.
    with pytest.raises(AnswerProblem, match="no cursor"):
        RepoBuffer(None).add_page({"totalCount": 1, "pageInfo": {}, "edges": [{"node": node}]})


def test_a_pr_without_an_id_is_refused_by_its_cursor() -> None:
    """No id to record it by: it is recorded by its edge's cursor, with the cursor before it
    (its position, to ask for it again), and the page goes on."""
    buffer = RepoBuffer("c0", order="CREATED_AT ASC")
    buffer.add_page(
        {
            "totalCount": 2,
            "pageInfo": {"hasNextPage": False, "endCursor": "c2"},
            "edges": [{"cursor": "c1", "node": {"number": 1, "reviews": "broken"}}],
        },
        "c0",
    )
    prs, refused, cursor = buffer.take(1)
    assert prs == [] and cursor == "c1"
    assert refused[0].github_id == "cursor:c1" and refused[0].number == 1
    assert (refused[0].position_cursor, refused[0].position_order) == ("c0", "CREATED_AT ASC")
