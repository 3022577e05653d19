"""The three architectures of the TokenFormer grid, built on :class:`papergrid.lm.model.GPT`.

- ``pattention``: TokenFormer's parameter attention with Theta of ``model.norm`` (Eq 16);
- ``gelu``: the same shapes and initialisation with Theta replaced by a plain GeLU of the
  scores (no normalisation, no scale): ``GeLU(x K^T) V`` is a bias-free two-layer MLP of
  ``n`` hidden units, so ``pattention`` against ``gelu`` isolates Theta's normalisation;
- ``linear``: the standard transformer (its feed-forward width sets equal N, grid.py).

``layer_norm: plain`` gives every LayerNorm no gain and no bias, as the official code
(papers.md: "LayerNorm is non-parametric"); ``affine`` is GPT-2's. The swap is made after
the shared model is built, so the shared model code, which every experiment's training
hashes, is untouched.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.config import GPTConfig
from papergrid.lm.model import GPT
from papergrid.lm.pattention import Pattention

LAYERS = ("pattention", "gelu", "linear")
LAYER_NORMS = ("plain", "affine")


class GeluPattention(Pattention):
    """A parameter attention whose Theta is a plain GeLU: ``GeLU(x K^T) V``."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(x @ self.key.t()) @ self.value  # (..., n) -> (..., d_out)


def layer_norms(cfg: GPTConfig) -> int:
    """LayerNorms of a GPT: two per block and the final one."""
    return 2 * cfg.n_layer + 1


def non_embedding_params(cfg: GPTConfig, layer_norm: str) -> int:
    """N of :func:`build`'s model from the shape alone (a plain LayerNorm has no weights)."""
    gains = 0 if layer_norm == "affine" else layer_norms(cfg) * 2 * cfg.d_model
    return cfg.non_embedding_params - gains


def build(cfg: GPTConfig, layer: str, layer_norm: str) -> GPT:
    """A GPT of shape ``cfg`` (``cfg.layer`` pattention for the ``gelu`` layer too)."""
    if layer not in LAYERS:
        raise ValueError(f"layer must be one of {LAYERS}, got {layer!r}")
    if layer_norm not in LAYER_NORMS:
        raise ValueError(f"layer_norm must be one of {LAYER_NORMS}, got {layer_norm!r}")
    if (cfg.layer == "linear") != (layer == "linear"):
        raise ValueError(f"layer {layer!r} needs GPTConfig.layer of its kind, got {cfg.layer!r}")
    model = GPT(cfg)
    if layer == "gelu":
        for module in model.modules():
            if type(module) is Pattention:
                module.__class__ = GeluPattention  # same parameters, another forward
    if layer_norm == "plain":
        for block in model.blocks:
            block.ln_1 = nn.LayerNorm(cfg.d_model, elementwise_affine=False)
            block.ln_2 = nn.LayerNorm(cfg.d_model, elementwise_affine=False)
        model.ln_f = nn.LayerNorm(cfg.d_model, elementwise_affine=False)
    return model


def builder(layer: str, layer_norm: str):
    """``cfg -> GPT`` for :func:`papergrid.lm.growth.grow`: a grown model is built the way
    its parent was."""
    return lambda cfg: build(cfg, layer, layer_norm)
