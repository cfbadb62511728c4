"""The digest chain of a trial's logs: the per-plan key and the chain's links (docs/integrity.md).

Every eval row of `eval_measurements.csv` and every line of `events.jsonl` carries a `digest`:
HMAC-SHA256, under the plan's key, of the digest before it in the same file and of its own
content in a canonical form. The first link of each file follows the trial's *genesis*, a digest
of the trial's place in the plan (`<submission>/<ruleset>/<framework>/<workload>/study_<s>/trial_<t>`),
so that a valid log copied into another trial's folder does not verify there. `meta.json`
records both chains' heads and digests of `hparams.json` and of itself (`integrity`).

The key is 32 random bytes written once, by `write_plan`, to `OUT/integrity.key` beside
`plan.json`: outside every trial folder. A trial with no plan above it (`algobench run`, or a
folder made by hand) gets a plain SHA-256 chain (no key): it proves the files are consistent,
not who wrote them, and scoring counts such a trial as unverified.

The standard library's `hmac` and `hashlib` do the cryptography; this module only fixes what is
hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

KEY_FILE = "integrity.key"
PLAN_FILE = "plan.json"  # the same name as harness.study.PLAN_FILE (study imports this module's users)
DIGEST = "digest"  # the field (CSV column, JSON key) that carries a row's or an event's digest
KEYED, PLAIN = "hmac-sha256", "sha256"
TRIAL_DEPTH = 6  # OUT/<submission>/<ruleset>/<framework>/<workload>/study_<s>/trial_<t>


def plan_root(trial_folder: Path | str) -> Path | None:
    """The output folder of the plan a trial folder belongs to (the one holding plan.json
    `TRIAL_DEPTH` levels up), or None for a trial outside any plan."""
    parents = Path(trial_folder).resolve().parents
    if len(parents) <= TRIAL_DEPTH - 1:
        return None
    root = parents[TRIAL_DEPTH - 1]
    return root if (root / PLAN_FILE).is_file() else None


def trial_key(trial_folder: Path | str) -> str:
    """The trial's place in its plan: the last `TRIAL_DEPTH` parts of its folder."""
    return "/".join(Path(trial_folder).resolve().parts[-TRIAL_DEPTH:])


def ensure_key(plan_dir: Path | str) -> Path:
    """Write the plan's key to PLAN_DIR/integrity.key unless it is there (readable by its owner
    only); return its path. Created exclusively, so two planners racing keep one key."""
    path = Path(plan_dir) / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return path


def read_key(plan_dir: Path | str | None) -> bytes | None:
    """The plan's key, or None where the plan (or its key file) is absent."""
    if plan_dir is None:
        return None
    path = Path(plan_dir) / KEY_FILE
    try:
        return bytes.fromhex(path.read_text(encoding="ascii").strip())
    except FileNotFoundError:
        return None
    except (ValueError, UnicodeDecodeError) as err:
        raise ValueError(f"{path}: not a key written by algobench ({err}); restore it from a "
                         "backup, or re-run the plan into a new folder") from err


class Chain:
    """The links of one trial's digest chains: keyed (HMAC-SHA256) or plain (SHA-256)."""

    def __init__(self, key: bytes | None, trial: str):
        self.key = key
        self.scheme = KEYED if key is not None else PLAIN
        self.genesis = self.digest("algobench trial " + trial)

    @classmethod
    def for_folder(cls, trial_folder: Path | str) -> "Chain":
        return cls(read_key(plan_root(trial_folder)), trial_key(trial_folder))

    def digest(self, text: str) -> str:
        data = text.encode("utf-8")
        if self.key is None:
            return hashlib.sha256(data).hexdigest()
        return hmac.new(self.key, data, hashlib.sha256).hexdigest()

    def link(self, previous: str | None, content: str) -> str:
        """The digest of an entry whose predecessor's digest is `previous` (None: the first)."""
        return self.digest(f"{previous or self.genesis}\n{content}")


def canonical_json(obj: Any) -> str:
    """One text per JSON value: sorted keys, no spaces (what a digest of a JSON object covers)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def without_digest(entry: dict) -> dict:
    return {k: v for k, v in entry.items() if k != DIGEST}
