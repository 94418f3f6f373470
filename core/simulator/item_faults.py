"""Faults aimed at one pull request's own data in an answer (KIND@OWNER/NAME#NUMBER[*N]).

Each breaks that PR wherever an answer carries it - listed in a page, in a follow-up page
of its reviews, comments or labels, or asked for again alone (by id, number or position) -
and leaves the rest of the answer intact: what a proxy, a GitHub bug, an App's missing
permission or data GitHub really holds does to one node. The shapes follow GitHub's rules:
an error nulls its field up to the first nullable parent (`PullRequest.commits` is non-null,
so a FORBIDDEN there nulls the PR node itself), and text goes out as JSON carries it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from . import responses as R
from .fault_target import FaultTarget
from .ids import parse_node_id

# A lone surrogate, as a client that cut an emoji in half leaves one; GitHub serves it back
# as the JSON escape `\ud800` (responses.dump).
LONE_SURROGATE = "\ud800"
# Values GitHub added after this simulator's schema (GitHub adds enum values without notice).
NEW_PR_STATE = "QUEUED"
NEW_REVIEW_STATE = "REQUESTED"
TEXT_FIELDS = ("title", "body", "review", "comment", "login", "label")
NESTED = ("reviews", "comments", "labels")

# Aimed at one pull request only, KIND@OWNER/NAME#NUMBER[*N]. `simulate --help` lists these.
ITEM_FAULT_HELP = {
    "nested_not_list": "its reviews.nodes an object, not a list (a broken proxy or GitHub bug)",
    "nested_no_id": "its first review (else comment) without its id (a broken proxy or bug)",
    "short_list": "its comments (else reviews, labels) end one short of totalCount, no next page",
    "forbidden": 'FORBIDDEN "Resource not accessible by integration" at its commits: node null',
    "null_node": "its node null, no error (a broken proxy or GitHub bug)",
    "null_edge": "its edge itself null in a page, with an error located at that edge",
    "null_edge_bare": "its edge itself null in a page, no error (a broken proxy or GitHub bug)",
    "twice_in_page": "listed twice in one page (GitHub does so when updatedAt moves mid-walk)",
    "forbidden_unlocated": "a FORBIDDEN error with no path beside the page's good data",
    "forbidden_text_index": 'like forbidden, its error path\'s edge index a string ("7")',
    "new_state": f"its state {NEW_PR_STATE}, its reviews' {NEW_REVIEW_STATE}: values added later",
    "surrogate": "a lone surrogate (\\ud800) in its title; surrogate.FIELD@...: in its "
    f"{'/'.join(TEXT_FIELDS[1:])}",
}
ITEM_FAULTS = tuple(ITEM_FAULT_HELP)
# Kinds that may carry `.FIELD` (the field each applies to).
FIELD_FAULTS = {"surrogate": TEXT_FIELDS}


@dataclass
class Slot:
    """One place an answer carries a PR: `holder[key]` is its node; `path` its error path."""

    number: int
    holder: dict[str, Any]
    key: str
    path: list[Any]
    whole: bool  # the PR's fields (a follow-up carries one nested list only)
    edges: list[Any] | None = None  # a listed PR: the page's edges, its edge at path[-2]

    @property
    def node(self) -> Any:
        return self.holder.get(self.key)


def apply(
    body: bytes,
    variables: dict[str, Any],
    number_of: Callable[[str], int | None],
    aimed_at: Callable[[int], list[FaultTarget]],
    serve: Callable[[FaultTarget], None],
) -> bytes:
    """`body` with every aimed item fault applied (unchanged when none applies).

    `number_of(node_id)`: the PR number of a node id (follow-ups name their PR by id only);
    `aimed_at(number)`: the item faults aimed at that PR still to be served; `serve(target)`
    counts one as served. Each applies where it fits (a follow-up has no title), in order."""
    payload = json.loads(body)
    data = payload.get("data") if isinstance(payload, dict) else None
    if not isinstance(data, dict):
        return body
    changed = False
    for slot in list(pr_slots(data, variables, number_of)):
        for target in aimed_at(slot.number):
            if _fits(target, slot):
                serve(target)
                _break(target, slot, payload)
                changed = True
    return R.dump(payload) if changed else body


def pr_slots(
    data: dict[str, Any], variables: dict[str, Any], number_of: Callable[[str], int | None]
) -> Iterator[Slot]:
    repository = data.get("repository")
    if isinstance(repository, dict):
        edges = (repository.get("pullRequests") or {}).get("edges") or []
        for i, edge in enumerate(edges):
            path = ["repository", "pullRequests", "edges", i, "node"]
            yield from _listed(edge, path, edges)
    for alias, value in data.items():
        if not (alias[:1] in ("f", "r", "n", "p") and alias[1:].isdigit()):
            continue
        if alias[0] == "f" and isinstance(value, dict):
            number = number_of(str(variables.get(f"id{alias[1:]}")))
            if number is not None:
                yield Slot(number, data, alias, [alias], whole=False)
        elif alias[0] == "r" and isinstance(value, dict):
            yield from _whole(data, alias, [alias])
        elif alias[0] == "n" and isinstance(value, dict):
            yield from _whole(value, "pullRequest", [alias, "pullRequest"])
        elif alias[0] == "p" and isinstance(value, dict):
            edges = (value.get("pullRequests") or {}).get("edges") or []
            for i, edge in enumerate(edges):
                yield from _listed(edge, [alias, "pullRequests", "edges", i, "node"], edges)


def _listed(edge: Any, path: list[Any], edges: list[Any]) -> Iterator[Slot]:
    if isinstance(edge, dict):
        yield from _whole(edge, "node", path, edges)


def _whole(
    holder: dict[str, Any], key: str, path: list[Any], edges: list[Any] | None = None
) -> Iterator[Slot]:
    node = holder.get(key)
    if isinstance(node, dict) and isinstance(node.get("number"), int):
        yield Slot(node["number"], holder, key, path, whole=True, edges=edges)


def _lists(node: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(f, node[f]) for f in NESTED if isinstance(node.get(f), dict)]


def _short_candidate(node: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """The nested list that can end short here: its last page (comments first)."""
    for name in ("comments", "reviews", "labels"):
        conn = node.get(name)
        if isinstance(conn, dict) and not (conn.get("pageInfo") or {}).get("hasNextPage"):
            return name, conn
    return None


def _fits(target: FaultTarget, slot: Slot) -> bool:
    """Whether `target` can break this slot (a follow-up has no title, no state...)."""
    node = slot.node
    if not isinstance(node, dict):
        return False
    kind = target.kind
    if kind in ("forbidden", "null_node", "forbidden_unlocated"):
        return True
    if kind in ("null_edge", "null_edge_bare", "forbidden_text_index"):
        return slot.edges is not None
    if kind == "twice_in_page":
        return slot.edges is not None and slot.path[0] == "repository"
    if kind in ("nested_not_list", "nested_no_id"):
        return bool(_lists(node))
    if kind == "short_list":
        return _short_candidate(node) is not None
    if kind == "new_state":
        return slot.whole
    if kind == "surrogate":
        return _text_holder(node, target.field or "title") is not None
    return False


def _text_holder(node: dict[str, Any], field: str) -> tuple[dict[str, Any], str] | None:
    """Where `field`'s text is in this node: (the dict, its key), or None."""

    def first(name: str) -> dict[str, Any] | None:
        items = (node.get(name) or {}).get("nodes") if isinstance(node.get(name), dict) else None
        return next((n for n in items or [] if isinstance(n, dict)), None)

    if field in ("title", "body"):
        return (node, field) if field in node else None
    if field in ("review", "comment"):
        item = first(f"{field}s")
        return (item, "body") if item is not None else None
    if field == "label":
        item = first("labels")
        return (item, "name") if item is not None else None
    if field == "login":
        for actor in [node.get("author"), *((first(n) or {}).get("author") for n in NESTED)]:
            if isinstance(actor, dict) and isinstance(actor.get("login"), str):
                return actor, "login"
    return None


