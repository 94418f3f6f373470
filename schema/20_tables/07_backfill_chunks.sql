-- One page of work: a page of a backfill's history, or of a sync's walk (kind).
CREATE TABLE backfill_chunks (
    id                 uuid PRIMARY KEY DEFAULT uuid_v7(),
    backfill_state_id  uuid NOT NULL REFERENCES progressive_backfill_state (id) ON DELETE CASCADE,
    chunk_number       integer NOT NULL CHECK (chunk_number > 0),
    status             text NOT NULL DEFAULT 'processing'
                       CHECK (status IN ('processing', 'completed', 'failed')),
    started_at         timestamptz NOT NULL DEFAULT now(),
    completed_at       timestamptz,
    failed_at          timestamptz,
    pr_numbers         integer[],
    pr_count           integer CHECK (pr_count >= 0),
    inserted_prs       integer CHECK (inserted_prs >= 0),
    reviews_count      integer CHECK (reviews_count >= 0),
    comments_count     integer CHECK (comments_count >= 0),
    cursor_before      text,
    cursor_after       text,
    claim_token        bigint,
    worker_id          text,
    error              text,
    recovered          boolean NOT NULL DEFAULT false,
    kind               text NOT NULL DEFAULT 'backfill' CHECK (kind IN ('backfill', 'sync')),
    UNIQUE (backfill_state_id, chunk_number),
    CHECK ((status = 'completed') = (completed_at IS NOT NULL)),
    CHECK ((status = 'failed') = (failed_at IS NOT NULL)),
    CHECK (status <> 'failed' OR error IS NOT NULL),
    CHECK (status <> 'processing' OR claim_token IS NOT NULL)
);
-- The stuck scan (status = 'processing' AND started_at < threshold) and the 24-hour statistics.
CREATE INDEX backfill_chunks_status_started_idx ON backfill_chunks (status, started_at);
CREATE INDEX backfill_chunks_started_idx ON backfill_chunks (started_at);
-- Rates and ETAs per backfill come from recent completions.
CREATE INDEX backfill_chunks_state_completed_idx
    ON backfill_chunks (backfill_state_id, completed_at) WHERE status = 'completed';
-- The monitoring reads: recent completions by time (rates), the open chunks (counts, the
-- syncing flag; a set that stays small), the window's backfill chunks (statistics).
CREATE INDEX backfill_chunks_completed_at_idx ON backfill_chunks (completed_at)
    INCLUDE (backfill_state_id, inserted_prs, started_at) WHERE status = 'completed';
CREATE INDEX backfill_chunks_open_idx ON backfill_chunks (backfill_state_id)
    INCLUDE (status, kind) WHERE status <> 'completed';
CREATE INDEX backfill_chunks_backfill_started_idx ON backfill_chunks (started_at)
    INCLUDE (status, backfill_state_id, claim_token) WHERE kind = 'backfill';
-- The chunks being worked on, a set as small as the workers running (failed chunks, which
-- stay until the cleanup, are not in it): processing counts and the "syncing" flag.
CREATE INDEX backfill_chunks_processing_idx ON backfill_chunks (backfill_state_id)
    INCLUDE (kind, started_at, claim_token) WHERE status = 'processing';

ALTER TABLE backfill_chunks ENABLE ROW LEVEL SECURITY;
CREATE POLICY service_role_all ON backfill_chunks FOR ALL TO service_role
    USING (true) WITH CHECK (true);
REVOKE ALL ON TABLE backfill_chunks FROM PUBLIC, anon, authenticated;
GRANT ALL ON TABLE backfill_chunks TO service_role;
