import math

import numpy as np
import pandas as pd
import pytest

from papergrid.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimSpec,
    Effects,
    Rule,
    claims_markdown,
    claims_table,
    evaluate,
    verdict,
)
from papergrid.stats import t_mean


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


def test_rules_reject_bad_sides_and_bands():
    with pytest.raises(ValueError, match="side"):
        verdict(0, 1, 0.5, "sideways")
    with pytest.raises(ValueError, match="threshold < threshold_high"):
        Rule("within", 1.0, 0.5)


def mean_spec(rule: Rule, claim_id: str = "c", family: str = "") -> ClaimSpec:
    """A claim about the mean of the column of a table (its rows are independent units)."""
    return ClaimSpec(
        experiment="toy",
        claim_id=claim_id,
        statement=f"mean {rule.describe()}",
        statistic="mean (t)",
        rule=rule,
        sesoi=0.1,
        sesoi_note="test",
        effects=Effects(margin=rule.threshold, paper=rule.threshold + 1, opposite=-1),
        compute=lambda d: t_mean(d[claim_id]),
        simulate=lambda e, rng: pd.DataFrame({claim_id: e + rng.normal(0, 0.5, 6)}),
        family=family,
    )


@pytest.mark.parametrize(
    ("values", "rule", "expected"),
    [
        ([0.5, 0.6, 0.55, 0.52], Rule("above", 0.1), SUPPORTED),
        ([0.0, 0.02, -0.01, 0.01], Rule("above", 0.1), NOT_SUPPORTED),
        ([0.1, 0.3, -0.1, 0.15], Rule("above", 0.1), INCONCLUSIVE),
        ([0.0, 0.02, -0.01, 0.01], Rule("within", -0.1, 0.1), SUPPORTED),
        ([0.5, 0.6, 0.55, 0.52], Rule("within", -0.1, 0.1), NOT_SUPPORTED),
    ],
)
def test_raw_and_holm_verdicts_agree_for_a_family_of_one(values, rule, expected):
    (claim,) = evaluate([mean_spec(rule)], pd.DataFrame({"c": values}), 0.95)
    assert claim.verdict == claim.verdict_holm == expected
    assert claim.family_size == 1 and claim.unit == "seeds" and claim.method == "t"


def test_holm_withdraws_a_marginal_verdict_in_a_large_family():
    # the first claim's p-value is about 0.01: supported alone, not among ten claims
    rng = np.random.default_rng(0)
    base = [0.3, 0.05, 0.2, 0.15]
    data = {"c0": base}
    specs = [mean_spec(Rule("above", 0.0), "c0")]
    for i in range(1, 10):
        data[f"c{i}"] = list(rng.normal(0, 1, 4))
        specs.append(mean_spec(Rule("above", 5.0), f"c{i}"))
    claims = evaluate(specs, pd.DataFrame(data), 0.95)
    first = claims[0]
    assert first.verdict == SUPPORTED and 0.0025 < first.p_support < 0.025
    assert first.verdict_holm == INCONCLUSIVE
    assert {c.family_size for c in claims} == {10}


def test_table_and_markdown_carry_verdicts_and_units():
    claims = evaluate([mean_spec(Rule("above", 0.1))], pd.DataFrame({"c": [0.5, 0.6, 0.55]}), 0.95)
    table = claims_table(claims)
    assert table.column("verdict").to_pylist() == [SUPPORTED]
    assert table.column("p_support").to_pylist()[0] < 0.025
    text = claims_markdown(claims)
    assert "**supported**" in text and "3 seeds" in text and "`toy` (1 claims)" in text
