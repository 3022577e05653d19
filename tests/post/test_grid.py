import copy
from pathlib import Path

import pytest
import yaml

from papergrid.config import ConfigError
from papergrid.post.grid import check_block, dpo_jobs, dpo_runs, rl_jobs, rl_runs, run_id

ROOT = Path(__file__).resolve().parents[2]


def blocks():
    cfg = yaml.safe_load((ROOT / "config.yaml").read_text())
    return cfg["post"], cfg["sft"]


def test_jobs_cover_the_comparison_the_arms_and_rl():
    post, sft = blocks()
    check_block(post, sft)
    jobs = dpo_jobs(post)
    assert (
        "mixed-dpo_norm-5" in jobs and "mixed-dpo-0.1" in jobs and "off_policy-dpo_norm-5" in jobs
    )
    assert "chosen_longer-dpo-0.1" in jobs and len(jobs) == len(set(jobs))
    rl = rl_jobs(post)
    assert "ppo-all-0.05-sft" in rl and "rloo-all-0.05-sft" in rl and "ppo-sort-0.05-weak" in rl
    runs = dpo_runs(post, "mixed-wpo-0.1")
    assert [r["seed"] for r in runs] == post["start"]["seeds"]
    assert {r["method"] for r in runs} == {"wpo"} and runs[0]["beta"] == 0.1
    weak = rl_runs(post, "ppo-sort-0.05-weak")
    assert weak[0]["start"] == "weak" and weak[0]["weak_steps"] == post["start"]["weak_steps"]
    assert len({run_id(r) for j in jobs for r in dpo_runs(post, j)}) == len(jobs) * len(runs)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda p, s: p["start"].update(template="llama2"), "post.start.template"),
        (lambda p, s: p["start"].update(seeds=[0, 99]), "post.start.seeds: [99]"),
        (
            lambda p, s: p["dpo"].update(reference={"loss": "dpo_norm", "beta": 3}),
            "post.dpo.reference",
        ),
        (lambda p, s: p["rl"]["rlvr"].update(weak_beta=0.2), "post.rl.rlvr.weak_beta"),
        (
            lambda p, s: (
                p["rl"]["rlvr"].update(skill="sort")
                or s["data"].update(skills=["addition", "reverse"])
            ),
            "post.rl.rlvr.skill: 'sort' has no SFT data",
        ),
        (lambda p, s: p["data"].update(n_pairs=10**6), "post.data.n_unused_per_skill"),
    ],
)
def test_cross_key_problems_are_named(mutate, message):
    post, sft = (copy.deepcopy(b) for b in blocks())
    mutate(post, sft)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        check_block(post, sft)
