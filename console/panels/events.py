"""The event log: what changed between two snapshots, one timestamped line each."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from uuid import UUID

from rich.text import Text

from console.format import clock, format_duration, stamped
from console.panels.repositories import freshness_by_id, repository_status
from core.monitoring import Standing, StatsReport, standing
from core.store.models import BackfillProgress, Freshness, StuckChunk, WorkerRecord

MAX_CHUNK_EVENTS = 8


def events_between(
    previous: StatsReport | None,
    current: StatsReport,
    now: datetime,
    standings: dict[UUID, Standing] | None = None,
    rows: Sequence[BackfillProgress] | None = None,
) -> list[Text]:
    """What changed since the last snapshot: PRs stored, failures, waits, workers, recoveries.
    `standings`: each current row's `standing`, when the caller has them already;
    `rows`: the rows of `current` to compare, when the caller knows that every other one's
    row, freshness and standing are the ones in `previous` (no event can come of those)."""
    if previous is None:
        return []
    events: list[Text] = []
    done: list[Text] = []
    done_prs = 0
    compared = current.progress if rows is None else rows
    before = {p.backfill_state_id: p for p in previous.progress} if compared else {}
    fresh = freshness_by_id(current) if compared else {}
    was_fresh = freshness_by_id(previous) if compared else {}
    for p in compared:
        old = before.get(p.backfill_state_id)
        if old is None:
            events.append(stamped(now, f"{p.repository}: added ({p.total_prs or 0:,} PRs)"))
            continue
        if p.status == old.status == "completed":  # a completed repository moves by syncs
            chunk, more = _sync_events(
                p, old, fresh.get(p.backfill_state_id), was_fresh.get(p.backfill_state_id), now
            )
            done += chunk
            done_prs += max(0, p.processed_prs - old.processed_prs)
            events += more
        elif p.processed_prs > old.processed_prs:
            done_prs += p.processed_prs - old.processed_prs
            done.append(stamped(now, stored_since(p, old)))
        if p.chunks_failed > old.chunks_failed:
            reason = f": {p.last_error}" if p.last_error else ""
            events.append(stamped(now, f"{p.repository}: a chunk failed{reason}", "red"))
        if p.status != old.status and p.status in ("completed", "failed", "paused"):
            style = {"completed": "green", "failed": "bold red", "paused": "yellow"}[p.status]
            reason = f": {p.last_error}" if p.status == "failed" else ""
            events.append(stamped(now, f"{p.repository}: {p.status}{reason}", style))
        elif old.status == "paused" and p.status != "paused":
            events.append(stamped(now, f"{p.repository}: resumed"))
        now_standing = standings[p.backfill_state_id] if standings else standing(p)
        if now_standing.state == "stalled" and standing(old).state != "stalled":
            events.append(stamped(now, f"{p.repository}: {repository_status(p).plain}", "red"))
        if p.waiting_until is not None and p.waiting_until != old.waiting_until:
            events.append(
                stamped(
                    now,
                    f"{p.repository}: waiting for the GraphQL budget until "
                    f"{clock(p.waiting_until)}",
                    "yellow",
                )
            )
    if len(done) > MAX_CHUNK_EVENTS:  # one line, not a screenful, when many move at once
        done = [
            stamped(
                now,
                f"{len(done):,} repositories stored {done_prs:,} PRs since the last look",
            )
        ]
    events = done + events
    events += _worker_events(previous.workers, current.workers, now)
    events += _stuck_events(previous.stuck, current.stuck, now)
    return events


def stored_since(p: BackfillProgress, old: BackfillProgress) -> str:
    """What a backfill stored between two looks, said as that: "a/b: 518 PRs stored since
    the last look (9,100 of 12,000)". No chunk is named: the snapshot knows the last chunk
    *started* (`last_chunk_number`), not which ones committed, so a number here could name
    a chunk still running or one whose worker was killed; and no "PRs 8,583–9,100", which
    reads as PR numbers. The one wording for a backfill's and a sync's stored PRs."""
    new = p.processed_prs - old.processed_prs
    total = f" of {p.total_prs:,}" if p.total_prs else ""
    return f"{p.repository}: {new:,} PRs stored since the last look ({p.processed_prs:,}{total})"


def _sync_events(
    p: BackfillProgress,
    old: BackfillProgress,
    f: Freshness | None,
    was: Freshness | None,
    now: datetime,
) -> tuple[list[Text], list[Text]]:
    """A completed repository's sync: the PRs it stored since the last look (counted with
    the backfills' when many move at once), the sync started, or finished with how fresh
    the data now is."""
    chunks: list[Text] = []
    events: list[Text] = []
    started = f is not None and f.syncing and not (was is not None and was.syncing)
    if p.processed_prs > old.processed_prs:
        # The PRs the sync stored between the two looks (`stored_since`: no chunk number).
        new = p.processed_prs - old.processed_prs
        what = "sync started" if started else "sync"
        chunks.append(
            stamped(now, f"{p.repository}: {what}: {new:,} PRs stored since the last look")
        )
    elif started:
        events.append(stamped(now, f"{p.repository}: sync started", "cyan"))
    if f is not None and was is not None and f.syncs > was.syncs:
        fresh = f" as of {clock(f.fresh_as_of)}" if f.fresh_as_of is not None else ""
        events.append(stamped(now, f"{p.repository}: synced, fresh{fresh}", "green"))
    return chunks, events


def _worker_events(
    before: Iterable[WorkerRecord], after: Iterable[WorkerRecord], now: datetime
) -> list[Text]:
    was_alive = {w.id for w in before if w.alive}
    is_alive = {w.id for w in after if w.alive}
    events = [stamped(now, f"worker {w} started", "green") for w in sorted(is_alive - was_alive)]
    events += [stamped(now, f"worker {w} gone", "yellow") for w in sorted(was_alive - is_alive)]
    return events


def _stuck_events(
    before: Sequence[StuckChunk], after: Sequence[StuckChunk], now: datetime
) -> list[Text]:
    old = {c.chunk_id: c for c in before}
    new = {c.chunk_id: c for c in after}
    events = [
        stamped(
            now,
            f"{c.repository}: chunk #{c.chunk_number} stuck for {format_duration(c.age_seconds)}"
            f" (worker {c.worker_id})",
            "bold red",
        )
        for key, c in new.items()
        if key not in old
    ]
    events += [
        stamped(now, f"{c.repository}: chunk #{c.chunk_number} no longer stuck", "green")
        for key, c in old.items()
        if key not in new
    ]
    return events
