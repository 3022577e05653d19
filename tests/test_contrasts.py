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


def test_single_arm_claim_tests_its_own_mean_and_plants_it():
    from papergrid.contrasts import Single

    data = runs(diff=0.3)
    single = Single({"method": "new"}, "acc", "acc")
    ev = single.evidence(data)
    assert ev.estimate == pytest.approx(data[data.method == "new"]["acc"].mean())
    sim = single.simulator(data)
    rng = np.random.default_rng(0)
    means = [sim(0.25, rng).query("method == 'new'")["acc"].mean() for _ in range(400)]
    assert np.mean(means) == pytest.approx(0.25, abs=0.01)
    # the other arm is left alone
    assert (
        sim(0.25, rng).query("method == 'old'")["acc"].equals(data.query("method == 'old'")["acc"])
    )


def test_beating_every_arm_needs_every_contrast():
    from papergrid.contrasts import MinOfPaired

    data = runs(diff=0.1)
    worse = data[data.method == "old"].assign(method="older", acc=lambda d: d["acc"] - 0.2)
    better = data[data.method == "old"].assign(method="best", acc=lambda d: d["acc"] + 0.3)
    both = pd.concat([data, worse], ignore_index=True)
    pairs = tuple(Paired({"method": "new"}, {"method": m}, "acc", "acc") for m in ("old", "older"))
    rule = Rule("above", 0.02)
    v = {
        c.claim_id: c.verdict
        for c in evaluate([spec(both, MinOfPaired(pairs), rule, 0.02, 0.1)], both, 0.95)
    }
    assert v == {"c": SUPPORTED}
    assert MinOfPaired(pairs).evidence(both).estimate == pytest.approx(0.1, abs=0.01)
    three = pd.concat([both, better], ignore_index=True)
    pairs3 = (*pairs, Paired({"method": "new"}, {"method": "best"}, "acc", "acc"))
    found = evaluate([spec(three, MinOfPaired(pairs3), rule, 0.02, 0.1)], three, 0.95)
    assert found[0].verdict == NOT_SUPPORTED  # one arm beats "new": not every contrast clears
    # the simulator puts the smallest contrast at the planted value, the others above it
    sim = MinOfPaired(pairs3).simulator(three)
    rng = np.random.default_rng(1)
    est = np.mean([MinOfPaired(pairs3).evidence(sim(0.05, rng)).estimate for _ in range(300)])
    assert est == pytest.approx(0.05, abs=0.01)
