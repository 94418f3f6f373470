"""The simulator's schema: GitHub's published schema, cut down to what the backfill needs."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from graphql import GraphQLSchema, build_schema

SCHEMA_PATH = Path(__file__).with_name("schema.graphql")


@cache
def load_schema() -> GraphQLSchema:
    """Parse `schema.graphql` once per process."""
    return build_schema(SCHEMA_PATH.read_text(encoding="utf-8"))
