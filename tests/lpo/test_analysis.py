import numpy as np
import pandas as pd
import pytest

from papergrid.lpo.analysis import (
    bootstrap_mean,
    reward_cube,
    temperature_histogram,
    win_matrix,
    win_rate_markdown,
    win_rates,
)
from papergrid.lpo.tasks import FAMILIES


def prompt_rows(method, variant, tau, rewards, seeds=3, n=20, counts=(1, 0, 0)):
    rows = []
    for s in range(seeds):
        for f in FAMILIES:
            for i in range(n):
                rows.append(
                    {
                        "method": method,
                        "variant": variant,
                        "decode": "none" if method in ("fixed", "selector") else "argmax",
                        "tau": tau,
                        "seed": s,
                        "family": f,
                        "prompt": i,
                        "reward": float(rewards(s, f, i)),
                        "tau_response": 0.0,
                        "tau_counts": list(counts),
                    }
                )
    return rows


def test_win_matrix_counts_ties_as_half():
    a, b = np.array([1.0, 0.0, 1.0, 0.0]), np.array([0.0, 1.0, 1.0, 0.0])
    assert win_matrix(a, b).tolist() == [1.0, 0.0, 0.5, 0.5]


def test_a_run_against_itself_wins_half_and_a_better_one_more():
    rng = np.random.default_rng(0)
    r = rng.random((3, 3, 20)) < 0.5
    rows = prompt_rows("fixed", "none", 0.5, lambda s, f, i: r[s, FAMILIES.index(f), i])
    rows += prompt_rows("fixed", "none", 1.0, lambda s, f, i: r[s, FAMILIES.index(f), i])
    rows += prompt_rows("lpo", "seq", np.nan, lambda s, f, i: 1)
    t = win_rates(
        pd.DataFrame(rows), ["seq lpo", "fixed 0.5"], ["fixed 1", "fixed 0.5"], n_boot=200
    )
    same = t[(t.run == "fixed 0.5") & (t.against == "fixed 1")].iloc[0]
    assert same.win_rate == 0.5 and same.low == 0.5 and same.high == 0.5
    better = t[(t.run == "seq lpo") & (t.against == "fixed 1")].iloc[0]
    # against 0/1 rewards, always right wins the prompts the other misses, ties the rest
    assert better.win_rate == pytest.approx(0.5 + 0.5 * (1 - r.mean()))
    assert better.low < better.win_rate < better.high
    assert "seq lpo" in win_rate_markdown(t, 0.95)


def test_runs_are_compared_on_the_seeds_they_share_only():
    rows = prompt_rows("fixed", "none", 1.0, lambda s, f, i: 0, seeds=2)
    # the head trained on seed 1 only (seed 0's head failed); it wins every prompt there
    rows += [
        r for r in prompt_rows("lpo", "seq", np.nan, lambda s, f, i: 1, seeds=2) if r["seed"] == 1
    ]
    rows += prompt_rows("fixed", "none", 0.0, lambda s, f, i: s, seeds=2)  # 1 on seed 1
    t = win_rates(pd.DataFrame(rows), ["seq lpo"], ["fixed 1", "fixed 0"], n_boot=50)
    by = t.set_index("against")
    assert by.loc["fixed 1", "seeds"] == 1 and by.loc["fixed 1", "win_rate"] == 1.0
    # against seed 1 of "fixed 0" (reward 1 everywhere) every prompt ties
    assert by.loc["fixed 0", "win_rate"] == 0.5
    assert "(1 seeds)" not in win_rate_markdown(t, 0.95)  # every cell has the most seeds


def test_two_level_bootstrap_carries_the_seed_spread():
    # every prompt of a seed alike, seeds far apart: the interval is about the seeds
    w = np.stack([np.full((3, 50), v) for v in (0.2, 0.5, 0.8)])
    draws = bootstrap_mean(w, 500, np.random.default_rng(1))
    assert draws.std() > 0.05
    flat = np.full((3, 3, 50), 0.5)
    assert bootstrap_mean(flat, 50, np.random.default_rng(1)).std() == 0.0


def test_unequal_prompt_counts_are_refused():
    rows = prompt_rows("fixed", "none", 0.5, lambda s, f, i: 1)
    df = pd.DataFrame(rows[:-1]).assign(run="fixed 0.5")
    with pytest.raises(ValueError, match="same number of prompts"):
        reward_cube(df, "fixed 0.5")


def test_histogram_shares_sum_to_one_per_run_and_family():
    rows = prompt_rows("lpo", "tok", np.nan, lambda s, f, i: 1, counts=(2, 1, 1))
    h = temperature_histogram(pd.DataFrame(rows), [0.0, 0.5, 1.0])
    assert np.allclose(h.groupby(["run", "family"])["share"].sum(), 1.0)
    assert h[h.tau == 0.0]["share"].iloc[0] == pytest.approx(0.5)


def test_sequence_heads_count_responses_not_tokens():
    long = prompt_rows("lpo", "seq", np.nan, lambda s, f, i: 1, seeds=1, n=1, counts=(9, 0, 0))
    short = prompt_rows("lpo", "seq", np.nan, lambda s, f, i: 1, seeds=1, n=1, counts=(0, 0, 1))
    for r in short:
        r["prompt"] = 1
    h = temperature_histogram(pd.DataFrame(long + short), [0.0, 0.5, 1.0])
    assert h[h.tau == 0.0]["share"].iloc[0] == pytest.approx(0.5)


def test_chosen_shares_count_responses_for_seq_and_tokens_for_tok():
    import torch

    from papergrid.lpo.analysis import chosen_markdown, chosen_shares
    from papergrid.lpo.head import PairFeatures

    # two pairs, two tokens each; the second pair's response is one token long
    tau_c = torch.tensor([[2, 2], [2, 0]])
    tau_r = torch.tensor([[0, 1], [0, 0]])
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    z = torch.zeros(2, 2, 1)
    f = PairFeatures(["exact", "exact"], z, z, tau_c, tau_r, z, z, mask, mask)
    stored = {
        "temperatures": [0.0, 0.5, 1.0],
        "variants": {"seq": {"features": f}, "tok": {"features": f}},
    }
    s = chosen_shares([stored, stored])  # two seeds pooled
    share = s.set_index(["variant", "family", "side", "tau"])["share"]
    assert share["seq", "exact", "chosen", 1.0] == 1.0  # the first token's temperature
    assert share["seq", "exact", "rejected", 0.0] == 1.0
    # tok: chosen tokens at 1.0, 1.0, 1.0 (the padded one left out) per seed
    assert share["tok", "exact", "chosen", 1.0] == 1.0
    assert share["tok", "exact", "rejected", 0.0] == pytest.approx(2 / 3)
    assert s.groupby(["variant", "family", "side"])["share"].sum().tolist() == pytest.approx(
        [1.0] * s.groupby(["variant", "family", "side"]).ngroups
    )
    assert "| seq | exact | chosen | 4 |" in chosen_markdown(s)  # 2 pairs x 2 seeds
