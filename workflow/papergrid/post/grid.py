"""The post-training grid (Tülu 3 preference tuning and RLVR), planned without torch.

Every run starts from an SFT checkpoint of the SFT experiment's main grid (template
``post.start.template``, seed s for post-training seed s) or, for the weaker start of the
RLVR comparison, from an SFT model trained for fewer steps. Jobs:

- ``data``: one per start seed: prompt pools, on-policy samples, every pair arm, the
  reference model's log-probabilities of every pair (cached once), the start's evaluation;
- ``dpo`` jobs ``<arm>-<loss>-<beta>``: the main comparison (every loss and beta on the
  mixed arm), the data arms (the reference loss on each arm) and the length confound;
- ``rl`` jobs ``<method>-<target>-<beta>-<start>``: PPO and RLOO on the DPO prompts,
  RLVR (PPO on one skill) at every beta, and RLVR from the weaker start.
Each job trains every start seed in one process.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.data.tasks import SKILLS

PREFERENCE_LOSSES = ("dpo", "dpo_norm", "simpo", "wpo")
RL_METHODS = ("ppo", "rloo")
ALL_TARGETS = "all"  # RL on every skill's prompts (the DPO prompts)

_METRICS = (
    pa.field("train_loss", pa.float64()),
    pa.field("margin", pa.float64()),  # preference runs: beta-scaled log-ratio margin
    pa.field("reward", pa.float64()),  # RL runs: mean verifier score of the samples
    pa.field("kl", pa.float64()),  # RL runs: mean per-response KL to the start
    pa.field("length", pa.float64()),  # RL runs: mean sampled response length (tokens)
    pa.field("acc_mean", pa.float64()),  # greedy accuracy, evaluation prompts (subset)
    pa.field("acc_target", pa.float64()),  # the RL target skill's (or the mean) accuracy
)

CONTRACT = RunContract(
    experiment="post",
    grid=(
        pa.field(
            "method", pa.string()
        ),  # sft (the start) | dpo | dpo_norm | simpo | wpo | ppo | rloo
        pa.field("arm", pa.string()),  # the pair arm, or "prompts" for RL on the DPO prompts
        pa.field("beta", pa.float64()),  # NaN for the start
        pa.field("start", pa.string()),  # sft | weak
        pa.field("target", pa.string()),  # the RL target skill, or "all"
    ),
    curve=(pa.field("step", pa.int64()), *LM_FIELDS, pa.field("lr", pa.float64()), *_METRICS),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        *_METRICS,
        *(pa.field(f"acc_{s}", pa.float64()) for s in SKILLS),  # full evaluation, greedy
        pa.field("response_length", pa.float64()),  # mean greedy response length, characters
        pa.field("data_flops", pa.float64()),  # generation and reference passes behind the data
        pa.field("total_flops", pa.float64()),  # flops + data_flops: the method's whole cost
    ),
)


def check_block(block: Mapping[str, Any], sft: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    problems = []
    start = block["start"]
    if start["template"] not in sft["grid"]["template"]:
        problems.append(
            f"post.start.template: {start['template']!r} is not among sft.grid.template "
            f"{sft['grid']['template']} (its SFT checkpoints are the starting points)"
        )
    missing = sorted(set(start["seeds"]) - set(sft["grid"]["seed"]))
    if missing:
        problems.append(
            f"post.start.seeds: {missing} are not among sft.grid.seed {sft['grid']['seed']}"
        )
    dpo = block["dpo"]
    for loss in dpo["main"]:
        if loss not in PREFERENCE_LOSSES:
            problems.append(
                f"post.dpo.main: unknown loss {loss!r}; allowed: {list(PREFERENCE_LOSSES)}"
            )
    ref = dpo["reference"]
    if ref["loss"] not in dpo["main"] or ref["beta"] not in dpo["main"][ref["loss"]]:
        problems.append(
            f"post.dpo.reference: {ref['loss']} at beta {ref['beta']} is not in post.dpo.main "
            "(the data arms and comparisons are measured against that run)"
        )
    rlvr = block["rl"]["rlvr"]
    if rlvr["weak_beta"] not in rlvr["betas"]:
        problems.append(
            f"post.rl.rlvr.weak_beta: {rlvr['weak_beta']} is not among post.rl.rlvr.betas "
            f"{rlvr['betas']} (the weaker start is compared with the SFT start at that beta)"
        )
    target = rlvr["skill"]
    if target not in sft["data"]["skills"]:
        problems.append(
            f"post.rl.rlvr.skill: {target!r} has no SFT data (sft.data.skills "
            f"{sft['data']['skills']})"
        )
    n = block["data"]["n_pairs"]
    for pool in ("unused", "reused"):
        have = block["data"][f"n_{pool}_per_skill"] * len(sft["data"]["skills"])
        if n > have:
            problems.append(
                f"post.data.n_{pool}_per_skill: {have} {pool} prompts in all are too few for "
                f"post.data.n_pairs {n} (every arm needs one prompt per pair)"
            )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))


def beta_name(beta: float) -> str:
    return f"{beta:g}"


def loss_beta(dpo: Mapping[str, Any], loss: str) -> float:
    """The beta a loss trains at outside the main comparison: the reference's for the
    reference loss, the first listed otherwise."""
    ref = dpo["reference"]
    return float(ref["beta"]) if loss == ref["loss"] else float(dpo["main"][loss][0])


def dpo_jobs(block: Mapping[str, Any]) -> list[str]:
    """``<arm>-<loss>-<beta>`` of every preference-tuning job, each once."""
    dpo = block["dpo"]
    jobs = [f"mixed-{loss}-{beta_name(b)}" for loss, betas in dpo["main"].items() for b in betas]
    ref = dpo["reference"]
    jobs += [f"{arm}-{ref['loss']}-{beta_name(ref['beta'])}" for arm in dpo["arms"]]
    length = dpo["length"]
    jobs += [
        f"{length['arm']}-{loss}-{beta_name(loss_beta(dpo, loss))}" for loss in length["losses"]
    ]
    return list(dict.fromkeys(jobs))


def rl_jobs(block: Mapping[str, Any]) -> list[str]:
    """``<method>-<target>-<beta>-<start>`` of every RL job."""
    rl = block["rl"]
    beta = beta_name(rl["beta"])
    jobs = [f"{m}-{ALL_TARGETS}-{beta}-sft" for m in RL_METHODS]
    skill = rl["rlvr"]["skill"]
    jobs += [f"ppo-{skill}-{beta_name(b)}-sft" for b in rl["rlvr"]["betas"]]
    jobs.append(f"ppo-{skill}-{beta_name(rl['rlvr']['weak_beta'])}-weak")
    return list(dict.fromkeys(jobs))


def dpo_runs(block: Mapping[str, Any], job: str) -> list[dict[str, Any]]:
    arm, loss, beta = job.split("-")
    if loss not in PREFERENCE_LOSSES:
        raise ValueError(f"unknown preference job {job!r}; allowed: {dpo_jobs(block)}")
    dpo = block["dpo"]
    return [
        {
            "method": loss,
            "arm": arm,
            "beta": float(beta),
            "start": "sft",
            "target": ALL_TARGETS,
            "seed": int(seed),
            "gamma_beta_ratio": dpo["simpo_gamma_beta_ratio"],
            "train": dict(dpo["train"]),
            "data": dict(block["data"]),
            "template": block["start"]["template"],
        }
        for seed in block["start"]["seeds"]
    ]


def rl_runs(block: Mapping[str, Any], job: str) -> list[dict[str, Any]]:
    method, target, beta, start = job.split("-")
    if method not in RL_METHODS:
        raise ValueError(f"unknown RL job {job!r}; allowed: {rl_jobs(block)}")
    rl = block["rl"]
    return [
        {
            "method": method,
            "arm": "prompts" if target == ALL_TARGETS else "rlvr",
            "beta": float(beta),
            "start": start,
            "target": target,
            "seed": int(seed),
            "alpha": rl["alpha"],
            "algorithm": dict(rl[method]),
            "train": dict(rl["train"]),
            "data": dict(block["data"]),
            "template": block["start"]["template"],
            "weak_steps": block["start"]["weak_steps"] if start == "weak" else None,
        }
        for seed in block["start"]["seeds"]
    ]


def weak_sft_runs(sft: Mapping[str, Any], block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The SFT runs of the weaker start: the start template's main-grid runs for the start
    seeds, trained for ``post.start.weak_steps`` steps instead of the epochs of ``sft.train``."""
    from papergrid.sft.grid import job_runs

    steps = block["start"]["weak_steps"]
    runs = [
        r
        for r in job_runs(sft, f"main-{block['start']['template']}")
        if r["train"]["seed"] in block["start"]["seeds"]
    ]
    for r in runs:
        warm = min(r["train"]["warmup_steps"], steps)
        r["train"] = {
            **r["train"],
            "steps": steps,
            "warmup_steps": warm,
            "eval_every": min(r["train"]["eval_every"], steps),
        }
    return sorted(runs, key=lambda r: block["start"]["seeds"].index(r["train"]["seed"]))


def start_run(block: Mapping[str, Any], seed: int, start: str = "sft") -> dict[str, Any]:
    """The resolved config of a start (its evaluation is a run of method ``sft``)."""
    return {
        "method": "sft",
        "arm": "start",
        "beta": None,  # no beta: NaN in the runs table
        "start": start,
        "target": ALL_TARGETS,
        "seed": int(seed),
        "data": dict(block["data"]),
        "template": block["start"]["template"],
        "weak_steps": block["start"]["weak_steps"] if start == "weak" else None,
    }


def run_id(run: Mapping[str, Any]) -> str:
    beta = "na" if run["beta"] is None else beta_name(run["beta"])
    return (
        f"post/{run['method']}-{run['arm']}-b{beta}-{run['target']}-{run['start']}-s{run['seed']}"
    )
