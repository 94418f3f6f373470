"""The psycopg store's contract tests, run unchanged against `SupabaseStore` through PostgREST.

The functions are imported from tests/store, so pytest collects them here again with this
folder's fixtures: `store` is a `SupabaseStore`, `db` and `database_url` the database that
PostgREST serves. Left out: tests that only exercise psycopg (subprocesses with their own
connections, a backend killed mid-statement) - concurrency through PostgREST is proven in
test_concurrency.py instead.
"""

from __future__ import annotations

from tests.store.test_commit import (
    test_a_chunk_commits_once,
    test_an_error_inside_the_commit_leaves_nothing,
    test_commit_stores_everything_and_advances_the_cursor,
    test_concurrent_commits_sharing_authors_do_not_deadlock,
    test_fail_backfill_ends_it_with_the_reason,
    test_fail_chunk_keeps_the_cursor_and_cools_down,
    test_processed_prs_counts_only_new_rows,
)
from tests.store.test_leases import (
    test_expired_holder_can_neither_heartbeat_nor_commit,
    test_lease_must_be_positive,
    test_locked_row_is_skipped_not_waited_on,
    test_new_backfills_go_first_then_least_recently_claimed,
    test_release_makes_the_backfill_claimable_again,
)
from tests.store.test_spec_sql import (
    test_the_specs_get_next_chunk_number_call,
    test_the_specs_progress_query,
    test_the_specs_statistics_query,
)

__all__ = [
    "test_a_chunk_commits_once",
    "test_an_error_inside_the_commit_leaves_nothing",
    "test_commit_stores_everything_and_advances_the_cursor",
    "test_concurrent_commits_sharing_authors_do_not_deadlock",
    "test_expired_holder_can_neither_heartbeat_nor_commit",
    "test_fail_backfill_ends_it_with_the_reason",
    "test_fail_chunk_keeps_the_cursor_and_cools_down",
    "test_lease_must_be_positive",
    "test_locked_row_is_skipped_not_waited_on",
    "test_new_backfills_go_first_then_least_recently_claimed",
    "test_processed_prs_counts_only_new_rows",
    "test_release_makes_the_backfill_claimable_again",
    "test_the_specs_get_next_chunk_number_call",
    "test_the_specs_progress_query",
    "test_the_specs_statistics_query",
]
