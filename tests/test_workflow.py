"""The workflow end to end, with the real snakemake command, on the smoke config."""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from papergrid.claims import CLAIMS_SCHEMA, shown_verdict
from papergrid.contract import read_checked
from papergrid.weights.schema import CONTRACT

from .conftest import ROOT, copy_workflow, parse_dry_run
from .lpo.test_claims import CLAIMS as LPO_CLAIMS
from .test_report import Cells
from .tokenformer.test_claims import CLAIMS as TOKENFORMER_CLAIMS

pytestmark = pytest.mark.workflow


def test_smoke_run_produces_every_output(smoke_run):
    res = smoke_run.path / "results"
    runs = read_checked(res / "weights/runs.parquet", CONTRACT.summary_schema()).to_pandas()
    assert len(runs) == 2 * 2 * 2  # width x optimizer x seed
    assert set(runs["status"]) == {"ok"}
    assert runs["run_id"].is_unique and (runs["code_hash"].str.len() > 0).all()
    curves = read_checked(res / "weights/curves.parquet", CONTRACT.curve_schema()).to_pandas()
    assert len(curves) == 8 * 4  # init + 3 epochs per run
    claims = read_checked(res / "weights/claims.parquet", CLAIMS_SCHEMA).to_pandas()
    assert set(claims["verdict"]) <= {"supported", "not supported", "inconclusive"}
    assert len(claims) == 2 * 2 + 1  # two per optimizer, adam against sgd
    calibration = pd.read_parquet(res / "weights/calibration.parquet")
    assert set(calibration["claim_id"]) == set(claims["claim_id"])
    assert calibration["power"].between(0, 1).all() and (calibration["n_sims"] >= 20).all()
    rates = pd.read_parquet(res / "weights/calibration_rates.parquet")
    assert {"margin", "paper", "opposite", "power"} <= set(rates["scenario"])
    for fig in ("stamps", "scaling", "curves"):
        assert (res / f"weights/figures/{fig}.png").stat().st_size > 10_000
    report = (res / "REPORT.md").read_text()
    assert "weights/figures/scaling.png" in report and "| claim |" in report
    assert "| power | reading |" in report and "Holm family: `weights` (5 claims)" in report
    assert (res / "benchmarks/weights/fit.tsv").exists()


def test_lm_demo_trains_one_model_per_source(smoke_run):
    from papergrid.lm.demo import CONTRACT as LM_CONTRACT
    from papergrid.lm.tokenizer import Tokenizer

    res = smoke_run.path / "results/lm_demo"
    runs = read_checked(res / "runs.parquet", LM_CONTRACT.summary_schema()).to_pandas()
    assert sorted(runs["source"]) == ["markov", "scan", "tasks"]
    assert set(runs["status"]) == {"ok"}
    assert (runs["tokens"] > 0).all() and (runs["flops"] > runs["tokens"]).all()
    markov = runs.set_index("source").loc["markov"]
    assert 0 < markov["entropy_floor"] < markov["val_loss"]
    assert not (res / "checkpoints/markov.pt").exists()  # removed once the run finished
    assert len(Tokenizer.load(res / "runs/scan/vocab.json")) == 13 + 6 + 3
    assert "| markov |" in (smoke_run.path / "results/REPORT.md").read_text()


