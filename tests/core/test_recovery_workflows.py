"""The scheduled workflows: actionlint-clean, the spec's schedule and inputs, and the recover
step's shell really runs `backfill-console recover` with the inputs as flags."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support import actionlint
from tests.support.recovery_rows import chunk_row, stuck_chunk

WORKFLOWS = actionlint.ROOT / ".github" / "workflows"
RECOVERY = WORKFLOWS / "chunk-recovery.yml"
BACKFILL = WORKFLOWS / "progressive-backfill.yml"
CI = WORKFLOWS / "ci.yml"


def load(path: Path) -> dict[Any, Any]:
    return yaml.load(path.read_text(), Loader=yaml.BaseLoader)  # `on` stays a string key


@pytest.fixture(scope="module")
def linter() -> None:
    try:
        actionlint.ensure()
    except actionlint.Unavailable as exc:
        pytest.skip(f"actionlint unavailable ({exc}): {actionlint.HOW_TO_ENABLE}")


def test_workflows_pass_actionlint(linter: None) -> None:
    assert actionlint.lint(RECOVERY, BACKFILL, CI) == []


def test_ci_runs_the_readme_command_and_the_reliability_suite() -> None:
    steps = load(CI)["jobs"]["tests"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "bash .ci/run" in runs
    assert "pytest -m reliability" in runs


def test_actionlint_does_catch_mistakes(linter: None, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yml"
    text = RECOVERY.read_text().replace("${{ inputs.cleanup_days", "${{ inputs.cleanup_dayz")
    broken.write_text(text.replace("timeout-minutes: 15", "timeout-minutes: soon"))
    findings = actionlint.lint(broken)
    assert [f["line"] for f in findings] == [39, 60], findings
    assert "cleanup_dayz" in findings[1]["message"]


def test_recovery_workflow_schedule_inputs_and_secrets() -> None:
    wf = load(RECOVERY)
    assert wf["on"]["schedule"] == [{"cron": "0 */2 * * *"}]
    assert set(wf["on"]["workflow_dispatch"]["inputs"]) == {
        "stuck_threshold",
        "cleanup_days",
        "dry_run",
    }
    assert wf["concurrency"]["group"]
    steps = wf["jobs"]["recover"]["steps"]
    runs = "\n".join(s.get("run", "") for s in steps)
    assert "pip install" in runs and " ." in runs
    recover = next(s for s in steps if "backfill-console recover" in s.get("run", ""))
    assert recover["env"]["DATABASE_URL"] == "${{ secrets.DATABASE_URL }}"
    assert recover["env"]["SUPABASE_URL"] == "${{ secrets.SUPABASE_URL }}"
    assert recover["env"]["SUPABASE_SERVICE_KEY"] == "${{ secrets.SUPABASE_SERVICE_KEY }}"
    assert "${{ inputs" not in recover["run"]  # inputs reach the shell as variables only


def test_backfill_workflow_stops_before_its_timeout() -> None:
    wf = load(BACKFILL)
    job = wf["jobs"]["work"]
    step = next(s for s in job["steps"] if "backfill-console worker" in s.get("run", ""))
    words = step["run"].split()
    assert "--until-idle" in words
    max_runtime = int(words[words.index("--max-runtime") + 1])
    assert max_runtime <= int(job["timeout-minutes"]) * 60 - 300  # 5 min to spare at least
    assert step["env"]["GITHUB_TOKEN"].startswith("${{ secrets.")  # that step's alone


def test_scheduled_workers_sync_completed_repositories() -> None:
    """The scheduled worker syncs after its backfill work (and the flag parses)."""
    from console.cli import build_parser

    wf = load(BACKFILL)
    step = next(
        s for s in wf["jobs"]["work"]["steps"] if "backfill-console worker" in s.get("run", "")
    )
    words = step["run"].split()
    every = float(words[words.index("--sync-every") + 1])
    assert 0 < every <= 60  # the job runs hourly: every run syncs what is due
    args = build_parser().parse_args(["worker", "--sync-every", str(every)])
    assert args.sync_every == every


def recover_script() -> str:
    steps = load(RECOVERY)["jobs"]["recover"]["steps"]
    return next(s["run"] for s in steps if "backfill-console recover" in s.get("run", ""))


@pytest.mark.parametrize(
    ("inputs", "status"),
    [
        ({"STUCK_THRESHOLD": "60", "CLEANUP_DAYS": "7", "DRY_RUN": "true"}, "processing"),
        ({"STUCK_THRESHOLD": "", "CLEANUP_DAYS": "30", "DRY_RUN": "false"}, "failed"),
        ({"STUCK_THRESHOLD": "90", "CLEANUP_DAYS": "30", "DRY_RUN": "false"}, "processing"),
    ],
)
async def test_the_recover_step_runs_recovery_with_its_inputs(
    store, db, cli_env, inputs: dict[str, str], status: str
) -> None:
    """The step's own shell, run by bash against a real database (as on a runner)."""
    _, chunk = await stuck_chunk(store, db, "repo", minutes=61, expected=2)
    env = {**cli_env, **inputs, "PATH": os.environ["PATH"], "COLUMNS": "200"}
    proc = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        recover_script(),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=120)
    assert proc.returncode == 0, err.decode()
    assert ("DRY RUN" in out.decode()) == (inputs["DRY_RUN"] == "true")
    assert chunk_row(db, chunk.id)["status"] == status
