"""Each validity gate driven by a planted claim: an identity, a rule that cannot fail, a
misfitting form, an extrapolated optimum, a grid that did not learn, a control that
passes the same rule; and the claims that pass every gate keep their verdicts."""

import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from papergrid.calibration import calibrate, summary
from papergrid.claims import (
    INCONCLUSIVE,
    NOT_SUPPORTED,
    SUPPORTED,
    ClaimSpec,
    Effects,
    Rule,
    apply_calibration,
    claims_table,
    evaluate,
    shown_verdict,
)
from papergrid.gates import FitCheck, LearnedRule, lack_of_fit, mark_not_learned
from papergrid.stats import t_mean

SEEDS = 8


def runs(values, seed0: int = 0, **columns) -> pd.DataFrame:
    values = np.asarray(values, float)
    return pd.DataFrame(
        {"seed": np.arange(seed0, seed0 + len(values)), "status": "ok", "x": values, **columns}
    )


ABOVE = Rule("above", 0.1)


def spec(claim_id="c", simulate=None, rule=ABOVE, **gates) -> ClaimSpec:
    """mean of x over seeds above 0.1 (t); the simulator plants the mean with noise 0.1."""

    def honest(e, rng):
        return runs(e + 0.1 * rng.standard_normal(SEEDS))

    return ClaimSpec(
        experiment="toy",
        claim_id=claim_id,
        statement="mean above 0.1",
        statistic="mean of x (t over seeds)",
        rule=rule,
        sesoi=0.1,
        sesoi_note="test",
        effects=Effects(margin=0.1, paper=0.5, opposite=-0.3),
        compute=lambda d: t_mean(d.loc[d["status"] == "ok", "x"].to_numpy()),
        simulate=simulate or honest,
        **gates,
    )


def one(specs, data):
    (c,) = evaluate(specs, data, 0.95)
    return c


def calibrated(s: ClaimSpec, data) -> tuple:
    claims = [one([s], data)]
    table = calibrate([s], claims_table(claims).to_pandas(), n_sims=120, level=0.95)
    (c,) = apply_calibration(claims, summary(table, [s]))
    return c, table


def noisy(mean: float, sd: float = 0.1, seed: int = 0) -> pd.DataFrame:
    return runs(mean + sd * np.random.default_rng(seed).standard_normal(SEEDS))


def test_an_identity_is_not_a_finding():
    c = one([spec()], runs(np.full(SEEDS, 0.5)))  # every seed the same value: a point
    assert (c.verdict_raw, c.verdict, c.gate) == (SUPPORTED, INCONCLUSIVE, "identity")
    assert "no spread over its 8 seeds" in c.gate_reason
    assert c.verdict_holm == INCONCLUSIVE and c.verdict_holm_raw == SUPPORTED
    assert shown_verdict(c.verdict, c.gate_reason).startswith("inconclusive (identity")


def test_a_claim_with_spread_passes_the_identity_gate():
    c = one([spec()], noisy(0.5))
    assert (c.verdict, c.gate) == (SUPPORTED, "")


def test_a_rule_that_could_not_have_said_otherwise_is_inconclusive():
    # the simulator ignores the planted effect (a form that is positive for every
    # parameter, say): at an effect against the claim the rule still says "supported"
    stuck = spec(simulate=lambda e, rng: runs(0.5 + 0.1 * rng.standard_normal(SEEDS)))
    c, table = calibrated(stuck, noisy(0.5))
    assert (c.verdict_raw, c.verdict, c.gate) == (SUPPORTED, INCONCLUSIVE, "could_not_fail")
    assert "could not have said otherwise" in c.gate_reason
    opposite = table[table["scenario"] == "opposite"].iloc[0]
    assert opposite["not_supported"] < 0.5


def test_a_not_supported_that_the_paper_effect_could_not_reverse_is_inconclusive():
    stuck = spec(simulate=lambda e, rng: runs(-0.3 + 0.1 * rng.standard_normal(SEEDS)))
    c, _ = calibrated(stuck, noisy(-0.3))
    assert (c.verdict_raw, c.gate) == (NOT_SUPPORTED, "could_not_fail")
    assert "at the paper's effect" in c.gate_reason