def _break(target: FaultTarget, slot: Slot, payload: dict[str, Any]) -> None:
    node: dict[str, Any] = slot.node
    kind = target.kind
    if kind == "nested_not_list":
        _, conn = _lists(node)[0]
        conn["nodes"] = {"nodes": conn.get("nodes")}  # an object, not a list
    elif kind == "nested_no_id":
        items = [c.get("nodes") or [] for f, c in _lists(node) if f != "labels"]
        first = next((i[0] for i in items if i and isinstance(i[0], dict)), None)
        if first is None:
            node.setdefault("reviews", {})["nodes"] = [{}]
        else:
            first.pop("id", None)
    elif kind == "short_list":
        found = _short_candidate(node)
        assert found is not None
        _, conn = found
        nodes = conn.get("nodes")
        if isinstance(nodes, list) and nodes:
            nodes.pop()  # GitHub counts it, the list does not carry it
        else:
            conn["totalCount"] = int(conn.get("totalCount") or 0) + 1
    elif kind == "forbidden":
        # `commits` (a page or a retry) or the follow-up's list is non-null: the null goes up
        # to the PR node, the first nullable parent.
        field = "commits" if slot.whole else next((f for f, _ in _lists(node)), "commits")
        slot.holder[slot.key] = None
        errors = payload.setdefault("errors", [])
        errors.append(R.integration_forbidden([*slot.path, field]))
    elif kind == "forbidden_text_index":
        slot.holder[slot.key] = None
        path = [str(p) if isinstance(p, int) else p for p in slot.path]
        payload.setdefault("errors", []).append(R.integration_forbidden([*path, "commits"]))
    elif kind == "forbidden_unlocated":
        error = R.integration_forbidden([])
        del error["path"]
        payload.setdefault("errors", []).append(error)
    elif kind == "null_node":
        slot.holder[slot.key] = None
    elif kind in ("null_edge", "null_edge_bare"):
        assert slot.edges is not None
        index = slot.path[-2]
        slot.edges[index] = None
        if kind == "null_edge":
            error = R.integration_forbidden(slot.path[:-1])
            payload.setdefault("errors", []).append(error)
    elif kind == "twice_in_page":
        # The copy goes last, so no later slot's index (and error path) moves.
        assert slot.edges is not None
        slot.edges.append(copy.deepcopy(slot.edges[slot.path[-2]]))
    elif kind == "new_state":
        node["state"] = NEW_PR_STATE
        for review in (node.get("reviews") or {}).get("nodes") or []:
            if isinstance(review, dict):
                review["state"] = NEW_REVIEW_STATE
    elif kind == "surrogate":
        found_text = _text_holder(node, target.field or "title")
        assert found_text is not None
        holder, key = found_text
        text = str(holder.get(key) or "")
        middle = len(text) // 2
        holder[key] = text[:middle] + LONE_SURROGATE + text[middle:]


def pr_number_of(world: Any) -> Callable[[str], int | None]:
    """`number_of` for `apply`: the PR number of one of this world's PR node ids."""

    def number_of(node_id: str) -> int | None:
        parsed = parse_node_id(node_id)
        if parsed is None or parsed[0] != "pr" or parsed[1] >= len(world.repos):
            return None
        repo = world.repos[parsed[1]]
        return int(repo.number(parsed[2])) if parsed[2] < repo.count else None

    return number_of
