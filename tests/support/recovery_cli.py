"""Running `backfill-console` as a real subprocess from async tests."""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class Run:
    code: int
    out: str
    err: str


async def cli(env: dict[str, str], *args: str, within: float = 120) -> Run:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=within)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())
