"""PRs fetched but not yet handed out: the look-ahead buffer of one repository's backfill.

Why a buffer: a PR with more than 100 reviews/comments/labels needs follow-up queries, and each
query costs at least 1 point however little it asks. Follow-ups therefore ride in the same
1-point query as the next PRs (fetched ahead), so no query is wasted on a handful of follow-ups.
PRs come out strictly in order, complete, each page ending at the cursor of its last PR.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from core.github.models import PullRequest, RefusedPullRequest, RetryRequest
from core.github.queries import (
    MAX_RETRIES_PER_QUERY,
    NESTED,
    THREAD_COMMENTS,
    FollowUp,
    place_key,
    position_rank,
)
from core.storable import UNSTORABLE, storable_text


class AnswerProblem(ValueError):
    """An answer whose own structure is wrong: the PR list or its pageInfo not the shape
    asked for, an edge without its cursor, a page that repeats what was delivered or says
    "more" without a cursor. No PR of it can be trusted: the client turns it into the
    `fail_chunk` outcome (`core.github.outcomes.malformed`) and the page is fetched again."""


class MalformedPullRequest(ValueError):
    """One PR's own data is wrong, short or missing (a nested list that is not a list, ends
    short of its `totalCount` or is null, a review without its id, a field of the wrong
    type): that PR alone is refused (recorded in pull_request_failures, retried alone later),
    the rest of its page is stored. The smallest unit that is bad is the one refused."""


# What reading one PR of the wrong shape raises (pydantic's ValidationError is a ValueError).
_PR_SHAPE_ERRORS = (KeyError, IndexError, TypeError, AttributeError, ValueError, OverflowError)
# The fields each nested node must have to be stored (its key in the store).
_NESTED_KEY = {"reviews": "id", "comments": "id", "labels": "name", "reviewThreads": "id"}
# A node id longer than this is no GitHub id (theirs are ~20-40 characters): the PR is then
# recorded by its cursor, as one without an id (a key the failures' index can hold).
MAX_ID_LENGTH = 255


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
    cursor: str  # the walk's cursor after this PR (a retry's: the one before it, unmoved)
    raw: dict[str, Any]
    nodes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    pending: dict[str, str | None] = field(default_factory=dict)  # field -> resume cursor
    totals: dict[str, int] = field(default_factory=dict)  # field -> GitHub's latest totalCount
    refused: str | None = None  # why this PR's own data cannot be stored
    position: str | None = None  # the cursor right before it in its walk
    retry_of: str | None = None  # a refused PR asked for again: its failure's key
    null_key: str | None = None  # a null edge: `place_key` (`cursor:<cursor before it>+k`)
    position_key: str | None = None  # a listed PR's place, keyed like a null edge's

    @property
    def complete(self) -> bool:
        return not self.pending

    @property
    def node_id(self) -> str | None:
        """Its node id, when it is one GitHub could have sent: a string of at most
        MAX_ID_LENGTH characters, all of them storable (a lone surrogate could be neither
        stored as the key nor sent back to ask for its remaining pages)."""
        value = self.raw.get("id")
        if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_LENGTH:
            return None
        return None if UNSTORABLE.search(value) else value

    @property
    def key(self) -> str:
        """What pull_request_failures knows it by: the failure it retries, its node id, or
        (GitHub sent none: a null node) its edge's cursor."""
        return self.retry_of or self.node_id or self.null_key or f"cursor:{self.cursor}"

    def refuse(self, reason: str) -> None:
        """This PR alone is refused; it keeps its place (and cursor) in the page."""
        self.refused = storable_text(reason)[:500]
        self.pending.clear()
        self.nodes.clear()


def _updated(node: dict[str, Any]) -> datetime | None:
    """Its `updatedAt`, or None when it has none that reads (it is then refused on its own)."""
    value = node.get("updatedAt")
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


