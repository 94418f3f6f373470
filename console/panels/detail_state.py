"""The detail screen's state panel: one backfill in full, lease and freshness included."""

from __future__ import annotations

from rich.text import Text

from console.format import clock, format_duration
from console.panels.repositories import repository_status, sync_requested
from core.monitoring import standing
from core.store.models import BackfillDetail, BackfillProgress, Freshness


def _line(text: Text, label: str, value: Text | str) -> None:
    text.append(f"{label:<9}", style="bold")
    text.append(value)
    text.append("\n")


def sync_summary(f: Freshness) -> Text:
    """A completed repository's freshness: as of when, the lag, how many syncs, and whether
    one is under way or asked for."""
    assert f.fresh_as_of is not None
    text = Text(f"fresh as of {f.fresh_as_of.astimezone():%Y-%m-%d %H:%M:%S}")
    text.append(f" · lag {format_duration(f.lag_seconds)}", style="bold")
    if f.syncing:
        text.append(" · syncing now", style="bold cyan")
    elif sync_requested(f):
        text.append(" · sync requested", style="cyan")
    if f.syncs and f.synced_at is not None:
        text.append(f" · {f.syncs:,} sync{'s' if f.syncs != 1 else ''}, last {clock(f.synced_at)}")
    elif not f.syncs:
        text.append(" · never synced (as of its backfill's start)")
    if f.watermark is not None:
        text.append(f" · watermark {f.watermark.astimezone():%Y-%m-%d %H:%M:%S}", style="dim")
    return text


def detail_summary(
    detail: BackfillDetail, p: BackfillProgress | None, f: Freshness | None = None
) -> Text:
    """The backfill's state, in full: status with its reason and since when, progress, rate,
    ETA, cursor, page size, errors and cooldown, lease, its freshness (lag) once
    completed, and the rows stored of its repository (review threads and comments too)."""
    now = detail.observed_at
    text = Text()
    if p is not None:
        s = standing(p)
        status = repository_status(p)  # a sync under way is on the Sync line
        if s.why and s.state not in ("failed", "stalled", "completed"):
            status.append(f" ({s.why})")
        if s.since is not None:
            status.append(f" · since {s.since.astimezone():%Y-%m-%d %H:%M}", style="dim")
        _line(text, "State", status)
        total = "?" if p.total_prs is None else f"{p.total_prs:,}"
        percent = "" if p.percent is None else f" ({p.percent:.1f}%)"
        rate = f"{p.prs_per_minute:,.0f} PRs/min" if p.prs_per_minute else "— PRs/min"
        eta = "" if p.status == "completed" else f" · ETA {format_duration(p.eta_seconds)}"
        refused = (
            f" · {p.refused_prs:,} refused (see pull_request_failures)" if p.refused_prs else ""
        )
        _line(
            text,
            "Progress",
            f"{p.processed_prs:,}/{total} PRs{percent} · {rate}{eta}{refused}",
        )
    else:
        _line(text, "State", Text(detail.status))
    if detail.after_pr is not None:
        cursor = f"after PR #{detail.after_pr}"
    else:
        cursor = "past a page" if detail.has_cursor else "at the start (oldest PR first)"
    page = "default" if detail.page_size is None else str(detail.page_size)
    _line(text, "Cursor", f"{cursor} · page size {page}")
    errors = Text(f"{detail.error_count} error{'s' if detail.error_count != 1 else ''}")
    if detail.cooldown_until is not None and detail.cooldown_until > now:
        errors.append(f" · cooling down until {clock(detail.cooldown_until)}", style="yellow")
    if detail.last_error:
        errors.append(" · last: ")
        errors.append(detail.last_error, style="red")
    _line(text, "Errors", errors)
    if detail.leased_by and detail.lease_expires_at is not None:
        host = f" on {detail.lease_host}" if detail.lease_host else ""
        left = (detail.lease_expires_at - now).total_seconds()
        expiry = f"expires in {format_duration(left)}" if left > 0 else "expired"
        _line(text, "Lease", f"{detail.leased_by}{host} · {expiry}")
    else:
        _line(text, "Lease", Text("none (no worker holds it)", style="dim"))
    if f is not None and f.fresh_as_of is not None:
        _line(text, "Sync", sync_summary(f))
    if detail.stored is not None:
        n = detail.stored
        _line(
            text,
            "Stored",
            f"{n.pull_requests:,} PRs · {n.reviews:,} reviews · {n.comments:,} comments · "
            f"{n.review_threads:,} review threads · {n.review_comments:,} review comments",
        )
    text.rstrip()
    return text
