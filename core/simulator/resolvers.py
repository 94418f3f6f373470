"""Resolvers: how each field of the schema subset is answered from the generated world.

Connections follow GitHub: `first`/`last` required when nodes or edges are selected, 1..100,
opaque keyset cursors, `totalCount`, `pageInfo`. Errors use GitHub's types and messages
(NOT_FOUND, MISSING_PAGINATION_BOUNDARIES, EXCESSIVE_PAGINATION, INVALID_CURSOR_ARGUMENTS,
RESOURCE_LIMITS_EXCEEDED).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from graphql import FieldNode

from . import responses as R
from .config import RepoSpec
from .data import LABELS, Actors, ListOrder, Ordering, Repo, iso
from .executor import Execution, FieldError, Resolver
from .ids import ACCOUNT_KINDS, COMMENT_SPAN, decode_cursor, encode_cursor, parse_node_id
from .threads import kept_comments, review_comment, thread, thread_count

MAX_PAGE = 100


class World:
    """All simulated repositories of one simulator, addressable by name and by slot."""

    def __init__(self, repos: list[RepoSpec], seed: int) -> None:
        self.actors = Actors(seed)
        self.repos = [Repo(spec, slot, seed, self.actors) for slot, spec in enumerate(repos)]
        self.by_name = {r.full_name.lower(): r for r in self.repos}
        self._repo_objects: dict[int, dict[str, Any]] = {}

    def forget_repo_object(self, repo: Repo) -> None:
        """Its name changed: the next answer builds the object again."""
        self._repo_objects.pop(repo.slot, None)

    def repo_object(self, repo: Repo) -> dict[str, Any]:
        found = self._repo_objects.get(repo.slot)
        if found is None:
            found = {
                "__typename": "Repository",
                "_repo": repo,
                "id": repo.id,
                "databaseId": 100_000 + repo.slot,
                "name": repo.name,
                "nameWithOwner": repo.full_name,
                "isPrivate": False,
                "createdAt": iso(repo.start - 86_400),
                "url": repo.url,
                "resourcePath": f"/{repo.full_name}",
            }
            self._repo_objects[repo.slot] = found
        return found

    def node(self, text: str) -> dict[str, Any] | None:
        parsed = parse_node_id(text)
        if parsed is None:
            return None
        kind, slot, a, b = parsed
        if kind in ("user", "bot"):
            return self.actors.user(a) if kind == "user" else self.actors.bot(a)
        if kind == "mannequin":
            return self.actors.mannequin(slot, a)
        if kind == "enterprise_user":
            return self.actors.enterprise_user(slot, a)
        if kind == "org":
            return self.actors.organization(a)
        if slot >= len(self.repos):
            return None
        repo = self.repos[slot]
        if kind == "repo":
            return self.repo_object(repo)
        if kind == "label":
            return repo.label(a) if a < len(LABELS) else None
        if a >= repo.count:
            return None
        if kind == "pr":
            return repo.pull_request(a)
        if kind == "thread":
            return thread(repo, a, b) if b < thread_count(repo, a) else None
        if kind == "review_comment":
            t, j = divmod(b, COMMENT_SPAN)
            if t >= thread_count(repo, a) or j >= thread(repo, a, t)["_count"]:
                return None
            if b in repo.deleted.get(("review_comment", a), ()):
                return None  # deleted on GitHub
            return review_comment(repo, a, t, j)
        if kind == "issue":
            return repo.issue(a)
        items = repo.reviews(a) if kind == "review" else repo.comments(a)
        if b in repo.deleted.get((kind, a), ()):
            return None  # deleted on GitHub
        return items[b] if b < len(items) else None


@dataclass
class RequestContext:
    """What one request's resolvers may read and record."""

    world: World
    rate_limit: dict[str, Any]
    viewer: dict[str, Any]
    resource_limit: int
    # aimed(kind, "owner/name", pr_number) -> whether that fault applies now (SimConfig.faults)
    aimed: Callable[..., bool] = lambda kind, repo, number=None: False
    pages: list[tuple[str, str]] = field(default_factory=list)
    # An installation token sees only its owners' repositories (lower case); None = all.
    owners: frozenset[str] | None = None

    def hidden(self, repo: Repo) -> bool:
        return self.owners is not None and repo.owner.lower() not in self.owners

    def hidden_node(self, text: str) -> bool:
        """A node id of a repository (or its PRs, reviews...) this token cannot see."""
        if self.owners is None:
            return False
        parsed = parse_node_id(text)
        if parsed is None or parsed[0] in ACCOUNT_KINDS or parsed[1] >= len(self.world.repos):
            return False
        return self.hidden(self.world.repos[parsed[1]])


