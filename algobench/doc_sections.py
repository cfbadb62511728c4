"""The generated sections of the docs: text between a start and an end marker comment, which a
script rewrites from recorded results (`--write`) and CI compares (`--check`), so that no figure
in the docs is typed by hand."""

from __future__ import annotations

import sys
from pathlib import Path


def replaced(doc_text: str, body: str, start: str, end: str, path: Path | str) -> str:
    """`doc_text` with what lies between `start` and `end` replaced by `body`; SystemExit naming
    `path` when a marker is missing."""
    if start not in doc_text or end not in doc_text:
        raise SystemExit(f"{path}: no '{start}' ... '{end}' markers; add them where the table goes")
    head, rest = doc_text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{body}\n{end}{tail}"


def write_section(doc: Path | str, body: str, start: str, end: str) -> None:
    """Put `body` between the `start` and `end` markers of the file `doc`."""
    doc = Path(doc)
    doc.write_text(replaced(doc.read_text(), body, start, end, doc))


def print_section(doc: Path | str, body: str, start: str, end: str, *, write: bool) -> None:
    """Print `body`, a section generated from recorded results; with `write`, also put it between
    the `start` and `end` markers of `doc`."""
    print(body)
    if write:
        write_section(doc, body, start, end)


def write_or_check(doc: Path | str, body: str, start: str, end: str, *, write: bool,
                   what: str, source: str, fix: str) -> int:
    """`--write`: put `body` between the markers of `doc` (exit code 0). `--check`: 1 and a message
    naming `fix` (the command that rewrites it) when the doc differs from `source`, else 0."""
    doc = Path(doc)
    current = doc.read_text()
    wanted = replaced(current, body, start, end, doc)
    if write:
        doc.write_text(wanted)
        print(f"wrote {what} in {doc}")
        return 0
    if wanted != current:
        print(f"{doc}: {what} differ from {source}; run `{fix}`", file=sys.stderr)
        return 1
    print(f"{doc}: {what} match {source}")
    return 0
