"""Fake quantisation for training (QAT) and round-to-nearest post-training quantisation.

Kumar et al.'s quantiser (their Sec. D): symmetric integer with ``b`` bits, scale
s = Q_p / max|x| with Q_p = 2^(b-1) - 1, round, clamp to [-2^(b-1), Q_p], dequantise.
Weights are quantised per output channel, activations per tensor, on the forward pass
only: the gradient passes straight through (torch's fake-quantise ops implement exactly
that inside the clamp range, and with s taken from max|x| nothing falls outside it).
Floating-point formats (e2m1, e3m2, e4m3...) are scaled the same way and rounded by
:mod:`papergrid.precision.formats`.
"""

from __future__ import annotations

import torch
from torch import nn

from papergrid.lm.model import LinearFactory
from papergrid.precision.formats import fake_quant_float, get_format


def qmax(bits: int) -> int:
    if not 2 <= bits <= 16:
        raise ValueError(f"bits must be in [2, 16], got {bits}")
    return 2 ** (bits - 1) - 1


def _scale(absmax: torch.Tensor, bits: int) -> torch.Tensor:
    # the scale is data, not a parameter: no gradient flows into max|x|
    return (absmax.detach() / qmax(bits)).clamp_min(1e-12)


def fake_quant_per_tensor(x: torch.Tensor, bits: int) -> torch.Tensor:
    scale = _scale(x.abs().max(), bits).float()
    zero = torch.zeros((), dtype=torch.int32, device=x.device)
    return torch.fake_quantize_per_tensor_affine(
        x.float(), scale, zero, -(2 ** (bits - 1)), qmax(bits)
    ).to(x.dtype)


def fake_quant_per_channel(w: torch.Tensor, bits: int, axis: int = 0) -> torch.Tensor:
    dims = [d for d in range(w.dim()) if d != axis]
    scale = _scale(w.abs().amax(dim=dims), bits).float()
    zero = torch.zeros(scale.shape, dtype=torch.int32, device=w.device)
    return torch.fake_quantize_per_channel_affine(
        w.float(), scale, zero, axis, -(2 ** (bits - 1)), qmax(bits)
    ).to(w.dtype)


def reference_quant(x: torch.Tensor, bits: int, axis: int | None) -> torch.Tensor:
    """The formula written out, for tests: per tensor (axis None) or per channel."""
    if axis is None:
        s = qmax(bits) / x.abs().max()
    else:
        dims = [d for d in range(x.dim()) if d != axis]
        s = qmax(bits) / x.abs().amax(dim=dims, keepdim=True)
    return torch.clamp(torch.round(x * s), -(2 ** (bits - 1)), qmax(bits)) / s


def parse_spec(spec: int | str | None) -> int | str | None:
    """A tensor's number format: None (unquantised), an integer bit width (``4`` or
    ``"int4"``), or a floating-point format's name (``"e2m1"``, see
    :mod:`papergrid.precision.formats`)."""
    if spec is None or isinstance(spec, int):
        return spec
    if spec.startswith("int") and spec[3:].isdigit():
        return int(spec[3:])
    return spec


def fake_quant(x: torch.Tensor, spec: int | str, axis: int | None) -> torch.Tensor:
    """Fake quantisation to ``spec`` per tensor (axis None) or per index of ``axis``."""
    spec = parse_spec(spec)
    if isinstance(spec, int):
        if axis is None:
            return fake_quant_per_tensor(x, spec)
        return fake_quant_per_channel(x, spec, axis)
    return fake_quant_float(x, get_format(spec), axis)


class QuantLinear(nn.Linear):
    """A bias-free linear layer whose weights (per output channel) and inputs (per tensor)
    are fake-quantised on the forward pass, each to its own number format (see
    :func:`parse_spec`); ``None`` leaves that tensor in full precision."""

    def __init__(self, d_in: int, d_out: int, w_bits: int | str | None, a_bits: int | str | None):
        super().__init__(d_in, d_out, bias=False)
        self.w_bits, self.a_bits = parse_spec(w_bits), parse_spec(a_bits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight if self.w_bits is None else fake_quant(self.weight, self.w_bits, 0)
        if self.a_bits is not None:
            x = fake_quant(x, self.a_bits, None)
        return nn.functional.linear(x, w)


def quant_linear_factory(w_bits: int | str | None, a_bits: int | str | None) -> LinearFactory:
    def make(d_in: int, d_out: int, role: str) -> nn.Module:
        return QuantLinear(d_in, d_out, w_bits, a_bits)

    return make


def kv_quantiser(bits: int | str | None):
    """The model's ``kv_transform`` for a quantised key/value cache (per tensor)."""
    if bits is None:
        return None
    return lambda t: fake_quant(t, bits, None)


@torch.no_grad()
def quantize_weights_rtn(model: nn.Module, bits: int) -> None:
    """Post-training quantisation in place: every linear weight of the transformer blocks,
    round-to-nearest per output channel. Embeddings (and the tied head) stay as trained."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            module.weight.copy_(fake_quant_per_channel(module.weight, bits))
