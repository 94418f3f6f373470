"""Registering repositories: a repository is GitHub's node id, its name can change."""

from __future__ import annotations

import psycopg.errors
import pytest

from core.store import Store
from tests.support.store_rows import pull_request


async def test_a_renamed_repository_keeps_its_backfill_and_history(store: Store, db) -> None:
    """`add new/name` after a backfill under the old name is the same
    repository (same node id): renamed, history kept, never a second empty backfill."""
    old = await store.register_backfill("octo", "before", 3, github_id="R_1")
    lease = await store.claim_backfill("w1", only=[old.backfill_state_id])
    assert lease is not None
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(n) for n in (1, 2, 3)]
    result = await store.commit_chunk(
        chunk, page, cursor_after="c3", has_next_page=False, total_prs=3
    )
    assert result.status == "completed"

    renamed = await store.register_backfill("new-owner", "after", 3, github_id="R_1")

    assert (renamed.backfill_state_id, renamed.repository_id) == (
        old.backfill_state_id,
        old.repository_id,
    )
    assert not renamed.created and (renamed.owner, renamed.name) == ("new-owner", "after")
    assert db.execute("SELECT owner, name, github_id FROM repositories").fetchall() == [
        {"owner": "new-owner", "name": "after", "github_id": "R_1"}
    ]
    state = db.execute(
        "SELECT status, processed_prs, total_prs, cursor FROM progressive_backfill_state"
    ).fetchall()
    assert state == [{"status": "completed", "processed_prs": 3, "total_prs": 3, "cursor": "c3"}]
    # The old name is free again: another repository may take it.
    other = await store.register_backfill("octo", "before", 1, github_id="R_2")
    assert other.created and other.repository_id != old.repository_id


async def test_a_name_registered_without_a_node_id_adopts_it(store: Store, db) -> None:
    first = await store.register_backfill("octo", "repo", 5)
    again = await store.register_backfill("Octo", "Repo", 5, github_id="R_9")
    assert again.backfill_state_id == first.backfill_state_id and not again.created
    row = db.execute("SELECT github_id FROM repositories").fetchone()
    assert row == {"github_id": "R_9"}


async def test_a_name_given_to_another_repository_is_refused_not_mixed(store: Store, db) -> None:
    await store.register_backfill("octo", "repo", 5, github_id="R_1")
    with pytest.raises(psycopg.errors.UniqueViolation, match="another GitHub repository"):
        await store.register_backfill("octo", "repo", 5, github_id="R_2")
    rows = db.execute("SELECT owner, name, github_id FROM repositories").fetchall()
    assert rows == [{"owner": "octo", "name": "repo", "github_id": "R_1"}]
    assert db.execute("SELECT count(*) AS n FROM progressive_backfill_state").fetchone() == {"n": 1}
