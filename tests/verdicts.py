"""Checks shared by every experiment's claim tests."""

from __future__ import annotations

import pandas as pd

from papergrid.calibration import calibrate, mc_se, summary
from papergrid.claims import claims_table, evaluate

ALPHA = 0.025  # one-sided, the 95% intervals' error on each side


def verdicts(specs, data, level: float = 0.95) -> dict:
    """Each claim's rule verdict (before the validity gates, which tests/test_gates.py
    drives and gated() reads)."""
    return {c.claim_id: c.verdict_raw for c in evaluate(specs, data, level)}


def gated(specs, data, level: float = 0.95) -> dict:
    """Each claim's (verdict, gate) after the gates that read the data."""
    return {c.claim_id: (c.verdict, c.gate) for c in evaluate(specs, data, level)}


def assert_calibrated(specs, data, n_sims: int = 120, level: float = 0.95) -> pd.DataFrame:
    """On a grid that can decide: every rule reaches "supported" at the paper's effect,
    "not supported" at the opposite one, mostly "inconclusive" on its margin, and supports
    on the margin no more often than the nominal rate (within three Monte Carlo SEs)."""
    claims = claims_table(evaluate(specs, data, level)).to_pandas()
    table = calibrate(specs, claims, n_sims=n_sims, level=level, plan=False)
    summ = summary(table, specs)
    for r in summ.itertuples():
        n = r.n_sims
        assert r.false_support <= ALPHA + 3 * mc_se(ALPHA, n), (r.claim_id, r.false_support)
        assert r.power >= 0.8, (r.claim_id, "power", r.power)
        assert r.opposite_not_supported >= 0.8, (r.claim_id, "opposite", r.opposite_not_supported)
        assert r.margin_inconclusive >= 0.5, (r.claim_id, "margin", r.margin_inconclusive)
    return summ
