import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED
from papergrid.tokenformer.claims import claim_specs

from ..verdicts import assert_calibrated, verdicts

SETTINGS = dict(
    arms=["zero_fixed", "zero_rescaled", "random", "plain_zero"],
    norm="l2_gelu",
    share=1 / 3,
    sesoi_loss=0.02,
    target_steps=600,
    same_steps=300,
)
CLAIMS = {
    "random_growth_reaches_scratch_at_a_third",
    "zero_fixed_growth_reaches_scratch_at_a_third",
    "preserving_growth_ends_lower_than_random",
    "plain_growth_matches_zero_fixed",
    "plain_growth_matches_random",
    "pattention_no_worse_at_equal_n_first_stage",
    "pattention_no_worse_at_equal_n_final_size",
}


def planted(e: dict, seeds=6, noise=0.003, rng_seed=0) -> pd.DataFrame:
    """Runs whose per-seed statistics are the planted ones plus noise mirrored across
    seeds (every mean is exactly the planted value); log10 jumps get ten times the noise."""
    rng = np.random.default_rng(rng_seed)
    level = rng.normal(1.4, 0.02, seeds)
    first = rng.normal(1.5, 0.02, seeds)
    rows = []

    def mirrored(scale):
        half = rng.normal(0, scale, seeds // 2)
        return np.concatenate([half, -half, np.zeros(seeds % 2)])

    def run(arm, layer, steps, loss=0.0, stage1=0.0, jump=np.nan):
        eps, wide = mirrored(noise), mirrored(10 * noise)
        for s in range(seeds):
            rows.append(
                {
                    "arm": arm,
                    "layer": layer,
                    "steps": steps,
                    "seed": s,
                    "status": "ok",
                    "val_loss": level[s] + loss + eps[s],
                    "stage1_loss": first[s] + stage1 + eps[s] if arm != "scratch" else np.nan,
                    "log10_jump": jump + wide[s],
                }
            )

    # the pattention growth arms sit e["reach"] above the target scratch run (loss 0)
    reach = e["reach"]
    run("zero_fixed", "pattention", 300, reach, stage1=e["equal_n"], jump=e["fixed"])
    run("zero_rescaled", "pattention", 300, 0.05, stage1=e["equal_n"], jump=e["rescaled"])
    # random new tokens end e["preserve"] above the function-preserving growth
    run("random", "pattention", 300, reach + e["preserve"], stage1=e["equal_n"], jump=-1.5)
    # the plain growth arm sits e["plain"] above both pattention arms
    run("plain_zero", "linear", 300, reach + e["plain"], jump=-9.0)
    run("scratch", "pattention", 600, 0.0)
    run("scratch", "linear", 600, 0.0)
    run("scratch", "pattention", 300, 0.1 + e["equal_n"])
    run("scratch", "linear", 300, 0.1)
    return pd.DataFrame(rows)


FOR = dict(reach=0.0, fixed=-9.0, rescaled=-2.0, plain=0.0, equal_n=0.0, preserve=0.0)
AGAINST = dict(reach=0.1, fixed=-2.0, rescaled=-9.0, plain=0.1, equal_n=0.1, preserve=0.0)
MARGIN = dict(reach=0.02, fixed=-4.0, rescaled=-4.0, plain=0.02, equal_n=0.02, preserve=0.0)
PRESERVE = "preserving_growth_ends_lower_than_random"  # moves the random arm: own test


def found(runs, **settings):
    return verdicts(claim_specs(runs, **{**SETTINGS, **settings}), runs)


def others(v: dict) -> dict:
    return {k: x for k, x in v.items() if k != PRESERVE}


def test_every_claim_is_built():
    assert set(found(planted(FOR))) == CLAIMS


def test_planted_findings_are_supported():
    v = others(found(planted(FOR)))
    assert set(v.values()) == {SUPPORTED}, v


def test_planted_opposites_are_not_supported():
    v = others(found(planted(AGAINST)))
    assert set(v.values()) == {NOT_SUPPORTED}, v


def test_effects_on_the_margins_are_inconclusive():
    v = others(found(planted(MARGIN, noise=0.01)))
    assert set(v.values()) == {INCONCLUSIVE}, v


@pytest.mark.parametrize(
    "preserve, noise, expected",
    [(0.06, 0.003, SUPPORTED), (-0.03, 0.003, NOT_SUPPORTED), (0.02, 0.01, INCONCLUSIVE)],
)
def test_preserving_growth_against_random_tokens_reaches_each_verdict(preserve, noise, expected):
    v = found(planted({**FOR, "preserve": preserve}, noise=noise))
    assert v[PRESERVE] == expected


def test_a_grown_plain_network_that_trails_is_not_supported():
    runs = planted(FOR)
    runs.loc[runs["arm"] == "plain_zero", "val_loss"] += 0.05
    v = found(runs)
    assert v["plain_growth_matches_zero_fixed"] == NOT_SUPPORTED
    assert v["plain_growth_matches_random"] == NOT_SUPPORTED
    assert v["pattention_no_worse_at_equal_n_final_size"] == SUPPORTED


def test_claims_need_their_arms():
    specs = claim_specs(planted(FOR), **{**SETTINGS, "arms": ["random"]})
    assert {s.claim_id for s in specs} == {"random_growth_reaches_scratch_at_a_third"}


def test_softmax_theta_makes_no_preservation_claim():
    specs = claim_specs(planted(FOR), **{**SETTINGS, "norm": "softmax"})
    assert "preserving_growth_ends_lower_than_random" not in {s.claim_id for s in specs}


@pytest.mark.parametrize("claim", sorted(CLAIMS))
def test_rules_are_calibrated_on_a_grid_that_can_decide(claim):
    runs = planted({**FOR, "preserve": 0.06} if claim == PRESERVE else FOR, noise=0.002)
    specs = [s for s in claim_specs(runs, **SETTINGS) if s.claim_id == claim]
    assert_calibrated(specs, runs, n_sims=80)
