import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.lpo.claims import claim_specs

from ..verdicts import assert_calibrated, verdicts

TEMPS = [0.0, 0.5, 1.0]
SETTINGS = dict(
    temperatures=TEMPS,
    variants=["seq", "tok"],
    losses=["lpo", "lpo_marginal", "nll"],
    sesoi_tau=0.1,
    sesoi_reward=0.01,
    tie_margin=0.02,
)
CLAIMS = {
    "seq_tau_lower_for_exact",
    "seq_beats_every_fixed",
    "seq_ties_selector",
    "tok_beats_every_fixed",
    "tok_ties_selector",
    "tok_lowers_tau_at_constraint",
    "nll_drifts_high",
}


def planted(e: dict, seeds=6, noise=0.005, rng_seed=0) -> pd.DataFrame:
    """Runs at planted offsets from each seed's best fixed temperature; noise mirrored
    across seeds so that every paired mean is exactly the planted one."""
    rng = np.random.default_rng(rng_seed)
    level = rng.normal(0.6, 0.03, seeds)
    rows = []

    def mirrored():
        half = rng.normal(0, noise, seeds // 2)
        return np.concatenate([half, -half, np.zeros(seeds % 2)])

    def run(method, variant, tau=np.nan, reward=0.0, tau_exact=0.5, tau_novel=0.5, starts=0.5):
        eps = mirrored()
        for s in range(seeds):
            rows.append(
                {
                    "method": method,
                    "variant": variant,
                    "tau": tau,
                    "seed": s,
                    "status": "ok",
                    "reward_mean": level[s] + reward + eps[s],
                    "tau_exact": tau_exact + eps[s],
                    "tau_novel": tau_novel,
                    "tau_constrained": starts + eps[s],
                    "tau_free": 0.6,
                }
            )

    for t, gap in zip(TEMPS, (-0.2, 0.0, -0.1), strict=True):  # 0.5 is the best fixed
        run("fixed", "none", t, reward=gap)
    run("selector", "none", reward=0.02)
    for v in ("seq", "tok"):
        run(
            "lpo",
            v,
            reward=e["beats"],
            tau_exact=0.5 + e["split"],
            tau_novel=0.5,
            starts=0.6 + e["starts"],
        )
        run("lpo_marginal", v, reward=e["beats"])
        run("nll", v, reward=0.0, tau_exact=0.5 + e["split"] + e["drift"])
    df = pd.DataFrame(rows)
    # the selector sits `selector` below the heads
    sel = df["method"] == "selector"
    df.loc[sel, "reward_mean"] = df.loc[sel, "reward_mean"] - 0.02 + e["beats"] - e["selector"]
    return df


FOR = dict(beats=0.05, split=-0.4, starts=-0.3, drift=0.4, selector=0.02)
AGAINST = dict(beats=-0.05, split=0.4, starts=0.3, drift=-0.4, selector=-0.08)
MARGIN = dict(beats=0.01, split=-0.1, starts=-0.1, drift=0.1, selector=-0.02)


def found(runs):
    return verdicts(claim_specs(runs, **SETTINGS), runs)


def test_every_claim_is_built():
    assert set(found(planted(FOR))) == CLAIMS


def test_planted_findings_are_supported():
    v = found(planted(FOR))
    assert set(v.values()) == {SUPPORTED}, v


def test_planted_opposites_are_not_supported():
    v = found(planted(AGAINST))
    assert set(v.values()) == {NOT_SUPPORTED}, v


def test_effects_on_the_margins_are_inconclusive():
    v = found(planted(MARGIN, noise=0.02))
    assert set(v.values()) == {INCONCLUSIVE}, v


def test_beating_most_but_not_every_fixed_temperature_is_not_supported():
    runs = planted(FOR)
    best = (runs["method"] == "fixed") & (runs["tau"] == 0.5)
    runs.loc[best, "reward_mean"] += 0.15  # the best fixed temperature now beats the heads
    v = found(runs)
    assert v["seq_beats_every_fixed"] == NOT_SUPPORTED
    assert v["tok_beats_every_fixed"] == NOT_SUPPORTED


def test_claims_need_their_runs():
    specs = claim_specs(planted(FOR), **{**SETTINGS, "variants": ["seq"], "losses": ["lpo"]})
    assert {s.claim_id for s in specs} == {
        "seq_tau_lower_for_exact",
        "seq_beats_every_fixed",
        "seq_ties_selector",
    }


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_rules_are_calibrated_on_a_grid_that_can_decide(claim):
    runs = planted(FOR, noise=0.002)
    specs = [s for s in claim_specs(runs, **SETTINGS) if s.claim_id == claim]
    assert_calibrated(specs, runs, n_sims=80)
