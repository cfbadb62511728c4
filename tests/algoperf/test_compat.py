"""The compatibility layer's parts: the `algoperf` package, the checker and loader on AlgoPerf's
files and layouts, and the workload-name map with its batch-size rule."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness import algoperf_compat, checker
from harness.loader import check_submission, frameworks_of, load_submission, module_path

HERE = Path(__file__).parent


def test_the_packages_import_no_framework():
    code = ("import sys, algoperf.spec, algoperf.pytorch_utils, algoperf.jax_sharding_utils, "
            "algoperf.param_utils, algorithmic_efficiency.spec; "
            "print(sorted(m for m in ('torch', 'jax', 'tensorflow') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_spec_offers_algoperfs_names_with_the_harness_values():
    import algorithmic_efficiency.spec
    from algoperf import spec
    from harness import spec as ours

    assert algorithmic_efficiency.spec is spec
    assert spec.ForwardPassMode is ours.ForwardPassMode and spec.LossType is ours.LossType
    assert spec.TrainingCompleteError is ours.TrainingCompleteError
    assert spec.ShapeTuple((3, 4)).shape_tuple == (3, 4)
    for alias in ("Tensor", "ParameterContainer", "ParameterTypeTree", "ModelAuxiliaryState",
                  "OptimizerState", "Hyperparameters", "RandomState", "UpdateReturn", "Workload"):
        assert hasattr(spec, alias), alias


def test_pytorch_setup_follows_the_harness_ddp(monkeypatch):
    pytest.importorskip("torch")
    from algoperf.pytorch_utils import pytorch_setup

    monkeypatch.setenv("LOCAL_RANK", "0")  # torchrun with one process: no DDP in the harness
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert pytorch_setup()[:2] == (False, 0)
    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert pytorch_setup()[:2] == (True, 1)


def test_param_utils_types_from_names():
    from algoperf.param_utils import jax_param_types
    from algoperf.spec import ParameterType, ShapeTuple

    shapes = {"Dense_0": {"kernel": ShapeTuple((4, 3)), "bias": ShapeTuple((3,))},
              "bn": {"scale": ShapeTuple((3,)), "bias": ShapeTuple((3,))},
              "Conv_0": {"kernel": ShapeTuple((3, 3, 1, 8))}}
    types = jax_param_types(shapes)
    assert types["Dense_0"] == {"kernel": ParameterType.WEIGHT, "bias": ParameterType.BIAS}
    assert types["bn"] == {"scale": ParameterType.BATCH_NORM_SCALE, "bias": ParameterType.BATCH_NORM_BIAS}
    assert types["Conv_0"]["kernel"] == ParameterType.CONV_WEIGHT


def write(folder: Path, name: str, source: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(source))
    return path


def test_the_checker_accepts_algoperf_imports_and_schedules_only_from_optax(tmp_path):
    write(tmp_path, "pytorch/submission.py", """
        import optax
        import torch
        from absl import logging
        from algoperf import spec
        schedule = optax.join_schedules([optax.linear_schedule(0.0, 1.0, 5)], [])
        tx = optax.adam(1e-3)
        """)
    write(tmp_path, "jax/submission.py", """
        import chex
        import torch
        from algorithmic_efficiency import jax_sharding_utils
        """)
    found = [(v.path.parent.name, v.line, v.rule) for v in checker.check_package(tmp_path)]
    assert found == [("jax", 3, "other-framework"), ("pytorch", 7, "other-framework")]


def test_a_lone_submission_file_is_read_by_its_imports(tmp_path):
    write(tmp_path, "submission.py", "import jax\n")
    assert checker.framework_of_file(tmp_path, tmp_path / "submission.py") == "jax"
    assert frameworks_of(tmp_path) == ["jax"]
    assert module_path(tmp_path, "pytorch") == tmp_path / "submission_pytorch.py"  # missing


@pytest.mark.parametrize("name", ["nadamw_v06", "momentum_v05"])
def test_algoperf_layout_checks(name):
    folder = HERE / name
    assert frameworks_of(folder) == ["pytorch", "jax"]
    assert module_path(folder, "jax") == folder / "jax" / "submission.py"
    problems, ruleset = check_submission(folder)
    assert problems == [] and ruleset.startswith("external")


def test_get_batch_size_retries_with_algoperfs_name_and_scales(tmp_path):
    write(tmp_path, "submission_jax.py", """
        from algoperf import spec

        def get_batch_size(workload_name):
            sizes = {'mnist': 32, 'imagenet_resnet': 512}
            if workload_name not in sizes:
                raise ValueError(f'Unsupported workload name: {workload_name}.')
            return sizes[workload_name]

        def init_optimizer_state(workload, model_params, model_state, hyperparameters, rng):
            return {}

        def update_params(workload, current_param_container, current_params_types, model_state,
                          hyperparameters, batch, loss_type, optimizer_state, eval_results,
                          global_step, rng, train_state=None):
            return optimizer_state, current_param_container, model_state

        def data_selection(workload, input_queue, optimizer_state, current_param_container,
                           model_state, hyperparameters, global_step, rng):
            return next(input_queue)
        """)
    submission = load_submission(tmp_path, "jax")
    ours = algoperf_compat.our_baseline_batch_size
    # twice AlgoPerf's baseline on MNIST: twice ours on smoke; half on ImageNet: half of ours on cnn
    assert submission.get_batch_size(workload_name="smoke") == 2 * ours("smoke")
    assert submission.batch_size_meta["batch_size_rule"]["algoperf_workload"] == "mnist"
    assert submission.get_batch_size(workload_name="cnn") == ours("cnn") // 2
    with pytest.raises(ValueError, match="get_batch_size"):
        submission.get_batch_size(workload_name="gnn")  # ogbg: unknown to the file as well


def test_every_base_workload_has_an_algoperf_name_and_baseline_batch_size():
    from workloads.registry import PENDING, REGISTRY

    base_names = {spec.base_name for spec in [*REGISTRY.values(), *PENDING.values()]}
    assert set(algoperf_compat.ALGOPERF_WORKLOADS) == base_names
    algoperf_names = set(algoperf_compat.ALGOPERF_WORKLOADS.values())
    assert algoperf_names == set(algoperf_compat.ALGOPERF_BASELINE_BATCH_SIZES)
    assert algoperf_compat.scaled_batch_size(64, 16, 16) == 64
    assert algoperf_compat.scaled_batch_size(8, 1, 1024) == 1


def test_pmap_files_are_detected():
    assert algoperf_compat.uses_pmap(HERE / "momentum_v05" / "jax" / "submission.py")
    assert not algoperf_compat.uses_pmap(HERE / "nadamw_v06" / "jax" / "submission.py")


def test_a_dict_lookup_get_batch_size_is_retried_too(tmp_path):
    """AlgoPerf's MNIST example looks the name up in a dict: KeyError, not ValueError."""
    def get_batch_size(workload_name):
        return {"mnist": 8}[workload_name]

    module = type("Module", (), {"get_batch_size": staticmethod(get_batch_size)})
    submission = algoperf_compat.AlgoPerfSubmission(module, tmp_path / "submission.py")
    ours = algoperf_compat.our_baseline_batch_size("smoke")
    assert submission.get_batch_size(workload_name="smoke") == ours // 2


def test_tune_plans_an_algoperf_layout(tmp_path):
    from harness import study

    plan = study.build_plan(HERE / "momentum_v05", ["smoke"], ["pytorch", "jax"], out=tmp_path,
                            studies=1, trials=1)
    assert [(t.framework, t.ruleset) for t in plan.tasks] == [("pytorch", "external"), ("jax", "external")]
    assert plan.tasks[0].hyperparameters["end_factor"] == 0.01
