"""Verify a trial folder's digest chain and its place in its plan (docs/integrity.md).

`verify_trial(folder)` returns a `Verdict` (`read_and_verify(folder)` also returns the files' bytes
it verified, which scoring parses: each file is read once):
- `verified`: every eval row and event links to the one before it under the plan's key, meta.json
  records the chains' heads and hparams.json's digest, and plan.json lists the trial with the
  hyperparameters and seed it ran.
- `unverified`: logs from before digest chains (no `integrity` in meta.json, no digest anywhere),
  or a plain SHA-256 chain that anyone can recompute and that is consistent: a trial outside any
  plan (`algobench run`), or under a plan without a key (planned before keys existed).
  Scoring counts them and says so; only a verified trial proves that the harness wrote it.
- `rejected`: anything else: a digest that does not verify, a row or event without one, a
  trial under a plan that does not list it (or lists other hyperparameters), a plan whose key is
  gone, missing or garbled events, duplicated eval rows. The reason names the file and the fix.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import digests
from harness.logs import (EVALS_FILE, EVENTS_FILE, HPARAMS_FILE, META_FILE, CorruptLogError,
                          TrialFiles, json_content, parse_json, read_json, read_trial_files,
                          row_content)

VERIFIED, UNVERIFIED, REJECTED = "verified", "unverified", "rejected"
RERUN = "re-run the trial with `algobench tune` into a new folder"


@dataclass(frozen=True)
class Verdict:
    status: str  # VERIFIED, UNVERIFIED or REJECTED
    reason: str = ""  # why it is not verified ("" when it is)


def _raw_rows(data: bytes) -> list[dict[str, str]]:
    """eval_measurements.csv's rows as the file spells them (empty cells left out)."""
    with io.StringIO(data.decode("utf-8"), newline="") as f:  # as open(path, newline="")
        reader = csv.reader(f)
        header = next(reader, None) or []
        return [{k: v for k, v in zip(header, values) if v != ""} for values in reader]


def _raw_events(path: Path, data: bytes) -> list[dict[str, Any]]:
    """events.jsonl's events from its bytes (`data`, read from `path`)."""
    events = []
    with io.StringIO(data.decode("utf-8")) as f:  # lines as open(path) splits them
        for line_no, line in enumerate(f, start=1):
            try:
                event = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorruptLogError(f"{path}:{line_no}: not JSON ({err.msg}); {RERUN}") from err
            if not isinstance(event, dict):
                raise CorruptLogError(f"{path}:{line_no}: not an event object; {RERUN}")
            events.append(event)
    return events


def _check_chain(chain: digests.Chain, path: Path, entries: list[dict], content) -> list[str]:
    """The digests of a file's entries, each checked against the one before it."""
    found, previous = [], None
    for number, entry in enumerate(entries, start=1):
        recorded = entry.get(digests.DIGEST)
        if not recorded:
            raise CorruptLogError(f"{path}: entry {number} has no digest; {RERUN}")
        if recorded != chain.link(previous, content(entry)):
            raise CorruptLogError(f"{path}: entry {number}'s digest does not verify (edited, "
                                  f"reordered or written without the plan's key); {RERUN}")
        found.append(recorded)
        previous = recorded
    return found


def _duplicate_rows(path: Path, rows: list[dict[str, str]]) -> None:
    seen = set()
    for number, row in enumerate(rows, start=1):
        key = (row.get("global_step"), row.get("snapshot", "0"))
        if key in seen:
            raise CorruptLogError(f"{path}: row {number} repeats global_step {key[0]}; {RERUN}")
        seen.add(key)


@functools.lru_cache(maxsize=16)
def _plan_entries(plan_path: Path, mtime_ns: int, size: int) -> dict[str, dict]:
    """plan.json's trial entries by folder, parsed once per version of the file (scoring checks
    every trial of a plan against it); `mtime_ns` and `size` make a rewritten plan a new entry."""
    plan = read_json(plan_path)
    if not isinstance(plan, dict):
        return {}
    return {e.get("folder"): e for e in (plan.get("trials") or []) if isinstance(e, dict)}


def _check_plan(folder: Path, root: Path, meta: dict, hparams: Any) -> None:
    """The plan at `root` lists this trial, with the hyperparameters and seed it ran."""
    plan_path = root / digests.PLAN_FILE
    stat = plan_path.stat()
    key = folder.resolve().relative_to(root).as_posix()
    entry = _plan_entries(plan_path, stat.st_mtime_ns, stat.st_size).get(key)
    if entry is None:
        raise CorruptLogError(f"{folder}: not a trial of the plan in {plan_path} (not written by a "
                              f"run of that plan); {RERUN}")
    if entry.get("hyperparameters") != hparams:
        raise CorruptLogError(f"{folder / HPARAMS_FILE}: not the hyperparameters {plan_path} "
                              f"planned for {key}; {RERUN}")
    for name in ("workload", "framework", "ruleset", "study", "trial", "seed"):
        if name in entry and entry[name] != meta.get(name):
            raise CorruptLogError(f"{folder / META_FILE}: {name} {meta.get(name)!r} differs from "
                                  f"{plan_path}'s {entry[name]!r} for {key}; {RERUN}")


