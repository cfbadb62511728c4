"""AlgoPerf's submission-side modules, so that AlgoPerf's own submission files run unchanged.

An AlgoPerf submission imports `algoperf.spec` (types, enums, `TrainingCompleteError`),
`algoperf.pytorch_utils.pytorch_setup`, `algoperf.jax_sharding_utils` and a few more; this package
provides them on top of algobench's harness (`harness.spec`) and workloads, written from AlgoPerf's
documented API. No module here imports torch or JAX at import time: the framework is imported
inside the functions that need it, so a JAX run never imports torch and vice versa.
docs/algoperf.md says what runs and what does not.
"""
