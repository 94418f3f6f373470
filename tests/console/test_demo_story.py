"""The demo's story, headless: `DemoScript.run` against the demo's own embedded Postgres,
the simulator as a process and real worker processes (no textual). Every step must happen
on every run: the doomed worker is killed while it holds a lease on a chunk with PRs stored,
the chunk is seen stuck, recovery settles it, and the backfill completes exactly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.demo import DemoConfig, DemoScript, environment, register, settings_for, simulator
from console.local_workers import LocalWorkers
from core.embedded import stop_embedded
from core.store import open_store


async def _rows_per_repository(script: DemoScript) -> dict[str, int]:
    """Repository -> its rows in pull_requests, counted again once the script is done."""
    async with open_store(script.settings) as store:
        names = {p.repository_id: p.repository for p in await store.backfill_progress()}
        counts = await store.data_counts()
    return {names[c.repository_id]: c.pull_requests for c in counts if c.repository_id in names}


@pytest.mark.slow
def test_the_demo_kills_a_worker_mid_chunk_recovers_it_and_completes_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BACKFILL_ALLOW_EMBEDDED", "1")
    config = DemoConfig(
        data_dir=tmp_path / "demo",
        countdown_seconds=3,
        repositories=("demo/tiny:40", "demo/api:600", "demo/web:1500"),
    )
    config.data_dir.mkdir()
    events: list[str] = []

    def report(event: str) -> None:
        events.append(event)
        print(event, flush=True)  # with -s: the story as it goes

    try:
        with simulator(config) as url:
            env = environment(config, url)
            settings = settings_for(env)
            asyncio.run(register(settings, config))
            workers = LocalWorkers(
                config.data_dir / "logs", env=env, extra_args=["--lease-seconds", "15"]
            )
            script = DemoScript(config, settings, workers)
            try:
                finished = asyncio.run(script.run(report))
                running = [worker_id for worker_id, _ in workers.started]
                stored = asyncio.run(_rows_per_repository(script))
            finally:
                workers.stop_all(kill=True)
    finally:
        stop_embedded(config.data_dir)
    story = script.story
    assert finished, events
    assert story.lease_held and story.killed_stored > 0, events  # killed mid-chunk, holding it
    # The doomed one killed, `workers` more started, as `demo --help` says.
    assert story.doomed not in running and len(running) == config.workers, running
    assert story.killed_chunk is not None and story.killed_repository in config.github_counts
    assert story.stuck_seen, events
    assert story.settled and story.recovered, events
    assert story.completed and story.exact, events
    # The rows in the database against the simulator's truth (/_sim/truth), read by the
    # script: each repository's PRs, every one stored once.
    assert story.github == config.github_counts
    assert story.stored == story.github == stored
    summary = events[-1]
    assert summary.startswith("demo: what happened: SIGKILLed ")
    assert "completed exactly" in summary and f"#{story.killed_chunk}" in summary
    assert any("in 3 s" in e for e in events)  # the countdown was shown
