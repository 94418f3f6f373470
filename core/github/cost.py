"""GitHub's GraphQL cost rule, computed from the query text alone.

Shared by the simulator (which charges it) and the client (which checks its budget before
sending), so both agree to the point. The rule, from GitHub's "Rate limits and query limits for
the GraphQL API":

* every connection in the query costs the number of requests needed to fill it, assuming each
  `first`/`last` is reached: 1 for a top-level connection, otherwise the product of the
  `first`/`last` of all its ancestor connections (its own `first` only multiplies its children);
* points = requests / 100 rounded to the nearest integer (halves round up, as Ruby does),
  minimum 1;
* nodes = sum over connections of the product of its own and its ancestors' `first`/`last`;
  GitHub refuses queries over 500,000 nodes.

The rule needs no schema: a field is a connection when it has a `first` or `last` argument, or
when it directly selects `edges`, `nodes`, `pageInfo` or `totalCount` (e.g. `commits {
totalCount }`). Fields without `first`/`last` (such as `rateLimit`, `node(id:)` or
`nodes(ids:)`) are never multipliers. A `first`/`last` given by a variable that has no value
and no default is priced at 100, the worst case, so an estimate is never low.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    SelectionSetNode,
    VariableNode,
    parse,
)

MAX_NODES = 500_000
MAX_PAGE = 100
CONNECTION_MARKERS = frozenset({"edges", "nodes", "pageInfo", "totalCount"})


@dataclass(frozen=True)
class QueryCost:
    """The price of one query under GitHub's rule."""

    requests: int
    cost: int
    node_count: int


def points_for(requests: int) -> int:
    """Requests → points: /100, rounded half up, at least 1 (5,101 → 51; 149 → 1; 150 → 2)."""
    return max(1, (requests + 50) // 100)


@lru_cache(maxsize=512)
def _parsed(document: str) -> DocumentNode:
    """Queries repeat by shape (a page, N follow-ups): parse each text once, not per request.
    The walkers only read the tree."""
    return parse(document)


def estimate_cost(
    document: str | DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> QueryCost:
    """Price `document` as GitHub would; raises `ValueError` if no single operation is chosen."""
    doc = _parsed(document) if isinstance(document, str) else document
    operation = _pick_operation(doc, operation_name)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    values = _variable_values(operation, variables or {})
    walker = _Walker(fragments, values)
    walker.walk(operation.selection_set, multiplier=1, seen=frozenset())
    return QueryCost(
        requests=walker.requests, cost=points_for(walker.requests), node_count=walker.nodes
    )


def node_limit_connection(
    document: str | DocumentNode,
    variables: Mapping[str, Any] | None = None,
    operation_name: str | None = None,
) -> str | None:
    """The connection at which the query passes 500,000 nodes (GitHub names it), or None."""
    doc = _parsed(document) if isinstance(document, str) else document
    operation = _pick_operation(doc, operation_name)
    fragments = {d.name.value: d for d in doc.definitions if isinstance(d, FragmentDefinitionNode)}
    walker = _Walker(fragments, _variable_values(operation, variables or {}))
    walker.walk(operation.selection_set, multiplier=1, seen=frozenset())
    return walker.over_limit_at


def _pick_operation(doc: DocumentNode, name: str | None) -> OperationDefinitionNode:
    ops = [d for d in doc.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        for op in ops:
            if op.name is not None and op.name.value == name:
                return op
        raise ValueError(f"Unknown operation named '{name}'.")
    if len(ops) != 1:
        raise ValueError("An operation name is required when the document has several.")
    return ops[0]


def _variable_values(
    operation: OperationDefinitionNode, given: Mapping[str, Any]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name in given:
            values[name] = given[name]
        elif isinstance(definition.default_value, IntValueNode):
            values[name] = int(definition.default_value.value)
    return values


class _Walker:
    """Depth-first walk that accumulates requests and nodes; fragments are inlined."""

    def __init__(
        self, fragments: dict[str, FragmentDefinitionNode], variables: dict[str, Any]
    ) -> None:
        self.fragments = fragments
        self.variables = variables
        self.requests = 0
        self.nodes = 0
        self.over_limit_at: str | None = None

    def walk(self, selection_set: SelectionSetNode | None, multiplier: int, seen: frozenset[str]):
        if selection_set is None:
            return
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                self._field(selection, multiplier, seen)
            elif isinstance(selection, InlineFragmentNode):
                self.walk(selection.selection_set, multiplier, seen)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = self.fragments.get(name)
                if fragment is not None and name not in seen:  # cycles are invalid anyway
                    self.walk(fragment.selection_set, multiplier, seen | {name})

    def _field(self, field: FieldNode, multiplier: int, seen: frozenset[str]) -> None:
        page = self._page_size(field)
        if page is None and not self._selects_connection_parts(field.selection_set, seen):
            self.walk(field.selection_set, multiplier, seen)
            return
        self.requests += multiplier
        size = page if page is not None else 1
        if page is not None:
            self.nodes += multiplier * size
            if self.nodes > MAX_NODES and self.over_limit_at is None:
                self.over_limit_at = field.name.value
        self.walk(field.selection_set, multiplier * size, seen)

    def _page_size(self, field: FieldNode) -> int | None:
        """The field's `first` (else `last`), or None when it has neither."""
        found: int | None = None
        for arg in field.arguments or ():
            if arg.name.value not in ("first", "last"):
                continue
            value = arg.value
            if isinstance(value, IntValueNode):
                number: Any = int(value.value)
            elif isinstance(value, VariableNode):
                number = self.variables.get(value.name.value, MAX_PAGE)
            else:
                number = None
            if number is None:
                continue
            number = max(0, int(number))
            if arg.name.value == "first" or found is None:
                found = number
        return found

    def _selects_connection_parts(
        self, selection_set: SelectionSetNode | None, seen: frozenset[str]
    ) -> bool:
        if selection_set is None:
            return False
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                if selection.name.value in CONNECTION_MARKERS:
                    return True
            elif isinstance(selection, InlineFragmentNode):
                if self._selects_connection_parts(selection.selection_set, seen):
                    return True
            elif isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is not None and selection.name.value not in seen:
                    inner = seen | {selection.name.value}
                    if self._selects_connection_parts(fragment.selection_set, inner):
                        return True
        return False
