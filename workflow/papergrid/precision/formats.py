"""Floating-point number formats of 4 to 8 bits, emulated in float32 for training.

A format ``eXmY`` has a sign bit, X exponent bits with bias 2^(X-1) - 1 and Y mantissa
bits, with subnormals. The 4- and 6-bit formats (e2m1, e2m3, e3m2) are the OCP
Microscaling ones: every code is a finite number. ``e4m3`` is OCP FP8 E4M3 ("fn": no
infinity, one NaN code at the top, so the largest value is 448); ``e5m2`` is FP8 E5M2 with
IEEE infinities and NaNs (largest 57,344). :func:`round_to_format` rounds to the nearest
representable value, ties to an even mantissa, saturating at the largest finite value
(the OCP convention for conversions to the finite formats). :func:`fake_quant_float`
scales a tensor so that its largest magnitude maps to the format's largest value (per
tensor or per output channel, as the integer quantiser of :mod:`papergrid.precision.quant`
does), rounds, and scales back, with a straight-through gradient.

:func:`representable` decodes every code of a format from its bits, independently of the
rounding code, so tests can check the rounding on every value a format has.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FloatFormat:
    name: str
    exponent_bits: int
    mantissa_bits: int
    ieee_specials: bool = False  # the top exponent code holds inf and NaN (e5m2)
    top_nan: bool = False  # the all-ones code is NaN, the rest of that binade finite (e4m3)

    @property
    def bits(self) -> int:
        return 1 + self.exponent_bits + self.mantissa_bits

    @property
    def bias(self) -> int:
        return 2 ** (self.exponent_bits - 1) - 1

    @property
    def min_exponent(self) -> int:
        """Exponent of the smallest normal number (subnormals share it)."""
        return 1 - self.bias

    @property
    def max_exponent(self) -> int:
        top = 2**self.exponent_bits - 1 - (1 if self.ieee_specials else 0)
        return top - self.bias

    @property
    def max_value(self) -> float:
        m = self.mantissa_bits
        top_mantissa = 2**m - 1 - (1 if self.top_nan else 0)
        return (1 + top_mantissa / 2**m) * 2.0**self.max_exponent


FORMATS = {
    f.name: f
    for f in (
        FloatFormat("e2m1", 2, 1),
        FloatFormat("e2m3", 2, 3),
        FloatFormat("e3m2", 3, 2),
        FloatFormat("e4m3", 4, 3, top_nan=True),
        FloatFormat("e5m2", 5, 2, ieee_specials=True),
    )
}


def get_format(name: str) -> FloatFormat:
    if name not in FORMATS:
        raise ValueError(f"unknown float format {name!r}; allowed: {sorted(FORMATS)}")
    return FORMATS[name]


def representable(fmt: FloatFormat) -> torch.Tensor:
    """Every finite value of ``fmt``, decoded from its codes, sorted (one zero)."""
    m_bits, values = fmt.mantissa_bits, set()
    for code in range(2 ** (fmt.bits - 1)):  # the non-negative half
        e_field, m_field = code >> m_bits, code & (2**m_bits - 1)
        if fmt.ieee_specials and e_field == 2**fmt.exponent_bits - 1:
            continue  # inf and NaN
        if fmt.top_nan and code == 2 ** (fmt.bits - 1) - 1:
            continue  # the NaN code
        if e_field == 0:
            value = m_field / 2**m_bits * 2.0**fmt.min_exponent
        else:
            value = (1 + m_field / 2**m_bits) * 2.0 ** (e_field - fmt.bias)
        values.add(value)
        values.add(-value)
    return torch.tensor(sorted(values), dtype=torch.float64)


def round_to_format(x: torch.Tensor, fmt: FloatFormat) -> torch.Tensor:
    """The nearest value of ``fmt`` to each element (ties to even, saturating), in x's
    dtype (float32 or float64: every value of these formats is exact in both)."""
    a = x.abs().clamp(max=fmt.max_value)
    # frexp: a = mant * 2^exp with mant in [0.5, 1), so floor(log2 a) = exp - 1 exactly
    _, exp = torch.frexp(a)
    e = (exp - 1).clamp(min=fmt.min_exponent).to(x.dtype)
    step = torch.exp2(e - fmt.mantissa_bits)  # the spacing of the binade (subnormal: emin's)
    q = torch.round(a / step) * step  # a / step is exact; torch.round ties to even
    return torch.sign(x) * q.clamp(max=fmt.max_value)


def fake_quant_float(x: torch.Tensor, fmt: FloatFormat, axis: int | None = None) -> torch.Tensor:
    """``x`` scaled so that max|x| (per tensor, or per index of ``axis``) maps to the
    format's largest value, rounded to the format, and scaled back; the gradient passes
    straight through. The scale is data: no gradient flows into max|x|."""
    if axis is None:
        absmax = x.detach().abs().max()
    else:
        dims = [d for d in range(x.dim()) if d != axis]
        absmax = x.detach().abs().amax(dim=dims, keepdim=True)
    scale = (fmt.max_value / absmax.float()).clamp(max=1e30)
    xf = x.float()
    q = round_to_format(xf * scale, fmt) / scale
    return (xf + (q - xf).detach()).to(x.dtype)
