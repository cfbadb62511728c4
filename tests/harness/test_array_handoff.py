"""harness/array_handoff.py: arrays cross into a sealed memory file and come back as the same
arrays, writable in the receiving process without reaching the file; a descriptor passed over a
socket pair, as to the submission process, carries them."""

from __future__ import annotations

import fcntl
import os
import socket
from multiprocessing import reduction
from multiprocessing.connection import Connection

import numpy as np
import pytest

from harness import array_handoff


def arrays():
    rng = np.random.default_rng(0)
    return {"inputs": rng.standard_normal((7, 3, 5)).astype(np.float32),
            "targets": rng.integers(0, 9, 7),
            "weights": np.asfortranarray(rng.random((4, 6))),  # any layout in, C order out
            "mask": np.arange(10) % 3 == 0, "empty": np.zeros((0, 4), np.int16),
            "scalar": np.float64(2.5)}


def test_arrays_come_back_the_same_aligned_and_privately_writable():
    given = arrays()
    fd, layout = array_handoff.to_memory_file(given)
    check = os.dup(fd)
    got = array_handoff.from_memory_file(fd, layout)
    assert list(got) == list(given)
    for name, a in given.items():
        assert got[name].dtype == np.asarray(a).dtype and np.array_equal(got[name], a), name
    assert all(start % array_handoff.ALIGN == 0 for *_, start in layout)
    got["inputs"][0, 0, 0] = 123.0  # the process's own copy of the page: the file stays sealed
    assert fcntl.fcntl(check, fcntl.F_GET_SEALS) & array_handoff.SEALS == array_handoff.SEALS
    again = array_handoff.from_memory_file(os.dup(check), layout)
    assert again["inputs"][0, 0, 0] == given["inputs"][0, 0, 0]
    with pytest.raises(PermissionError):
        os.write(check, b"x")
    os.close(check)


def test_object_arrays_are_refused():
    with pytest.raises(ValueError, match="Python objects"):
        array_handoff.to_memory_file({"names": np.array(["a", None], dtype=object)})


def test_the_descriptor_follows_a_message_over_a_socket_pair():
    ours, theirs = socket.socketpair()
    sender, receiver = Connection(ours.detach()), Connection(theirs.detach())
    fd, layout = array_handoff.to_memory_file(arrays())
    sender.send(("start_training", {"train_split": layout}))
    reduction.send_handle(sender, fd, os.getpid())
    os.close(fd)
    command, args = receiver.recv()
    got = array_handoff.from_memory_file(reduction.recv_handle(receiver), args["train_split"])
    assert command == "start_training" and np.array_equal(got["targets"], arrays()["targets"])
    sender.send("next")  # the stream goes on after the descriptor
    assert receiver.recv() == "next"
    sender.close(), receiver.close()
