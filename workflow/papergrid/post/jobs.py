"""The post-training experiment's jobs (see papergrid.post.grid for the grid).

Costs are counted in FLOPs the same way for every method: a training token costs the
model's ``flops_per_token`` (forward and backward), a token that only goes forward
(sampling, the reference model, the value pass before PPO's epochs) a third of it. A DPO
run's ``data_flops`` are the sampling and reference passes behind its arm's pairs.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from papergrid import runtime
from papergrid.contract import write_run
from papergrid.io import atomic_path
from papergrid.lm.data import tasks
from papergrid.lm.data.templates import get_template
from papergrid.lm.jobs import load_model
from papergrid.lm.model import GPT
from papergrid.lm.preference import PairLogps, pair_logps, preference_loss, uses_reference
from papergrid.lm.rl import (
    PolicyWithValue,
    build_rollout,
    gae,
    ppo_loss,
    rloo_loss,
    rollout_values,
    token_rewards,
    verifiable_score,
    whiten,
)
from papergrid.lm.sampling import generator_for, sample
from papergrid.lm.tokenizer import PAD, Tokenizer
from papergrid.lm.trainer import StepOutput, TrainConfig, train
from papergrid.post.data import build_arms, label_samples, prompt_pools
from papergrid.post.grid import CONTRACT, run_id
from papergrid.provenance import run_hash
from papergrid.sft.data import eval_examples

log = logging.getLogger(__name__)
CURVE_EVAL_PER_SKILL = 40  # evaluation prompts per skill during training (curves)


def frozen(model: GPT) -> GPT:
    ref = GPT(model.cfg).to(next(model.parameters()).device)
    ref.load_state_dict(model.state_dict())
    ref.eval()
    for p in ref.parameters():
        p.requires_grad_(False)
    return ref


def forward_flops(model, tokens: int) -> float:
    return model.flops_per_token() / 3 * tokens


@dataclass
class Codec:
    """Prompts and responses through the start's chat template and tokenizer."""

    tok: Tokenizer
    template: str

    def __post_init__(self):
        self.tpl = get_template(self.template)
        self.stop = self.tok.id(self.tpl.stop)
        self.pad = self.tok.id(PAD)

    def prompt(self, text: str) -> list[int]:
        return self.tok.encode(self.tpl.prompt(text))

    def response(self, text: str) -> list[int]:
        return self.tok.encode(text + self.tpl.stop)

    def text(self, ids: Sequence[int]) -> str:
        ids = list(ids)
        return self.tok.decode(ids[: ids.index(self.stop)] if self.stop in ids else ids)


def max_new(codec: Codec, examples: Sequence[tasks.TaskExample], slack: int = 4) -> int:
    return max(len(codec.response(e.reference)) for e in examples) + slack


def sample_texts(
    model: GPT,
    codec: Codec,
    prompts: Sequence[str],
    *,
    temperature: float,
    seed: int,
    budget: int,
    chunk: int = 512,
) -> tuple[list[str], list[bool], float]:
    """One sampled response per prompt (text, ended with the stop token), and its FLOPs."""
    texts, finished, flops = [], [], 0.0
    model.eval()
    for i in range(0, len(prompts), chunk):
        ids = [codec.prompt(p) for p in prompts[i : i + chunk]]
        out = sample(
            model,
            ids,
            max_new=budget,
            eos_id=codec.stop,
            pad_id=codec.pad,
            temperature=temperature,
            generator=generator_for(seed, i),
        )
        texts += [codec.text(r) for r in out.responses]
        finished += out.finished
        flops += forward_flops(
            model, sum(len(p) + len(r) for p, r in zip(ids, out.responses, strict=True))
        )
    return texts, finished, flops


def evaluate(model: GPT, codec: Codec, examples: Sequence[tasks.TaskExample]) -> dict[str, float]:
    """Greedy accuracy per skill and on average, and the mean response length (characters)."""
    texts, _, _ = sample_texts(
        model,
        codec,
        [e.prompt for e in examples],
        temperature=0.0,
        seed=0,
        budget=max_new(codec, examples),
    )
    right = np.array([e.verify(t) for e, t in zip(examples, texts, strict=True)], dtype=float)
    skills = sorted({e.skill for e in examples})
    out = {f"acc_{s}": float(right[[e.skill == s for e in examples]].mean()) for s in skills}
    out["acc_mean"] = float(np.mean([out[f"acc_{s}"] for s in skills]))
    out["response_length"] = float(np.mean([len(t) for t in texts]))
    return out