def verify_trial(folder: Path | str) -> Verdict:
    """Check one trial folder's digests and plan membership (module docstring)."""
    return read_and_verify(folder)[1]


def read_and_verify(folder: Path | str) -> tuple[TrialFiles | None, Verdict]:
    """Read a trial folder's files once and verify those bytes: (files, verdict); scoring parses
    the same `files` (`harness.logs.parse_trial`). `files` is None where they could not be read."""
    folder = Path(folder)
    try:
        files = read_trial_files(folder)
    except OSError as err:
        return None, Verdict(REJECTED, f"{folder}: unreadable ({err}); {RERUN}")
    try:
        return files, _verify(files)
    except CorruptLogError as err:
        return files, Verdict(REJECTED, str(err))
    except (OSError, UnicodeDecodeError, ValueError) as err:
        return files, Verdict(REJECTED, f"{folder}: unreadable ({err}); {RERUN}")


def _verify(files: TrialFiles) -> Verdict:
    folder = files.folder
    meta = parse_json(folder / META_FILE, files.meta)
    if not isinstance(meta, dict):
        raise CorruptLogError(f"{folder / META_FILE}: not an object; {RERUN}")
    evals_path, events_path = folder / EVALS_FILE, folder / EVENTS_FILE
    rows = _raw_rows(files.evals) if files.evals is not None else []
    _duplicate_rows(evals_path, rows)
    if rows and files.events is None:
        raise CorruptLogError(f"{events_path}: missing while {EVALS_FILE} has rows; {RERUN}")
    events = _raw_events(events_path, files.events) if files.events is not None else []
    hparams = parse_json(folder / HPARAMS_FILE, files.hparams) if files.hparams is not None else None
    record = meta.get("integrity")
    root = digests.plan_root(folder)
    key = digests.read_key(root)
    if record is None:
        if any(digests.DIGEST in r for r in rows) or any(digests.DIGEST in e for e in events):
            raise CorruptLogError(f"{folder / META_FILE}: no `integrity` record while its rows "
                                  f"carry digests; {RERUN}")
        if key is not None:
            raise CorruptLogError(f"{folder}: no digests although its plan has a key (not written "
                                  f"by a run of the plan); {RERUN}")
        return Verdict(UNVERIFIED, f"{folder}: logs without digests (written before digest "
                                   f"chains); {RERUN} to score it verified")
    if not isinstance(record, dict):
        raise CorruptLogError(f"{folder / META_FILE}: `integrity` is not an object; {RERUN}")
    scheme = digests.KEYED if key is not None else digests.PLAIN
    if record.get("scheme") != scheme:
        raise CorruptLogError(f"{folder / META_FILE}: digest scheme {record.get('scheme')!r}, "
                              f"expected {scheme!r} (not written by a run of its plan); {RERUN}")
    chain = digests.Chain(key, digests.trial_key(folder))
    claimed = {k: v for k, v in record.items() if k != "meta"}
    if record.get("meta") != chain.digest(json_content({**meta, "integrity": claimed})):
        raise CorruptLogError(f"{folder / META_FILE}: its digest does not verify (edited after "
                              f"the run); {RERUN}")
    expected_hparams = chain.digest(json_content(hparams)) if hparams is not None else None
    if record.get("hparams") != expected_hparams:
        raise CorruptLogError(f"{folder / HPARAMS_FILE}: its digest does not match meta.json's; "
                              f"{RERUN}")
    row_digests = _check_chain(chain, evals_path, rows, row_content)
    if record.get("evals_head") != (row_digests[-1] if row_digests else None):
        raise CorruptLogError(f"{evals_path}: its last row is not the one meta.json records (rows "
                              f"added or removed after the run); {RERUN}")
    event_digests = _check_chain(chain, events_path, events, json_content)
    # the executors may log an event (`interrupted`) after meta.json: the head is in the chain
    if record.get("events_head") is not None and record["events_head"] not in event_digests:
        raise CorruptLogError(f"{events_path}: meta.json's last event is not in it (events "
                              f"removed after the run); {RERUN}")
    if key is None:  # a plain chain: anyone can recompute it, so plan membership proves nothing
        where = (f"its plan has no {digests.KEY_FILE} (planned before digest keys, or the key was "
                 "removed)" if root is not None else
                 f"not under a plan (no plan.json {digests.TRIAL_DEPTH} levels up)")
        return Verdict(UNVERIFIED, f"{folder}: {where}: its plain digest chain shows the files "
                                   f"agree, not who wrote them; {RERUN} to score it verified")
    _check_plan(folder, root, meta, hparams)
    return Verdict(VERIFIED)
