"""AlgoPerf's package under its v0.5 name: `algorithmic_efficiency.spec` and friends are the
modules of `algoperf` (this package's submodules are those same module objects)."""

import importlib
import sys

for _name in ("spec", "pytorch_utils", "jax_sharding_utils", "param_utils"):
    _module = importlib.import_module(f"algoperf.{_name}")
    sys.modules[f"{__name__}.{_name}"] = _module
    globals()[_name] = _module
