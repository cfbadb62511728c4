"""Per-trial logs: atomic writers and a strict reader (the format is in docs/log_format.md)."""

from __future__ import annotations

import csv
import errno
import io
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import digests
from workloads.data.atomic import atomic_write

HPARAMS_FILE = "hparams.json"
META_FILE = "meta.json"
EVALS_FILE = "eval_measurements.csv"
EVENTS_FILE = "events.jsonl"
CHECKPOINT_DIR = "checkpoint"

# The accounts of a trial's wall clock, in column order; they add up to `total_duration`.
TIME_ACCOUNTS = ("submission", "eval", "logging", "checkpoint", "setup", "other")
LEADING_COLUMNS = (
    "global_step",
    "preemption_count",
    "score",
    "total_duration",
    *(f"accumulated_{name}_time" for name in TIME_ACCOUNTS),
)


class CorruptLogError(ValueError):
    """A trial folder whose files are missing, truncated or inconsistent."""


class DiskFullError(OSError):
    """The disk (or quota) filled up while a trial wrote its files. Not the submission's fault: the
    trial stops where it is, `running` and resumable from its last checkpoint; the message is one
    line naming the folder, the file and the fix."""

    def __init__(self, folder: Path | str, cause: OSError):
        where = f" writing {cause.filename}" if cause.filename else ""
        super().__init__(cause.errno, f"{folder}: no space left on the device{where}; the trial "
                         "stopped and resumes from its last checkpoint: free space and run the "
                         "same command again")

    def __str__(self) -> str:
        return self.strerror


def is_disk_full(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT)


def atomic_write_text(path: Path | str, text: str) -> None:
    """Write `text` to `path` so that readers see either the old or the new file, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):  # NumPy scalars
        return value.item()
    if isinstance(value, (set, tuple)):
        return list(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def atomic_write_json(path: Path | str, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    return str(value)


class TrialLog:
    """Writes one trial's folder. All files are rewritten atomically; rows and events live in memory.

    On resume, `TrialLog.resume(folder)` reloads the rows and events already written, so nothing
    already on disk is lost. Every row and event carries its link of the trial's digest chain
    (harness/digests.py), and meta.json the chains' heads (`integrity`), which scoring verifies.
    """

    def __init__(self, folder: Path | str):
        self.folder = Path(folder)
        self.rows: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        self.chain = digests.Chain.for_folder(self.folder)

    @classmethod
    def resume(cls, folder: Path | str) -> "TrialLog":
        log = cls(folder)
        if (log.folder / EVALS_FILE).exists():
            log.rows = read_eval_rows(log.folder / EVALS_FILE)
        if (log.folder / EVENTS_FILE).exists():
            log.events = read_events(log.folder / EVENTS_FILE)
        return log

    def write_hparams(self, hparams: dict[str, Any]) -> None:
        atomic_write_json(self.folder / HPARAMS_FILE, dict(hparams))

    def write_meta(self, meta: dict[str, Any]) -> dict[str, Any]:
        """Write meta.json with its `integrity` record: the scheme, the heads of both chains (the
        last row's and the last event's digest) and digests of hparams.json and of meta.json
        itself; return what was written."""
        meta = {k: v for k, v in meta.items() if k != "integrity"}
        hparams_path = self.folder / HPARAMS_FILE
        record = {
            "scheme": self.chain.scheme,
            "evals_head": self.rows[-1].get(digests.DIGEST) if self.rows else None,
            "events_head": self.events[-1].get(digests.DIGEST) if self.events else None,
            "hparams": (self.chain.digest(json_content(read_json(hparams_path)))
                        if hparams_path.exists() else None),
        }
        record["meta"] = self.chain.digest(json_content({**meta, "integrity": record}))
        written = {**meta, "integrity": record}
        atomic_write_json(self.folder / META_FILE, written)
        return written

    def add_eval_row(self, row: dict[str, Any]) -> None:
        row = digests.without_digest(row)
        previous = self.rows[-1].get(digests.DIGEST) if self.rows else None
        row[digests.DIGEST] = self.chain.link(previous, row_content(row))
        self.rows.append(row)
        columns = list(LEADING_COLUMNS)
        for r in self.rows:
            columns.extend(k for k in r if k not in columns and k != digests.DIGEST)
        columns.append(digests.DIGEST)
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        for r in self.rows:
            writer.writerow([_csv_value(r.get(c)) for c in columns])
        atomic_write_text(self.folder / EVALS_FILE, out.getvalue())

    def add_event(self, event: str, **fields: Any) -> None:
        entry = digests.without_digest({"event": event, **fields})
        previous = self.events[-1].get(digests.DIGEST) if self.events else None
        entry[digests.DIGEST] = self.chain.link(previous, json_content(entry))
        self.events.append(entry)
        text = "".join(json.dumps(e, sort_keys=True, default=_json_default) + "\n" for e in self.events)
        atomic_write_text(self.folder / EVENTS_FILE, text)


def write_trial_meta(folder: Path | str, meta: dict[str, Any]) -> None:
    """Rewrite a trial's meta.json from outside its run (the executors), with the integrity
    record of the rows and events on disk (of none where those cannot be read), which is also
    set in `meta`, so that it is what the file holds."""
    try:
        log = TrialLog.resume(folder)
    except CorruptLogError:
        log = TrialLog(folder)
    meta["integrity"] = log.write_meta(meta)["integrity"]


def json_content(obj: Any) -> str:
    """What a digest covers of a JSON object (an event, hparams.json, meta.json): its canonical
    text as read back from the file (NumPy scalars and tuples as written), the digest left out."""
    if isinstance(obj, dict):
        obj = digests.without_digest(obj)
    return digests.canonical_json(json.loads(json.dumps(obj, default=_json_default)))


def _canonical_cell(cell: str) -> str:
    try:
        return _csv_value(_parse_number(cell))
    except ValueError:
        return cell


def row_content(row: dict[str, Any]) -> str:
    """What a digest covers of an eval row: its non-empty cells as the CSV holds them (numbers in
    one spelling), by column name; so a column added by a later row leaves it unchanged."""
    cells = {k: _canonical_cell(_csv_value(v)) for k, v in row.items() if k != digests.DIGEST}
    return digests.canonical_json({k: v for k, v in cells.items() if v != ""})


def _parse_number(text: str) -> float | int | None:
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)  # accepts 'nan', 'inf'


def read_eval_rows(path: Path | str) -> list[dict[str, Any]]:
    """Read eval_measurements.csv; raise CorruptLogError naming the file on any malformed row."""
    return parse_eval_rows(path, Path(path).read_bytes())


def parse_eval_rows(path: Path | str, data: bytes) -> list[dict[str, Any]]:
    """eval_measurements.csv's rows from its bytes (`data`, read from `path`), as `read_eval_rows`."""
    path = Path(path)
    try:
        with io.StringIO(data.decode("utf-8"), newline="") as f:  # as open(path, newline="")
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise CorruptLogError(f"{path}: empty file; re-run the trial")
            missing = [c for c in LEADING_COLUMNS if c not in header]
            if missing:
                raise CorruptLogError(f"{path}: missing columns {missing}; re-run the trial")
            rows = []
            for line_no, values in enumerate(reader, start=2):
                if len(values) != len(header):
                    raise CorruptLogError(
                        f"{path}:{line_no}: {len(values)} fields, expected {len(header)} "
                        "(truncated or hand-edited); re-run the trial"
                    )
                rows.append({k: v or None if k == digests.DIGEST else _parse_number(v)
                             for k, v in zip(header, values)})
    except (UnicodeDecodeError, ValueError) as err:
        if isinstance(err, CorruptLogError):
            raise
        raise CorruptLogError(f"{path}: unreadable ({err}); re-run the trial") from err
    steps = [r["global_step"] for r in rows]
    if any(s is None for s in steps) or steps != sorted(steps):
        raise CorruptLogError(f"{path}: global_step missing or not increasing; re-run the trial")
    return rows


