"""The catch-up's stored ETag (migration 20250700000000) tags the URL the next catch-up asks:
it is kept with a page listed from the watermark the listing still starts at once the page
is applied, and cleared when that watermark moved or the page gave none (a later or a full
page), so a 304 on it always means "the stored page, nothing new"; each listing has its own.
Through either transport. Each function takes the listing's kind (one per operation since
migration 20250730000000); a kind not kept is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

import psycopg.errors
import pytest

from core.store import Store
from core.store.models import CatchUpPlan
from tests.support.store_rows import pull_request


async def backfilled(store: Store, name: str, prs: list[dict[str, Any]]) -> UUID:
    """A completed backfill of `prs` (one page)."""
    reg = await store.register_backfill("o", name, len(prs))
    lease = await store.claim_backfill(f"w-{name}")
    assert lease is not None
    chunk = await store.start_chunk(lease, f"w-{name}")
    assert chunk is not None
    result = await store.commit_chunk(
        chunk, prs, cursor_after="c1", has_next_page=False, total_prs=len(prs)
    )
    assert result.status == "completed"
    return reg.backfill_state_id


async def plan(store: Store, kind: str) -> CatchUpPlan:
    (found,) = [p for p in await store.comment_catch_up_plan() if p.kind == kind]
    return found


async def test_the_etag_is_kept_only_while_it_tags_the_next_url(store: Store) -> None:
    a: UUID = await backfilled(store, "a", [pull_request(1, comments=1)])
    start = await plan(store, "comments")
    assert start.etag is None and (await plan(store, "review_comments")).etag is None

    # An empty first page from the listing's start: its ETag is kept, for its listing only.
    await store.catch_up_comments("comments", a, [], None, etag='W/"1"', listed_since=start.since)
    assert (await plan(store, "comments")).etag == 'W/"1"'
    assert (await plan(store, "review_comments")).etag is None

    # Listed from another watermark (a run that read an older plan): not kept.
    stale = start.since - timedelta(seconds=1)
    await store.catch_up_comments("comments", a, [], None, etag='W/"2"', listed_since=stale)
    assert (await plan(store, "comments")).etag is None

    # A page with a newer comment moves the watermark: its ETag tagged the old URL.
    later = start.since + timedelta(minutes=5)
    edit = {
        "github_id": "PRC_1_0",
        "database_id": None,
        "number": 1,
        "body": "edited",
        "created_at": (later - timedelta(days=1)).isoformat(),
        "updated_at": later.isoformat(),
        "url": None,
        "author": None,
    }
    got = await store.catch_up_comments(
        "comments", a, [edit], later, etag='W/"3"', listed_since=start.since
    )
    assert got["updated"] == 1
    moved = await plan(store, "comments")
    assert moved.since == later and moved.etag is None

    # From the moved watermark, a page with nothing newer: kept; then a page without one
    # (a later page, or a full first page) clears it.
    await store.catch_up_comments("comments", a, [edit], later, etag='W/"4"', listed_since=later)
    assert (await plan(store, "comments")).etag == 'W/"4"'
    await store.catch_up_comments("comments", a, [edit], later)
    assert (await plan(store, "comments")).etag is None

    # The review comments' listing keeps its own.
    review = await plan(store, "review_comments")
    await store.catch_up_comments(
        "review_comments", a, [], None, etag='W/"r"', listed_since=review.since
    )
    assert (await plan(store, "review_comments")).etag == 'W/"r"'
    assert (await plan(store, "comments")).etag is None


async def test_a_kind_of_comment_not_kept_is_refused_and_nothing_changes(store: Store) -> None:
    """Each upkeep function takes the listing's kind: a mistaken one is an error, never a
    catch-up, a verification stamp or an empty candidate list written as if it were one."""
    a: UUID = await backfilled(store, "k", [pull_request(1, comments=1)])
    before = await store.comment_catch_up_plan()
    start = await plan(store, "comments")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        await store.catch_up_comments("issues", a, [], start.since, etag='W/"x"')
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        await store.comment_deletion_candidates("issues", a, [], start.since)
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        await store.delete_comments("issues", a, ["PRC_1_0"])
    assert await store.comment_catch_up_plan() == before
    # The stored comment is still there: its own kind's candidates name it (nothing listed).
    candidates = await store.comment_deletion_candidates(
        "comments", a, [], start.since + timedelta(days=365 * 100)
    )
    assert [c.github_id for c in candidates] == ["PRC_1_0"]
