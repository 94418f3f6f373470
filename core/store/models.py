"""What the store returns: immutable snapshots, safe to hand to another thread or process."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict

# What the store takes, too: a pull request as the `commit_chunk` SQL function reads it, either
# core.github's `PullRequest` model or the mapping its JSON dump gives. Stores serialise both.
PullRequestRecord = Mapping[str, Any] | BaseModel


class Snapshot(BaseModel):
    model_config = ConfigDict(frozen=True)


class Registration(Snapshot):
    repository_id: UUID
    backfill_state_id: UUID
    owner: str
    name: str
    status: str
    created: bool


class Lease(Snapshot):
    """A claimed backfill. `claim_token` fences every write made under this lease."""

    backfill_state_id: UUID
    repository_id: UUID
    owner: str
    name: str
    claim_token: int
    lease_expires_at: datetime
    cursor: str | None
    total_prs: int | None
    processed_prs: int
    page_size: int | None
    # The GitHub App installation that sees the repository (its budget pays for the work);
    # None: any credential will do (personal tokens, or not routed yet).
    installation_id: int | None = None

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"


class SyncLease(Lease):
    """A claimed sync of a completed repository (`claim_sync`): the same lease and fencing as a
    backfill's. `cursor` is where an unfinished walk resumes; `since` is where the walk stops
    (the watermark, or the backfill's start when never synced, minus the safety margin)."""

    since: datetime
    watermark: datetime | None


class ProbeLease(Snapshot):
    """A completed repository claimed for one freshness probe (`claim_probe`): leased and
    fenced as a sync, settled by `settle_probe` or `probe_failed`."""

    backfill_state_id: UUID
    repository_id: UUID
    owner: str
    name: str
    claim_token: int
    lease_expires_at: datetime
    installation_id: int | None = None

    @property
    def repository(self) -> str:
        return f"{self.owner}/{self.name}"


class Chunk(Snapshot):
    id: UUID
    backfill_state_id: UUID
    chunk_number: int
    status: str
    started_at: datetime
    cursor_before: str | None
    claim_token: int | None
    worker_id: str | None
    kind: str = "backfill"


class RetryRequest(Snapshot):
    """A refused PR due to be asked for again alone (`pull_requests_to_retry`): by its node
    id, else its number, else its position (the PR right after `position_cursor` in
    `position_order`). `github_id`: its pull_request_failures key."""

    github_id: str
    node_id: str | None = None
    number: int | None = None
    position_cursor: str | None = None
    position_order: str | None = None
    attempts: int = 1


class CommitResult(Snapshot):
    committed: bool
    reason: str | None = None
    inserted_prs: int = 0
    upserted_prs: int = 0
    reviews: int = 0
    comments: int = 0
    processed_prs: int | None = None
    total_prs: int | None = None
    status: str | None = None
    # PRs the database refused ({number, github_id, error}); the rest of the page is stored.
    refused: list[dict[str, Any]] = []
    # Why the backfill is not simply active or completed (a short end, refused PRs).
    note: str | None = None
    # characters the store cannot hold (U+0000, lone surrogates) stored as U+FFFD
    replaced_characters: int = 0


class ChunkFailure(Snapshot):
    """What `fail_chunk_in_a_row` did: whether the chunk was failed (False: not this claim's
    to fail), the backfill's failures in a row now, whether that reached the bound (the
    backfill failed; a sync gave up and rests), the cooldown applied, and its last_error."""

    failed: bool = False
    in_a_row: int | None = None
    gave_up: bool = False
    cooldown_seconds: int = 0
    reason: str | None = None


class ChunkStatistics(Snapshot):
    """The spec's getChunkStatistics: chunk counts over a window."""

    processing: int
    completed: int
    failed: int
    stuck: int
    total: int


class DatabaseSize(Snapshot):
    """The database's size and its growth per day (migration 20250460000000): bytes per PR
    (the PR tables' on-disk size / PRs stored) times the PRs first stored in the last 24
    hours by completed chunks. Sizes in bytes; bytes_per_pr is None while no PR is stored."""

    database_bytes: int
    pr_bytes: int
    prs: int
    bytes_per_pr: int | None
    prs_last_day: int
    bytes_per_day: int


class StuckChunk(Snapshot):
    """A chunk 'processing' past the threshold, with what recovery would decide for it."""

    chunk_id: UUID
    backfill_state_id: UUID
    repository: str
    chunk_number: int
    worker_id: str | None
    started_at: datetime
    age_seconds: int
    stored: int
    expected: int
    decision: str
    reason: str


class BackfillProgress(Snapshot):
    backfill_state_id: UUID
    repository_id: UUID
    repository: str
    status: str
    processed_prs: int
    total_prs: int | None
    percent: float | None
    prs_per_minute: float
    eta_seconds: float | None
    last_chunk_number: int
    chunks_processing: int
    chunks_failed: int
    leased_by: str | None
    lease_expires_at: datetime | None
    waiting_until: datetime | None
    cooldown_until: datetime | None
    last_error: str | None
    error_count: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    observed_at: datetime
    progressed_at: datetime | None = None  # when its stored PRs last grew
    # PRs refused (pull_request_failures): GitHub sent them wrong, short, forbidden or
    # missing, or the database refused them; counted by the completion check
    refused_prs: int = 0


class RateLimitRecord(Snapshot):
    token_fingerprint: str
    remaining: int
    limit: int
    used: int
    reset_at: datetime
    last_cost: int | None
    average_cost_per_query: float | None
    queries: int
    observed_at: datetime
    # process id -> its latest server-time figures (core.github.pacing.PacingSnapshot, with
    # `at`: database epoch seconds)
    server_time: dict[str, dict[str, Any]] = {}
    # Whose budget: the credential's display name ("installation 42 (octo-org)", "token
    # 1a2b3c4d"; never a token) and its App installation, when the writer said.
    credential: str | None = None
    installation_id: int | None = None

    @property
    def name(self) -> str:
        """What to call this budget on screen: the credential's name, else the fingerprint."""
        return self.credential or self.token_fingerprint


class WorkerRecord(Snapshot):
    id: str
    host: str
    pid: int
    status: str
    backfill_state_id: UUID | None
    repository: str | None
    detail: str | None
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    alive: bool


class WorkSummary(Snapshot):
    """Outstanding work: whether a worker run with --until-idle has anything left to wait for."""

    claimable: int
    leased: int
    cooling: int
    paused: int
    completed: int
    failed: int

    @property
    def outstanding(self) -> int:
        return self.claimable + self.leased + self.cooling


class SyncResult(Snapshot):
    """What `commit_sync_chunk` did with one page of a sync."""

    committed: bool
    reason: str | None = None
    inserted_prs: int = 0
    upserted_prs: int = 0
    reviews: int = 0
    comments: int = 0
    reviews_deleted: int = 0
    comments_deleted: int = 0
    processed_prs: int | None = None
    total_prs: int | None = None
    done: bool = False
    watermark: datetime | None = None
    refused: list[dict[str, Any]] = []
    replaced_characters: int = 0


class Freshness(Snapshot):
    """How current one repository's data is (`sync_freshness_snapshot`). `fresh_as_of`: the
    database holds GitHub's data as of then; `lag_seconds`: how long ago that is. Both None
    while the backfill is not completed."""

    backfill_state_id: UUID
    repository: str
    status: str
    watermark: datetime | None
    synced_at: datetime | None
    fresh_as_of: datetime | None
    lag_seconds: int | None
    syncing: bool
    sync_requested_at: datetime | None
    syncs: int
    observed_at: datetime


class ChunkRecord(Snapshot):
    """One chunk as the detail screen lists it. `kind` is set when the schema has one."""

    chunk_number: int
    status: str
    started_at: datetime
    completed_at: datetime | None = None
    failed_at: datetime | None = None
    pr_count: int | None = None
    worker_id: str | None = None
    error: str | None = None
    recovered: bool = False
    kind: str | None = None

    def ended_at(self) -> datetime | None:
        return self.completed_at or self.failed_at


class BackfillDetail(Snapshot):
    """One backfill in full (backfill_detail()): what the progress row does not carry."""

    backfill_state_id: UUID
    repository_id: UUID
    repository: str
    status: str
    page_size: int | None
    error_count: int
    last_error: str | None
    cooldown_until: datetime | None
    leased_by: str | None
    lease_expires_at: datetime | None
    lease_host: str | None
    has_cursor: bool
    after_pr: int | None  # the cursor is past this PR
    state: dict[str, Any]  # every column of the state row (a sync watermark, when added)
    chunks: list[ChunkRecord]
    observed_at: datetime
    # rows stored of its repository (repository_data_counts()); None: not counted
    stored: DataCounts | None = None


class DataCounts(Snapshot):
    """What is stored of one repository (repository_data_counts()): rows per table."""

    repository_id: UUID
    pull_requests: int = 0
    reviews: int = 0
    comments: int = 0
    review_threads: int = 0
    review_comments: int = 0


class RemovalCounts(Snapshot):
    """What removing a repository deletes (remove_repository()); `removed` once it is gone."""

    repository_id: UUID | None = None
    repository: str | None
    backfills: int = 0
    chunks: int = 0
    pull_requests: int = 0
    reviews: int = 0
    comments: int = 0
    failures: int = 0
    removed: bool

    def describe(self) -> str:
        return (
            f"{self.pull_requests:,} pull requests, {self.reviews:,} reviews, "
            f"{self.comments:,} comments, {self.chunks:,} chunks, "
            f"{self.failures:,} refused-PR records and its backfill"
        )


class CatchUpPlan(Snapshot):
    """A completed repository's catch-up of one listing (`comment_catch_up_plan`; `kind`:
    "comments" or "review_comments"): `since` (GitHub's clock) is where its next catch-up
    starts; `verified_at` when its deletions were last verified (None: never); `etag` the
    ETag of the first page listed from `since`, stored with that page (None: none kept)."""

    backfill_state_id: UUID
    repository_id: UUID
    owner: str
    name: str
    kind: str = "comments"
    since: datetime
    verified_at: datetime | None
    installation_id: int | None = None
    etag: str | None = None

    @property
    def full_name(self) -> str:
        return f"{self.owner}/{self.name}"


class StoredComment(Snapshot):
    """A stored comment or review comment the verification may delete: its node id and
    REST id."""

    github_id: str
    database_id: int | None
