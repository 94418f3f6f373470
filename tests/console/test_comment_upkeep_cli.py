"""The comment upkeep through the CLI over the simulator's HTTP server: a worker's schedule
(a catch-up every run, a verification once a day), `sync` catching up edits at once, and
`sync --verify` deleting what GitHub no longer has: the database ends equal to
`/_sim/truth?bodies=1` though no PR's updatedAt moved."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.comment_bodies import stored_bodies
from tests.support.harness import SimServer, cli, simulator
from tests.support.sync_state import get, post

REPO = "acme/talk"


@pytest.fixture(scope="module")
def talking() -> Iterator[SimServer]:
    with simulator([f"{REPO}:90"], seed=31) as server:
        yield server


def bodies(database_url: str) -> dict[str, dict[str, str]]:
    return stored_bodies(database_url)  # conversation and inline review comments


def truth(server: SimServer) -> dict[str, dict[str, str]]:
    return get(f"{server.url}/_sim/truth?repo={REPO}&bodies=1")["bodies"]


def test_worker_schedule_then_sync_and_sync_verify(
    worker_env: dict[str, str], talking: SimServer, database_url: str
) -> None:
    env = dict(worker_env, GITHUB_GRAPHQL_URL=talking.graphql_url)
    assert cli(env, "add", REPO).returncode == 0
    done = cli(env, "worker", "--until-idle", timeout=180)
    assert done.returncode == 0, done.stderr
    assert bodies(database_url) == truth(talking)

    asked = {"repo": REPO, "edit_comments": 3, "delete_comments": 2, "seed": 5}

    def updated() -> list[str]:
        prs = get(f"{talking.url}/_sim/truth?repo={REPO}")["pull_requests"]
        return [pr["updatedAt"] for pr in prs]

    before = updated()
    report = post(f"{talking.url}/_sim/evolve", asked)
    assert updated() == before  # no PR's updatedAt moved
    edited = report["comments_edited"] + report["review_comments_edited"]
    deleted = report["comments_deleted_quietly"] + report["review_comments_deleted_quietly"]
    assert len(edited) == 6 and len(deleted) == 4  # K of each kind

    # A worker's next run catches up the edits; the daily verification is not due yet.
    assert cli(env, "worker", "--until-idle", timeout=180).returncode == 0
    stored, now = bodies(database_url), truth(talking)
    assert all(stored[node] == now[node] for node in edited)
    assert set(stored) - set(now) == set(deleted)

    # `sync --verify` verifies at once.
    synced = cli(env, "sync", "--verify", REPO, timeout=180)
    assert synced.returncode == 0, synced.stderr
    assert "comments verified" in synced.stdout and "2 deleted" in synced.stdout
    assert "review comments verified" in synced.stdout
    assert bodies(database_url) == truth(talking)

    # Each `sync` is a new process: its catch-up asks with the ETags stored in the database,
    # so with nothing changed on GitHub the REST budget charged does not grow (all 304).
    def charged() -> int:
        return sum(get(f"{talking.url}/_sim/stats")["rest"]["used"].values())

    assert cli(env, "sync", REPO, timeout=180).returncode == 0
    used = charged()
    again = cli(env, "sync", REPO, timeout=180)
    assert again.returncode == 0, again.stderr
    assert charged() == used
    assert bodies(database_url) == truth(talking)
