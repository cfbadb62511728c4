"""What every `algobench` command does with its arguments before it runs anything: a bad one is
one line on stderr (exit code 2); `--out` must be a folder; lists of names come space- or
comma-separated."""

from __future__ import annotations

import sys
from pathlib import Path


def fail(message: str) -> int:
    print(f"algobench: error: {message}", file=sys.stderr)
    return 2


def not_a_folder(out: str) -> str | None:
    """Why `--out` cannot hold results (it, or a folder above it, is a file), or None."""
    for path in (Path(out), *Path(out).parents):
        if path.exists():
            return None if path.is_dir() else (
                f"--out {out}: {path} is a file, not a folder; give a folder for the results "
                "(it is made if missing)")
    return None


def split_names(values: list[str]) -> list[str]:
    """`--workloads a b` and `--workloads a,b` alike."""
    return [name for value in values for name in value.split(",") if name]
