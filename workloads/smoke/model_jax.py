"""Two-layer MLP in flax. Mirrors model_pytorch.py."""

import flax.linen as nn


class Model(nn.Module):
    hidden: int = 64
    in_features: int = 64
    num_classes: int = 10

    @nn.compact
    def __call__(self, x, train: bool):
        return nn.Dense(self.num_classes, name="head")(nn.relu(nn.Dense(self.hidden, name="hidden")(x)))
