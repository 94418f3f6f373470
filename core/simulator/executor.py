"""A small GraphQL executor over graphql-core's AST, fast enough to serve 100-PR pages.

graphql-core parses and validates (cached by query text), and its own helpers collect fields
(fragments, `@include`/`@skip`, type conditions) and coerce arguments and variables. Execution
itself is this module: graphql-core's general executor spends most of a nested 100-PR page on
per-field bookkeeping, so here collected fields are cached per selection and runtime type, and
leaf values are plain dict reads. Null propagation, error paths and locations follow the
GraphQL spec. Errors raised by resolvers carry GitHub's `type` (NOT_FOUND, ...).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    GraphQLError,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    OperationDefinitionNode,
    is_abstract_type,
    is_leaf_type,
)
from graphql.execution.collect_fields import collect_fields, collect_sub_fields
from graphql.execution.values import get_argument_values, get_variable_values


class FieldError(Exception):
    """A field-level error in GitHub's shape: `{"type", "path", "locations", "message"}`."""

    def __init__(
        self, message: str, type_: str | None = None, extensions: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.type = type_
        self.extensions = extensions


class _Null(Exception):
    """A null in a non-null position: the parent must become null (the GraphQL spec, "Handling
    Field Errors")."""


Resolver = Callable[["Execution", Any, dict[str, Any], tuple, list[FieldNode]], Any]


def _path_list(path: tuple | None) -> list[Any]:
    out: list[Any] = []
    while path is not None:
        path, key = path
        out.append(key)
    out.reverse()
    return out


class Execution:
    """One execution of one operation; `context` is whatever the resolvers need."""

    def __init__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        operation: OperationDefinitionNode,
        variables: dict[str, Any],
        resolvers: dict[tuple[str, str], Resolver],
        context: Any,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self.variables = variables
        self.resolvers = resolvers
        self.context = context
        self.errors: list[dict[str, Any]] = []
        self.objects = 0
        self._fields: dict[tuple, dict[str, list[FieldNode]]] = {}
        self._plans: dict[tuple, _Plan] = {}
        self._args: dict[int, dict[str, Any]] = {}
        self._memo: dict[tuple[int, int], dict[str, Any]] = {}

    @staticmethod
    def coerce_variables(
        schema: GraphQLSchema, operation: OperationDefinitionNode, raw: dict[str, Any]
    ) -> dict[str, Any] | list[GraphQLError]:
        return get_variable_values(schema, operation.variable_definitions or [], raw or {})

    def run(self) -> dict[str, Any] | None:
        root = self.schema.query_type
        assert root is not None
        fields = collect_fields(
            self.schema, self.fragments, self.variables, root, self.operation.selection_set
        )
        try:
            return self._object(_Plan(root, fields, self.resolvers), None, None)
        except _Null:
            return None

    # --- helpers for resolvers --------------------------------------------------------------

    def args(self, field_def: Any, node: FieldNode) -> dict[str, Any]:
        found = self._args.get(id(node))
        if found is None:
            found = get_argument_values(field_def, node, self.variables)
            self._args[id(node)] = found
        return found

    def add_error(
        self, message: str, path: tuple | None, nodes: list[FieldNode], type_=None, extensions=None
    ):
        error: dict[str, Any] = {}
        if type_:
            error["type"] = type_
        error["path"] = _path_list(path)
        if extensions:
            error["extensions"] = extensions
        error["locations"] = [
            {"line": loc.line, "column": loc.column}
            for loc in (n.loc.source.get_location(n.loc.start) for n in nodes[:1] if n.loc)
        ]
        error["message"] = message
        self.errors.append(error)

    def selects(self, nodes: list[FieldNode], type_name: str, names: set[str]) -> bool:
        """Whether the field's sub-selection (fragments included) asks for any of `names`."""
        runtime = self.schema.type_map[type_name]
        assert isinstance(runtime, GraphQLObjectType)
        sub = self._sub_fields(runtime, nodes)
        return any(ns[0].name.value in names for ns in sub.values())

    # --- execution --------------------------------------------------------------------------

    def _sub_fields(
        self, runtime: GraphQLObjectType, nodes: list[FieldNode]
    ) -> dict[str, list[FieldNode]]:
        key = (runtime.name, *map(id, nodes))
        found = self._fields.get(key)
        if found is None:
            found = collect_sub_fields(self.schema, self.fragments, self.variables, runtime, nodes)
            self._fields[key] = found
        return found

    def _plan(self, runtime: GraphQLObjectType, nodes: list[FieldNode]) -> _Plan:
        key = (runtime.name, *map(id, nodes))
        found = self._plans.get(key)
        if found is None:
            found = _Plan(runtime, self._sub_fields(runtime, nodes), self.resolvers)
            self._plans[key] = found
        return found

    def _object(self, plan: _Plan, source: Any, path: tuple | None) -> dict[str, Any]:
        """Leaves are copied in one comprehension (the hot path); the rest fill in place, which
        keeps the response keys in query order."""
        self.objects += 1
        if isinstance(source, dict):
            get = source.get
            if get("_shared"):  # immutable shared objects (actors, labels): build once per plan
                memo_key = (id(source), id(plan))
                found = self._memo.get(memo_key)
                if found is None:
                    found = self._memo[memo_key] = {key: get(name) for key, name in plan.pairs}
                    for key in plan.typename_keys:
                        found[key] = plan.type_name
                return found
            out = {key: get(name) for key, name in plan.pairs}
        elif plan.attr_pairs:
            out = {key: getattr(source, name, None) for key, name in plan.pairs}
        else:
            out = dict.fromkeys(plan.keys)
        for key in plan.typename_keys:
            out[key] = plan.type_name
        for key, name, field_def, field_type, resolver, nodes, non_null in plan.complex:
            try:
                if resolver is not None:
                    args = self.args(field_def, nodes[0])
                    value = resolver(self, source, args, (path, key), nodes)
                else:
                    value = out[key]
                if value is None:
                    if non_null:
                        message = (
                            f"Cannot return null for non-nullable field {plan.type_name}.{name}."
                        )
                        self.add_error(message, (path, key), nodes)
                        raise _Null
                    out[key] = None
                else:
                    out[key] = self._complete(field_type, value, nodes, (path, key))
            except FieldError as exc:
                self.add_error(exc.message, (path, key), nodes, exc.type, exc.extensions)
                if non_null:
                    raise _Null from None
                out[key] = None
            except _Null:
                if non_null:
                    raise
                out[key] = None
        return out

    def _complete(self, type_: Any, value: Any, nodes: list[FieldNode], path: tuple) -> Any:
        if isinstance(type_, GraphQLNonNull):
            if value is None:
                raise _Null
            type_ = type_.of_type
        if value is None:
            return None
        if isinstance(type_, GraphQLList):
            inner = type_.of_type
            inner_non_null = isinstance(inner, GraphQLNonNull)
            base = inner.of_type if inner_non_null else inner
            if isinstance(base, GraphQLObjectType):  # hot path: one plan for the whole list
                plan = self._plan(base, nodes)
                out: list[Any] = []
                append = out.append
                for index, item in enumerate(value):
                    if item is None:
                        if inner_non_null:
                            raise _Null
                        append(None)
                        continue
                    try:
                        append(self._object(plan, item, (path, index)))
                    except _Null:
                        if inner_non_null:
                            raise
                        append(None)
                return out
            out = []
            for index, item in enumerate(value):
                try:
                    out.append(self._complete(inner, item, nodes, (path, index)))
                except _Null:
                    if inner_non_null:
                        raise
                    out.append(None)
            return out
        if is_leaf_type(type_):
            return value
        if is_abstract_type(type_):
            type_name = value["__typename"] if isinstance(value, dict) else value.__typename__
            runtime = self.schema.type_map[type_name]
        else:
            runtime = type_
        assert isinstance(runtime, GraphQLObjectType)
        return self._object(self._plan(runtime, nodes), value, path)


class _Plan:
    """How to build one object type's response for one selection: computed once per query."""

    def __init__(self, runtime: GraphQLObjectType, fields: dict[str, list[FieldNode]], resolvers):
        self.type_name = runtime.name
        self.keys = list(fields)
        self.pairs: list[tuple[str, str]] = []
        self.typename_keys: list[str] = []
        self.complex: list[tuple] = []
        for key, nodes in fields.items():
            name = nodes[0].name.value
            self.pairs.append((key, name))
            if name == "__typename":
                self.typename_keys.append(key)
                continue
            if name.startswith("__"):  # __schema, __type: introspection, answered apart
                continue
            field_def = runtime.fields[name]
            field_type = field_def.type
            non_null = isinstance(field_type, GraphQLNonNull)
            named = field_type.of_type if non_null else field_type
            resolver = resolvers.get((runtime.name, name))
            if resolver is not None or not is_leaf_type(named):
                self.complex.append((key, name, field_def, field_type, resolver, nodes, non_null))
        self.attr_pairs = any(k for k, _ in self.pairs if k not in self.typename_keys) and not all(
            c[4] is not None for c in self.complex
        )
