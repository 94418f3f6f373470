"""`backfill-console demo`: the console over a real, local, self-contained backfill."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import shutil
import tempfile
from pathlib import Path

from .args import MAX_CONCURRENCY, bounded_int

# Each worker process holds its own database connections and its own simulator traffic on
# this one machine: the same bound as `worker --concurrency`.
WORKERS = bounded_int(1, MAX_CONCURRENCY, "each one is a process with database connections")


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="watch a real backfill of simulated repositories (nothing to configure)",
        description=(
            "Start an embedded Postgres in a fresh directory, a simulated GitHub with four "
            "repositories and a small GraphQL budget, and worker processes, then open the "
            "console on them: one worker starts alone and is SIGKILLed mid-chunk, then "
            "--workers more finish the backfill. Within a few minutes you see progress, a "
            "wait for the budget and the recovery of the killed worker's chunk. Your "
            "DATABASE_URL, Supabase and GITHUB_TOKEN settings are ignored: nothing leaves "
            "this machine. Quitting stops "
            "the demo's workers and deletes its data; Ctrl-C quits too (exit status 130)."
        ),
    )
    parser.add_argument(
        "--workers",
        type=WORKERS,
        default=2,
        metavar="N",
        help=(
            "worker processes that finish the backfill, started after the first one is "
            f"SIGKILLed (default 2, so 3 start in all; at most {MAX_CONCURRENCY})"
        ),
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo's data directory (its path is printed at exit)",
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from console.app import BackfillConsole, tune_garbage_collector
    from console.backend import Backend
    from console.demo import (
        DemoConfig,
        DemoScript,
        DemoWorkers,
        Watchdog,
        environment,
        register,
        settings_for,
        simulator,
    )
    from core.embedded import stop_embedded

    data_dir = Path(tempfile.mkdtemp(prefix="backfill-console-demo-"))
    if args.keep:
        atexit.register(print, f"demo data kept in {data_dir}")
    else:
        # Registered before the embedded server starts, so it runs after the embedded
        # layer's own exit handler has stopped it (atexit runs last-in, first-out).
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    config = DemoConfig(data_dir=data_dir, workers=args.workers)
    # Cleans up if this process is killed outright (SIGKILL: no handler or atexit runs).
    watchdog = Watchdog(data_dir, keep=args.keep)
    print("starting the simulator and an embedded Postgres…", flush=True)
    with simulator(config, watchdog) as url:
        env = environment(config, url)
        settings = settings_for(env)
        for line in asyncio.run(register(settings, config)):
            print(line, flush=True)
        workers = DemoWorkers(
            watchdog, data_dir / "logs", env=env, extra_args=["--lease-seconds", "15"]
        )
        app = BackfillConsole(
            Backend(settings),
            local_workers=workers,
            refresh=args.refresh,
            keymap=None,
            companion=DemoScript(config, settings, workers),
        )
        tune_garbage_collector()
        try:
            app.run()
        finally:
            stop_embedded(data_dir)  # its workers were killed: nobody else will stop it
    return app.return_code or 0
