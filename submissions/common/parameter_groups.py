"""Which parameters Muon orthogonalizes, decided alike in both frameworks from what every workload
exposes: a parameter's name, its AlgoPerf type (`workload.model_params_types`) and its rank. No
framework imports here.

Jordan et al.'s recipe (2024, "Muon: An optimizer for hidden layers in neural networks"): Muon for
the hidden layers' weight matrices, convolution kernels included (flattened to one matrix each);
AdamW for the input embeddings, the output layer, biases, norms' gains and every other parameter
that is not a matrix. Names are read with the workloads' naming conventions, which both frameworks
share: input embeddings have the type EMBEDDING or `embed` in a layer's name (token, position,
patch and node embeddings); the output layer is a top-level layer named `head` (most workloads),
`decoder` (gnn) or `out_conv` (unet), with its parameters directly under it (translate's `decoder`
is a stack of hidden layers: `decoder/0/...`).
"""

from __future__ import annotations

import re

from harness.spec import ParameterType

MATRIX_TYPES = (ParameterType.WEIGHT, ParameterType.CONV_WEIGHT)
OUTPUT_LAYERS = ("head", "decoder", "out_conv")
EMBEDDING_MARK = "embed"


def is_hidden_matrix(name: str, param_type: ParameterType, ndim: int) -> bool:
    """Whether Muon updates the parameter `name` (path parts joined by '/' or '.'): a dense weight
    (rank 2) or a convolution kernel (rank > 2) of a hidden layer. Weights of type WEIGHT but
    another rank (a class token) are left to AdamW."""
    parts = re.split(r"[/.]", name)
    if param_type not in MATRIX_TYPES or any(EMBEDDING_MARK in part for part in parts):
        return False
    if len(parts) == 2 and parts[0] in OUTPUT_LAYERS:
        return False
    return ndim == 2 if param_type == ParameterType.WEIGHT else ndim > 2
