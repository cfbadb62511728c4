"""The generated sections of the docs: text between a start and an end marker comment, which a
script rewrites from recorded results (`--write`) and CI compares (`--check`), so that no figure
in the docs is typed by hand."""

from __future__ import annotations

from pathlib import Path


def replaced(doc_text: str, body: str, start: str, end: str, path: Path | str) -> str:
    """`doc_text` with what lies between `start` and `end` replaced by `body`; SystemExit naming
    `path` when a marker is missing."""
    if start not in doc_text or end not in doc_text:
        raise SystemExit(f"{path}: no '{start}' ... '{end}' markers; add them where the table goes")
    head, rest = doc_text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"
