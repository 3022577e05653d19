import pytest
import torch

from papergrid.precision.formats import (
    FORMATS,
    fake_quant_float,
    get_format,
    representable,
    round_to_format,
)

# the largest finite value and the smallest subnormal of each format (OCP MX and FP8 specs)
KNOWN = {
    "e2m1": (6.0, 0.5, 15),
    "e2m3": (7.5, 0.125, 63),
    "e3m2": (28.0, 0.0625, 63),
    "e4m3": (448.0, 2.0**-9, 253),
    "e5m2": (57344.0, 2.0**-16, 247),
}


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_each_format_has_its_published_range_and_code_count(name):
    fmt = get_format(name)
    values = representable(fmt)
    top, tiny, count = KNOWN[name]
    assert fmt.max_value == top == values.max().item()
    assert values[values > 0].min().item() == tiny
    assert len(values) == count  # distinct finite values, one zero


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_every_representable_value_rounds_to_itself(name):
    values = representable(get_format(name))
    for dtype in (torch.float32, torch.float64):
        v = values.to(dtype)
        assert torch.equal(round_to_format(v, get_format(name)), v)


@pytest.mark.parametrize("name", sorted(FORMATS))
def test_rounding_picks_the_nearest_value_ties_to_even(name):
    fmt = get_format(name)
    values = representable(fmt)
    top = fmt.max_value
    # every midpoint between neighbours, and points a quarter step either side of it
    mids = (values[1:] + values[:-1]) / 2
    gaps = values[1:] - values[:-1]
    probes = torch.cat([mids, mids - gaps / 4, mids + gaps / 4])
    probes = torch.cat([probes, torch.rand(2000, dtype=torch.float64) * 2.4 * top - 1.2 * top])
    got = round_to_format(probes, fmt)
    dist = (probes[:, None] - values[None, :]).abs()
    nearest = values[dist.argmin(dim=1)]
    tie = (dist.sort(dim=1).values[:, :2].diff(dim=1).squeeze(1) == 0) & (probes.abs() <= top)
    inside = probes.abs() <= top
    assert torch.equal(got[inside & ~tie], nearest[inside & ~tie])
    # a tie goes to the neighbour whose last mantissa bit is 0 (a grid of 2 steps)
    for p, g in zip(probes[tie].tolist(), got[tie].tolist(), strict=True):
        i = int(torch.searchsorted(values, torch.tensor(p, dtype=torch.float64)))
        lo, hi = values[i - 1].item(), values[i].item()
        assert g in (lo, hi)
        assert g == round_to_format(torch.tensor([g], dtype=torch.float64), fmt).item()
    # beyond the largest value: saturate
    assert torch.equal(got[~inside], torch.sign(probes[~inside]) * top)


@pytest.mark.parametrize("name,dtype", [("e4m3", torch.float8_e4m3fn), ("e5m2", torch.float8_e5m2)])
def test_fp8_rounding_matches_torch_casts(name, dtype):
    fmt = get_format(name)
    x = (torch.rand(20000) * 2 - 1) * fmt.max_value
    x = torch.cat([x, torch.randn(5000) * 1e-3, torch.randn(5000) * 2.0**-14])
    assert torch.equal(round_to_format(x, fmt), x.to(dtype).float())


def test_ties_go_to_the_even_mantissa():
    fmt = get_format("e2m1")  # values 0, 0.5, 1, 1.5, 2, 3, 4, 6
    x = torch.tensor([0.25, 0.75, 1.25, 1.75, 2.5, 3.5, 5.0, 7.0, -2.5])
    assert round_to_format(x, fmt).tolist() == [0.0, 1.0, 1.0, 2.0, 2.0, 4.0, 4.0, 6.0, -2.0]


def test_fake_quant_scales_to_the_format_and_passes_the_gradient():
    fmt = get_format("e2m1")
    w = torch.tensor([[0.3, -1.2, 0.05], [2.0, 0.7, -0.1]], requires_grad=True)
    q = fake_quant_float(w, fmt, axis=0)
    # each row's largest magnitude maps to 6: row 0 scale 5, row 1 scale 3
    assert torch.allclose(q[0], torch.tensor([1.5, -6.0, 0.0]) / 5)
    assert torch.allclose(q[1], torch.tensor([6.0, 2.0, -0.5]) / 3)  # -0.3: nearer 0.5 than 0
    q.sum().backward()
    assert torch.equal(w.grad, torch.ones_like(w))  # straight through
    per_tensor = fake_quant_float(w.detach(), fmt)
    assert per_tensor.abs().max().item() == pytest.approx(2.0)


def test_an_unknown_format_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown float format 'e3m3'; allowed"):
        get_format("e3m3")
