"""Workflows scope secrets to the steps that need them, pin actions by commit SHA, install
with hashes, and a scheduled run with no database secret fails naming it."""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
SHA = re.compile(r"^[\w.-]+/[\w.-]+(/[\w./-]+)?@[0-9a-f]{40}$")


def load(path: Path) -> dict[Any, Any]:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_secrets_only_in_the_steps_that_run_the_product(path: Path) -> None:
    wf = load(path)
    assert "secrets." not in yaml.safe_dump(wf.get("env", {}))
    for job in wf["jobs"].values():
        assert "secrets." not in yaml.safe_dump(job.get("env", {})), "job-wide secret"
        for step in job["steps"]:
            env = yaml.safe_dump(step.get("env", {}))
            if "secrets." in env:
                assert "backfill-console" in step.get("run", ""), step
            if "pip install" in step.get("run", ""):
                assert "secrets." not in env


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_actions_are_pinned_by_commit_sha(path: Path) -> None:
    for job in load(path)["jobs"].values():
        for step in job["steps"]:
            if "uses" in step:
                assert SHA.match(step["uses"]), step["uses"]


@pytest.mark.parametrize("path", [p for p in WORKFLOWS if p.name != "ci.yml"], ids=lambda p: p.name)
def test_installs_are_hash_checked(path: Path) -> None:
    runs = "\n".join(s.get("run", "") for j in load(path)["jobs"].values() for s in j["steps"])
    installs = [line for line in runs.splitlines() if "pip install" in line]
    assert installs
    for line in installs:
        assert "--require-hashes" in line or "--no-deps" in line, line


def test_the_lock_has_a_hash_for_every_package_and_covers_the_dependencies() -> None:
    lock = (ROOT / "requirements" / "actions.lock").read_text()
    pins = re.findall(r"^([a-z0-9_.-]+)==\S+ \\\n\s+--hash=sha256:[0-9a-f]{64}", lock, re.M)
    assert len(pins) == len(re.findall(r"^[a-z0-9_.-]+==", lock, re.M))
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for dep in [*deps, "hatchling"]:
        name = re.split(r"[\[<>=!~ ]", dep, maxsplit=1)[0].lower().replace("_", "-")
        assert name in pins, name


@pytest.mark.parametrize("command", [["worker", "--until-idle"], ["recover", "--dry-run"]])
@pytest.mark.parametrize("flag", [{"GITHUB_ACTIONS": "true"}, {"CI": "1"}])
def test_in_ci_without_a_database_secret_the_command_fails_naming_it(
    tmp_path: Path, command: list[str], flag: dict[str, str]
) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DATABASE_URL", "SUPABASE", "VITE_", "CI", "GITHUB_ACTIONS"))
    }
    env.update(BACKFILL_DATA_DIR=str(tmp_path / "data"), GITHUB_TOKEN="t", **flag)
    result = subprocess.run(
        ["backfill-console", *command],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "DATABASE_URL" in lines[0] and "in CI" in lines[0], lines
    assert not (tmp_path / "data" / "pgdata").exists()  # no throwaway database was made
