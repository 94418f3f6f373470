"""Console cost (issues 7 and 30): one refresh with 1,000 repositories, and an idle console's CPU.

1. Refresh: `mixed_report` of tests/support/console_fixed.py, 1,000 repositories in every state
   (failed, stuck, waiting, active, syncing, pending, completed; attention-first order), every
   row's numbers changed between refreshes (the worst case: every cell updates). On the UI
   thread: applying the view to the widgets and drawing the frame (what Textual's next
   screen update draws: the regions the widgets marked), p50/p95 over many refreshes; the
   view's building, off the UI thread, is reported beside it. Reference: the same refresh
   when nothing changed (the fixed cost of a frame). Until issue 30 the frame was not drawn
   inside the timing (a widget's refresh reaches the screen only at its next idle).
2. Idle CPU: the real console in a pty against a database with 1,000 backfills, polling every
   2 s for 60 s, its own CPU time / wall time. Reference: the same console frozen (f), so
   only Textual's own idle cost remains.

Aims (issues 7 and 30): refresh p95 < 50 ms on the UI thread; idle console < 3% CPU.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import pty
import struct
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.support import figure, print_figures, scratch_database
from console.app import BackfillConsole, tune_garbage_collector
from console.view import build_view
from core.monitoring import StatsReport
from tests.support.console_fixed import NOW, FixedBackend

REPOSITORIES = 1_000


def _bumped(report: StatsReport, step: int) -> StatsReport:
    """Every repository a little further along, as after a busy refresh."""
    progress = [
        p.model_copy(
            update={
                "processed_prs": p.processed_prs + step,
                "prs_per_minute": p.prs_per_minute + step % 7,
                "last_chunk_number": p.last_chunk_number + step,
                "observed_at": NOW + timedelta(seconds=2 * step),
            }
        )
        for p in report.progress
    ]
    return StatsReport(
        report.chunks, progress, report.workers, report.budgets, report.stuck, report.freshness
    )


async def _refreshes(count: int, *, change: bool) -> tuple[list[float], list[float]]:
    """Milliseconds per refresh: (UI thread: apply the view and render the frame,
    poll worker: build the view from the report); the garbage collector as the console's
    process sets it."""
    previous = gc.get_threshold()
    tune_garbage_collector()
    try:
        return await _timed_refreshes(count, change=change)
    finally:
        gc.set_threshold(*previous)


async def _timed_refreshes(count: int, *, change: bool) -> tuple[list[float], list[float]]:
    backend = FixedBackend(repositories=REPOSITORIES, mixed=True)
    app = BackfillConsole(backend, autopoll=False, now=lambda: NOW)
    ui: list[float] = []
    build: list[float] = []
    async with app.run_test(size=(120, 40)) as pilot:
        previous = None
        for step in range(count + 3):
            report = _bumped(backend.fixed, step if change else 0)
            start = time.perf_counter()
            view = build_view(report, previous, NOW, shown=app.view)
            built = time.perf_counter()
            app.apply_view(view)
            # The frame Textual draws on its next tick, drawn now so it is timed (a widget's
            # refresh reaches the screen only at its next idle, after the timer stopped): what
            # each widget marked for redrawing, as the screen's update does.
            screen = app.screen
            screen._compositor.update_widgets(set(screen.walk_children(with_self=True)))
            screen._compositor.render_update()
            done = time.perf_counter()
            await pilot.pause()
            previous = report
            if step >= 3:  # the first frames build the table
                build.append((built - start) * 1000)
                ui.append((done - built) * 1000)
    return ui, build


def _percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(database_url: str, seconds: float, *, frozen: bool) -> float:
    """CPU share of a console in a real pty over `seconds`, after a 5 s warm-up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SUPABASE", "GITHUB"))}
    env.update(DATABASE_URL=database_url, TERM="xterm-256color")
    pid, fd = pty.fork()
    if pid == 0:
        os.execvpe(sys.executable, [sys.executable, "-m", "console.cli", "--readonly"], env)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))

    def drain() -> None:
        while True:
            try:
                if not os.read(fd, 65536):
                    return
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    try:
        time.sleep(5)
        if frozen:
            os.write(fd, b"f")
            time.sleep(1)
        cpu0, wall0 = _cpu_seconds(pid), time.monotonic()
        time.sleep(seconds)
        return (_cpu_seconds(pid) - cpu0) / (time.monotonic() - wall0) * 100
    finally:
        os.write(fd, b"q")
        for _ in range(50):
            if os.waitpid(pid, os.WNOHANG)[0]:
                break
            time.sleep(0.1)
        else:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


def _seed(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        for n in range(REPOSITORIES):
            conn.execute("SELECT register_backfill('bench', %s, %s, NULL)", (f"repo-{n}", 5000))


def run(quick: bool) -> list[dict[str, Any]]:
    count = 30 if quick else 100
    changed, build = asyncio.run(_refreshes(count, change=True))
    unchanged, _ = asyncio.run(_refreshes(count, change=False))
    p50, p95 = _percentile(changed, 50), _percentile(changed, 95)
    idle_seconds = 20 if quick else 60
    with scratch_database("bench_console") as url:
        _seed(url)
        polling = idle_cpu(url, idle_seconds, frozen=False)
        frozen = idle_cpu(url, idle_seconds / 2, frozen=True)
    rows = [
        figure(
            "console (issues 7, 30)",
            f"one refresh, {REPOSITORIES} repositories, every row changed: p95",
            p95,
            "ms",
            "the same refresh with nothing changed (p95)",
            _percentile(unchanged, 95),
            "p95 < 50 ms",
            p95 < 50,
            f"UI thread: apply + render one frame at 120x40; p50 {p50:.1f} ms over {count} "
            f"refreshes; building the view off the UI thread adds p50 "
            f"{_percentile(build, 50):.1f} ms",
        ),
        figure(
            "console (issues 7, 30)",
            f"idle console CPU, {REPOSITORIES} backfills, refresh 2 s, {idle_seconds:.0f} s",
            polling,
            "% CPU",
            "the same console frozen (no polling)",
            frozen,
            "< 3% CPU",
            polling < 3,
            "real pty at 120x40; CPU of the console process only",
        ),
    ]
    print_figures(rows)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer refreshes, 20 s idle")
    run(parser.parse_args().quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
