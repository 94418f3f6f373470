"""Run every benchmark, write bench/results.json and bench/results.md.

    python bench/run.py [--quick]

Each benchmark module exposes `run(quick: bool) -> list[dict]` (rows made by
`support.figure`): a figure, its reference measured in the same run, the ratio between them,
and the aim its issue set. A benchmark that fails is reported as failed, and the others
still run. `bench_console.py` runs too when it exists; without a `run()` function it is run
as a script and its JSON lines are kept in results.json.

Uses BENCH_DATABASE_URL when set (a server where databases may be created), else embedded
Postgres servers in temporary directories.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

BENCHMARKS = [
    "bench_store",
    "bench_recovery",
    "bench_simulator",
    "bench_client_points",
    "bench_supabase",
    "bench_engine",
    "bench_budget",
    "bench_pacing",
    "bench_sync",
    "bench_scale",
    "bench_comment_upkeep",
    "bench_console",  # only if present
]


def machine() -> dict[str, Any]:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 0
    return {
        "cpu": model,
        "cores": cores,
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }


def run_script(name: str, quick: bool) -> list[dict[str, Any]]:
    """A benchmark without run(): its JSON lines, figures where they are shaped as such."""
    args = [sys.executable, str(HERE / f"{name}.py"), *(["--quick"] if quick else [])]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=600, check=False)
    rows: list[dict[str, Any]] = []
    for line in proc.stdout.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(data, dict):
            rows.append(data)
    if proc.returncode != 0:
        raise RuntimeError(f"exited {proc.returncode}: {proc.stderr.strip()[-300:]}")
    return rows


def run_one(name: str, quick: bool) -> tuple[list[dict[str, Any]], str | None]:
    try:
        module = importlib.import_module(name)
        runner = getattr(module, "run", None)
        if callable(runner):
            return list(runner(quick)), None
        return run_script(name, quick), None
    except Exception as exc:
        traceback.print_exc()
        return [], f"{type(exc).__name__}: {exc}"


def fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "**no**"
    if isinstance(value, float):
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 1:
            return f"{value:,.2f}"
        return f"{value:.3f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value).replace("|", "\\|")


def markdown(meta: dict[str, Any], rows: list[dict[str, Any]], extra: list[dict[str, Any]]) -> str:
    m = meta["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Run {meta['date']} on {m['cpu']}, {m['cores']} cores, Python {m['python']} "
        f"({m['system']}); `python bench/run.py{' --quick' if meta['quick'] else ''}` took "
        f"{meta['total_seconds']:.0f} s.",
        "",
        "Every figure is divided by a reference measured in the same run (the physical limit",
        "or the baseline its issue names): **ratio** = figure / reference.",
        "",
        "| # | benchmark | figure | value | unit | reference | reference value | ratio | aim "
        "| met? |",
        "|---|---|---|---:|---|---|---:|---:|---|---|",
    ]
    notes = []
    for i, row in enumerate(rows, 1):
        lines.append(
            "| "
            + " | ".join(
                [
                    str(i),
                    fmt(row["benchmark"]),
                    fmt(row["figure"]),
                    fmt(row["value"]),
                    fmt(row["unit"]),
                    fmt(row["reference"]),
                    fmt(row["reference_value"]),
                    fmt(row["ratio"]),
                    fmt(row["aim"]),
                    fmt(row["met"]),
                ]
            )
            + " |"
        )
        if row.get("note"):
            notes.append(f"{i}. {row['note']}")
    if notes:
        lines += ["", "Notes:", "", *notes]
    failed = [b for b in meta["benchmarks"] if b["error"]]
    if failed:
        lines += ["", "Failed benchmarks:", ""]
        lines += [f"- `{b['name']}`: {b['error']}" for b in failed]
    if extra:
        lines += ["", f"Other output ({len(extra)} JSON lines) is in bench/results.json."]
    lines += [
        "",
        "Seconds per benchmark: "
        + ", ".join(f"{b['name']} {b['seconds']:.0f}" for b in meta["benchmarks"])
        + ".",
        "",
    ]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, about a minute")
    parser.add_argument("--only", action="append", help="run only this benchmark (repeatable)")
    parser.add_argument("--out", type=Path, default=HERE, help="directory for the results")
    args = parser.parse_args()

    started = time.perf_counter()
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows: list[dict[str, Any]] = []
    extra: list[dict[str, Any]] = []
    ran = []
    for name in BENCHMARKS:
        if args.only and name not in args.only:
            continue
        if not (HERE / f"{name}.py").exists():
            continue
        print(f"== {name}", flush=True)
        t = time.perf_counter()
        got, error = run_one(name, args.quick)
        seconds = time.perf_counter() - t
        for row in got:
            (rows if "figure" in row and "ratio" in row else extra).append(row)
        ran.append({"name": name, "seconds": round(seconds, 1), "error": error})
        print(f"   {seconds:.1f} s" + (f", FAILED: {error}" if error else ""), flush=True)
    meta = {
        "date": date,
        "quick": args.quick,
        "machine": machine(),
        "total_seconds": round(time.perf_counter() - started, 1),
        "benchmarks": ran,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(
        json.dumps({**meta, "figures": rows, "other": extra}, indent=2) + "\n"
    )
    (args.out / "results.md").write_text(markdown(meta, rows, extra))
    print(markdown(meta, rows, extra))
    return 1 if any(b["error"] for b in ran) else 0


if __name__ == "__main__":
    sys.exit(main())