class Desc(Ordering):
    """The same ordering walked backwards; keyset lookups mirror."""

    def __init__(self, inner: Ordering) -> None:
        self.inner, self.n = inner, len(inner)

    def __len__(self) -> int:
        return self.n

    def index_at(self, pos: int) -> int:
        return self.inner.index_at(self.n - 1 - pos)

    def key_of(self, pos: int) -> int:
        return self.inner.key_of(self.n - 1 - pos)

    def count_le(self, key: int, index: int) -> int:
        return self.n - self.inner.count_lt(key, index)

    def count_lt(self, key: int, index: int) -> int:
        return self.n - self.inner.count_le(key, index)


class Page:
    """One page of a connection; items are generated only if nodes or edges are asked for."""

    def __init__(self, edge_type, order, start, end, has_next, has_prev, make, scope) -> None:
        self.edge_type, self.order, self.start, self.end = edge_type, order, start, end
        self.has_next, self.has_prev, self.make, self.scope = has_next, has_prev, make, scope
        self.totalCount = len(order)
        self._items: list[Any] | None = None
        self.null_cursor = False  # fault: "more" without a cursor

    def items(self) -> list[Any]:
        if self._items is None:
            at, make = self.order.index_at, self.make
            self._items = [make(at(p)) for p in range(self.start, self.end)]
        return self._items

    def cursor(self, pos: int) -> str:
        return encode_cursor(self.scope, self.order.key_of(pos), self.order.index_at(pos))

    @property
    def nodes(self) -> list[Any]:
        return self.items()

    @property
    def edges(self) -> list[dict[str, Any]]:
        return [
            {"__typename": self.edge_type, "cursor": self.cursor(p), "node": item}
            for p, item in zip(range(self.start, self.end), self.items(), strict=True)
        ]

    @property
    def pageInfo(self) -> dict[str, Any]:
        empty = self.start >= self.end
        return {
            "startCursor": None if empty else self.cursor(self.start),
            "endCursor": None if empty or self.null_cursor else self.cursor(self.end - 1),
            "hasNextPage": self.has_next,
            "hasPreviousPage": self.has_prev,
        }


def paginate(
    ex: Execution,
    nodes: list[FieldNode],
    args: dict[str, Any],
    connection: str,
    type_name: str,
    order: Ordering,
    make: Any,
    scope: str,
) -> Page:
    """Slice `order` by first/last/after/before with GitHub's checks and messages."""
    ctx: RequestContext = ex.context
    if ex.objects > ctx.resource_limit:
        raise FieldError("Resource limits for this query exceeded.", "RESOURCE_LIMITS_EXCEEDED")
    first, last = args.get("first"), args.get("last")
    for arg, value in (("first", first), ("last", last)):
        if value is not None and value > MAX_PAGE:
            raise FieldError(
                f"Requesting {value} records on the `{connection}` connection exceeds the "
                f"`{arg}` limit of {MAX_PAGE} records.",
                "EXCESSIVE_PAGINATION",
            )
        if value is not None and value < 1:
            raise FieldError(
                f"`{arg}` on the `{connection}` connection must be between 1 and {MAX_PAGE} "
                f"(got {value}).",
                "INVALID_PAGINATION",
            )
    if first is None and last is None and ex.selects(nodes, type_name, {"edges", "nodes"}):
        raise FieldError(
            f"You must provide a `first` or `last` value to properly paginate the "
            f"`{connection}` connection.",
            "MISSING_PAGINATION_BOUNDARIES",
        )
    total = len(order)
    start, end = 0, total
    for arg in ("after", "before"):
        text = args.get(arg)
        if text is None:
            continue
        decoded = decode_cursor(text, scope)
        if decoded is None:
            raise FieldError(
                f"`{arg}` does not appear to be a valid cursor.", "INVALID_CURSOR_ARGUMENTS"
            )
        if arg == "after":
            start = order.count_le(*decoded)
        else:
            end = order.count_lt(*decoded)
    end = max(start, end)
    bound_start, bound_end = start, end
    if first is not None:
        end = min(end, start + first)
    if last is not None:
        start = max(start, end - last)
    if first is None and last is None:
        end = start  # totalCount only
        has_next = has_prev = False
    else:
        has_next = end < bound_end if first is not None else args.get("before") is not None
        has_prev = start > bound_start if last is not None else args.get("after") is not None
    edge_type = type_name.replace("Connection", "Edge")
    return Page(edge_type, order, start, end, has_next, has_prev, make, scope)


# --- Query ----------------------------------------------------------------------------------


def q_repository(ex: Execution, source, args, path, nodes):
    ctx: RequestContext = ex.context
    full = f"{args['owner']}/{args['name']}"
    repo = ctx.world.by_name.get(full.lower())
    if repo is None or ctx.hidden(repo):
        raise FieldError(f"Could not resolve to a Repository with the name '{full}'.", "NOT_FOUND")
    if ctx.aimed("saml", repo.full_name):
        error = R.saml_forbidden([])
        raise FieldError(error["message"], "FORBIDDEN", error["extensions"])
    return ctx.world.repo_object(repo)


