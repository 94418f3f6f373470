"""PRs fetched but not yet handed out: the look-ahead buffer of one repository's backfill.

Why a buffer: a PR with more than 100 reviews/comments/labels needs follow-up queries, and each
query costs at least 1 point however little it asks. Follow-ups therefore ride in the same
1-point query as the next PRs (fetched ahead), so no query is wasted on a handful of follow-ups.
PRs come out strictly in order, complete, each page ending at the cursor of its last PR.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.github.models import PullRequest, RefusedPullRequest
from core.github.queries import NESTED, FollowUp


class AnswerProblem(ValueError):
    """An answer of the right types that cannot be right: it repeats what was delivered, says
    "more" without a cursor, or ends a list short of its `totalCount`. The client turns it
    into the `fail_chunk` outcome (`core.github.outcomes.malformed`)."""


class MalformedPullRequest(ValueError):
    """One PR's own data is not the shape asked for (a nested list that is not a list, a
    review without its id, a field of the wrong type): that PR is refused (recorded in
    pull_request_failures), the rest of its page is stored. Only the page's own structure
    (the PR list, its pageInfo, a PR without an id to record it by) fails the whole page."""


# What reading one PR of the wrong shape raises (pydantic's ValidationError is a ValueError).
_PR_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)
# The fields each nested node must have to be stored (its key in the store).
_NESTED_KEY = {"reviews": "id", "comments": "id", "labels": "name"}


def github_count(value: Any, what: str) -> int:
    """A count GitHub gives (`totalCount`), as the store keeps it: 0 <= n < 2^31.

    Raises AnswerProblem for anything else (negative, past Postgres' integer, not a number):
    one bad count fails its chunk, bounded, instead of a raw database error at commit."""
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**31:
        raise AnswerProblem(f"{what} is {str(value)[:40]!r}, not a count the store can hold")
    return value


@dataclass
class _Entry:
    cursor: str
    raw: dict[str, Any]
    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pending: dict[str, str | None] = field(default_factory=dict)  # field -> resume cursor
    refused: str | None = None  # why this PR's own data cannot be stored

    @property
    def complete(self) -> bool:
        return not self.pending

    def refuse(self, reason: str) -> None:
        """This PR alone is refused; it keeps its place (and cursor) in the page."""
        if not isinstance(self.raw.get("id"), str):
            # Nothing to record it by: the page itself cannot be trusted.
            raise AnswerProblem(f"a pull request without an id: {reason}")
        self.refused = reason[:500]
        self.pending.clear()
        self.nodes.clear()


def _updated(node: dict[str, Any]) -> datetime:
    value = node.get("updatedAt")
    if not isinstance(value, str):
        raise AnswerProblem(f"pull request {node.get('id')!r} has no updatedAt")
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class RepoBuffer:
    """Ordered PRs after `start_after` (the cursor the engine resumes from)."""

    def __init__(self, start_after: str | None, stop_below: datetime | None = None) -> None:
        self.start_after = start_after
        # A sync's walk (UPDATED_AT DESC) ends at the first PR updated before this: it and
        # every PR after it are left out (no follow-ups are paid for unchanged PRs).
        self.stop_below = stop_below
        self.reached_end = False
        self.entries: list[_Entry] = []
        self.frontier: str | None = start_after  # cursor after the last PR fetched
        self.has_more = True  # GitHub has PRs after `frontier`
        self.total_count = 0
        self.fetched_any = False
        self.delivered: set[str] = set()  # ids of PRs taken from this buffer
        self.cost = 0  # points GitHub charged for what is buffered, not yet handed out

    def take_cost(self) -> int:
        """The points charged since the last page was taken (they go with the next one)."""
        cost, self.cost = self.cost, 0
        return cost

    # -- ingest -----------------------------------------------------------------------------

    def add_page(self, connection: dict[str, Any], after: str | None = None) -> None:
        """Fold a `pullRequests` connection (edges with cursors), asked `after` that cursor.

        Not progress, so refused: an `endCursor` equal to the `after` sent with PRs in it, or
        a PR already buffered or delivered (GitHub or a caching proxy ignoring `after`)."""
        self.fetched_any = True
        self.total_count = github_count(connection.get("totalCount"), "the PR list's totalCount")
        info = connection.get("pageInfo") or {}
        edges = connection.get("edges") or []
        if edges and after is not None and info.get("endCursor") == after:
            raise AnswerProblem(f"the page after {after!r} ends at that same cursor")
        known = {e.raw.get("id") for e in self.entries}
        for edge in edges:
            node = edge.get("node")
            if node is None:
                continue
            if self.stop_below is not None and _updated(node) < self.stop_below:
                self.reached_end = True  # older than the watermark: the walk ends here
                break
            if node.get("id") in known or node.get("id") in self.delivered:
                raise AnswerProblem(
                    f"the page repeats pull request {node.get('id')!r}, already delivered"
                )
            known.add(node.get("id"))
            entry = _Entry(cursor=edge["cursor"], raw=node)
            try:
                for name in NESTED:
                    self._absorb(entry, name, node.get(name))
            except MalformedPullRequest as exc:
                entry.refuse(str(exc))
            self.entries.append(entry)
        if self.reached_end:
            self.frontier = self.entries[-1].cursor if self.entries else self.frontier
            self.has_more = False
            return
        self.frontier = info.get("endCursor") or self.frontier
        self.has_more = bool(info.get("hasNextPage"))

    def apply_follow_up(self, follow: FollowUp, node: dict[str, Any] | None) -> None:
        """Fold one follow-up answer. A PR gone before its follow-ups are read is never stored
        short: the page fails and is fetched again, which lists it whole, or no more."""
        entry = self._find(follow.pr_id)
        if entry is None or entry.refused is not None:
            return
        if node is None:
            have = len(entry.nodes.get(follow.field, []))
            raise AnswerProblem(
                f"pull request #{entry.raw.get('number')} was gone when its remaining "
                f"{follow.field} were asked for ({have} read): the page is fetched again"
            )
        try:
            if not isinstance(node, dict):
                raise MalformedPullRequest(f"its follow-up answer is {type(node).__name__}")
            self._absorb(entry, follow.field, node.get(follow.field))
        except MalformedPullRequest as exc:
            entry.refuse(str(exc))

    @staticmethod
    def _absorb(entry: _Entry, name: str, conn: dict[str, Any] | None) -> None:
        """One page of a nested connection. "More, but no cursor" is malformed, never the end;
        a list that ends short of its (latest) `totalCount` is not complete either (both:
        the page is fetched again). Raises MalformedPullRequest when the connection is not
        the shape asked for: that PR alone is refused."""
        nodes = entry.nodes.setdefault(name, [])
        if conn is None:
            raise AnswerProblem(f"{name} of pull request {entry.raw.get('id')!r} is null")
        if not isinstance(conn, dict):
            raise MalformedPullRequest(f"its {name} is {type(conn).__name__}, not an object")
        got = conn.get("nodes") or []
        if not isinstance(got, list):
            raise MalformedPullRequest(f"its {name}.nodes is {type(got).__name__}, not a list")
        key = _NESTED_KEY.get(name)
        for n in got:
            if n is None:
                continue
            if not isinstance(n, dict) or (key and not isinstance(n.get(key), str)):
                raise MalformedPullRequest(f"one of its {name} has no {key or 'object'}")
            nodes.append(n)
        info = conn.get("pageInfo") or {}
        if not isinstance(info, dict):
            raise MalformedPullRequest(f"its {name}.pageInfo is {type(info).__name__}")
        if info.get("hasNextPage"):
            if not info.get("endCursor"):
                raise AnswerProblem(
                    f"{name} of pull request {entry.raw.get('id')!r} say there is more "
                    "but give no cursor"
                )
            entry.pending[name] = info["endCursor"]
            return
        entry.pending.pop(name, None)
        total = conn.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool) and len(nodes) < total:
            raise AnswerProblem(
                f"{name} of pull request #{entry.raw.get('number')} ended at {len(nodes)} "
                f"of the {total} GitHub counts"
            )

    def _find(self, pr_id: str) -> _Entry | None:
        for entry in self.entries:
            if entry.raw.get("id") == pr_id:
                return entry
        return None

    # -- planning ---------------------------------------------------------------------------

    def follow_ups(self, limit: int) -> list[FollowUp]:
        """Pending follow-ups, oldest PR first, so the head of the buffer completes first."""
        out: list[FollowUp] = []
        for entry in self.entries:
            for name, after in entry.pending.items():
                if len(out) >= limit:
                    return out
                out.append(FollowUp(entry.raw["id"], name, after))
        return out

    def progress(self) -> tuple[int, str | None, bool, int, int]:
        """Changes whenever an answer moved the buffer on (PRs, frontier, nested nodes)."""
        nodes = sum(len(v) for e in self.entries for v in e.nodes.values())
        pending = sum(len(e.pending) for e in self.entries)
        return (len(self.entries), self.frontier, self.has_more, nodes, pending)

    def complete_prefix(self) -> int:
        count = 0
        for entry in self.entries:
            if not entry.complete:
                break
            count += 1
        return count

    @property
    def exhausted(self) -> bool:
        """Everything GitHub has was fetched and every buffered PR is complete."""
        return (
            self.fetched_any and not self.has_more and self.complete_prefix() == len(self.entries)
        )

    # -- output -----------------------------------------------------------------------------

    def take(self, count: int) -> tuple[list[PullRequest], list[RefusedPullRequest], str | None]:
        """Remove and convert the first `count` (complete) PRs; returns them, the PRs refused
        for their own malformed data (MalformedPullRequest), and the new cursor, which moves
        past both."""
        taken, self.entries = self.entries[:count], self.entries[count:]
        prs: list[PullRequest] = []
        refused: list[RefusedPullRequest] = []
        for entry in taken:
            if entry.refused is None:
                try:
                    prs.append(PullRequest.from_graphql(entry.raw, entry.nodes))
                    continue
                except _PR_SHAPE_ERRORS as exc:
                    entry.refuse(_shape_reason(exc))
            number = entry.raw.get("number")
            refused.append(
                RefusedPullRequest(
                    github_id=str(entry.raw["id"]),
                    number=number if _is_int(number) else None,
                    reason=f"GitHub's data for this PR is not the shape asked for: {entry.refused}",
                )
            )
        self.delivered.update(str(e.raw.get("id")) for e in taken)
        if taken:
            self.start_after = taken[-1].cursor
        return prs, refused, self.start_after

    @property
    def has_next_page(self) -> bool:
        return bool(self.entries) or self.has_more


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _shape_reason(exc: Exception) -> str:
    """A short reason naming the field (pydantic: its location), never the whole value."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"[:300]
    return f"{type(exc).__name__}: {str(exc)[:200]}"
