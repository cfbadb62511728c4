"""The submission process's own loop: it answers the harness's commands (harness/submission_process.py,
whose `__main__` runs `serve`) with the submission's side (harness/submission_side.py).

Answers go back as JSON headers, and arrays as NumPy `.npz` bytes, never as pickles. A
data-parallel rank's process joins its submission group (`init`'s `distributed`: rank, world,
local rank and the FileStore of the group, harness/data_parallel_process.py) before its workload is
made and before any submission code runs, so the workload's sharding and DDP work over the
submission processes, as they do over torchrun's ranks in one process.
"""

from __future__ import annotations

import io
import json
import traceback
from multiprocessing import reduction
from multiprocessing.connection import Connection
from typing import Any

import numpy as np

from harness import array_handoff, loader
from harness.submission_side import SubmissionSide


def serve(conn: Connection) -> None:
    """Answer the harness's commands until it closes the connection."""
    side = submission = None
    while True:
        try:
            command, args = conn.recv()
            if command == "start_training":  # its split's memory file follows the command
                args["train_split"] = array_handoff.from_memory_file(reduction.recv_handle(conn),
                                                                     args["train_split"])
        except EOFError:
            return
        arrays = None
        try:
            if command == "init":
                from harness import backends

                backend = backends.load_backend(args["framework"])
                if args["cores"]:
                    backend.configure_threads(len(args["cores"]))
                if args.get("distributed"):  # before the workload, which shards by its group
                    backend.init_distributed(**args["distributed"])
                side = SubmissionSide(backend, args["spec"], args["hyperparameters"],
                                      trains=args["trains"])  # False: the batch-size process
                submission = (args["submission_dir"], args["framework"])
                value = None
            elif command == "load":
                value = side.load(*submission)
            elif command in ("canonical", "snapshot_canonical"):
                arrays, value = getattr(side, command)(**args), None
            elif command == "optimizer_files":
                arrays = {name: np.frombuffer(data, dtype=np.uint8)
                          for name, data in side.optimizer_files().items()}
                value = None
            else:
                value = getattr(side, command)(**args)
            header = {"status": "ok", "value": value, "arrays": arrays is not None}
        except loader.SubmissionError as err:
            header = {"status": "submission_error", "message": str(err)}
        except BaseException:  # SystemExit and KeyboardInterrupt too: the harness ends the trial
            header = {"status": "error", "traceback": traceback.format_exc()}
        conn.send_bytes(json.dumps(header, default=_plain).encode())
        if header.get("arrays"):
            conn.send_bytes(_write_arrays(arrays))


def _write_arrays(arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")
