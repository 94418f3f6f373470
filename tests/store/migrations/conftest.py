"""Deployments as users make them: a Supabase-like cluster of its own (`supabase db push`
replayed, the project's non-superuser `postgres`), owners that are no superusers, and the
README's least-privilege worker role. Roles are cluster-wide, so these tests never touch the
session's shared server's roles (tests/support/clusters.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.clusters import Cluster, private_cluster, supabase_like


@pytest.fixture(scope="module")
def supabase_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Cluster, str]]:
    """A cluster with a Supabase project's roles, shared by a module's tests; and the URL of its
    `postgres` role (no superuser)."""
    with private_cluster(tmp_path_factory.mktemp("supabase")) as cluster:
        yield cluster, supabase_like(cluster)


@pytest.fixture
def bare_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A cluster of this test's own, with none of the API roles."""
    with private_cluster(tmp_path) as cluster:
        yield cluster