def eval_sets(data_cfg: Mapping[str, Any], sft_data: Mapping[str, Any]):
    """(full evaluation, subset for curves): the SFT test prompts, the first n per skill."""
    full = []
    for s in sft_data["skills"]:
        mine = eval_examples([s], sft_data["n_eval_per_skill"], sft_data["sizes"])
        full += mine[: data_cfg["n_eval_per_skill"]]
    sub = [
        e
        for s in sft_data["skills"]
        for e in [x for x in full if x.skill == s][:CURVE_EVAL_PER_SKILL]
    ]
    return full, sub


# ---------------------------------------------------------------- data job


def data_job(
    run: Mapping[str, Any],
    start_model: str,
    vocab: str,
    sft_data: Mapping[str, Any],
    device: str,
    threads: int,
    code_hash: str,
    pairs_out: str,
    curve_out: str,
    summary_out: str,
) -> dict[str, Any]:
    """Prompt pools, on-policy samples of the start model, every arm's pairs with the
    reference log-probabilities, and the start's own evaluation (a run of method ``sft``),
    for one start seed. ``run`` is the start's resolved config (see grid.start_run)."""
    import time

    t0 = time.perf_counter()
    seed, template, data_cfg = run["seed"], run["template"], run["data"]
    runtime.configure(threads, seed)
    dev = runtime.resolve_device(device)
    model = load_model(start_model, dev)
    codec = Codec(Tokenizer.load(vocab), template)
    pools = prompt_pools(sft_data, data_cfg["n_unused_per_skill"], data_cfg["n_reused_per_skill"])
    k = data_cfg["samples_per_prompt"]
    budget = max_new(codec, pools.unused + pools.reused)
    flops = 0.0
    labelled = []
    for name, pool in (("unused", pools.unused), ("reused", pools.reused)):
        prompts = [e.prompt for e in pool for _ in range(k)]
        texts, _, f = sample_texts(model, codec, prompts, temperature=1.0, seed=seed, budget=budget)
        flops += f
        labelled.append(label_samples(pool, [texts[i * k : (i + 1) * k] for i in range(len(pool))]))
        log.info("%s prompts: %s", name, labelled[-1].counts())
    allowed = "".join(t for t in codec.tok.tokens if len(t) == 1)
    arms = build_arms(pools, labelled[0], labelled[1], data_cfg["n_pairs"], seed, allowed=allowed)
    stored: dict[str, Any] = {}
    for arm, pairs in arms.items():
        encoded = [
            (codec.prompt(p.prompt), codec.response(p.chosen), codec.response(p.rejected))
            for p in pairs
        ]
        ref = reference_logps(model, encoded, codec.pad, dev)
        ref_flops = forward_flops(
            model, sum(len(a) + len(b) + len(a) + len(c) for a, b, c in encoded)
        )
        stored[arm] = {
            "pairs": encoded,
            "skills": [p.skill for p in pairs],
            "kinds": [p.kind for p in pairs],
            "prompts": [p.prompt for p in pairs],
            "ref": ref,
            # sampling is shared by the arms that use on-policy pairs; each carries its share
            "data_flops": ref_flops
            + (flops * sum(p.kind == "on" for p in pairs) / max(1, len(pairs))),
        }
    stats = {
        **{f"{k}_unused": v for k, v in labelled[0].counts().items()},
        **{f"{k}_reused": v for k, v in labelled[1].counts().items()},
        "sampling_flops": flops,
    }
    examples = {e.prompt: (e.skill, e.reference, dict(e.meta)) for e in pools.unused + pools.reused}
    with atomic_path(pairs_out) as tmp:
        torch.save(
            {
                "arms": stored,
                "stats": stats,
                "rlvr_pool": [(e.prompt, e.skill) for e in pools.unused],
                "examples": examples,
            },
            tmp,
        )
    full, _ = eval_sets(data_cfg, sft_data)
    start_row(
        run, model, codec, full, dev, code_hash, curve_out, summary_out, time.perf_counter() - t0
    )
    return stats


