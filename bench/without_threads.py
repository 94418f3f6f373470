"""`python -m console.cli` with the page the product sent before issue 28: no review threads.

The reference of bench_pacing's "whole conversation" row only: the same worker, pacing and
store, asking each PR for its reviews, comments, labels and commit count alone (4 requests a
PR, 37-PR pages) and no threads or inline comments. Never used by the product: it rebinds
the query module's page fields in this process before the CLI starts (`threads_dropped` does
the same for a block and puts them back: bench_pacing prices the ceiling without threads
in-process with it).

Usage: python bench/without_threads.py ARGS... (the CLI's arguments)
"""

from __future__ import annotations

import contextlib
import runpy
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import core.github.queries as queries


def drop_threads() -> None:
    """Rebind the page's fields, nested lists and page size as they were without threads."""
    queries.NESTED.pop("reviewThreads", None)
    queries.PR_FIELDS = queries.PR_FIELDS.replace(" " + queries.PR_THREADS, "")
    queries.NESTED_PER_PR = len(queries.NESTED) + 1
    queries.best_page_size.__defaults__ = (queries.NESTED_PER_PR, queries.MAX_PAGE)


@contextlib.contextmanager
def threads_dropped() -> Iterator[None]:
    """`drop_threads` within the block, the product's page again after it (`NESTED` is the
    same dict the pager imported: it is refilled in place, in its order)."""
    nested = dict(queries.NESTED)
    fields, per_pr = queries.PR_FIELDS, queries.NESTED_PER_PR
    defaults = queries.best_page_size.__defaults__
    drop_threads()
    try:
        yield
    finally:
        queries.NESTED.clear()
        queries.NESTED.update(nested)
        queries.PR_FIELDS, queries.NESTED_PER_PR = fields, per_pr
        queries.best_page_size.__defaults__ = defaults


if __name__ == "__main__":
    drop_threads()
    sys.argv = ["console.cli", *sys.argv[1:]]
    runpy.run_module("console.cli", run_name="__main__", alter_sys=True)
