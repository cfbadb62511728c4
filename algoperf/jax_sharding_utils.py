"""AlgoPerf's `jax_sharding_utils`: shardings on the one-axis `batch` mesh of all devices.

algobench's JAX workloads place parameters replicated and batches split along their first axis
on `Mesh(jax.devices(), ("batch",))` (workloads/jax_workload.py); these helpers name the same two
shardings, so a submission that jits with them sees the arrays where they already are.
"""

from __future__ import annotations


def _mesh():
    import jax
    import numpy as np
    from jax.sharding import Mesh

    return Mesh(np.array(jax.devices()), ("batch",))


def get_replicate_sharding():
    """Every device holds the whole array."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(_mesh(), PartitionSpec())


def get_batch_dim_sharding():
    """The first axis split over the devices."""
    from jax.sharding import NamedSharding, PartitionSpec

    return NamedSharding(_mesh(), PartitionSpec("batch"))


def shard_along_batch_dim(tree):
    import jax

    sharding = get_batch_dim_sharding()
    return jax.tree.map(lambda x: jax.device_put(x, sharding), tree)


def replicate(tree):
    import jax

    sharding = get_replicate_sharding()
    return jax.tree.map(lambda x: jax.device_put(x, sharding), tree)


def display_shard_info(x) -> None:
    for shard in x.addressable_shards:
        print(f"shard.device: {shard.device}, index: {shard.index}, replica_id: {shard.replica_id}.")
