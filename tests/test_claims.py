import math

import pytest

from papergrid.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    claims_markdown,
    claims_table,
    make_claim,
    verdict,
)


@pytest.mark.parametrize(
    ("lo", "hi", "side", "expected"),
    [
        (-0.5, -0.1, "below", SUPPORTED),
        (0.1, 0.5, "below", NOT_SUPPORTED),
        (-0.1, 0.1, "below", INCONCLUSIVE),
        (0.95, 0.99, "above", SUPPORTED),
        (0.6, 0.8, "above", NOT_SUPPORTED),
        (0.85, 0.95, "above", INCONCLUSIVE),
        (math.nan, math.nan, "above", INCONCLUSIVE),
        (-math.inf, math.inf, "above", INCONCLUSIVE),
    ],
)
def test_verdict_from_interval(lo, hi, side, expected):
    threshold = 0.0 if side == "below" else 0.9
    assert verdict(lo, hi, threshold, side) == expected


@pytest.mark.parametrize(
    ("lo", "hi", "expected"),
    [(6.5, 8.5, SUPPORTED), (9.5, 11, NOT_SUPPORTED), (2, 4, NOT_SUPPORTED), (5, 8, INCONCLUSIVE)],
)
def test_within_band_verdict(lo, hi, expected):
    assert verdict(lo, hi, 6.0, "within", 9.0) == expected
    assert "within [6, 9]" in claims_markdown(
        [make_claim("e", "c", "s", "t", 7, (lo, hi), 6.0, "within", 3, threshold_high=9.0)]
    )


def test_verdict_rejects_unknown_side():
    with pytest.raises(ValueError, match="side"):
        verdict(0, 1, 0.5, "sideways")


def test_table_and_markdown_carry_the_computed_verdict():
    claim = make_claim("e", "c1", "x is small", "mean x", -0.3, (-0.4, -0.2), 0.0, "below", 5)
    table = claims_table([claim])
    assert table.column("verdict").to_pylist() == [SUPPORTED]
    assert "**supported**" in claims_markdown([claim])
