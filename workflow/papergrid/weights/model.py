"""The paper's MLP: input -> width -> width -> classes, ReLU, Glorot-uniform init, zero biases."""

from __future__ import annotations

import torch
from torch import nn

LAYERS = ("fc1", "fc2", "fc3")
STAMPED_LAYER = "fc2"  # the square hidden-to-hidden matrix carries the stamp


class MLP(nn.Module):
    def __init__(self, n_in: int, width: int, n_classes: int):
        super().__init__()
        self.fc1 = nn.Linear(n_in, width)
        self.fc2 = nn.Linear(width, width)
        self.fc3 = nn.Linear(width, n_classes)
        for layer in (self.fc1, self.fc2, self.fc3):
            # PyTorch's default is Kaiming-uniform with a=sqrt(5); the paper uses Glorot.
            nn.init.xavier_uniform_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, n_in) -> (B, n_classes) logits
        h = torch.relu(self.fc1(x))
        h = torch.relu(self.fc2(h))
        return self.fc3(h)

    def num_params(self) -> int:
        """All weights and biases (an MLP has no embeddings to exclude)."""
        return sum(p.numel() for p in self.parameters())


def count_params(n_in: int, width: int, n_classes: int) -> int:
    """Closed form of :meth:`MLP.num_params`."""
    return n_in * width + width + width * width + width + width * n_classes + n_classes