def test_precision_grid_fits_and_claims(smoke_run):
    import math

    from papergrid.precision.capacity import CONTRACT as C_CONTRACT
    from papergrid.precision.grid import CONTRACT as P_CONTRACT

    res = smoke_run.path / "results/precision"
    runs = read_checked(res / "runs.parquet", P_CONTRACT.summary_schema()).to_pandas()
    # D/N x seed x settings: 11 at d_model 4 (the one-tensor sweeps), 5 at 8
    assert len(runs) == 2 * 2 * (11 + 5)
    assert set(runs["train_bits"]) == {3.0, 4.0, 8.0, math.inf}
    by = runs.groupby("setting")["n_quantised"].first()
    assert by["fp"] == 0 and by["int4"] == 3 and by["e2m1"] == 3 and by["kv3"] == 1
    assert set(runs.loc[runs["setting"] == "e2m1", "number_format"]) == {"float"}
    # the runs of a cell share their seed's data: one exact floor for every run
    assert runs["val_floor"].nunique() == 1 and (runs["val_floor"] < runs["val_unigram"]).all()
    # every (N, D) point trained on its own schedule: tokens follow D/N
    ratio = runs["tokens"] / (runs["tokens_per_param"] * runs["n_params"])
    assert ((ratio >= 1) & (ratio < 2)).all()
    fits = pd.read_parquet(res / "fits.parquet")
    groups = {"contrast (int)", "contrast (float)", "contrast (w)", "contrast (a)"}
    assert groups | {"unquantised", "contrast (kv)", "ptq"} == set(fits["law"])
    assert "E" not in set(fits.loc[fits["law"] == "unquantised", "param"])
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    assert len(claims) == 11 and (res / "calibration.md").exists()
    assert "exact floor" in (res / "fits.md").read_text()
    capacity = read_checked(res / "capacity.parquet", C_CONTRACT.summary_schema()).to_pandas()
    assert len(capacity) == 2 * 2 and (capacity["bits_stored_fp"] >= 0).all()
    for fig in ("loss", "neff", "ptq", "residuals", "capacity"):
        assert (res / f"figures/{fig}.png").exists()


def test_unpacked_runs_are_jobs_of_their_own_with_the_same_metrics(tmp_path, smoke_run):
    wf = copy_workflow(tmp_path)

    def one_cell_unpacked(cfg):
        cfg["precision"]["pack"] = False
        cfg["precision"]["grid"].update(
            d_model=[4], seeds=[1], train_bits=[3, 8], float_formats=[], marginal_d_model=[]
        )

    set_smoke(wf, one_cell_unpacked)
    jobs = parse_dry_run(wf.snakemake("-n", "precision_aggregate").stdout)
    settings = ["fp", "int3", "int8"]
    assert sorted(j["setting"] for j in jobs["precision_train"]) == sorted(settings * 2)
    assert {j["seed"] for j in jobs["precision_train"]} == {"1"}
    wf.snakemake("--cores", "2", "precision_aggregate")
    assert (tmp_path / "results/logs/precision/train/d4_r2_s1_int8.log").exists()
    unpacked = pd.read_parquet(tmp_path / "results/precision/runs.parquet")
    packed = pd.read_parquet(smoke_run.path / "results/precision/runs.parquet")
    packed = packed[
        (packed["d_model"] == 4) & (packed["seed"] == 1) & packed["setting"].isin(settings)
    ]
    unpacked, packed = (t.sort_values("run_id").reset_index(drop=True) for t in (unpacked, packed))
    assert list(unpacked["run_id"]) == list(packed["run_id"]) and len(packed) == 6
    pd.testing.assert_frame_equal(
        unpacked.drop(columns="wall_seconds"), packed.drop(columns="wall_seconds")
    )


