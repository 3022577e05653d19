"""TokenFormer's parameter attention (Wang et al. 2024, arXiv 2410.23168).

``Pattention(x) = Theta(x K^T) V``: each input token's scores against ``n`` learnable key
tokens go through a score function Theta (not a softmax: see
:data:`papergrid.lm.config.NORMS`) and weight ``n`` learnable value tokens. The scale of
Theta (sqrt(n) for the L2 forms, n for the L1 forms) is a buffer, ``scale_tokens``, so that
a grown layer can keep the scale of the layer it grew from (App. B: the function is then
preserved when the new keys are zero) or recompute it from the new count, as the official
code does (papers.md, TokenFormer).

:func:`mlp_form` is the critique's reading of the same layer: a bias-free linear map to
``n`` hidden units, a gainless RMS normalisation over them, GeLU, and a second linear map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.config import NORMS

__all__ = ["Pattention", "SplitProjection", "mlp_form", "theta"]


def theta(scores: torch.Tensor, norm: str, scale_tokens: float) -> torch.Tensor:
    """Theta over the last axis of ``scores`` (one row of n scores per input token)."""
    if norm == "l2_gelu":
        unit = scores / scores.norm(p=2, dim=-1, keepdim=True)
        return F.gelu(unit * math.sqrt(scale_tokens))
    if norm == "gelu_l2":
        g = F.gelu(scores)
        return g / g.norm(p=2, dim=-1, keepdim=True) * math.sqrt(scale_tokens)
    if norm == "gelu_l1":
        g = F.gelu(scores)
        return g / g.norm(p=1, dim=-1, keepdim=True) * scale_tokens
    if norm == "softmax":
        return F.softmax(scores, dim=-1) * scale_tokens
    raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")


class Pattention(nn.Module):
    """Parameter attention from ``d_in`` to ``d_out`` features over ``n_tokens`` key/value
    parameter tokens."""

    def __init__(self, d_in: int, d_out: int, n_tokens: int, norm: str = "l2_gelu"):
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"norm must be one of {NORMS}, got {norm!r}")
        self.norm = norm
        self.key = nn.Parameter(torch.empty(n_tokens, d_in))
        self.value = nn.Parameter(torch.empty(n_tokens, d_out))
        # a float buffer: saved with the weights, so a grown model reloads with its scale
        self.register_buffer("scale_tokens", torch.tensor(float(n_tokens)))
        nn.init.normal_(self.key, std=0.02)  # the official code's init for both
        nn.init.normal_(self.value, std=0.02)

    @property
    def n_tokens(self) -> int:
        return self.key.size(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = x @ self.key.t()  # (..., n)
        return theta(scores, self.norm, float(self.scale_tokens)) @ self.value

    def extra_repr(self) -> str:
        d_in, d_out = self.key.size(1), self.value.size(1)
        return f"{d_in} -> {d_out}, tokens={self.n_tokens}, norm={self.norm}"


class SplitProjection(nn.Module):
    """Separate layers whose outputs are concatenated: TokenFormer's Q, K and V are three
    parameter attentions where GPT-2 has one fused linear map."""

    def __init__(self, parts: dict[str, nn.Module]):
        super().__init__()
        self.parts = nn.ModuleDict(parts)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([part(x) for part in self.parts.values()], dim=-1)


def mlp_form(x: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    """The critique's MLP with the layer's weights: Linear(K) -> RMSNorm without gain or
    epsilon over the n hidden units -> GeLU -> Linear(V). Equals ``Pattention`` with the
    default Theta (l2_gelu) and an unchanged scale."""
    h = F.linear(x, key)  # (..., n)
    rms = h.pow(2).mean(dim=-1, keepdim=True).sqrt()
    return F.linear(F.gelu(h / rms), value.t())