def q_rate_limit(ex: Execution, source, args, path, nodes):
    return ex.context.rate_limit


def q_viewer(ex: Execution, source, args, path, nodes):
    return ex.context.viewer


def _not_found_node(text: str) -> FieldError:
    return FieldError(f"Could not resolve to a node with the global id of '{text}'", "NOT_FOUND")


def _vanished(ctx: RequestContext, found: dict[str, Any] | None) -> bool:
    """Fault `vanish`: this PR was deleted after it was listed."""
    if found is None or found.get("__typename") != "PullRequest":
        return False
    return ctx.aimed("vanish", found["_repo"].full_name, found["number"])


def q_node(ex: Execution, source, args, path, nodes):
    found = ex.context.world.node(args["id"])
    if found is None or _vanished(ex.context, found) or ex.context.hidden_node(args["id"]):
        raise _not_found_node(args["id"])
    return found


def q_nodes(ex: Execution, source, args, path, nodes):
    out = []
    for index, text in enumerate(args["ids"]):
        found = ex.context.world.node(text)
        if found is not None and (_vanished(ex.context, found) or ex.context.hidden_node(text)):
            found = None
        if found is None:
            ex.add_error(_not_found_node(text).message, (path, index), nodes, "NOT_FOUND")
        out.append(found)
    return out


# --- Repository -----------------------------------------------------------------------------


def r_pull_requests(ex: Execution, source, args, path, nodes):
    ctx: RequestContext = ex.context
    repo: Repo = source["_repo"]
    order_by = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    field_name, direction = order_by["field"], order_by["direction"]
    states = frozenset(args["states"]) if args.get("states") else None
    extra = (tuple(args.get("labels") or ()), args.get("baseRefName"), args.get("headRefName"))
    order = repo.ordering(field_name, states, extra)
    if direction == "DESC":
        order = Desc(order)
    if args.get("after") and ctx.aimed("repeat_page", repo.full_name):
        args = {**args, "after": None}  # a caching proxy ignoring `after`
    page = paginate(
        ex, nodes, args, "pullRequests", "PullRequestConnection", order,
        repo.pull_request, f"pr.{field_name}",
    )  # fmt: skip
    if args.get("first") and args.get("after") and ctx.aimed("early_end", repo.full_name):
        page.end, page.has_next = page.start, False  # "no more" long before totalCount
    if args.get("first") or args.get("last"):  # a page, not just a totalCount
        after = args.get("after") or ("before:" + args["before"] if args.get("before") else "start")
        ctx.pages.append((repo.full_name, f"{after}|{field_name}|{direction}"))
    return page


def r_pull_request(ex: Execution, source, args, path, nodes):
    repo: Repo = source["_repo"]
    found = repo.index_of(args["number"])
    if found is None or found[0] != "pr":
        raise FieldError(
            f"Could not resolve to a PullRequest with the number of {args['number']}.",
            "NOT_FOUND",
        )
    return repo.pull_request(found[1])


def r_issue_or_pull_request(ex: Execution, source, args, path, nodes):
    repo: Repo = source["_repo"]
    found = repo.index_of(args["number"])
    if found is None:
        raise FieldError(
            f"Could not resolve to an issue or pull request with the number of {args['number']}.",
            "NOT_FOUND",
        )
    kind, i = found
    return repo.pull_request(i) if kind == "pr" else repo.issue(i)


# --- PullRequest and children ---------------------------------------------------------------


def _children_page(ex, nodes, args, source, kind: str):
    repo: Repo = source["_repo"]
    i = source["_i"]
    items = repo.reviews(i) if kind == "review" else repo.comments(i)
    keep = repo.kept(kind, i)
    if kind == "review":
        if args.get("states"):
            wanted = set(args["states"])
            keep = [j for j in keep if items[j]["state"] in wanted]
        if args.get("author"):
            login = args["author"].lower()
            keep = [j for j in keep if (items[j]["author"] or {}).get("login", "") == login]
    order: Ordering = ListOrder(keep)
    order_by = args.get("orderBy")
    if order_by and order_by["direction"] == "DESC":
        order = Desc(order)
    connection, type_name, scope = (
        ("reviews", "PullRequestReviewConnection", "rv")
        if kind == "review"
        else ("comments", "IssueCommentConnection", "ic")
    )
    page = paginate(ex, nodes, args, connection, type_name, order, items.__getitem__, scope)
    if page.has_next and ex.context.aimed("null_cursor", repo.full_name, source["number"]):
        page.null_cursor = True
    return page


