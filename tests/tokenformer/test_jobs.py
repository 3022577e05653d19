import pytest

from papergrid.contract import read_checked
from papergrid.tokenformer.grid import CONTRACT, family_runs, growth_flops, target_steps
from papergrid.tokenformer.jobs import OffsetBatches, family_job

from .test_grid import BLOCK


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = {}
    for layer in ("pattention", "linear"):
        d = tmp_path_factory.mktemp(layer)
        paths = {"summary": str(d / "summary.parquet"), "curve": str(d / "curve.parquet")}
        family_job(family_runs(BLOCK, layer, 0), BLOCK, layer, 0, "cpu", 1, "code", paths)
        out[layer] = (
            read_checked(paths["summary"], CONTRACT.summary_schema()).to_pandas(),
            read_checked(paths["curve"], CONTRACT.curve_schema()).to_pandas(),
        )
    return out


def test_every_run_of_a_family_is_written(trained):
    runs, _ = trained["pattention"]
    assert list(runs["arm"]) == ["zero_fixed", "zero_rescaled", "random", "scratch", "scratch"]
    assert set(runs["status"]) == {"ok"} and runs["run_id"].is_unique
    assert (runs.loc[runs["arm"] != "scratch", "steps_run"] == 30).all()
    assert list(runs.loc[runs["arm"] == "scratch", "steps_run"]) == [30, target_steps(BLOCK)]


def test_growth_arms_share_their_first_stage(trained):
    runs, curves = trained["pattention"]
    grown = runs[runs["arm"] != "scratch"]
    assert grown["stage1_loss"].nunique() == 1
    first = curves[(curves["stage"] == 0) & curves["run_id"].isin(grown["run_id"])]
    assert first.groupby("step")["val_loss"].nunique().max() == 1


def test_zero_keys_with_a_held_scale_leave_the_loss_unchanged(trained):
    runs, _ = trained["pattention"]
    by = runs.set_index("arm")
    assert abs(by.loc["zero_fixed", "jump_first"]) < 1e-6
    assert by.loc["zero_rescaled", "abs_jump"] > 1e-4
    plain = trained["linear"][0].set_index("arm")
    assert abs(plain.loc["plain_zero", "jump_first"]) < 1e-6


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


def test_both_architectures_end_at_equal_n_and_flops(trained):
    pat, lin = trained["pattention"][0], trained["linear"][0]
    assert set(pat["n_params"]) == set(lin["n_params"])  # final shape of every run
    a = pat.set_index(["arm", "steps"]).loc[("scratch", 30), "flops"]
    b = lin.set_index(["arm", "steps"]).loc[("scratch", 30), "flops"]
    assert a == b
    grown = pat.set_index("arm").loc["zero_fixed", "flops"]
    assert grown < a  # growth spends less than the same tokens at the final shape
    assert grown == growth_flops(BLOCK)  # as planned


def test_offset_batches_continue_the_stream():
    class Stream:
        def get(self, step):
            return step

    assert [OffsetBatches(Stream(), 10).get(s) for s in range(3)] == [10, 11, 12]