def test_depth_grid_fits_and_claims(smoke_run):
    from papergrid.depth.grid import CONTRACT as D_CONTRACT

    res = smoke_run.path / "results/depth"
    runs = read_checked(res / "runs.parquet", D_CONTRACT.summary_schema()).to_pandas()
    assert len(runs) == 4 * 2  # depth x seed, one budget
    assert set(runs["status"]) == {"ok"}
    assert ((runs["n_params"] / runs["budget"] - 1).abs() <= 0.05).all()
    assert list(runs.groupby("depth")["d_ff"].first()) == sorted(runs["d_ff"].unique())[::-1]
    assert set(runs.loc[runs["narrow"], "depth"]) == {8}  # d_ff 5 < d_model 8
    for col in ("acc_id", "acc_around_right", "acc_add_jump", "acc_length"):
        assert runs[col].between(0, 1).all()
    assert (runs["pretrain_loss"] > runs["pretrain_floor"]).all()
    assert (runs["us_per_token"] > 0).all()
    # every model of a seed starts from a checkpoint at the loss all of them reached
    for _, seed in runs.groupby("seed"):
        target = seed["pretrain_loss"].max()
        assert (seed["pretrain_target"] == target).all()
        # the closest checkpoint: never further from the target than the last one, and the
        # model that set the target starts where it ended
        gap = (seed["pretrain_start_loss"] - target).abs()
        assert (gap <= (seed["pretrain_loss"] - target).abs()).all()
        assert (gap == 0).any()
        assert (seed["pretrain_step"] > 0).all()  # never from the initialisation
    fits = pd.read_parquet(res / "fits.parquet")
    assert set(fits["metric"]) == {"pretrain_loss", "val_loss"}
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    assert len(claims) == 7  # seven per budget
    assert (res / "calibration.md").exists()
    for fig in ("accuracy", "loss", "matched_loss", "latency"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000
    assert "depth/figures/accuracy.png" in (smoke_run.path / "results/REPORT.md").read_text()


def test_sft_grid_variance_soups_and_claims(smoke_run):
    import torch

    from papergrid.sft.grid import CONTRACT as S_CONTRACT

    res = smoke_run.path / "results/sft"
    runs = read_checked(res / "runs.parquet", S_CONTRACT.summary_schema()).to_pandas()
    # main: 2 templates x 2 seeds; ablate reverse: 2 seeds; mean loss: 2 seeds
    assert sorted(runs["variant"].value_counts().items()) == [
        ("ablate", 2),
        ("main", 4),
        ("mean_loss", 2),
    ]
    assert set(runs["status"]) == {"ok"}
    assert runs["acc_sort"].isna().all()  # not among the smoke config's skills
    assert runs[["acc_addition", "acc_reverse", "acc_mean"]].notna().all().all()
    assert set(runs.loc[runs["variant"] == "mean_loss", "loss_reduction"]) == {"mean"}
    base = torch.load(res / "base/model.pt", weights_only=False)
    tuned = torch.load(res / "runs/main-chatml/s1/model.pt", weights_only=False)
    assert base["config"] == tuned["config"]  # fine-tuned from the one base model
    assert runs[["val_acc_addition", "val_acc_mean"]].notna().all().all()
    soups = pd.read_parquet(res / "soups.parquet")
    assert set(soups["template"]) == {"tulu", "chatml"} and (soups["seed_a"] == 0).all()
    assert set(soups["chosen_seed"]) <= {0, 1}
    variance = pd.read_parquet(res / "variance.parquet")
    assert set(variance["skill"]) == {"addition", "reverse", "mean"}
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    # the seed; the template overall and per skill; reverse's drop (no "others" claim: a
    # smoke run learns no skill); both soup claims; sum against mean, overall and per skill
    assert set(claims["claim_id"]) == {
        "seed_moves_results",
        "template_effect_small",
        "template_effect_small_addition",
        "template_effect_small_reverse",
        "leaving_out_reverse_drops_it",
        "soup_beats_chosen_parent",
        "soup_beats_parent_mean",
        "sum_loss_beats_mean_loss",
        "sum_loss_beats_mean_loss_addition",
        "sum_loss_beats_mean_loss_reverse",
    }
    for fig in ("templates", "ablation", "soups"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000


def test_post_training_runs_every_method_and_claim(smoke_run):
    from papergrid.post.grid import CONTRACT as PO_CONTRACT

    res = smoke_run.path / "results/post"
    runs = read_checked(res / "runs.parquet", PO_CONTRACT.summary_schema()).to_pandas()
    methods = set(runs["method"])
    assert methods == {"sft", "dpo", "dpo_norm", "simpo", "wpo", "ppo", "rloo"}
    assert set(runs.loc[runs["method"] == "sft", "start"]) == {"sft", "weak"}
    assert set(runs["arm"]) >= {
        "mixed",
        "off_policy",
        "duplicated",
        "reused",
        "chosen_longer",
        "prompts",
        "rlvr",
        "start",
    }
    assert set(runs["status"]) == {"ok"} and len(runs) % 2 == 0  # two start seeds each
    tuned = runs[runs["method"] != "sft"]
    assert (tuned["total_flops"] >= tuned["flops"]).all() and (tuned["flops"] > 0).all()
    rl = runs[runs["method"].isin(["ppo", "rloo"])]
    assert rl["kl"].notna().all() and rl["reward"].between(-10, 10).all()
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    # one per non-reference loss of the smoke grid, then the arms, length, PPO and RLVR
    assert set(claims["claim_id"]) == {
        "norm_improves_on_sft",
        "norm_beats_dpo_0.1",
        "norm_beats_simpo_2",
        "norm_beats_wpo_0.1",
        "on_policy_pairs_help",
        "duplication_adds_nothing",
        "unused_prompts_help",
        "norm_avoids_length_exploitation",
        "ppo_similar_to_dpo",
        "ppo_costs_more",
        "rlvr_improves_target",
        "rlvr_gains_concentrate",
        "lower_beta_more_kl",
        "lower_beta_hurts_others",
        "weaker_start_drifts_further",
    }
    assert (res / "calibration.md").exists()
    for fig in ("losses", "rlvr", "cost"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000
    assert "Tülu 3 preference tuning" in (smoke_run.path / "results/REPORT.md").read_text()


def test_lpo_trains_every_head_and_computes_every_claim(smoke_run):
    from papergrid.lpo.grid import CONTRACT as LPO_CONTRACT
    from papergrid.lpo.grid import PROMPT_SCHEMA

    res = smoke_run.path / "results/lpo"
    runs = read_checked(res / "runs.parquet", LPO_CONTRACT.summary_schema()).to_pandas()
    # per seed: 3 fixed temperatures, the selector, 2 variants x 3 losses x 2 decodings
    assert len(runs) == 2 * (3 + 1 + 12) and runs["run_id"].is_unique
    assert set(runs["decode"]) == {"none", "argmax", "sample"}
    assert set(runs["method"]) == {"fixed", "selector", "lpo", "lpo_marginal", "nll"}
    assert (runs.loc[runs["method"] == "fixed", "status"] == "ok").all()
    # a head too few pairs would be "failed" and the grid would finish anyway
    assert set(runs["status"]) <= {"ok", "failed"}
    ok = runs[runs["status"] == "ok"]
    assert ok["reward_mean"].between(0, 1).all() and ok["tau_mean"].between(0, 1).all()
    prompts = read_checked(res / "prompts.parquet", PROMPT_SCHEMA).to_pandas()
    assert set(prompts["family"]) == {"exact", "novel", "constraint"}
    for seed in (0, 1):  # a frozen model per seed
        base = pd.read_parquet(res / f"base/s{seed}/summary.parquet")
        assert {"reward_exact_greedy", "reward_novel_t1", "valid_novel_t1"} <= set(base.columns)
    chosen = pd.read_parquet(res / "chosen.parquet")
    assert set(chosen["side"]) == {"chosen", "rejected"}
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    assert set(claims["claim_id"]) == LPO_CLAIMS
    assert "| run |" in (res / "winrates.md").read_text()
    for fig in ("temperatures", "rewards", "positions"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000
    assert "Adaptive decoding" in (smoke_run.path / "results/REPORT.md").read_text()


def test_tokenformer_grows_every_arm_and_computes_every_claim(smoke_run):
    from papergrid.tokenformer.analysis import RUNS_SCHEMA
    from papergrid.tokenformer.grid import CONTRACT as TF_CONTRACT

    res = smoke_run.path / "results/tokenformer"
    runs = read_checked(res / "runs.parquet", RUNS_SCHEMA).to_pandas()
    # per seed: 3 parameter-attention arms + 2 scratch; gelu growth + 1 scratch; 2 plain
    # growths + 1 scratch
    assert len(runs) == 2 * (5 + 2 + 3) and runs["run_id"].is_unique
    assert set(runs["status"]) == {"ok"}  # the smoke config has no learned gate
    assert set(runs["arm"]) == {
        "zero_fixed",
        "random",
        "zero_fixed_restart",
        "gelu_zero",
        "plain_zero",
        "plain_net2net",
        "scratch",
    }
    grown = runs[runs["arm"] != "scratch"]
    assert grown["growth_penalty"].notna().all() and grown["log10_jump"].notna().all()
    assert grown.loc[grown["layer"] == "pattention", "gap_to_target"].notna().all()
    for arm in ("zero_fixed", "zero_fixed_restart", "gelu_zero", "plain_zero", "plain_net2net"):
        assert (runs.loc[runs["arm"] == arm, "abs_jump"] < 1e-6).all()
    assert len(list((res / "lr").glob("*.json"))) == 3
    curves = read_checked(res / "curves.parquet", TF_CONTRACT.curve_schema()).to_pandas()
    assert set(curves["stage"]) == {0, 1, 2}
    claims = read_checked(res / "claims.parquet", CLAIMS_SCHEMA).to_pandas()
    assert set(claims["claim_id"]) == TOKENFORMER_CLAIMS
    assert "| arm | layer |" in (res / "compute.md").read_text()
    for fig in ("loss_compute", "jumps"):
        assert (res / f"figures/{fig}.png").stat().st_size > 10_000
    assert "TokenFormer" in (smoke_run.path / "results/REPORT.md").read_text()


@pytest.mark.parametrize(
    "change, message",
    [
        (
            lambda b: b["model"].update(norm="relu"),
            "tokenformer.model.norm: unknown 'relu'; allowed",
        ),
        (
            lambda b: b["growth"].update(factors=[0, 4]),
            "tokenformer.growth.factors: 0 is not a whole number above 1",
        ),
        (
            lambda b: b["growth"].update(at_steps=[6, 30]),
            "tokenformer.growth.at_steps: [30] outside the run's steps",
        ),
    ],
)
def test_bad_tokenformer_config_stops_before_any_job(tmp_path, change, message):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: change(c["tokenformer"]))
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(temperatures=[0.0, 1.0, 0.5]), "lpo.temperatures: [0.0, 1.0, 0.5]"),
        (lambda b: b.update(temperatures=[]), "lpo.temperatures: empty"),
        (lambda b: b["data"].update(n_samples=1), "lpo.data.n_samples: 1"),
        (lambda b: b["grid"].update(loss=["lpo", "ipo"]), "unknown loss 'ipo'"),
        (lambda b: b.update(decode=["sample"]), "lpo.decode: ['sample'] lacks argmax"),
        (lambda b: b["tasks"]["novel"].update(tags=3), "lpo.tasks.novel.tags: 3; at least 5"),
    ],
)
def test_bad_lpo_config_stops_before_any_job(tmp_path, change, message):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: change(c["lpo"]))
    proc = wf.snakemake("-n", check=False)
    assert proc.returncode != 0
    assert message in proc.stderr + proc.stdout