def pr_reviews(ex, source, args, path, nodes):
    return _children_page(ex, nodes, args, source, "review")


def pr_comments(ex, source, args, path, nodes):
    return _children_page(ex, nodes, args, source, "comment")


def pr_review_threads(ex, source, args, path, nodes):
    repo: Repo = source["_repo"]
    i = source["_i"]
    order = ListOrder(list(range(thread_count(repo, i))))
    return paginate(
        ex, nodes, args, "reviewThreads", "PullRequestReviewThreadConnection", order,
        lambda t: thread(repo, i, t), "rt",
    )  # fmt: skip


def thread_comments(ex, source, args, path, nodes):
    repo: Repo = source["_repo"]
    i, t = source["_i"], source["_t"]
    order = ListOrder(kept_comments(repo, i, t, source["_count"]))
    return paginate(
        ex, nodes, args, "comments", "PullRequestReviewCommentConnection", order,
        lambda j: review_comment(repo, i, t, j), f"rc{t}",
    )  # fmt: skip


def comment_review(ex, source, args, path, nodes):
    return source["_review"]


def comment_reply_to(ex, source, args, path, nodes):
    if source["_reply_to"] is None:
        return None
    i, t, j = source["_reply_to"]
    return review_comment(source["_repo"], i, t, j)


def pr_labels(ex, source, args, path, nodes):
    repo: Repo = source["_repo"]
    keep = list(source["_labels"])
    order_by = args.get("orderBy") or {"field": "CREATED_AT", "direction": "ASC"}
    if order_by["field"] == "NAME":
        keep.sort(key=lambda k: LABELS[k][0])
    order: Ordering = ListOrder(keep) if order_by["field"] != "NAME" else _Fixed(keep)
    if order_by["direction"] == "DESC":
        order = Desc(order)
    return paginate(ex, nodes, args, "labels", "LabelConnection", order, repo.label, "lb")


class _Fixed(ListOrder):
    """A list in an order other than its keys (labels by name): keyset by position."""

    def key_of(self, pos: int) -> int:
        return pos

    def count_le(self, key: int, index: int) -> int:
        return min(key + 1, len(self.indices))

    def count_lt(self, key: int, index: int) -> int:
        return min(key, len(self.indices))


def pr_commits(ex, source, args, path, nodes):
    d_count = 1 + (source["_i"] * 2654435761 + len(source["title"])) % 20
    return paginate(
        ex, nodes, args, "commits", "PullRequestCommitConnection", ListOrder(list(range(d_count))),
        lambda j: None, "cm",
    )  # fmt: skip


def pr_repository(ex, source, args, path, nodes):
    return ex.context.world.repo_object(source["_repo"])


def child_pull_request(ex, source, args, path, nodes):
    return source["_repo"].pull_request(source["_i"])


def _page_attr(name: str) -> Resolver:
    def resolve(ex, source, args, path, nodes):
        return getattr(source, name)

    return resolve


RESOLVERS: dict[tuple[str, str], Resolver] = {
    ("Query", "repository"): q_repository,
    ("Query", "rateLimit"): q_rate_limit,
    ("Query", "viewer"): q_viewer,
    ("Query", "node"): q_node,
    ("Query", "nodes"): q_nodes,
    ("Repository", "pullRequests"): r_pull_requests,
    ("Repository", "pullRequest"): r_pull_request,
    ("Repository", "issueOrPullRequest"): r_issue_or_pull_request,
    ("PullRequest", "reviews"): pr_reviews,
    ("PullRequest", "comments"): pr_comments,
    ("PullRequest", "labels"): pr_labels,
    ("PullRequest", "reviewThreads"): pr_review_threads,
    ("PullRequestReviewThread", "comments"): thread_comments,
    ("PullRequestReviewThread", "pullRequest"): child_pull_request,
    ("PullRequestReviewThread", "repository"): pr_repository,
    ("PullRequestReviewComment", "pullRequest"): child_pull_request,
    ("PullRequestReviewComment", "pullRequestReview"): comment_review,
    ("PullRequestReviewComment", "replyTo"): comment_reply_to,
    ("PullRequest", "commits"): pr_commits,
    ("PullRequest", "repository"): pr_repository,
    ("Issue", "repository"): pr_repository,
    ("PullRequestReview", "pullRequest"): child_pull_request,
    ("IssueComment", "pullRequest"): child_pull_request,
}
for _conn in (
    "PullRequestConnection",
    "PullRequestReviewConnection",
    "IssueCommentConnection",
    "LabelConnection",
    "PullRequestCommitConnection",
    "PullRequestReviewThreadConnection",
    "PullRequestReviewCommentConnection",
):
    for _field in ("edges", "nodes", "pageInfo", "totalCount"):
        RESOLVERS[(_conn, _field)] = _page_attr(_field)
