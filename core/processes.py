"""Processes the product starts: its own installed code, and a way to recognise them later.

`python -m console.cli` puts the working directory first on sys.path, so a planted
`./console/cli.py` (or an unrelated `./core/` package) would run instead of the product, with
the token in its environment. `-P` (Python 3.11+, `PYTHONSAFEPATH`) leaves the working
directory out; the product's code then comes from where it is installed.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import BinaryIO


def product_command(*args: str) -> list[str]:
    """argv that runs `backfill-console ARGS` from the installed code, whatever the CWD."""
    return [sys.executable, "-P", "-m", "console.cli", *args]


def process_identity(pid: int) -> str:
    """`<pid>-<start time>`: a pid alone may be recycled by an unrelated process.

    Returns `<pid>-dead` when no such process exists.
    """
    try:
        stat_line = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        if not Path("/proc/self").exists():  # no procfs (macOS): existence is all we know
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return f"{pid}-dead"
            except PermissionError:
                pass
            return f"{pid}-0"
        return f"{pid}-dead"
    fields = stat_line.rsplit(")", 1)[1].split()
    return f"{pid}-{fields[19]}"  # field 22, starttime (clock ticks after boot)


def open_private_log(path: Path) -> BinaryIO:
    """Open a log for appending, private to this user: the file 0600 and its directory 0700.

    Logs can hold PR data from error details. Directories made here are 0700; an existing log
    directory or file of ours that is open to others is tightened (the product made it, with
    older versions' defaults); one that another user owns is left alone.
    """
    missing = []
    p = path.parent
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        with contextlib.suppress(FileExistsError):
            d.mkdir(mode=0o700)
            os.chmod(d, 0o700)  # mkdir's mode passes through the umask
    _tighten(path.parent, 0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    _tighten(path, 0o600, fd)
    return os.fdopen(fd, "ab")


def _tighten(path: Path, mode: int, fd: int | None = None) -> None:
    st = os.fstat(fd) if fd is not None else path.stat()
    if st.st_uid == os.geteuid() and stat.S_IMODE(st.st_mode) & ~mode:
        if fd is not None:
            os.fchmod(fd, stat.S_IMODE(st.st_mode) & mode)
        else:
            os.chmod(path, stat.S_IMODE(st.st_mode) & mode)
