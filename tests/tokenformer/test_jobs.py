import pytest

from papergrid.contract import read_checked
from papergrid.lm.trainer import TrainConfig, lr_at
from papergrid.tokenformer.grid import CONTRACT, family_runs, growth_flops, target_steps
from papergrid.tokenformer.jobs import family_job
from papergrid.tokenformer.model import LAYERS

from .test_grid import BLOCK

RATES = {"growth": 0.01, "scratch": 0.02}


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = {}
    for layer in LAYERS:
        d = tmp_path_factory.mktemp(layer)
        paths = {"summary": str(d / "summary.parquet"), "curve": str(d / "curve.parquet")}
        family_job(family_runs(BLOCK, layer, 0), BLOCK, layer, 0, RATES, "cpu", 1, "code", paths)
        out[layer] = (
            read_checked(paths["summary"], CONTRACT.summary_schema()).to_pandas(),
            read_checked(paths["curve"], CONTRACT.curve_schema()).to_pandas(),
        )
    return out


def test_every_run_of_a_family_is_written(trained):
    runs, _ = trained["pattention"]
    assert list(runs["arm"]) == [
        "zero_fixed",
        "random",
        "zero_rescaled",
        "zero_fixed_restart",
        "scratch",
        "scratch",
    ]
    assert set(runs["status"]) == {"ok"} and runs["run_id"].is_unique
    assert (runs.loc[runs["arm"] != "scratch", "steps_run"] == 30).all()
    assert list(runs.loc[runs["arm"] == "scratch", "steps_run"]) == [30, target_steps(BLOCK)]
    assert list(runs["lr_peak"]) == [0.01] * 4 + [0.02] * 2  # growth arms, then scratch
    # order 2: the current token alone cannot reach the entropy rate
    assert (runs["bigram_floor"] > runs["entropy_floor"] + 0.05).all()


def test_growth_arms_share_their_first_stage(trained):
    runs, curves = trained["pattention"]
    grown = runs[runs["arm"] != "scratch"]
    assert grown["stage1_loss"].nunique() == 1
    first = curves[(curves["stage"] == 0) & curves["run_id"].isin(grown["run_id"])]
    assert first.groupby("step")["val_loss"].nunique().max() == 1


@pytest.mark.parametrize(
    "layer, arm",
    [
        ("pattention", "zero_fixed"),
        ("pattention", "zero_fixed_restart"),
        ("gelu", "gelu_zero"),
        ("linear", "plain_zero"),
        ("linear", "plain_net2net"),
    ],
)
def test_function_preserving_growth_leaves_the_loss_unchanged(trained, layer, arm):
    by = trained[layer][0].set_index("arm")
    assert abs(by.loc[arm, "jump_first"]) < 1e-6 and by.loc[arm, "abs_jump"] < 1e-6


def test_growth_that_does_not_preserve_the_function_moves_the_loss(trained):
    by = trained["pattention"][0].set_index("arm")
    assert by.loc["zero_rescaled", "abs_jump"] > 1e-4
    assert by.loc["random", "abs_jump"] > 1e-4


def test_the_restart_arm_warms_up_again_and_the_main_arm_does_not(trained):
    runs, curves = trained["pattention"]
    total = TrainConfig(steps=30, batch_size=4, lr=0.01, warmup_steps=2)
    stage = TrainConfig(steps=10, batch_size=4, lr=0.01, warmup_steps=2)
    rows = {}
    for arm in ("zero_fixed", "zero_fixed_restart"):
        rid = runs.loc[runs["arm"] == arm, "run_id"].iloc[0]
        c = curves[curves["run_id"] == rid]
        rows[arm] = c[c["stage"] == 1].set_index("step")["lr"]
    # the row just after the growth carries the rate of its first step; step 15's the
    # rate of step 14
    assert rows["zero_fixed"][10] == pytest.approx(lr_at(total, 10))
    assert rows["zero_fixed"][15] == pytest.approx(lr_at(total, 14))
    assert rows["zero_fixed_restart"][10] == pytest.approx(0.005)  # warm-up step 1 of 2
    assert rows["zero_fixed_restart"][15] == pytest.approx(lr_at(stage, 4))


def test_curves_count_on_across_growth(trained):
    runs, curves = trained["pattention"]
    rid = runs.loc[runs["arm"] == "random", "run_id"].iloc[0]
    c = curves[curves["run_id"] == rid].reset_index(drop=True)
    assert sorted(set(c["stage"])) == [0, 1, 2]
    assert c["flops"].is_monotonic_increasing and c["tokens"].is_monotonic_increasing
    assert c["step"].iloc[-1] == 30
    # at a growth two rows share step and FLOPs; the stage after spends more per token
    at = c[c["step"] == 10]
    assert list(at["stage"]) == [0, 1] and at["flops"].nunique() == 1
    per_token = c["flops"].diff() / c["tokens"].diff()
    stages = c["stage"].to_numpy()
    assert per_token[stages == 2].min() > per_token[(stages == 0) & (c["step"] > 0)].max()


def test_every_architecture_ends_at_equal_n_and_flops(trained):
    n = {layer: set(trained[layer][0]["n_params"]) for layer in LAYERS}
    assert n["pattention"] == n["gelu"] == n["linear"]  # final shape of every run
    flops = {
        layer: trained[layer][0].set_index(["arm", "steps"]).loc[("scratch", 30), "flops"]
        for layer in LAYERS
    }
    assert len(set(flops.values())) == 1
    grown = trained["pattention"][0].set_index("arm").loc["zero_fixed", "flops"]
    assert grown < flops["pattention"]  # growth spends less than the same tokens at the end
    assert grown == growth_flops(BLOCK)  # as planned