def reference_logps(
    model: GPT, pairs, pad: int, device, batch: int = 64
) -> dict[str, torch.Tensor]:
    """The frozen start's summed log-probabilities and token counts of every pair, once."""
    parts = []
    model.eval()
    with torch.no_grad():
        for i in range(0, len(pairs), batch):
            parts.append(pair_logps(model, pairs[i : i + batch], pad, device))
    return {
        key: torch.cat([getattr(p, key) for p in parts]).cpu()
        for key in ("chosen", "rejected", "chosen_len", "rejected_len")
    }


# ---------------------------------------------------------------- training runs


@dataclass(frozen=True)
class IndexBatches:
    """Epochs over ``n`` items in a fresh seeded order each epoch; a function of the step."""

    n: int
    batch_size: int
    seed: int
    repeat: int = 1  # consecutive steps that reuse one batch (PPO's epochs on a rollout)

    def get(self, step: int) -> np.ndarray:
        it = step // self.repeat
        per_epoch = math.ceil(self.n / self.batch_size)
        epoch, i = divmod(it, per_epoch)
        order = np.random.default_rng([self.seed, epoch]).permutation(self.n)
        return order[i * self.batch_size : (i + 1) * self.batch_size]


def train_config(train: Mapping[str, Any], steps: int, seed: int) -> TrainConfig:
    return TrainConfig(
        steps=steps,
        batch_size=train["batch_size"],
        lr=train["lr"],
        warmup_steps=max(1, round(train["warmup_fraction"] * steps)),
        eval_every=max(1, steps // train["evals"]),
        weight_decay=0.0,
        seed=seed,
    )


def dpo_loss_fn(stored: Mapping[str, Any], run: Mapping[str, Any], pad: int, device):
    pairs, ref = stored["pairs"], stored["ref"]
    aligned = run["method"] == "wpo"

    def loss_fn(model: GPT, idx: np.ndarray, step: int) -> StepOutput:
        batch = [pairs[i] for i in idx]
        pol = pair_logps(model, batch, pad, device, aligned=aligned)
        r = PairLogps(
            *(ref[k][idx].to(device) for k in ("chosen", "rejected", "chosen_len", "rejected_len"))
        )
        loss, margin = preference_loss(
            run["method"],
            pol,
            r if uses_reference(run["method"]) else None,
            run["beta"],
            run["gamma_beta_ratio"],
        )
        tokens = sum(2 * len(a) + len(b) + len(c) for a, b, c in batch)
        return StepOutput(
            loss.mean(), {"margin": float(margin.mean())}, tokens, model.flops_per_token() * tokens
        )

    return loss_fn


def rl_loss_fn(
    run: Mapping[str, Any],
    prompts: Sequence[tuple[str, str]],
    examples: Mapping[str, tasks.TaskExample],
    codec: Codec,
    reference: GPT,
    budget: int,
    device,
):
    """PPO (epochs per rollout, value head) or RLOO (k samples per prompt) on the verifier's
    score of each sampled response (see papergrid.lm.rl)."""
    alg, beta, alpha = run["algorithm"], run["beta"], run["alpha"]
    cache: dict[str, Any] = {"it": None}

    def rollout_for(model, idx: np.ndarray, it: int, repeat: int):
        chosen = [prompts[i][0] for i in idx for _ in range(repeat)]
        ids = [codec.prompt(p) for p in chosen]
        policy = model.policy if isinstance(model, PolicyWithValue) else model
        policy.eval()
        out = sample(
            policy,
            ids,
            max_new=budget,
            eos_id=codec.stop,
            pad_id=codec.pad,
            temperature=1.0,
            generator=generator_for(run["seed"], it),
        )
        policy.train()
        texts = [codec.text(r) for r in out.responses]
        right = [examples[p].verify(t) for p, t in zip(chosen, texts, strict=True)]
        scores = [verifiable_score(r, f, alpha) for r, f in zip(right, out.finished, strict=True)]
        ro = build_rollout(ids, out, scores, reference, codec.pad, device)
        n_tok = int(ro.attention.sum())
        metrics = {
            "reward": float(np.mean(scores)),
            "kl": float(ro.kl.mean()),
            "length": float(ro.lengths.mean()),
            "sample_accuracy": float(np.mean(right)),
        }
        return ro, metrics, 2 * forward_flops(policy, n_tok)  # sampling and the reference

    def loss_fn(model, idx: np.ndarray, step: int) -> StepOutput:
        gen_flops = 0.0
        if run["method"] == "ppo":
            it = step // alg["epochs"]
            if cache["it"] != it:
                ro, metrics, gen_flops = rollout_for(model, idx, it, 1)
                values = rollout_values(model, ro)
                adv, ret = gae(token_rewards(ro, beta), values, ro.mask, alg["gamma"], alg["lam"])
                cache.update(it=it, ro=ro, adv=whiten(adv, ro.mask), ret=ret, metrics=metrics)
                gen_flops += forward_flops(model, int(ro.attention.sum()))
            ro = cache["ro"]
            loss, extra = ppo_loss(
                model, ro, cache["adv"], cache["ret"], alg["clip"], alg["vf_coef"]
            )
            metrics = {**cache["metrics"], **extra}
        else:
            ro, metrics, gen_flops = rollout_for(model, idx, step, alg["k"])
            loss, extra = rloo_loss(model, ro, beta, alg["k"])
            metrics = {**metrics, **extra}
        tokens = int(ro.attention.sum())
        flops = model.flops_per_token() * tokens + gen_flops
        return StepOutput(loss, metrics, tokens, flops)

    return loss_fn


def train_job(
    runs: Sequence[Mapping[str, Any]],
    kind: str,
    inputs: Mapping[str, Sequence[str]],
    vocab: str,
    sft_data: Mapping[str, Any],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Train every seed of one job: ``kind`` is dpo or rl; ``inputs`` maps ``start`` (the
    starting checkpoints) and ``pairs`` (the data files) to one path per seed."""
    statuses = []
    for i, run in enumerate(runs):
        run = {**run, "sft_data": dict(sft_data)}
        statuses.append(
            train_one(
                run,
                kind,
                inputs["start"][i],
                inputs["pairs"][i],
                vocab,
                device,
                threads,
                code_hash,
                outputs["curve"][i],
                outputs["summary"][i],
            )
        )
    return statuses


def train_one(
    run, kind, start_path, pairs_path, vocab, device, threads, code_hash, curve_path, summary_path
) -> str:
    runtime.configure(threads, run["seed"])
    dev = runtime.resolve_device(device)
    codec = Codec(Tokenizer.load(vocab), run["template"])
    start = load_model(start_path, dev)
    reference = frozen(start)
    data = torch.load(pairs_path, map_location="cpu", weights_only=False)
    full, sub = eval_sets(run["data"], run["sft_data"])
    if kind == "dpo":
        stored = data["arms"][run["arm"]]
        tcfg = train_config(
            run["train"],
            run["train"]["epochs"] * math.ceil(len(stored["pairs"]) / run["train"]["batch_size"]),
            run["seed"],
        )
        batches = IndexBatches(len(stored["pairs"]), tcfg.batch_size, run["seed"])
        model = start
        loss_fn = dpo_loss_fn(stored, run, codec.pad, dev)
        data_flops = float(stored["data_flops"])
    else:
        if run["target"] == "all":
            arm = data["arms"]["mixed"]
            prompts = list(zip(arm["prompts"], arm["skills"], strict=True))
        else:
            prompts = [(p, s) for p, s in data["rlvr_pool"] if s == run["target"]]
        tcfg = train_config(run["train"], run["train"]["steps"], run["seed"])
        repeat = run["algorithm"].get("epochs", 1)
        # batch_size counts samples: RLOO draws k per prompt
        per_rollout = max(1, tcfg.batch_size // run["algorithm"].get("k", 1))
        batches = IndexBatches(len(prompts), per_rollout, run["seed"], repeat)
        model = PolicyWithValue(start) if run["method"] == "ppo" else start
        examples = {
            p: tasks.TaskExample(skill, p, ref, meta)
            for p, (skill, ref, meta) in data["examples"].items()
        }
        loss_fn = rl_loss_fn(run, prompts, examples, codec, reference, max_new(codec, full), dev)
        data_flops = 0.0
    policy = model.policy if isinstance(model, PolicyWithValue) else model
    init = runtime.state_hash(policy)

    def curve_eval(m) -> dict[str, float]:
        pol = m.policy if isinstance(m, PolicyWithValue) else m
        ev = evaluate(pol, codec, sub)
        target = ev.get(f"acc_{run['target']}", ev["acc_mean"])
        return {"acc_mean": ev["acc_mean"], "acc_target": target}

    result = train(
        model, tcfg, batches, curve_eval, dev, loss_fn=loss_fn, run_key={"run": run_hash(run, init)}
    )
    last = dict(result.curve[-1])
    if result.status == "ok":
        policy.eval()
        with torch.no_grad():
            last.update(evaluate(policy, codec, full))
    write_post_run(
        run,
        result.status,
        result.wall_seconds,
        policy,
        last,
        result.curve,
        result.steps_run,
        data_flops,
        init,
        dev,
        code_hash,
        curve_path,
        summary_path,
    )
    return result.status


def write_post_run(
    run,
    status,
    wall,
    policy,
    last,
    curve,
    steps_run,
    data_flops,
    init,
    dev,
    code_hash,
    curve_path,
    summary_path,
) -> None:
    meta = {
        "run_id": run_id(run),
        "experiment": CONTRACT.experiment,
        "seed": run["seed"],
        "n_params": policy.num_params(),
        "status": status,
        "wall_seconds": wall,
        "device": runtime.device_label(dev),
        "torch_version": runtime.torch_version(),
        "config_hash": run_hash(run, init),
        "code_hash": code_hash,
        "method": run["method"],
        "arm": run["arm"],
        "beta": math.nan if run["beta"] is None else float(run["beta"]),
        "start": run["start"],
        "target": run["target"],
    }
    summary = {
        f.name: last.get(f.name, math.nan) for f in CONTRACT.summary if f.name != "steps_run"
    }
    summary.update(
        steps_run=steps_run,
        data_flops=data_flops,
        total_flops=float(last.get("flops", 0.0)) + data_flops,
    )
    summary["tokens"] = int(last.get("tokens", 0))
    summary["flops"] = float(last.get("flops", 0.0))
    rows = [{f.name: row.get(f.name, math.nan) for f in CONTRACT.curve} for row in curve]
    write_run(CONTRACT, meta, rows, summary, curve_path, summary_path)
    log.info(
        "%s: %s, %s",
        meta["run_id"],
        status,
        {k: summary[k] for k in ("acc_mean", "response_length")},
    )


def start_row(
    run_like: Mapping[str, Any],
    model: GPT,
    codec: Codec,
    full,
    dev,
    code_hash,
    curve_path,
    summary_path,
    wall: float = 0.0,
) -> None:
    """The start's own evaluation as a run of method ``sft`` (the baseline of every claim)."""
    ev = evaluate(model, codec, full)
    init = runtime.state_hash(model)
    write_post_run(
        run_like,
        "ok",
        wall,
        model,
        ev,
        [{"step": 0, "tokens": 0, "flops": 0.0, **ev}],
        0,
        0.0,
        init,
        dev,
        code_hash,
        curve_path,
        summary_path,
    )


def weak_job(
    sft_runs: Sequence[Mapping[str, Any]],
    starts: Sequence[Mapping[str, Any]],
    base: str,
    vocab: str,
    sft_data: Mapping[str, Any],
    device: str,
    threads: int,
    code_hash: str,
    sft_outputs: Mapping[str, Sequence[str]],
    start_outputs: Mapping[str, Sequence[str]],
) -> None:
    """Train the weaker starts (SFT with fewer steps) and evaluate each as a start run."""
    import time

    from papergrid.sft.jobs import train_job as sft_train

    t0 = time.perf_counter()
    sft_train(sft_runs, [], base, vocab, device, threads, code_hash, sft_outputs)
    dev = runtime.resolve_device(device)
    for i, run in enumerate(starts):
        model = load_model(sft_outputs["model"][i], dev)
        codec = Codec(Tokenizer.load(sft_outputs["vocab"][i]), run["template"])
        full, _ = eval_sets(run["data"], sft_data)
        start_row(
            run,
            model,
            codec,
            full,
            dev,
            code_hash,
            start_outputs["curve"][i],
            start_outputs["summary"][i],
            time.perf_counter() - t0,
        )