class RepoBuffer:
    """Ordered PRs after `start_after` (the cursor the engine resumes from)."""

    def __init__(
        self, start_after: str | None, stop_below: datetime | None = None, order: str = ""
    ) -> None:
        self.start_after = start_after
        # A sync's walk (UPDATED_AT DESC) ends at the first PR updated before this: it and
        # every PR after it are left out (no follow-ups are paid for unchanged PRs).
        self.stop_below = stop_below
        self.order = order  # the walk's order ("CREATED_AT ASC"): a refused PR's position
        self.reached_end = False
        self.entries: list[_Entry] = []
        self.frontier: str | None = start_after  # cursor after the last PR fetched
        self.has_more = True  # GitHub has PRs after `frontier`
        self.total_count = 0
        self.fetched_any = False
        self.delivered: set[str] = set()  # ids of PRs taken from this buffer
        self.cost = 0  # points GitHub charged for what is buffered, not yet handed out
        self.retries: list[RetryRequest] = []  # refused PRs to ask for again, not yet asked

    def take_cost(self) -> int:
        """The points charged since the last page was taken (they go with the next one)."""
        cost, self.cost = self.cost, 0
        return cost

    # -- ingest -----------------------------------------------------------------------------

    def add_page(
        self,
        connection: dict[str, Any],
        after: str | None = None,
        item_errors: Mapping[int, str] | None = None,
    ) -> None:
        """Fold a `pullRequests` connection (edges with cursors), asked `after` that cursor.
        `item_errors`: GitHub's words for the PRs (by edge index) an error is located in.

        One edge that is itself null (with or without an error located at it) is one PR
        refused alone, keyed `cursor:<cursor before it>+k` (`place_key`; at the walk's start,
        `cursor:start of <order>+k`); a PR listed twice in this page
        (GitHub does so when `updatedAt` moves mid-walk) is kept once.

        Raises AnswerProblem (the page's own structure is wrong) for: `edges` or `pageInfo`
        not the shape asked for, an edge object without its cursor, an error located at an
        edge the page does not have, an `endCursor` equal to the `after` sent with PRs in it,
        or a PR already buffered from an earlier page or delivered (GitHub or a caching
        proxy ignoring `after`)."""
        errors = item_errors or {}
        self.fetched_any = True
        self.total_count = github_count(connection.get("totalCount"), "the PR list's totalCount")
        info = connection.get("pageInfo") or {}
        edges = connection.get("edges")
        if not isinstance(info, dict) or not isinstance(edges, list):
            raise AnswerProblem("the PR list or its pageInfo is not the shape asked for")
        if edges and after is not None and info.get("endCursor") == after:
            raise AnswerProblem(f"the page after {after!r} ends at that same cursor")
        outside = sorted(i for i in errors if not 0 <= i < len(edges))
        if outside:
            raise AnswerProblem(
                f"GitHub located an error at edge {outside[0]}, which this page does not have"
            )
        known = {e.node_id for e in self.entries if e.retry_of is None} - {None}
        in_page: set[str] = set()
        position = after
        nulls = 0  # null edges since the last edge with a cursor
        for index, edge in enumerate(edges):
            if not isinstance(edge, dict):  # null (or no object): this PR alone is bad
                nulls += 1
                entry = _Entry(cursor=position or "", raw={}, position=position)
                entry.null_key = place_key(position, self.order, nulls)
                entry.refuse(
                    f"GitHub answered an error for this PR: {errors[index]}"
                    if index in errors
                    else "GitHub sent no data for this PR (a null edge)"
                    if edge is None
                    else f"GitHub sent its edge as {type(edge).__name__}, not an object"
                )
                self.entries.append(entry)
                continue
            cursor = edge.get("cursor")
            if not isinstance(cursor, str) or not cursor:
                raise AnswerProblem(f"edge {index} of the PR list has no cursor")
            place = place_key(position, self.order, nulls + 1)  # a null edge here: its key
            nulls = 0
            node = edge.get("node")
            listed_id = node.get("id") if isinstance(node, dict) else None
            if isinstance(listed_id, str) and listed_id in in_page:
                position = cursor  # listed again in this very page: the first copy is kept
                continue
            if isinstance(node, dict) and self.stop_below is not None:
                updated = _updated(node)
                if updated is not None and updated < self.stop_below:
                    self.reached_end = True  # older than the watermark: the walk ends here
                    break
            entry = _Entry(cursor=cursor, raw=node if isinstance(node, dict) else {})
            entry.position = position
            entry.position_key = place
            if entry.node_id is not None:
                if entry.node_id in known or entry.node_id in self.delivered:
                    raise AnswerProblem(
                        f"the page repeats pull request {entry.node_id!r}, already delivered"
                    )
                known.add(entry.node_id)
                in_page.add(entry.node_id)
            self._read(entry, node, errors.get(index))
            self.entries.append(entry)
            position = cursor
        if self.reached_end:
            self.frontier = self.entries[-1].cursor if self.entries else self.frontier
            self.has_more = False
            return
        self.frontier = info.get("endCursor") or self.frontier
        self.has_more = bool(info.get("hasNextPage"))

    def _read(self, entry: _Entry, node: Any, words: str | None) -> None:
        """One PR node as listed (or asked for again): its nested lists absorbed, or the PR
        refused with the reason (GitHub's words first, when an error is located in it)."""
        if words is not None:
            entry.refuse(f"GitHub answered an error for this PR: {words}")
        elif not isinstance(node, dict):
            entry.refuse("GitHub sent no data for this PR (a null node)")
        else:
            try:
                for name in NESTED:
                    self._absorb(entry, name, node.get(name))
                if entry.pending and entry.node_id is None:
                    raise MalformedPullRequest(
                        f"its {', '.join(entry.pending)} need more pages, but it has no id "
                        "(or one no GitHub id is) to ask for them by"
                    )
            except MalformedPullRequest as exc:
                entry.refuse(f"GitHub's data for this PR is not the shape asked for: {exc}")

    def queue_retries(self, retries: Sequence[RetryRequest]) -> None:
        """Refused PRs to ask for again alone, in the next query this walk sends."""
        self.retries.extend(retries)

    def next_retries(self) -> list[RetryRequest]:
        """The retries the next query asks for (taken off the queue)."""
        asked = self.retries[:MAX_RETRIES_PER_QUERY]
        del self.retries[:MAX_RETRIES_PER_QUERY]
        return asked

    def apply_retry(self, retry: RetryRequest, answer: Any, words: str | None) -> None:
        """Fold the answer to one retry (`retry_alias`): the PR, read as if listed, goes first
        in the buffer without moving the cursor; refused again if it is still bad or gone."""
        node: Any = answer
        if isinstance(answer, dict) and "pullRequest" in answer:  # by number
            node = answer.get("pullRequest")
        elif isinstance(answer, dict) and "pullRequests" in answer:  # by position
            edges = (answer.get("pullRequests") or {}).get("edges") or []
            rank = position_rank(retry)  # the k-th null edge after its cursor: the k-th PR
            last = edges[rank - 1] if isinstance(edges, list) and len(edges) >= rank else None
            node = last.get("node") if isinstance(last, dict) else None
        entry = _Entry(cursor=self.start_after or "", raw=node if isinstance(node, dict) else {})
        entry.retry_of = retry.github_id
        entry.position = retry.position_cursor
        if isinstance(node, dict) and entry.node_id is None and retry.node_id is not None:
            node = None  # asked by id, answered without it: not the PR asked for
        if node is None and words is None:
            words = "it is not there any more (GitHub answered null)"
        self._read(entry, node, words)
        self.entries.insert(0, entry)

    def apply_follow_up(
        self, follow: FollowUp, node: dict[str, Any] | None, words: str | None = None
    ) -> None:
        """Fold one follow-up answer. A PR gone, forbidden or malformed when its remaining
        nested items are asked for is refused alone (never stored short), with GitHub's
        words when it gave some; the rest of the buffer goes on."""
        entry = self._find(follow)
        if entry is None:
            return
        have = len(entry.nodes.get(follow.field, []))
        if words is not None:
            entry.refuse(
                f"GitHub answered an error when its remaining {follow.field} were asked for "
                f"({have} read): {words}"
            )
            return
        if node is None:
            entry.refuse(
                f"GitHub sent nothing when its remaining {follow.field} were asked for "
                f"({have} read): deleted since it was listed?"
            )
            return
        try:
            if not isinstance(node, dict):
                raise MalformedPullRequest(f"its follow-up answer is {type(node).__name__}")
            name = "comments" if follow.field.startswith(THREAD_COMMENTS) else follow.field
            self._absorb(entry, follow.field, node.get(name))
        except MalformedPullRequest as exc:
            entry.refuse(f"GitHub's data for this PR is not the shape asked for: {exc}")

    @staticmethod
    def _absorb(entry: _Entry, name: str, conn: dict[str, Any] | None) -> None:
        """One page of a nested connection. Raises MalformedPullRequest when it is not the
        shape asked for, says "more" without a cursor, or ends short of its (latest)
        `totalCount`: that PR alone is refused, never stored short."""
        nodes = entry.nodes.setdefault(name, [])
        if conn is None:
            raise MalformedPullRequest(f"its {name} are null")
        if not isinstance(conn, dict):
            raise MalformedPullRequest(f"its {name} is {type(conn).__name__}, not an object")
        got = conn.get("nodes")
        if got is None:  # `edges` instead of `nodes`, or none: what it holds is unknown
            raise MalformedPullRequest(f"its {name} came without their nodes")
        if not isinstance(got, list):
            raise MalformedPullRequest(f"its {name}.nodes is {type(got).__name__}, not a list")
        key = "id" if name.startswith(THREAD_COMMENTS) else _NESTED_KEY.get(name)
        for n in got:
            if n is None:
                continue
            if not isinstance(n, dict) or (key and not isinstance(n.get(key), str)):
                raise MalformedPullRequest(f"one of its {name} has no {key or 'object'}")
            nodes.append(n)
            if name == "reviewThreads":  # each thread's comments: a list of their own,
                # asked by the thread's id from its first page on (never nested in a page,
                # where they would cost a request per thread the page could list)
                thread = THREAD_COMMENTS + n["id"]
                if thread not in entry.nodes:
                    entry.nodes[thread] = []
                    entry.pending[thread] = None
        info = conn.get("pageInfo") or {}
        if not isinstance(info, dict):
            raise MalformedPullRequest(f"its {name}.pageInfo is {type(info).__name__}")
        total = conn.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool):
            entry.totals[name] = total
        if info.get("hasNextPage"):
            if not info.get("endCursor"):
                raise MalformedPullRequest(f"its {name} say there is more but give no cursor")
            entry.pending[name] = info["endCursor"]
            return
        entry.pending.pop(name, None)
        total = conn.get("totalCount")
        if isinstance(total, int) and not isinstance(total, bool) and len(nodes) < total:
            raise MalformedPullRequest(
                f"its {name} ended at {len(nodes)} of the {total} GitHub counts (no next page)"
            )

    def _find(self, follow: FollowUp) -> _Entry | None:
        """The PR a follow-up was asked for: still waiting for that very page."""
        for entry in self.entries:
            if (
                entry.refused is None
                and entry.node_id == follow.pr_id
                and follow.field in entry.pending
                and entry.pending[follow.field] == follow.after
            ):
                return entry
        return None

    # -- planning ---------------------------------------------------------------------------

    def follow_ups(self, limit: int, repeatable: bool = False) -> list[FollowUp]:
        """Pending follow-ups, oldest PR first, so the head of the buffer completes first;
        at most `limit` requests (`FollowUp.requests`) in all, and at least one. A thread's
        comments (THREAD_COMMENTS + its id) are asked by the thread's id, first page
        included (`after` None).

        `repeatable`: as many as the largest of REPEATABLE_COUNTS that is at most what is
        pending (the newest PRs' rest waits for the next query). For a query whose spare
        requests new PRs fill (`fill_size`): the same points, and the document is one of a
        few texts a server parses and validates once (GitHub caches by text, as the
        simulator does), not a new text for nearly every query."""
        out: list[FollowUp] = []
        spent = 0
        for entry in self.entries:
            if entry.node_id is None:
                continue
            for name, after in entry.pending.items():
                if name.startswith(THREAD_COMMENTS):
                    follow = FollowUp(
                        entry.node_id, name, after, node_id=name.removeprefix(THREAD_COMMENTS)
                    )
                else:
                    follow = FollowUp(entry.node_id, name, after)
                if out and spent + follow.requests > limit:
                    return _by_kind(_repeatable(out) if repeatable else out)
                out.append(follow)
                spent += follow.requests
        return _by_kind(_repeatable(out) if repeatable else out)

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
        """Everything GitHub has was fetched, no retry waits to be asked for, and every
        buffered PR is complete."""
        return (
            self.fetched_any
            and not self.has_more
            and not self.retries
            and self.complete_prefix() == len(self.entries)
        )

    # -- output -----------------------------------------------------------------------------

    def take(self, count: int) -> tuple[list[PullRequest], list[RefusedPullRequest], str | None]:
        """Remove and convert the first `count` (complete) PRs; returns them, the PRs refused
        for their own data (MalformedPullRequest, GitHub's errors located in them, null
        nodes), and the new cursor, which moves past both."""
        taken, self.entries = self.entries[:count], self.entries[count:]
        prs: list[PullRequest] = []
        refused: list[RefusedPullRequest] = []
        listed = {e.node_id for e in taken if e.retry_of is None} - {None}
        for entry in taken:
            if entry.retry_of is not None and entry.node_id in listed:
                continue  # the walk lists it in this very page: that copy is the one stored
            if entry.refused is None:
                try:
                    pr = PullRequest.from_graphql(entry.raw, entry.nodes)
                    if entry.retry_of is not None:
                        pr.retry_of = entry.retry_of
                    pr.position_key = entry.position_key
                    prs.append(pr)
                    continue
                except _PR_SHAPE_ERRORS as exc:
                    entry.refuse(
                        "GitHub's data for this PR is not the shape asked for: "
                        + _shape_reason(exc)
                    )
            number = entry.raw.get("number")
            # No id: asked for again by its place, the walk's start (no cursor before it)
            # included, so always with the walk's order.
            by_position = entry.node_id is None
            refused.append(
                RefusedPullRequest(
                    github_id=entry.key,
                    number=number if _is_int(number) else None,
                    reason=entry.refused or "refused",
                    position_cursor=entry.position if by_position else None,
                    position_order=(self.order or None) if by_position else None,
                )
            )
        self.delivered.update(
            e.node_id for e in taken if e.node_id is not None and e.retry_of is None
        )
        if taken:
            self.start_after = taken[-1].cursor or self.start_after
        return prs, refused, self.start_after

    @property
    def has_next_page(self) -> bool:
        return bool(self.entries) or self.has_more


