"""The simulator's schema must be a strict subset of GitHub's published schema."""

from __future__ import annotations

from graphql import (
    GraphQLEnumType,
    GraphQLInputObjectType,
    GraphQLInterfaceType,
    GraphQLObjectType,
    GraphQLScalarType,
    GraphQLSchema,
    GraphQLUnionType,
    build_schema,
    is_required_argument,
    print_ast,
)
from graphql.utilities import ast_from_value

from core.simulator.schema import SCHEMA_PATH, load_schema
from tests.support.github_schema import published_schema


def _default(arg) -> str | None:
    if arg.default_value is None or repr(arg.default_value) == "Undefined":
        return None
    node = ast_from_value(arg.default_value, arg.type)
    return print_ast(node) if node is not None else None


def _subset_problems(ours: GraphQLSchema, theirs: GraphQLSchema) -> list[str]:
    problems: list[str] = []
    for name, ours_type in ours.type_map.items():
        if name.startswith("__"):
            continue
        github = theirs.type_map.get(name)
        if github is None:
            if name in ("String", "Int", "Boolean", "ID", "Float"):
                continue
            problems.append(f"type {name} does not exist on GitHub")
            continue
        if type(github) is not type(ours_type):
            problems.append(f"{name} is a {type(ours_type).__name__} here, {type(github).__name__}")
            continue
        if isinstance(ours_type, GraphQLEnumType):
            extra = set(ours_type.values) - set(github.values)
            problems += [f"enum value {name}.{v} does not exist" for v in sorted(extra)]
        elif isinstance(ours_type, GraphQLUnionType):
            theirs_members = {t.name for t in github.types}
            problems += [
                f"union {name} has no member {t.name}"
                for t in ours_type.types
                if t.name not in theirs_members
            ]
        elif isinstance(ours_type, GraphQLObjectType | GraphQLInterfaceType):
            theirs_ifaces = {i.name for i in github.interfaces}
            problems += [
                f"{name} does not implement {i.name} on GitHub"
                for i in ours_type.interfaces
                if i.name not in theirs_ifaces
            ]
            for fname, field in ours_type.fields.items():
                gfield = github.fields.get(fname)
                if gfield is None:
                    problems.append(f"field {name}.{fname} does not exist")
                    continue
                if str(field.type) != str(gfield.type):
                    problems.append(f"{name}.{fname}: {field.type} here, {gfield.type} on GitHub")
                for aname, arg in field.args.items():
                    garg = gfield.args.get(aname)
                    if garg is None:
                        problems.append(f"argument {name}.{fname}({aname}) does not exist")
                    elif str(arg.type) != str(garg.type) or _default(arg) != _default(garg):
                        problems.append(f"argument {name}.{fname}({aname}) differs")
                required = {a for a, g in gfield.args.items() if is_required_argument(g)}
                problems += [
                    f"{name}.{fname} omits required argument {a}"
                    for a in sorted(required - set(field.args))
                ]
        elif isinstance(ours_type, GraphQLInputObjectType):
            for fname, field in ours_type.fields.items():
                gfield = github.fields.get(fname)
                if gfield is None or str(field.type) != str(gfield.type):
                    problems.append(f"input field {name}.{fname} differs")
            problems += [
                f"input {name} omits {f}"
                for f in sorted(set(github.fields) - set(ours_type.fields))
            ]
        elif isinstance(ours_type, GraphQLScalarType):
            pass
    return problems


def test_every_simulator_type_field_arg_and_enum_value_exists_on_github() -> None:
    assert _subset_problems(load_schema(), published_schema()) == []


def test_the_check_catches_what_github_does_not_have() -> None:
    """The subset check itself must be able to fail."""
    text = SCHEMA_PATH.read_text(encoding="utf-8")
    text = text.replace("  isDraft: Boolean!", "  isDraft: Boolean")
    text = text.replace(
        "  title: String!\n  updatedAt", "  title: String!\n  madeUp: Int\n  updatedAt"
    )
    text = text.replace("  PENDING\n", "  PENDING\n  SNOOZED\n")
    problems = _subset_problems(build_schema(text), published_schema())
    assert any("isDraft" in p for p in problems)
    assert any("madeUp" in p for p in problems)
    assert any("SNOOZED" in p for p in problems)