def read_events(path: Path | str) -> list[dict[str, Any]]:
    path = Path(path)
    events = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, start=1):
            try:
                events.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise CorruptLogError(f"{path}:{line_no}: not JSON ({err.msg}); re-run the trial") from err
    return events


def read_json(path: Path | str) -> Any:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = None
    return parse_json(path, data)


def parse_json(path: Path | str, data: bytes | None) -> Any:
    """A JSON file's value from its bytes (`data`, read from `path`; None: the file is missing)."""
    if data is None:
        raise CorruptLogError(f"{path}: missing; re-run the trial")
    try:
        return json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptLogError(f"{path}: not valid JSON ({err}); re-run the trial") from err


@dataclass(frozen=True)
class TrialFiles:
    """The bytes of a trial folder's log files, each read once (`read_trial_files`): scoring
    verifies these bytes (harness/integrity.py) and parses the same bytes (`parse_trial`), so a
    file rewritten in between cannot be scored unverified. None: the file is absent."""

    folder: Path
    meta: bytes | None
    hparams: bytes | None
    evals: bytes | None
    events: bytes | None


def read_trial_files(folder: Path | str) -> TrialFiles:
    """Read a trial folder's meta.json, hparams.json, eval_measurements.csv and events.jsonl once.
    OSError other than a missing file (permissions, a folder in a file's place) propagates."""
    folder = Path(folder)

    def read(name: str) -> bytes | None:
        try:
            return (folder / name).read_bytes()
        except FileNotFoundError:
            return None

    return TrialFiles(folder, read(META_FILE), read(HPARAMS_FILE), read(EVALS_FILE),
                      read(EVENTS_FILE))


def parse_trial(files: TrialFiles) -> dict[str, Any]:
    """One trial folder's {'folder', 'meta', 'hparams', 'evals'} from its files' bytes;
    CorruptLogError names the bad file."""
    folder = files.folder
    meta = parse_json(folder / META_FILE, files.meta)
    if not isinstance(meta, dict) or "status" not in meta or "workload" not in meta:
        raise CorruptLogError(f"{folder / META_FILE}: not a trial's meta.json; re-run the trial")
    hparams = parse_json(folder / HPARAMS_FILE, files.hparams) if files.hparams is not None else {}
    evals = parse_eval_rows(folder / EVALS_FILE, files.evals) if files.evals is not None else []
    return {"folder": str(folder), "meta": meta, "hparams": hparams, "evals": evals}


def read_trial(folder: Path | str) -> dict[str, Any]:
    """Read one trial folder: {'meta', 'hparams', 'evals'}; CorruptLogError names the bad file."""
    return parse_trial(read_trial_files(folder))


def find_trial_folders(root: Path | str) -> list[Path]:
    """Every folder under `root` (itself included) that holds a meta.json, sorted."""
    root = Path(root)
    return sorted(p.parent for p in root.rglob(META_FILE) if CHECKPOINT_DIR not in p.parts)
