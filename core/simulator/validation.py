"""Parse and validate queries once per query text, and word errors as GitHub does.

GitHub runs graphql-ruby, so its validation messages differ from graphql-core's; the common
ones are translated (with GitHub's `extensions.code` and a `path` of field names) so a client
that reads them sees what it would see from GitHub. Others keep graphql-core's wording.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass
from threading import Lock
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    GraphQLError,
    GraphQLSchema,
    Node,
    OperationDefinitionNode,
    parse,
    validate,
)

_CACHE_SIZE = 512

_RULES: list[tuple[re.Pattern[str], Any]] = [
    (
        re.compile(r"^Cannot query field '([^']+)' on type '([^']+)'\."),
        lambda m: (
            f"Field '{m[1]}' doesn't exist on type '{m[2]}'",
            {"code": "undefinedField", "typeName": m[2], "fieldName": m[1]},
        ),
    ),
    (
        re.compile(r"^Unknown argument '([^']+)' on field '[^.']+\.([^']+)'\."),
        lambda m: (
            f"Field '{m[2]}' doesn't accept argument '{m[1]}'",
            {
                "code": "argumentNotAccepted",
                "name": m[2],
                "typeName": "Field",
                "argumentName": m[1],
            },
        ),
    ),
    (
        re.compile(r"^Field '([^']+)' argument '([^']+)' of type '[^']+' is required"),
        lambda m: (
            f"Field '{m[1]}' is missing required arguments: {m[2]}",
            {
                "code": "missingRequiredArguments",
                "className": "Field",
                "name": m[1],
                "arguments": m[2],
            },
        ),
    ),
    (
        re.compile(r"^Field '([^']+)' of type '([^']+)' must have a selection of subfields"),
        lambda m: (
            f"Field must have selections (field '{m[1]}' returns {m[2]} but has no selections. "
            f"Did you mean '{m[1]} {{ ... }}'?)",
            {"code": "selectionMismatch", "nodeName": f"field '{m[1]}'", "typeName": m[2]},
        ),
    ),
    (
        re.compile(r"^Variable '\$([^']+)' is not defined"),
        lambda m: (
            f"Variable ${m[1]} is used by anonymous query but not declared",
            {"code": "variableNotDefined", "variableName": m[1]},
        ),
    ),
    (
        re.compile(r"^Unknown type '([^']+)'\."),
        lambda m: (
            f"No such type {m[1]}, so it can't be a fragment condition",
            {"code": "undefinedType", "typeName": m[1]},
        ),
    ),
]


@dataclass(frozen=True)
class Prepared:
    """A parsed query, or the GitHub-shaped errors that stop it."""

    document: DocumentNode | None
    errors: list[dict[str, Any]]


class QueryCache:
    """Query text → Prepared, bounded LRU; thread-safe."""

    def __init__(self, schema: GraphQLSchema) -> None:
        self.schema = schema
        self._items: OrderedDict[str, Prepared] = OrderedDict()
        self._lock = Lock()

    def prepare(self, text: str) -> Prepared:
        with self._lock:
            found = self._items.get(text)
            if found is not None:
                self._items.move_to_end(text)
                return found
        prepared = self._prepare(text)
        with self._lock:
            self._items[text] = prepared
            if len(self._items) > _CACHE_SIZE:
                self._items.popitem(last=False)
        return prepared

    def _prepare(self, text: str) -> Prepared:
        try:
            document = parse(text)
        except GraphQLError as exc:
            return Prepared(None, [_parse_error(exc)])
        errors = validate(self.schema, document)
        if errors:
            return Prepared(None, [_github_error(e, document) for e in errors])
        return Prepared(document, [])


def _locations(error: GraphQLError) -> list[dict[str, int]]:
    return [{"line": loc.line, "column": loc.column} for loc in error.locations or ()]


def _parse_error(error: GraphQLError) -> dict[str, Any]:
    found = re.search(r"found (.+)\.$", error.message)
    where = error.locations[0] if error.locations else None
    if found and where:
        token = found.group(1).strip("'")
        message = f'Parse error on "{token}" at [{where.line}, {where.column}]'
    else:
        message = error.message
    return {"message": message, "locations": _locations(error)}


def _github_error(error: GraphQLError, document: DocumentNode) -> dict[str, Any]:
    message, extensions = error.message, {"code": "validationError"}
    for pattern, build in _RULES:
        match = pattern.match(error.message)
        if match:
            message, extensions = build(match)
            break
    out: dict[str, Any] = {}
    path = _path_to(document, error.nodes[0]) if error.nodes else None
    if path:
        out["path"] = path
    out["extensions"] = extensions
    out["locations"] = _locations(error)
    out["message"] = message
    return out


def _path_to(document: DocumentNode, target: Node) -> list[str] | None:
    """GitHub's validation `path`: operation, then field names down to the offending node."""
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        op = definition.operation.value
        head = f"{op} {definition.name.value}" if definition.name else op
        found = _search(definition.selection_set, target, [head])
        if found is not None:
            return found
    return None


def _search(selection_set: Any, target: Node, trail: list[str]) -> list[str] | None:
    if selection_set is None:
        return None
    for selection in selection_set.selections:
        here = trail
        if isinstance(selection, FieldNode):
            here = [*trail, selection.name.value]
            if selection is target or any(a is target for a in selection.arguments or ()):
                if selection is not target:
                    here = [*here, next(a.name.value for a in selection.arguments if a is target)]
                return here
        elif selection is target:
            return trail
        found = _search(getattr(selection, "selection_set", None), target, here)
        if found is not None:
            return found
    return None
