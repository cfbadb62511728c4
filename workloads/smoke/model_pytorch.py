"""Two-layer MLP in PyTorch. Mirrors model_jax.py."""

import torch.nn.functional as F
from torch import nn


class Model(nn.Module):
    def __init__(self, hidden=64, in_features=64, num_classes=10):
        super().__init__()
        self.hidden = nn.Linear(in_features, hidden)
        self.head = nn.Linear(hidden, num_classes)

    def forward(self, x):
        return self.head(F.relu(self.hidden(x)))
