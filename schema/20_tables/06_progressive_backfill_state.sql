-- Every claim takes a fresh token from here: a worker whose lease was taken over holds a
-- smaller token than the row, so its writes match nothing.
CREATE SEQUENCE backfill_claim_token_seq AS bigint;
REVOKE ALL ON SEQUENCE backfill_claim_token_seq FROM PUBLIC, anon, authenticated;
GRANT USAGE, SELECT ON SEQUENCE backfill_claim_token_seq TO service_role;

-- One backfill per repository, and the repository's incremental sync: a sync is work like a
-- chunk, claimed with the backfill's own lease and fencing token, numbered by the same
-- counter, kept in backfill_chunks with kind = 'sync', recovered by the same recovery.
CREATE TABLE progressive_backfill_state (
    id                 uuid PRIMARY KEY DEFAULT uuid_v7(),
    repository_id      uuid NOT NULL UNIQUE REFERENCES repositories (id) ON DELETE CASCADE,
    status             text NOT NULL DEFAULT 'pending'
                       CHECK (status IN ('pending', 'active', 'paused', 'completed', 'failed')),
    -- GitHub's totalCount; NULL while GitHub reports none, so the progress query
    -- (processed_prs / total_prs) never divides by zero.
    total_prs          integer CHECK (total_prs > 0),
    processed_prs      integer NOT NULL DEFAULT 0 CHECK (processed_prs >= 0),
    cursor             text,
    -- The chunk numbers' counter (get_next_chunk_number): 1, 2, 3, ... without gaps.
    last_chunk_number  integer NOT NULL DEFAULT 0 CHECK (last_chunk_number >= 0),
    -- The page size the backfill settled on, written under the lease's fencing token.
    page_size          integer CHECK (page_size BETWEEN 1 AND 100),
    claim_token        bigint,
    leased_by          text,
    lease_expires_at   timestamptz,
    error_count        integer NOT NULL DEFAULT 0 CHECK (error_count >= 0),
    last_error         text,
    cooldown_until     timestamptz,
    waiting_until      timestamptz,
    chunks_pruned      integer NOT NULL DEFAULT 0,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    started_at         timestamptz,
    completed_at       timestamptz,
    last_claimed_at    timestamptz,
    -- When the stored PRs last grew, whichever function moved them (a chunk, a sync, a split
    -- page): set by the note_progress trigger. Progress reads return it;
    -- core.monitoring.standing() turns it into the status users see.
    progressed_at      timestamptz,
    -- The incremental sync. The watermark only moves with the commit of a walk's last page:
    -- a walk killed half way leaves it where it was, and the next walk (resumed from
    -- sync_cursor) stops at the same place.
    sync_watermark     timestamptz,  -- GitHub's updatedAt of the newest change a finished sync applied
    synced_at          timestamptz,  -- when (database clock) the last sync finished
    fresh_as_of        timestamptz,  -- when that sync's walk began: the data is GitHub's as of then
    sync_cursor        text,         -- where an unfinished walk resumes (NULL: no walk in progress)
    sync_target        timestamptz,  -- newest updatedAt committed by the unfinished walk
    sync_walk_started_at timestamptz,  -- when the unfinished walk began
    sync_requested_at  timestamptz,  -- "sync now" (the CLI, the console), whatever the interval
    sync_count         integer NOT NULL DEFAULT 0 CHECK (sync_count >= 0),
    -- Failures of the work since the backfill's last committed page, counted in the database
    -- so that several worker processes taking turns on a backfill whose pages always fail
    -- reach the bound together: incremented by fail_chunk_in_a_row, reset to 0 by
    -- commit_chunk and commit_sync_chunk, and by retry_backfill and reopen_backfill.
    failures_in_a_row  integer NOT NULL DEFAULT 0 CHECK (failures_in_a_row >= 0),
    -- Edits and deletions GitHub does not signal on the PR (core.backfill.comment_catch_up):
    -- GitHub's updated_at of the newest comment the REST catch-up applied, and when (database
    -- clock) the last verification of deletions finished.
    comments_caught_up_to timestamptz,
    comments_verified_at timestamptz,
    -- The freshness probe (core/backfill/probe.py): probes that found the repository
    -- unchanged (a counter, not a chunk row each), when the last was settled, and when one
    -- found it moved (due for a sync until a walk that began after it finishes).
    probe_count        integer NOT NULL DEFAULT 0 CHECK (probe_count >= 0),
    probed_at          timestamptz,
    probe_moved_at     timestamptz,
    -- The comments' catch-up and verification (above) for inline review comments, their own
    -- REST listing (/pulls/comments).
    review_comments_caught_up_to timestamptz,
    review_comments_verified_at timestamptz,
    -- The ETag of each catch-up listing's first page from its watermark, when the listing fitted
    -- on it (core.backfill.comment_catch_up): sent as If-None-Match, an unchanged
    -- repository's catch-up is a 304, free of GitHub's REST budget, in any process.
    comments_etag      text,
    review_comments_etag text,
    CHECK ((leased_by IS NULL) = (lease_expires_at IS NULL)),
    CHECK (leased_by IS NULL OR claim_token IS NOT NULL),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK (status <> 'failed' OR last_error IS NOT NULL)
);
-- claim_backfill orders claimable backfills by (last_claimed_at NULLS FIRST, created_at, id).
-- A partial index over exactly the claimable statuses, in exactly that order, lets the claim
-- stop at the first unlocked row instead of sorting every backfill (20,000 backfills: from
-- ~12 ms a claim to well under 1 ms).
CREATE INDEX progressive_backfill_state_claim_idx
    ON progressive_backfill_state (last_claimed_at NULLS FIRST, created_at, id)
    WHERE status IN ('pending', 'active');
CREATE INDEX progressive_backfill_state_sync_idx
    ON progressive_backfill_state (synced_at) WHERE status = 'completed';

ALTER TABLE progressive_backfill_state ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON progressive_backfill_state FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE progressive_backfill_state FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE progressive_backfill_state TO service_role;
