import math

import numpy as np
import pandas as pd
import pytest

from papergrid.calibration import calibrate, mc_se, reading, summary, summary_markdown
from papergrid.claims import INCONCLUSIVE, SUPPORTED, ClaimSpec, Effects, Rule, evaluate
from papergrid.stats import t_mean


def toy(noise: float, n: int) -> ClaimSpec:
    """mean > 0.1 from n units with the given noise; paper effect 0.5."""
    return ClaimSpec(
        experiment="toy",
        claim_id=f"mean_{noise}_{n}",
        statement="mean above 0.1",
        statistic="mean (t)",
        rule=Rule("above", 0.1),
        sesoi=0.1,
        sesoi_note="test",
        effects=Effects(margin=0.1, paper=0.5, opposite=-0.3, no_effect=0.0),
        compute=lambda d: t_mean(d["x"]),
        simulate=lambda e, rng: pd.DataFrame({"x": e + rng.normal(0, noise, n)}),
    )


def observed(spec: ClaimSpec) -> pd.DataFrame:
    data = spec.simulate(0.5, np.random.default_rng(99))
    claims = evaluate([spec], data, 0.95)
    return pd.DataFrame(
        [{"claim_id": c.claim_id, "estimate": c.estimate, "verdict": c.verdict} for c in claims]
    )


def test_a_decisive_design_reaches_every_verdict_and_keeps_false_support_nominal():
    spec = toy(0.1, 8)
    table = calibrate([spec], observed(spec), n_sims=300, level=0.95)
    s = summary(table, [spec]).iloc[0]
    assert s["power"] > 0.95 and s["opposite_not_supported"] > 0.95
    assert s["false_support"] <= 0.025 + 3 * mc_se(0.025, 300)
    assert s["margin_inconclusive"] > 0.5  # on the line: mostly inconclusive
    assert s["support_no_effect"] < s["false_support"] + 3 * mc_se(0.025, 300)
    assert 0.1 < s["mde80"] < 0.5 and s["stability"] > 0.9


def test_a_weak_design_says_it_cannot_answer():
    spec = toy(2.0, 3)
    table = calibrate([spec], observed(spec), n_sims=200, level=0.95)
    s = summary(table, [spec]).iloc[0]
    assert s["power"] < 0.3 and math.isnan(s["mde80"])
    assert reading(INCONCLUSIVE, s["power"], s["stability"]).startswith("this grid cannot")


def test_rates_do_not_depend_on_processes_or_other_claims():
    a, b = toy(0.3, 4), toy(0.2, 5)
    obs = pd.concat([observed(a), observed(b)])
    one = calibrate([a], obs, n_sims=60, level=0.95, seed=3)
    both = calibrate([b, a], obs, n_sims=60, level=0.95, seed=3, n_jobs=2)
    pd.testing.assert_frame_equal(
        one.reset_index(drop=True),
        both[both["claim_id"] == a.claim_id].reset_index(drop=True),
    )


def test_readings():
    assert reading(INCONCLUSIVE, 0.95, 0.9).startswith("the data sit on the line")
    assert reading(SUPPORTED, 0.95, 0.6).startswith("unstable")
    assert reading(SUPPORTED, 0.95, 0.95) == "stable"


def test_summary_markdown_reports_monte_carlo_errors():
    spec = toy(0.1, 8)
    text = summary_markdown(
        summary(calibrate([spec], observed(spec), n_sims=40, level=0.95), [spec]), 0.025
    )
    assert "±" in text and f"`{spec.claim_id}`" in text
    assert mc_se(0.5, 100) == pytest.approx(0.05)
