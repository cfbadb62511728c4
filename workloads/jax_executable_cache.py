"""Compiled JAX functions kept on disk between processes, for the harness's eval forward.

A JAX trial compiles its eval forward at its first eval (0.2-0.4 s of XLA on this project's
workloads, on a 2-core host), although every trial of a workload compiles the same program. A
`CachedJit` compiles a jitted function once per host and program and keeps the executable in a
file; the next process that lowers the same program on the same kind of host loads it instead
(about 0.015 s).

Written here rather than with JAX's own persistent compilation cache (`jax_compilation_cache_dir`)
because that one is a switch for the whole process: in a trial whose submission runs in the
harness's process (`run_trial(..., isolation="in-process")`, `algobench audit`) it would also
cache the submission's own compilations, which its first steps pay on the clock. This cache holds
only the functions the harness wraps in it. jax.experimental.serialize_executable does the
(de)serializing.

An entry is `<directory>/<key>.pkl`, written atomically. `key` is the SHA-256 of the lowered
program's text (its shapes, dtypes and shardings included), the jax and jaxlib versions, the
backend's platform and version, the devices' kinds, `XLA_FLAGS`, and `host_key` (the caller's
name for the kind of host: an XLA:CPU executable is compiled for the host's vector instructions).
Loading an entry runs code it holds, so `directory` must be writable by the harness only: the
harness puts it in its data cache, which a sandboxed submission cannot see (harness/sandbox.py).
An entry that fails to load is compiled again and replaced.
"""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path
from typing import Any, Callable

import jax
import jaxlib
from jax.experimental import serialize_executable

from workloads.data.atomic import atomic_write
from workloads.data.cache import params_key


class CachedJit:
    """`jitted(*args)`, with its executable per argument signature loaded from `directory` when
    an earlier process compiled it there. Arguments that are not all JAX arrays (NumPy arrays,
    Python scalars: placed by jit itself) go to `jitted` uncached."""

    def __init__(self, jitted: Callable, directory: Path, host_key: str):
        self.jitted, self.directory, self.host_key = jitted, Path(directory), host_key
        self._executables: dict[tuple, Any] = {}

    def __call__(self, *args: Any) -> Any:
        leaves, tree = jax.tree.flatten(args)
        if not all(isinstance(leaf, jax.Array) for leaf in leaves):
            return self.jitted(*args)
        signature = (tree, *((leaf.shape, leaf.dtype, leaf.sharding) for leaf in leaves))
        executable = self._executables.get(signature)
        if executable is None:
            executable = self._executables[signature] = self._load_or_compile(args)
        return executable(*args)

    def key(self, lowered: Any) -> str:
        devices = jax.devices()
        return params_key({"program": lowered.as_text(), "jax": jax.__version__,
                           "jaxlib": jaxlib.__version__, "platform": devices[0].client.platform,
                           "platform_version": devices[0].client.platform_version,
                           "devices": [d.device_kind for d in devices],
                           "xla_flags": os.environ.get("XLA_FLAGS", ""), "host": self.host_key})

    def _load_or_compile(self, args: tuple) -> Any:
        lowered = self.jitted.lower(*args)
        path = self.directory / f"{self.key(lowered)}.pkl"
        if path.exists():
            try:
                with open(path, "rb") as f:
                    payload, in_tree, out_tree = pickle.load(f)
                return serialize_executable.deserialize_and_load(payload, in_tree, out_tree)
            except Exception as err:  # a truncated or stale entry: compile it again below
                warnings.warn(f"{path}: unreadable compiled executable ({err}); compiling it again")
        compiled = lowered.compile()
        try:
            serialized = serialize_executable.serialize(compiled)
            self.directory.mkdir(parents=True, exist_ok=True)
            atomic_write(path, lambda f: pickle.dump(serialized, f, pickle.HIGHEST_PROTOCOL))
        except (OSError, ValueError, NotImplementedError) as err:  # read-only cache, unserializable
            warnings.warn(f"{path}: compiled executable not kept ({err})")
        return compiled
