"""Data sources by name: each returns {'train'|'validation'|'test': {'inputs', 'targets'}} in NumPy.

`data_dir` is the user's override of where a source's files live (ignored by generated sources).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from workloads.data import load_digits, load_fashion_mnist

Splits = dict[str, dict[str, np.ndarray]]


def _fashion_mnist(data_dir: str | None = None) -> Splits:
    return load_fashion_mnist(data_dir)


def _digits(data_dir: str | None = None) -> Splits:
    return load_digits()


def _click_logs(data_dir: str | None = None) -> Splits:
    from workloads.data.click_logs import load_click_logs

    return load_click_logs()


def _nci_molecules(data_dir: str | None = None) -> Splits:
    from workloads.data.molecules import load_molecules

    return load_molecules()


def _shakespeare(data_dir: str | None = None) -> Splits:
    from workloads.data.shakespeare import load_shakespeare

    return load_shakespeare()


def _cmudict(data_dir: str | None = None) -> Splits:
    from workloads.data.cmudict_g2p import load_cmudict_g2p

    return load_cmudict_g2p()


def _mri_phantoms(data_dir: str | None = None) -> Splits:
    from workloads.data.phantoms import load_phantoms

    return load_phantoms()


def _espeak_speech(data_dir: str | None = None) -> Splits:
    from workloads.data.speech import load_speech

    return load_speech()


SOURCES: dict[str, Callable[..., Splits]] = {
    "fashion_mnist": _fashion_mnist,
    "digits": _digits,
    "nci_molecules": _nci_molecules,
    "click_logs": _click_logs,
    "shakespeare": _shakespeare,
    "cmudict": _cmudict,
    "mri_phantoms": _mri_phantoms,
    "espeak_speech": _espeak_speech,
}


def load_source(name: str, data_dir: str | None = None) -> Splits:
    if name not in SOURCES:
        raise KeyError(f"unknown data source {name!r}; known: {sorted(SOURCES)}")
    return SOURCES[name](data_dir)
