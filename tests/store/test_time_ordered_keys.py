"""Every generated id is a version 7 UUID (uuid_v7(): time first), so what a commit stores
sorts after what was stored before it and index inserts append instead of landing on a
random leaf; and no table keeps an index on author_id or on the backfill's updated_at (no
query reads them, every row stored wrote them)."""

from __future__ import annotations

from uuid import UUID

from core.store import Store
from tests.support.store_rows import pull_request

KEYED = (
    "repositories",
    "contributors",
    "pull_requests",
    "reviews",
    "comments",
    "review_threads",
    "review_comments",
    "progressive_backfill_state",
    "backfill_chunks",
)

AUTHORED = ("pull_requests", "reviews", "comments", "review_comments")


async def _commit_page(store: Store, lease, first: int, *, last: bool) -> None:
    chunk = await store.start_chunk(lease, "w1")
    assert chunk is not None
    page = [pull_request(n, reviews=2, comments=2, threads=[2]) for n in range(first, first + 3)]
    result = await store.commit_chunk(
        chunk, page, cursor_after=f"c{first}", has_next_page=not last, total_prs=6
    )
    assert result.committed


async def test_stored_rows_have_time_ordered_ids_and_a_later_page_sorts_after(
    store: Store, db
) -> None:
    await store.register_backfill("octo", "keys", 6)
    lease = await store.claim_backfill("w1", lease_seconds=120)
    assert lease is not None
    await _commit_page(store, lease, 1, last=False)
    await _commit_page(store, lease, 4, last=True)

    for table in KEYED:
        rows = db.execute(f"SELECT id FROM {table}").fetchall()
        assert rows, table
        assert {UUID(str(r["id"])).version for r in rows} == {7}, table
    # Each child table's rows of the second page (PRs 4-6) all sort after the first page's:
    # the commits were milliseconds apart, and the first 48 bits are the time in ms.
    for table in ("pull_requests", "reviews", "comments", "review_threads", "review_comments"):
        parent = table == "pull_requests"
        join = "" if parent else "JOIN pull_requests p ON p.id = t.pull_request_id"
        number = "t.number" if parent else "p.number"
        row = db.execute(
            f"SELECT max(t.id::text) FILTER (WHERE {number} <= 3) AS first_page, "
            f"min(t.id::text) FILTER (WHERE {number} >= 4) AS second_page "
            f"FROM {table} t {join}"
        ).fetchone()
        assert row["first_page"] < row["second_page"], table


def test_uuid_v7_carries_the_database_clock_in_milliseconds(db) -> None:
    row = db.execute(
        "SELECT clock_timestamp() AS before, uuid_v7() AS id, clock_timestamp() AS after"
    ).fetchone()
    key = UUID(str(row["id"]))
    assert key.version == 7 and key.variant == "specified in RFC 4122"
    millis = key.int >> 80
    assert int(row["before"].timestamp() * 1000) <= millis <= int(row["after"].timestamp() * 1000)
    distinct = db.execute("SELECT count(DISTINCT uuid_v7()) AS n FROM generate_series(1, 5000)")
    assert distinct.fetchone()["n"] == 5000


def test_no_index_on_author_ids_or_the_backfills_updated_at(db) -> None:
    rows = db.execute(
        "SELECT indexrelid::regclass::text AS name FROM pg_index i "
        "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey) "
        "WHERE i.indrelid = ANY (%s::regclass[]) "
        "AND (a.attname = 'author_id' "
        "     OR (i.indrelid = 'progressive_backfill_state'::regclass "
        "         AND a.attname = 'updated_at'))",
        ([*AUTHORED, "progressive_backfill_state"],),
    ).fetchall()
    assert rows == []
