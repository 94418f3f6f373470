"""GitHub's published GraphQL schema, for tests that prove our queries and schema against it.

The schema ships in the npm package `@octokit/graphql-schema` (file `schema.graphql`). It is
fetched once with `npm pack` into `.cache/octokit-graphql-schema/` (gitignored); set
`GITHUB_SCHEMA_PATH` to use a copy you already have.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from functools import cache
from pathlib import Path

import pytest
from graphql import GraphQLSchema, build_schema

REPO_ROOT = Path(__file__).resolve().parents[2]
CACHE_DIR = REPO_ROOT / ".cache" / "octokit-graphql-schema"
PACKAGE = "@octokit/graphql-schema"


def published_schema_path() -> Path:
    """Path to GitHub's `schema.graphql`; skips the test if it cannot be obtained."""
    override = os.environ.get("GITHUB_SCHEMA_PATH")
    if override:
        path = Path(override)
        if not path.is_file():
            pytest.fail(f"GITHUB_SCHEMA_PATH={override} is not a file")
        return path
    cached = CACHE_DIR / "schema.graphql"
    if cached.is_file():
        return cached
    npm = shutil.which("npm")
    if npm is None:
        pytest.skip(
            f"npm not found: install Node.js/npm (to fetch {PACKAGE}) or set "
            "GITHUB_SCHEMA_PATH to a copy of GitHub's schema.graphql"
        )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run(
            [npm, "pack", PACKAGE, "--silent", "--pack-destination", tmp],
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            pytest.skip(
                f"npm pack {PACKAGE} failed ({done.stderr.strip()[:200]}); "
                "set GITHUB_SCHEMA_PATH to a copy of schema.graphql"
            )
        tarball = next(Path(tmp).glob("*.tgz"))
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/schema.graphql")
            assert member is not None
            partial = cached.with_suffix(".partial")
            partial.write_bytes(member.read())
            partial.replace(cached)
    return cached


@cache
def published_schema() -> GraphQLSchema:
    """GitHub's schema, parsed. The published SDL defines a few fields twice
    (e.g. `EnterpriseOwnerInfo.repositoryDeployKeySetting`), so SDL validation is skipped."""
    text = published_schema_path().read_text(encoding="utf-8")
    return build_schema(text, assume_valid_sdl=True)