def test_a_rule_that_responds_keeps_its_verdict():
    for data, expected in ((noisy(0.5), SUPPORTED), (noisy(-0.3), NOT_SUPPORTED)):
        c, _ = calibrated(spec(), data)
        assert (c.verdict, c.gate) == (expected, ""), c


def quadratic_runs(curvature: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.repeat(np.arange(1.0, 6.0), 4)  # five design points, four seeds each
    return x, 1.0 + 0.5 * x + curvature * x**2 + 0.05 * rng.standard_normal(x.size)


def line_check(x: np.ndarray, y: np.ndarray) -> FitCheck:
    slope, intercept = np.polyfit(x, y, 1)
    lof = lack_of_fit(y - (intercept + slope * x), x, 2)
    return FitCheck(lof.p >= 0.05, lof.describe(), {"p": lof.p})


def test_lack_of_fit_separates_a_curved_truth_from_a_straight_one():
    assert line_check(*quadratic_runs(0.3)).passed is False
    passes = [line_check(*quadratic_runs(0.0, seed=s)).passed for s in range(40)]
    assert 0.85 <= np.mean(passes) <= 1.0  # a true line fails at about the test's 5%


def test_lack_of_fit_weights_each_variance_group():
    rng = np.random.default_rng(1)
    points = np.repeat(np.arange(6), 5)
    group = points % 2  # odd points scatter 50 times more
    sd = np.where(group == 1, 0.5, 0.01)
    resid = sd * rng.standard_normal(points.size)
    resid[points == 0] += 0.05  # a misfit five times the quiet group's scatter
    assert lack_of_fit(resid, points, 1, variance_groups=group).p < 0.01
    assert lack_of_fit(resid, points, 1).p > 0.05  # pooled, the loud group hides it


def test_lack_of_fit_without_pure_error_is_undefined():
    lof = lack_of_fit([0.1, -0.2, 0.3], [1, 2, 3], 1)  # one run per point
    assert not lof.defined and "undefined" in lof.describe()


def test_a_claim_read_off_a_form_that_does_not_fit_is_inconclusive():
    x, y = quadratic_runs(0.3)
    s = spec(fit_check=lambda d: line_check(x, y))
    c = one([s], noisy(0.5))
    assert (c.verdict_raw, c.gate) == (SUPPORTED, "lack_of_fit")
    assert c.gate_reason.startswith("the form does not fit these runs: lack-of-fit F(")
    c = one([spec(fit_check=lambda d: line_check(*quadratic_runs(0.0, seed=3)))], noisy(0.5))
    assert c.gate == ""


def optimum_outside(x: np.ndarray, y: np.ndarray) -> str:
    """The minimum of a fitted parabola, checked against the trained range of x."""
    a, b, _ = np.polyfit(x, y, 2)
    best = -b / (2 * a)
    if not x.min() <= best <= x.max():
        return f"optimum at {best:.3g}, the grid spans {x.min():g}-{x.max():g}"
    return ""


def test_an_optimum_outside_the_grid_is_inconclusive():
    x = np.repeat(np.arange(1.0, 6.0), 3)
    inside = 0.2 * (x - 3.0) ** 2
    outside = 0.2 * (x - 9.0) ** 2
    c = one([spec(range_check=lambda d: optimum_outside(x, outside))], noisy(0.5))
    assert (c.verdict_raw, c.gate) == (SUPPORTED, "extrapolation")
    assert c.gate_reason.startswith("outside the grid: optimum at 9")
    c = one([spec(range_check=lambda d: optimum_outside(x, inside))], noisy(0.5))
    assert c.gate == ""


RULE = LearnedRule("acc", "higher", 0.1, 0.3, "ten classes")


def test_runs_that_did_not_learn_are_marked_counted_and_never_vote():
    acc = np.array([0.95] * 3 + [0.1] * 5)
    data = mark_not_learned(noisy(0.5).assign(acc=acc), RULE)
    assert (data["status"] == "not_learned").sum() == 5
    c = one([spec()], data)
    assert (c.runs_read, c.runs_not_learned) == (8, 5)
    assert (c.verdict_raw, c.gate) == (SUPPORTED, "not_learned")  # 3 learned seeds vote
    assert c.gate_reason == "most runs did not learn: 5 of 8"
    assert c.n == 3  # the statistic saw only the runs that learned


def test_a_grid_that_learned_keeps_its_verdict_and_counts_its_stragglers():
    acc = np.array([0.95] * 7 + [0.1])
    c = one([spec()], mark_not_learned(noisy(0.5).assign(acc=acc), RULE))
    assert (c.verdict, c.gate, c.runs_not_learned) == (SUPPORTED, "", 1)


def test_the_learned_rule_reads_a_column_reference_and_keeps_other_statuses():
    rule = LearnedRule("loss", "lower", "start", 0.05, "below its start")
    runs_ = pd.DataFrame(
        {
            "status": ["ok", "ok", "diverged", "ok"],
            "loss": [1.0, 1.98, np.nan, np.nan],
            "start": [2.0, 2.0, 2.0, 2.0],
        }
    )
    assert mark_not_learned(runs_, rule)["status"].tolist() == [
        "ok",
        "not_learned",
        "diverged",
        "not_learned",  # a NaN metric did not learn
    ]
    with pytest.raises(ValueError, match="better"):
        LearnedRule("loss", "smaller", 0.0, 0.1, "")


def test_runs_that_did_not_learn_the_part_a_claim_reads_gate_it():
    # the runs pass the run-level rule, but the claim reads a part of the task (one skill
    # of several, say) that they never learned
    data = noisy(0.5)
    seen = []

    def stayed_at_chance(d):
        seen.append(d)
        return "format was not learned: mean accuracy 0.01, below 0.2"

    c = one([spec(learned_check=stayed_at_chance)], data)
    assert seen and seen[0] is data  # the check reads the claim's data
    assert (c.verdict_raw, c.verdict, c.gate) == (SUPPORTED, INCONCLUSIVE, "not_learned")
    assert c.gate_reason == "format was not learned: mean accuracy 0.01, below 0.2"
    assert (c.verdict_holm_raw, c.verdict_holm) == (SUPPORTED, INCONCLUSIVE)
    # learned: the claim keeps its verdict
    c = one([spec(learned_check=lambda d: "")], data)
    assert (c.verdict, c.gate, c.gate_reason) == (SUPPORTED, "", "")

    # a check that cannot run does not pass
    def broken(d):
        raise KeyError("acc_format")

    c = one([spec(learned_check=broken)], data)
    assert (c.verdict_raw, c.verdict, c.gate) == (SUPPORTED, INCONCLUSIVE, "not_learned")
    assert c.gate_reason == "learned check failed: KeyError: 'acc_format'"
    # it comes before the identity gate, and after the run-level count, whose reason wins
    c = one([spec(learned_check=stayed_at_chance)], runs(np.full(SEEDS, 0.5)))
    assert c.gate == "not_learned" and c.gate_reason.startswith("format was not learned")
    acc = np.array([0.95] * 3 + [0.1] * 5)
    c = one([spec(learned_check=stayed_at_chance)], mark_not_learned(data.assign(acc=acc), RULE))
    assert (c.gate, c.gate_reason) == ("not_learned", "most runs did not learn: 5 of 8")


def test_reads_count_only_the_arms_a_claim_compares():
    data = noisy(0.5).assign(arm=["a"] * 4 + ["b"] * 4, acc=[0.9] * 4 + [0.1] * 4)
    data = mark_not_learned(data, RULE)
    c = one([spec(reads=({"arm": "a"},))], data)
    assert (c.runs_read, c.runs_not_learned) == (4, 0)


def test_a_control_that_passes_the_same_rule_gates_the_claim():
    ctrl = noisy(0.45, seed=5)
    s = spec(control=lambda d: t_mean(ctrl["x"].to_numpy()), control_label="the NLL head")
    c = one([s], noisy(0.5))
    assert (c.verdict_raw, c.gate) == (SUPPORTED, "control")
    assert c.gate_reason.startswith("the NLL head passes the same rule (")
    flat = noisy(0.0, seed=5)
    c = one([spec(control=lambda d: t_mean(flat["x"].to_numpy()))], noisy(0.5))
    assert (c.verdict, c.gate) == (SUPPORTED, "")


def test_a_statistic_that_raises_is_reported_not_fatal():
    def broken(d):
        raise FloatingPointError("The function value at x=1 is NaN")

    s = replace(spec(), compute=broken)
    c = one([s], noisy(0.5))
    assert c.verdict == INCONCLUSIVE and "statistic failed: FloatingPointError" in c.detail
    assert math.isinf(c.ci_high)


def test_the_planner_line_goes_to_open_claims_that_passed_the_gates():
    open_claim = one([spec(claim_id="open")], noisy(0.12, sd=0.3))
    identity = one([spec(claim_id="id")], runs(np.full(SEEDS, 0.5)))
    decided = one([spec(claim_id="done")], noisy(0.5))
    cal = pd.DataFrame(
        {
            "claim_id": ["open", "id", "done"],
            "opposite_not_supported": [0.9] * 3,
            "power": [0.3, 0.9, 0.9],
        }
    )
    plans = {k: f"plan of {k}" for k in ("open", "id", "done")}
    out = {c.claim_id: c for c in apply_calibration([open_claim, identity, decided], cal, plans)}
    assert out["open"].verdict == INCONCLUSIVE and out["open"].plan == "plan of open"
    assert out["id"].gate == "identity" and out["id"].plan == ""  # seeds cannot fix algebra
    assert out["done"].verdict == SUPPORTED and out["done"].plan == ""


def test_lack_of_fit_with_per_group_variances_keeps_its_nominal_rate():
    # two seeds per point, four bit widths whose noise differs 50-fold: an F test on the
    # per-group scaled misfits rejected a true law about 20% of the time at 5%
    rng = np.random.default_rng(7)
    points = np.repeat(np.arange(24), 2)
    group = points % 4
    sd = np.array([0.01, 0.05, 0.2, 0.5])[group]
    rejected = [
        lack_of_fit(sd * rng.standard_normal(points.size), points, 0, variance_groups=group).p
        < 0.05
        for _ in range(300)
    ]
    assert 0.02 <= np.mean(rejected) <= 0.09, np.mean(rejected)


def test_a_decided_verdict_the_calibration_could_not_check_is_inconclusive():
    c = one([spec()], noisy(0.5))
    failed = pd.DataFrame(
        {
            "claim_id": ["c"],
            "opposite_not_supported": [math.nan],
            "power": [math.nan],
            "error": ["ValueError: too few cells"],
        }
    )
    (out,) = apply_calibration([c], failed)
    assert (out.verdict_raw, out.verdict, out.gate) == (SUPPORTED, INCONCLUSIVE, "not_calibrated")
    assert out.gate_reason == "not calibrated: ValueError: too few cells"
    (out,) = apply_calibration([c], failed.iloc[:0])  # no row at all
    assert out.gate == "not_calibrated"


def test_one_arm_that_did_not_learn_gates_a_contrast_even_when_the_pool_learned():
    # 7 of 8 runs of arm b never left chance: pooled with arm a that is 7 of 16, under half,
    # but b's one survivor would be a selected run
    data = noisy(0.5).assign(arm="a", acc=0.9)
    data = pd.concat([data, noisy(0.5, seed=2).assign(arm="b", acc=[0.9] + [0.1] * 7)])
    data = mark_not_learned(data.reset_index(drop=True), RULE)
    c = one([spec(reads=({"arm": "a"}, {"arm": "b"}))], data)
    assert c.gate == "not_learned" and c.gate_reason.endswith("in one arm it reads: 7 of 8")
    assert (c.runs_read, c.runs_not_learned) == (16, 7)


def test_an_identity_measured_in_float32_is_still_an_identity():
    rounding = 1e-8 * np.random.default_rng(0).standard_normal(SEEDS)  # float32 rounding
    c = one([spec()], runs(0.5 + rounding))  # SESOI 0.1: any real effect is far wider
    assert c.gate == "identity"
