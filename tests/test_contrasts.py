import numpy as np
import pandas as pd
import pytest

from papergrid.claims import INCONCLUSIVE, NOT_SUPPORTED, SUPPORTED, Effects, Rule, evaluate
from papergrid.contrasts import Paired, paired_claim


def runs(diff=0.1, noise=0.01, seeds=5, cost_ratio=3.0):
    rng = np.random.default_rng(0)
    rows = []
    for s in range(seeds):
        level = rng.normal(0.5, 0.1)  # each seed's own level: pairing removes it
        rows.append(
            {
                "method": "new",
                "seed": s,
                "status": "ok",
                "acc": level + diff + rng.normal(0, noise),
                "flops": 10.0 * cost_ratio,
            }
        )
        rows.append({"method": "old", "seed": s, "status": "ok", "acc": level, "flops": 10.0})
    rows.append({"method": "old", "seed": 99, "status": "ok", "acc": 0.9, "flops": 1.0})
    return pd.DataFrame(rows)


def spec(data, paired, rule, margin, paper):
    return paired_claim(
        paired,
        experiment="t",
        claim_id="c",
        statement="s",
        statistic="d",
        rule=rule,
        sesoi=margin,
        sesoi_note="",
        data=data,
        effects=Effects(margin=margin, paper=paper, opposite=-paper),
    )


ACC = Paired({"method": "new"}, {"method": "old"}, "acc", "acc")


def test_paired_claim_reaches_each_verdict_and_ignores_unpaired_runs():
    for diff, want in ((0.1, SUPPORTED), (-0.1, NOT_SUPPORTED), (0.02, INCONCLUSIVE)):
        data = runs(diff, noise=0.02)
        (c,) = evaluate([spec(data, ACC, Rule("above", 0.02), 0.02, 0.1)], data, 0.95)
        assert c.verdict == want and c.n == 5  # seed 99 has no partner


def test_simulator_plants_the_difference_and_keeps_the_pairing():
    data = runs(0.1, noise=0.02)
    s = spec(data, ACC, Rule("above", 0.02), 0.02, 0.1)
    rng = np.random.default_rng(1)
    ests = [s.compute(s.simulate(0.3, rng)).estimate for _ in range(200)]
    assert np.mean(ests) == pytest.approx(0.3, abs=0.01)
    drawn = s.simulate(0.3, rng)
    assert drawn.loc[drawn["seed"] == 99, "acc"].item() == 0.9  # unpaired rows untouched


def test_log_ratio_claims():
    data = runs(cost_ratio=3.0)
    cost = Paired({"method": "new"}, {"method": "old"}, "flops", "flops", log=True)
    s = spec(data, cost, Rule("above", np.log(2)), np.log(2), np.log(4))
    assert s.compute(data).estimate == pytest.approx(np.log(3))
    drawn = s.simulate(np.log(5), np.random.default_rng(0))
    assert s.compute(drawn).estimate == pytest.approx(np.log(5), abs=1e-9)  # no spread: exact
