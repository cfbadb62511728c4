"""Running AlgoPerf's own submission files: workload names for `get_batch_size`, the batch-size
rule, both API versions' signatures, and the detection of `jax.pmap` files. Framework-free.

An AlgoPerf file's `get_batch_size` knows AlgoPerf's workload names (`mnist`, `imagenet_resnet`,
...) and raises ValueError on ours. Like AlgoPerf's own runner, which retries a variant with its
base workload's name, `AlgoPerfSubmission.get_batch_size` retries with the AlgoPerf workload that
our family stands for (`ALGOPERF_WORKLOADS`; on KeyError too) and scales the answer (`scaled_batch_size`):

    ours = round(our baseline's batch size x the file's / AlgoPerf's baseline batch size)

so a file that keeps AlgoPerf's baseline batch size gets our baseline's, and one that doubles it
gets twice ours. meta.json records the rule, both names and all three numbers (`batch_size_rule`).
docs/algoperf.md explains the choice.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

from harness.spec import baseline_batch_size

# Our workload family -> the AlgoPerf workload it stands for.
ALGOPERF_WORKLOADS = {
    "smoke": "mnist", "cnn": "imagenet_resnet", "vit": "imagenet_vit", "gnn": "ogbg",
    "dlrm": "criteo1tb", "unet": "fastmri", "conformer": "librispeech_conformer",
    "deepspeech": "librispeech_deepspeech", "translate": "wmt", "lm": "finewebedu_lm",
}
# AlgoPerf's NAdamW baseline's global batch sizes (algorithms/baselines/*/..._nadamw_full_budget.py;
# `finewebedu_lm` from the competition repository's NAdamW baseline).
ALGOPERF_BASELINE_BATCH_SIZES = {
    "mnist": 16, "imagenet_resnet": 1024, "imagenet_vit": 1024, "ogbg": 512, "criteo1tb": 262_144,
    "fastmri": 32, "librispeech_conformer": 256, "librispeech_deepspeech": 256, "wmt": 128,
    "finewebedu_lm": 64,
}
# The modules that make a file AlgoPerf's (it is then loaded through AlgoPerfSubmission).
ALGOPERF_PACKAGES = ("algoperf", "algorithmic_efficiency")
RULE = "ours x file's / AlgoPerf baseline's, rounded, at least 1"


def our_baseline_batch_size(workload_name: str) -> int:
    """The batch size of our baselines on a workload (harness.spec)."""
    return baseline_batch_size(workload_name)


def scaled_batch_size(ours: int, theirs: int, algoperf_baseline: int) -> int:
    return max(1, round(ours * theirs / algoperf_baseline))


def imported_modules(path: Path) -> set[str]:
    """Top-level names of the modules a Python file imports (absolute imports only)."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError:
        return set()
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def is_algoperf_file(path: Path) -> bool:
    return bool(imported_modules(path) & set(ALGOPERF_PACKAGES))


def uses_pmap(path: Path) -> bool:
    """Whether a JAX file replicates its state over a leading device axis: it calls `jax.pmap`
    (or `pmap` imported from jax) or `flax.jax_utils.replicate`."""
    try:
        tree = ast.parse(path.read_text(), filename=str(path))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "pmap":
            return True
        if (isinstance(node, ast.ImportFrom) and node.module == "jax"
                and any(a.name == "pmap" for a in node.names)):
            return True
        if (isinstance(node, ast.Attribute) and node.attr == "replicate" and isinstance(node.value, ast.Name)
                and node.value.id == "jax_utils"):
            return True
    return False


def accepts(fn: Any, keyword: str) -> bool:
    """Whether `fn` takes `keyword` (by name or through **kwargs)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return True
    return keyword in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class AlgoPerfSubmission:
    """An AlgoPerf submission module as the runner calls it: every attribute is the module's,
    except `get_batch_size`, which maps and scales workload names as this module's docstring says.
    `batch_size_meta` holds what meta.json records about it (empty when the file knew our name)."""

    def __init__(self, module: ModuleType, path: Path):
        self._module, self._path = module, path
        self.batch_size_meta: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)

    def get_batch_size(self, workload_name: str) -> int:
        try:
            return self._module.get_batch_size(workload_name=workload_name)
        except (ValueError, KeyError) as err:  # AlgoPerf's way, or a dict lookup (its MNIST example)
            theirs_name = ALGOPERF_WORKLOADS.get(workload_name)
            if theirs_name is None or theirs_name == workload_name:
                raise ValueError(f"{self._path}: get_batch_size({workload_name!r}) raised "
                                 f"{type(err).__name__} ({err}) and the workload has no other "
                                 "AlgoPerf name; add it") from err
        try:
            theirs = int(self._module.get_batch_size(workload_name=theirs_name))
        except (ValueError, KeyError) as err:
            raise ValueError(f"{self._path}: get_batch_size knows neither {workload_name!r} nor "
                             f"AlgoPerf's {theirs_name!r} ({err}); add one of them to it") from err
        ours = our_baseline_batch_size(workload_name)
        baseline = ALGOPERF_BASELINE_BATCH_SIZES[theirs_name]
        size = scaled_batch_size(ours, theirs, baseline)
        self.batch_size_meta = {"batch_size_rule": {
            "rule": RULE, "workload": workload_name, "algoperf_workload": theirs_name,
            "file_batch_size": theirs, "algoperf_baseline_batch_size": baseline,
            "our_baseline_batch_size": ours, "global_batch_size": size}}
        return size
