"""What code this is: the release (`pipeline.__version__`, kept equal to pyproject's and the
CHANGELOG's newest entry by a test) and a digest of the package's files, which changes with
any change of the code whether or not the release was bumped.

The night fingerprint (`train/rerun.py`) hashes the digest: a rerun after a code change is a new
night, never a reuse of the champion trained by older code.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import pipeline

PACKAGE_ROOT = Path(pipeline.__file__).resolve().parent
# what the package's behaviour is made of (bytecode caches and editor files are not)
CODE_SUFFIXES = (".py", ".sh", ".properties", ".sql", ".yml", ".yaml", ".json")


def release() -> str:
    return pipeline.__version__


@lru_cache(maxsize=4)
def code_digest(root: Path = PACKAGE_ROOT) -> str:
    """sha256 over every code file under `root`, by path relative to it, in path order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file()):
        if "__pycache__" in path.parts:
            continue
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def version_line() -> str:
    """`recsys --version`: the release and the first 12 hex digits of the code digest."""
    return f"recsys-nightly {release()} (code {code_digest()[:12]})"