# Follow-up counts `follow_ups(repeatable=True)` sends: roughly 1.25 apart, so at most a
# fifth of what is pending waits a query, and a walk's queries are a few dozen texts.
REPEATABLE_COUNTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 16, 20, 25, 32, 40, 50, 64, 80, 100, 125, 148)


def _repeatable(follow_ups: list[FollowUp]) -> list[FollowUp]:
    """The oldest of `follow_ups`, as many as the largest REPEATABLE_COUNTS not above theirs."""
    count = max((c for c in REPEATABLE_COUNTS if c <= len(follow_ups)), default=len(follow_ups))
    return follow_ups[:count]


def _kind(follow: FollowUp) -> tuple[int, str]:
    """Threads' first pages, threads' later pages, then the PRs' lists by name: the three
    are three shapes of alias in the document (`core.github.queries.batch_query`)."""
    if follow.field.startswith(THREAD_COMMENTS):
        return (0 if follow.after is None else 1, "")
    return (2, follow.field)


def _by_kind(follow_ups: list[FollowUp]) -> list[FollowUp]:
    """Grouped by `_kind`, each group in the order chosen: the document is then the same
    text for the same counts of each kind (ids and cursors are variables), so it is parsed
    and validated once (by the client's cost check and by a server that caches), not once
    a query."""
    return sorted(follow_ups, key=_kind)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**63


def _shape_reason(exc: Exception) -> str:
    """A short reason naming the field (pydantic: its location), never the whole value."""
    if isinstance(exc, ValidationError):
        first = exc.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        return f"{where}: {first['msg']}"[:300]
    return f"{type(exc).__name__}: {str(exc)[:200]}"
