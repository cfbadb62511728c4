"""The generated sections of the docs: text between a start and an end marker comment, which a
script rewrites from recorded results (`--write`) and CI compares (`--check`), so that no figure
in the docs is typed by hand."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Callable


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


def add_table_options(parser: argparse.ArgumentParser, doc: Path) -> None:
    """A benchmark's options for its section of `doc`: `--table JSON` prints the section made from
    a recorded run instead of measuring, `--write` also puts it into `doc`."""
    parser.add_argument("--table", metavar="JSON", help="print a recorded run's table; measure nothing")
    parser.add_argument("--write", action="store_true", help=f"with --table: write it into docs/{doc.name}")


def printed_recorded_table(args: argparse.Namespace, doc: Path, markers: tuple[str, str],
                           table_of: Callable[[dict], str]) -> bool:
    """With `--table` (add_table_options): print `table_of` the recorded JSON, and with `--write`
    put it between `markers` of `doc`; True when it did, so that the benchmark measures nothing."""
    if not args.table:
        return False
    print_section(doc, table_of(json.loads(Path(args.table).read_text())), *markers, write=args.write)
    return True


def labelled_runs(table_of: Callable[[dict], str]) -> Callable[[dict], str]:
    """`table_of` for a record of one run, or of {"runs": [runs, each with a "label"]}: each run's
    table after its label in bold."""
    def tables(record: dict) -> str:
        return "\n\n".join(f"**{run['label']}.** " + table_of(run) for run in record.get("runs", [record]))
    return tables


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
