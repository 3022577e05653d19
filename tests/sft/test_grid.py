import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError
from papergrid.sft.grid import NONE, check_block, job_runs, run_id, variant_jobs

ROOT = Path(__file__).resolve().parents[2]


def block() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())["sft"]


def test_families_of_runs():
    b = block()
    check_block(b)
    assert variant_jobs(b) == [f"ablate-{s}" for s in b["grid"]["ablate"]] + ["mean_loss"]
    main = job_runs(b, "main-zephyr")
    assert [r["train"]["seed"] for r in main] == b["grid"]["seed"]
    assert {r["template"] for r in main} == {"zephyr"}
    assert all(r["train"]["loss_reduction"] == "sum" and r["held_out"] == NONE for r in main)
    ablate = job_runs(b, "ablate-sort")
    assert [r["train"]["seed"] for r in ablate] == b["grid"]["ablation_seeds"]
    assert all("sort" not in r["skills"] and "sort" in r["eval_skills"] for r in ablate)
    assert all(r["template"] == b["reference_template"] for r in ablate)
    mean = job_runs(b, "mean_loss")
    assert all(r["train"]["loss_reduction"] == "mean" for r in mean)
    # one example per micro-batch, so the mean weighs each example, not each micro-batch
    assert all(r["train"]["grad_accum"] == r["train"]["batch_size"] for r in mean)
    n = b["data"]["n_sft_per_skill"] * len(b["data"]["skills"])
    steps = b["train"]["epochs"] * (n // b["train"]["batch_size"])
    assert all(r["train"]["steps"] == steps for r in main + ablate + mean)
    assert all("epochs" not in r["train"] for r in main)  # the trainer's config only
    assert len({run_id(r) for r in main + ablate + mean}) == len(main + ablate + mean)
    with pytest.raises(ValueError, match="unknown SFT job"):
        job_runs(b, "dpo-tulu")


def test_check_block_names_each_problem():
    b = copy.deepcopy(block())
    b["reference_template"] = "llama3"
    b["grid"]["template"] = ["tulu", "zephyr"]
    b["grid"]["ablation_seeds"] = [0, 9]
    b["soups"] = [[0, 0]]
    b["data"]["skills"] = ["addition", "sort"]
    with pytest.raises(ConfigError) as err:
        check_block(b)
    msg = str(err.value)
    assert "sft.reference_template: 'llama3'" in msg
    assert "sft.grid.ablation_seeds" in msg
    assert "sft.soups: pair [0, 0]" in msg
    assert "sft.grid.ablate: ['format', 'reverse']" in msg