def test_second_invocation_has_nothing_to_do(smoke_run):
    assert smoke_run.planned() == {}


def test_touching_files_rebuilds_nothing(fresh_copy):
    later = (2**31 - 10, 2**31 - 10)
    for path in fresh_copy.path.rglob("*"):
        if path.is_file() and "results" not in path.parts and ".snakemake" not in path.parts:
            os.utime(path, later)
    assert fresh_copy.planned() == {}


def edit(path: Path, text: str = "\n# an edit that changes the content\n") -> None:
    path.write_text(path.read_text() + text)


def test_editing_plot_code_rerenders_figures_only(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/weights/plots.py")
    assert set(fresh_copy.planned()) == {"weights_figures", "report", "all"}


def test_editing_precision_analysis_refits_without_training(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/precision/analysis.py")
    jobs = fresh_copy.planned()
    assert set(jobs) == {
        "precision_fit",
        "claims",
        "calibration",
        "claims_page",
        "verdicts",
        "precision_figures",
        "report",
        "all",
    }
    assert [j["experiment"] for j in jobs["claims"]] == ["precision"]


def test_editing_sft_analysis_reanalyses_without_training(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/sft/analysis.py")
    jobs = fresh_copy.planned()
    assert set(jobs) == {
        "sft_variance",
        "claims",
        "calibration",
        "claims_page",
        "verdicts",
        "sft_figures",
        "report",
        "all",
    }


def test_changing_one_sft_template_trains_only_its_job(fresh_copy):
    set_smoke(fresh_copy, lambda c: c["sft"]["grid"].update(template=["tulu", "zephyr"]))
    jobs = fresh_copy.planned()
    assert [j["template"] for j in jobs["sft_main"]] == ["zephyr"]
    assert "sft_base" not in jobs and "sft_variant" not in jobs


def test_editing_a_script_reruns_its_rule(fresh_copy):
    edit(fresh_copy.path / "workflow/scripts/weights_figures.py")
    assert set(fresh_copy.planned()) == {"weights_figures", "report", "all"}


def test_editing_the_claims_core_reruns_every_experiments_claims(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/claims.py")
    jobs = fresh_copy.planned()
    assert set(jobs) == {"claims", "calibration", "verdicts", "claims_page", "report", "all"}
    assert {j["experiment"] for j in jobs["claims"]} == {
        "weights",
        "precision",
        "depth",
        "sft",
        "post",
        "lpo",
        "tokenformer",
    }


def test_editing_training_code_retrains_that_experiment(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/weights/train.py")
    jobs = fresh_copy.planned()
    assert len(jobs["weights_train"]) == 4  # every (width, optimizer) cell
    assert "weights_data" not in jobs
    assert not any(rule.startswith(("lm_demo", "precision")) for rule in jobs)


def test_editing_lm_code_retrains_only_lm_runs(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/lm/trainer.py")
    jobs = fresh_copy.planned()
    assert len(jobs["lm_demo_train"]) == 3
    assert len(jobs["precision_train"]) == 4  # the LM core is shared: every LM grid retrains
    assert not any(rule.startswith("weights") for rule in jobs)


def test_editing_growth_code_retrains_only_tokenformer(fresh_copy):
    edit(fresh_copy.path / "workflow/papergrid/lm/growth.py")
    jobs = fresh_copy.planned()
    assert len(jobs["tokenformer_train"]) == 3 * 2  # architecture x seed
    assert not any(
        r.endswith(("_train", "_base", "_main")) and "tokenformer" not in r for r in jobs
    )


def set_smoke(wf, mutate) -> None:
    path = wf.path / "smoke.yaml"
    cfg = yaml.safe_load(path.read_text())
    mutate(cfg)
    path.write_text(yaml.safe_dump(cfg))


def test_changing_one_grid_point_trains_only_that_point(fresh_copy):
    set_smoke(fresh_copy, lambda c: c["weights"]["grid"].update(width=[8, 24]))
    jobs = fresh_copy.planned()
    trained = sorted((j["width"], j["optimizer"]) for j in jobs["weights_train"])
    assert trained == [("24", "adam"), ("24", "sgd")]
    assert "weights_data" not in jobs


def test_changing_one_optimizer_reruns_only_its_cells(fresh_copy):
    set_smoke(
        fresh_copy,
        lambda c: c["weights"].setdefault("optimizers", {}).setdefault("sgd", {}).update(lr=0.05),
    )
    jobs = fresh_copy.planned()
    assert sorted(j["optimizer"] for j in jobs["weights_train"]) == ["sgd", "sgd"]


def test_a_negative_zero_reruns_nothing(fresh_copy):
    set_smoke(
        fresh_copy,
        lambda c: (
            c["weights"].setdefault("optimizers", {}).setdefault("sgd", {}).update(decay_dose=-0.0)
        ),
    )
    assert "decay_dose: -0.0" in (fresh_copy.path / "smoke.yaml").read_text()
    assert fresh_copy.planned() == {}


def test_reordering_config_keys_reruns_nothing(fresh_copy):
    for name in ("config.yaml", "smoke.yaml"):
        path = fresh_copy.path / name
        cfg = yaml.safe_load(path.read_text())
        path.write_text(yaml.safe_dump(cfg, sort_keys=True))  # every block's keys reordered
    assert fresh_copy.planned() == {}


def test_changing_analysis_settings_refits_without_training(fresh_copy):
    set_smoke(fresh_copy, lambda c: c["weights"]["analysis"].update(auc_threshold=0.8))
    jobs = fresh_copy.planned()
    assert set(jobs) == {
        "claims",
        "calibration",
        "verdicts",
        "claims_page",
        "weights_figures",
        "report",
        "all",
    }
    assert [j["experiment"] for j in jobs["calibration"]] == ["weights"]


def test_bad_config_stops_before_any_job(tmp_path):
    wf = copy_workflow(tmp_path)
    set_smoke(wf, lambda c: c["weights"]["grid"].update(optimizer=["sgd", "rmsprop"]))
    proc = wf.snakemake("--cores", "1", check=False)
    assert proc.returncode != 0
    out = proc.stderr + proc.stdout
    assert "weights.grid.optimizer[1]: 'rmsprop' is not an arm of weights.optimizers" in out
    assert "(defined: ['adam', 'adam_scaled', 'adamw_high', 'adamw_low', 'sgd'])" in out
    assert not (tmp_path / "results").exists()


def test_diverging_runs_are_recorded_and_the_dag_finishes(tmp_path):
    wf = copy_workflow(tmp_path)

    def diverge(cfg):
        cfg["weights"]["grid"].update(optimizer=["sgd"], width=[8, 16, 32])
        cfg["weights"].setdefault("optimizers", {}).setdefault("sgd", {}).update(lr=1.0e6)
        cfg["weights"]["train"]["epochs"] = 10

    set_smoke(wf, diverge)
    wf.snakemake("--cores", "2", "weights")
    runs = pd.read_parquet(tmp_path / "results/weights/runs.parquet")
    assert len(runs) == 6 and "diverged" in set(runs["status"])
    diverged = runs[runs["status"] == "diverged"]
    assert (diverged["epochs_run"] < 10).all() and diverged["train_loss"].isna().all()
    # the runs that did not diverge never reached the matched loss: counted, never read
    read = pd.read_parquet(tmp_path / "results/weights/readings.parquet")
    assert set(read["status"]) == {"diverged", "unmatched"}
    assert pd.read_parquet(tmp_path / "results/weights/fits.parquet").empty
    claims = pd.read_parquet(tmp_path / "results/weights/claims.parquet")
    assert len(claims) == 2 and set(claims["verdict"]) == {"inconclusive"}
    assert (tmp_path / "results/weights/calibration.md").exists()


def test_html_report_embeds_the_figures_and_every_claims_page(fresh_copy):
    fresh_copy.snakemake("--report", "results/report.html")
    html = (fresh_copy.path / "results/report.html").read_text(errors="replace")
    assert "scaling.png" in html and "stamp erased" in html
    pages = re.findall(
        r"data:text/html;charset=[^;]+;filename=claims\.html;base64,([\w+/=]+)", html
    )
    verdicts = []
    for page in pages:
        cells = Cells()
        cells.feed(base64.b64decode(page).decode())
        verdicts += [row[4] for row in cells.rows[1:]]
    expected = []
    for experiment in ("weights", "precision", "depth", "sft", "post", "lpo", "tokenformer"):
        claims = pd.read_parquet(fresh_copy.path / f"results/{experiment}/claims.parquet")
        expected += [
            shown_verdict(v, why)
            for v, why in zip(claims["verdict"], claims["gate_reason"], strict=True)
        ]
    assert len(pages) == 7
    assert sorted(verdicts) == sorted(expected)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def rendered_text(browser: str, path: Path) -> str:
    """The visible text of ``path`` after a headless browser has run its scripts."""
    proc = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=5000"]
        + ["--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    dom = re.sub(r"<(script|style)\b.*?</\1>", " ", proc.stdout, flags=re.S)
    return " ".join(re.sub(r"<[^>]+>", " ", dom).split())


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (Debian: apt-get install chromium)")
def test_the_html_report_renders_in_a_headless_browser(fresh_copy, tmp_path):
    fresh_copy.snakemake("--report", "results/report.html")
    text = rendered_text(CHROMIUM, fresh_copy.path / "results/report.html")
    # scripts are stripped: the menu exists only if the report's app ran
    menu = text[text.index("Results") : text.index("papergrid tests claims")]
    assert menu.split() == [
        "Results",
        "depth",
        "findings",
        "lpo",
        "post",
        "precision",
        "sft",
        "tokenformer",
        "weights",
    ]
    page = tmp_path / "claims.html"
    page.write_bytes((fresh_copy.path / "results/lpo/claims.html").read_bytes())
    claims = pd.read_parquet(fresh_copy.path / "results/lpo/claims.parquet")
    shown = rendered_text(CHROMIUM, page)
    for statement, verdict in zip(claims["statement"], claims["verdict"], strict=True):
        assert statement in shown and verdict in shown


def test_lint_and_format_are_clean():
    lint = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint"], cwd=ROOT, capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr
    assert "Lints for" not in lint.stdout + lint.stderr
    snakefmt = shutil.which("snakefmt", path=str(Path(sys.executable).parent))
    fmt = subprocess.run([snakefmt, "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr


def test_paper_scale_config_plans_cleanly(tmp_path):
    wf = copy_workflow(tmp_path)
    shutil.copy2(ROOT / "config.paper.yaml", tmp_path / "smoke.yaml")
    proc = wf.snakemake("-n", "--quiet", "rules", check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    counts = dict(
        line.split()
        for line in proc.stdout.splitlines()
        if len(line.split()) == 2 and line.split()[1].isdigit()
    )
    assert int(counts["weights_train"]) == 6 * 5  # cells: width x arm
    # precision is not packed at paper scale: one job per run
    # (size x D/N x seed) x settings: fp, 5 integer, 4 float, and at 2 sizes 3 x 5 one-tensor
    assert int(counts["precision_train"]) == 5 * 3 * (4 * (1 + 5 + 4) + 2 * 3 * 5)
    assert int(counts["precision_capacity_train"]) == 3  # one per seed
    assert int(counts["depth_train"]) == 3 * 8  # budget x seed, every depth in one job
    assert int(counts["sft_main"]) == 6 and int(counts["sft_variant"]) == 4 + 1
    # 7 (loss, beta) cells + 4 pair arms + 2 length losses; PPO and RLOO + 4 RLVR betas + weak
    assert int(counts["post_dpo"]) == 7 + 4 + 2 and int(counts["post_rl"]) == 2 + 4 + 1
    assert int(counts["lpo_data"]) == 10 and int(counts["lpo_heads"]) == 10  # one per seed
    assert int(counts["lpo_base"]) == 10  # and a frozen model per seed
    assert int(counts["tokenformer_train"]) == 3 * 3  # architecture x seed
