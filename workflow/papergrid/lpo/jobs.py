"""The adaptive-decoding experiment's jobs (see papergrid.lpo.grid for the grid)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import torch

from papergrid import runtime
from papergrid.contract import rows_to_table
from papergrid.io import atomic_path, write_parquet
from papergrid.lm.batches import PairBatches
from papergrid.lm.jobs import load_model, train_lm_run
from papergrid.lm.model import GPT
from papergrid.lm.sampling import Samples, generator_for, sample
from papergrid.lm.sources import Prepared, batched_loss
from papergrid.lm.tokenizer import EOS, PAD, SEP, Tokenizer
from papergrid.lm.trainer import StepOutput, TrainConfig, train
from papergrid.lpo.grid import BASE_CONTRACT, CONTRACT, PROMPT_SCHEMA, VARIANTS, run_id
from papergrid.lpo.head import (
    PairFeatures,
    TemperatureHead,
    pair_loss,
    response_features,
)
from papergrid.lpo.tasks import FAMILIES, Prompt, Suite
from papergrid.provenance import run_hash
from papergrid.runtime import stream_seed as stream

log = logging.getLogger(__name__)
MAX_NEW = 24  # response budget: the longest reference is about half of it
MIN_PAIRS = 4  # a head needs some pairs to train on and one held out
BASE_HELD_STREAM = 2  # the frozen model's own held-out prompts (its val_loss)
# the stream every test decoding of a seed draws its tokens from (common random numbers)
TEST_TOKENS = "test_tokens"
HEAD_TEMPS = "head_temps"  # and the stream sampled-temperature heads draw theirs from


@dataclass
class Codec:
    """Prompt text + separator in, response + end token out."""

    tok: Tokenizer

    def __post_init__(self):
        self.sep, self.eos, self.pad = self.tok.id(SEP), self.tok.id(EOS), self.tok.id(PAD)

    def prompt(self, p: Prompt) -> list[int]:
        return self.tok.encode(p.text) + [self.sep]

    def pair(self, p: Prompt) -> tuple[list[int], list[int]]:
        return self.prompt(p), self.tok.encode(p.reference) + [self.eos]

    def text(self, ids: Sequence[int]) -> str:
        ids = list(ids)
        return self.tok.decode(ids[: ids.index(self.eos)] if self.eos in ids else ids)


def prompt_sets(
    suite: Suite,
    n: int,
    seed: int,
    exclude: frozenset[str] = frozenset(),
    split: str | None = None,
):
    return [
        p
        for fam in FAMILIES
        for p in suite.prompts(fam, n, seed=seed, exclude=exclude, split=split)
    ]


def base_texts(suite: Suite, block: Mapping[str, Any]) -> frozenset[str]:
    """Prompts the frozen model was trained on (with their noisy answers)."""
    return frozenset(p.text for p in suite.training_texts(block["base"]["n_train_per_family"], 1))


def seed_prompts(suite: Suite, block: Mapping[str, Any], seed: int) -> dict[str, list[Prompt]]:
    """A seed's training, validation and test prompts, none of them seen before its split:
    verifiable prompts are distinct and held out (validation from training and the frozen
    model's data, test from all three); the novel and constraint families hold out by tag
    (:data:`papergrid.lpo.tasks.TAG_SPLITS`)."""
    data = block["data"]
    seen = base_texts(suite, block)
    out = {}
    for split, key in (("train", "n_prompts_per_family"), ("val", "n_val_per_family")):
        exclude = seen if split != "train" else frozenset()
        out[split] = prompt_sets(suite, data[key], stream(seed, f"{split}_prompts"), exclude, split)
        seen = seen | {p.text for p in out[split]}
    out["test"] = prompt_sets(
        suite, data["n_test_per_family"], stream(seed, "test_prompts"), seen, "test"
    )
    return out


# ---------------------------------------------------------------- the frozen model


def base_data(block: Mapping[str, Any], batch_size: int, seed: int) -> Prepared:
    """The frozen model's training data (every family, exact with its noise)."""
    suite = Suite(block["tasks"])
    train_prompts = suite.training_texts(block["base"]["n_train_per_family"], seed=1)
    held = prompt_sets(suite, 100, BASE_HELD_STREAM)
    texts = [p.text + p.reference for p in train_prompts + held]
    tok = Tokenizer.build("char", texts, specials=(PAD, EOS, SEP))
    codec = Codec(tok)
    held_pairs = [codec.pair(p) for p in held]
    pairs = [codec.pair(p) for p in train_prompts]

    def evaluate(model: GPT) -> dict[str, float]:
        return {"val_loss": batched_loss(model, held_pairs, codec.pad)}

    block_size = max(len(a) + len(b) for a, b in pairs + held_pairs) + MAX_NEW
    return Prepared(tok, PairBatches(pairs, batch_size, seed, codec.pad), evaluate, block_size)


def base_job(
    block: Mapping[str, Any],
    seed: int,
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, str],
) -> str:
    """Train seed ``seed``'s frozen model (its initialisation and batch order are the
    seed's; the data are every seed's), then measure it at temperature 0 and 1 on every
    family's held-out prompts."""
    train_cfg = {**block["base"]["train"], "seed": int(seed), "checkpoint_every": 0}
    data = base_data(block, train_cfg["batch_size"], train_cfg["seed"])
    suite = Suite(block["tasks"])

    def after_train(model: GPT, data: Prepared) -> dict[str, float]:
        codec = Codec(data.tokenizer)
        n = block["data"]["n_test_per_family"]
        prompts = prompt_sets(
            suite, n, stream(seed, "base_measure"), base_texts(suite, block), "test"
        )
        out: dict[str, float] = {}
        for name, t in (("greedy", 0.0), ("t1", 1.0)):
            s = draw(model, codec, prompts, t, seed=stream(seed, "base_eval"))
            rewards = score(suite, codec, prompts, s)
            for fam in FAMILIES:
                out[f"reward_{fam}_{name}"] = float(
                    np.mean([r for r, p in zip(rewards, prompts, strict=True) if p.family == fam])
                )
            if name == "t1":
                g = suite.grammar
                out["valid_novel_t1"] = float(
                    np.mean(
                        [
                            g.valid(p.meta["topic"], codec.text(r))
                            for p, r in zip(prompts, s.responses, strict=True)
                            if p.family == "novel"
                        ]
                    )
                )
        return out

    return train_lm_run(
        contract=BASE_CONTRACT,
        run_id=f"lpo-base-s{seed}",
        run={"tasks": block["tasks"], "base": block["base"], "seed": int(seed)},
        grid={},
        source="lpo_tasks",
        source_cfg={},
        model_cfg=block["base"]["model"],
        train_cfg=train_cfg,
        device=device,
        threads=threads,
        code_hash=code_hash,
        curve_path=outputs["curve"],
        summary_path=outputs["summary"],
        model_path=outputs["model"],
        vocab_path=outputs["vocab"],
        checkpoint_path=None,
        after_train=after_train,
        data=data,
    )


# ---------------------------------------------------------------- sampling


def draw(
    model: GPT,
    codec: Codec,
    prompts: Sequence[Prompt],
    temperature: float | Callable[[int], Callable],
    seed: int,
    chunk: int = 512,
) -> Samples:
    """One response per prompt. ``temperature`` is a value, or a factory giving each
    chunk's temperature function (it is told the chunk's offset, to seed its draws)."""
    model.eval()
    out = Samples([], [], [], [])
    for i in range(0, len(prompts), chunk):
        part = prompts[i : i + chunk]
        t = temperature(i) if callable(temperature) else temperature
        s = sample(
            model,
            [codec.prompt(p) for p in part],
            max_new=MAX_NEW,
            eos_id=codec.eos,
            pad_id=codec.pad,
            temperature=t,
            generator=generator_for(seed, i),
        )
        for k in ("responses", "logprobs", "temperatures", "finished"):
            getattr(out, k).extend(getattr(s, k))
    return out


def score(suite: Suite, codec: Codec, prompts: Sequence[Prompt], s: Samples) -> list[float]:
    return [
        suite.reward(p, codec.text(r)) if done else 0.0
        for p, r, done in zip(prompts, s.responses, s.finished, strict=True)
    ]


def random_temperatures(temps: Sequence[float], per_token: bool, seed: int):
    """A factory of temperature functions drawing uniformly from ``temps``: once per
    response (``per_token`` False) or at every token."""
    values = torch.tensor(list(temps), dtype=torch.float32)

    def factory(offset: int):
        g = generator_for(seed, offset)
        fixed: dict[str, torch.Tensor] = {}

        def fn(step: int, hidden: torch.Tensor) -> torch.Tensor:
            if per_token or "t" not in fixed:
                idx = torch.randint(len(values), (hidden.size(0),), generator=g)
                fixed["t"] = values[idx]
            return fixed["t"]

        return fn

    return factory


def head_temperatures(
    head: TemperatureHead, temps: Sequence[float], variant: str, decode: str, seed: int
):
    """A factory of temperature functions that ask ``head``: at the first step only
    (``seq``) or at every step (``tok``); the temperature is sampled from the head's
    distribution or its argmax (``decode``)."""
    values = torch.tensor(list(temps), dtype=torch.float32)

    def factory(offset: int):
        g = generator_for(seed, offset)
        fixed: dict[str, torch.Tensor] = {}

        def fn(step: int, hidden: torch.Tensor) -> torch.Tensor:
            if variant == "tok" or "t" not in fixed:
                with torch.no_grad():
                    logp = head(hidden.float().cpu())
                if decode == "argmax":
                    idx = logp.argmax(-1)
                else:
                    idx = torch.multinomial(logp.exp(), 1, generator=g).squeeze(-1)
                fixed["t"] = values[idx]
            return fixed["t"]

        return fn

    return factory


def temp_index(s: Samples, temps: Sequence[float]) -> list[list[int]]:
    lookup = {round(float(t), 6): i for i, t in enumerate(temps)}
    return [[lookup[round(float(t), 6)] for t in row] for row in s.temperatures]


# ---------------------------------------------------------------- preference data


def preference_pairs(
    prompts: Sequence[Prompt],
    samples: Sequence[tuple[list[int], list[int], float]],
    n: int,
    rng: np.random.Generator,
) -> tuple[list[tuple[int, int, int]], dict[str, int]]:
    """Best and worst of each prompt's ``n`` samples (random among equal rewards), as
    (prompt, chosen sample, rejected sample) indices; prompts whose samples all score the
    same are dropped and counted per family. ``samples[i * n + j]`` is (response, temps,
    reward) of prompt i's j-th sample."""
    pairs, ties = [], dict.fromkeys(FAMILIES, 0)
    for i, p in enumerate(prompts):
        rewards = np.array([samples[i * n + j][2] for j in range(n)])
        best, worst = rewards.max(), rewards.min()
        if best == worst:
            ties[p.family] += 1
            continue
        c = int(rng.choice(np.flatnonzero(rewards == best)))
        r = int(rng.choice(np.flatnonzero(rewards == worst)))
        pairs.append((i, i * n + c, i * n + r))
    return pairs, ties


def frozen_setup(
    block: Mapping[str, Any], seed: int, model_path: str, vocab: str, device: str, threads: int
) -> tuple[torch.device, GPT, Codec, Suite]:
    """What every per-seed job starts from: seeded process, the frozen model in eval mode,
    its codec and the task suite."""
    runtime.configure(threads, seed)
    dev = runtime.resolve_device(device)
    model = load_model(model_path, dev)
    model.eval()
    return dev, model, Codec(Tokenizer.load(vocab)), Suite(block["tasks"])


def data_job(
    block: Mapping[str, Any],
    seed: int,
    model_path: str,
    vocab: str,
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, str],
) -> None:
    """Preference data and features for every head variant, and every fixed temperature
    evaluated on the validation and test prompts (the rows of method ``fixed``)."""
    dev, model, codec, suite = frozen_setup(block, seed, model_path, vocab, device, threads)
    temps = list(block["temperatures"])
    data = block["data"]
    n = data["n_samples"]
    rng = np.random.default_rng([seed, 5])
    sets = seed_prompts(suite, block, seed)
    train_prompts = sets["train"]
    stored: dict[str, Any] = {"temperatures": temps, "variants": {}}
    for variant in block["grid"]["variant"]:
        t0 = time.perf_counter()
        repeated = [p for p in train_prompts for _ in range(n)]
        v = VARIANTS.index(variant)
        factory = random_temperatures(temps, variant == "tok", stream(seed, "data_temps", v))
        s = draw(model, codec, repeated, factory, seed=stream(seed, "data_tokens", v))
        rewards = score(suite, codec, repeated, s)
        tidx = temp_index(s, temps)
        samples = list(zip(s.responses, tidx, rewards, strict=True))
        pairs, ties = preference_pairs(train_prompts, samples, n, rng)
        stored["variants"][variant] = {
            "features": pair_features(model, codec, train_prompts, samples, pairs, temps),
            "ties": ties,
            "n_prompts": len(train_prompts),
            "seconds": time.perf_counter() - t0,
        }
        log.info("%s data: %d pairs, ties %s", variant, len(pairs), ties)
    # fixed temperatures: validation rewards (for the selector) and test rows
    val, test = sets["val"], sets["test"]
    stored["val_rewards"] = {}
    summaries, curves, prompt_rows = [], [], []
    for t in temps:
        t0 = time.perf_counter()
        # common random numbers: every temperature (and every head) the same stream
        sv = draw(model, codec, val, t, seed=stream(seed, "val_tokens"))
        stored["val_rewards"][t] = family_means(val, score(suite, codec, val, sv))
        st = draw(model, codec, test, t, seed=stream(seed, TEST_TOKENS))
        run = {
            "method": "fixed",
            "variant": "none",
            "decode": "none",
            "tau": float(t),
            "seed": seed,
        }
        ev = evaluation(suite, codec, test, st, temps)
        meta = run_meta(run, block, 0, "ok", time.perf_counter() - t0, dev, code_hash)
        summaries.append({**meta, **ev["summary"], "steps_run": 0, "tokens": 0, "flops": 0.0})
        curves.append({**meta, "step": 0, "tokens": 0, "flops": 0.0})
        prompt_rows += [{**r, **_grid(run)} for r in ev["prompts"]]
    with atomic_path(outputs["pairs"]) as tmp:
        torch.save(stored, tmp)
    write_rows(summaries, curves, prompt_rows, outputs)


def pair_features(
    model: GPT,
    codec: Codec,
    prompts: Sequence[Prompt],
    samples: Sequence[tuple[list[int], list[int], float]],
    pairs: Sequence[tuple[int, int, int]],
    temps: Sequence[float],
) -> PairFeatures:
    width = MAX_NEW
    side = {}
    for name, col in (("c", 1), ("r", 2)):
        prompt_ids = [codec.prompt(prompts[p[0]]) for p in pairs]
        responses = [samples[p[col]][0] for p in pairs]
        h, lp, mask = response_features(model, prompt_ids, responses, codec.pad, temps, width)
        tau = torch.zeros((len(pairs), width), dtype=torch.long)
        for i, p in enumerate(pairs):
            t = samples[p[col]][1][:width]
            tau[i, : len(t)] = torch.tensor(t, dtype=torch.long)
        side[name] = (h, lp, mask, tau)
    return PairFeatures(
        [prompts[p[0]].family for p in pairs],
        side["c"][0],
        side["r"][0],
        side["c"][3],
        side["r"][3],
        side["c"][1],
        side["r"][1],
        side["c"][2],
        side["r"][2],
    )


# ---------------------------------------------------------------- evaluation


def family_means(prompts: Sequence[Prompt], values: Sequence[float]) -> dict[str, float]:
    return {
        fam: float(np.mean([v for v, p in zip(values, prompts, strict=True) if p.family == fam]))
        for fam in FAMILIES
    }


def evaluation(
    suite: Suite, codec: Codec, prompts: Sequence[Prompt], s: Samples, temps: Sequence[float]
) -> dict[str, Any]:
    """Summary metrics and per-prompt rows of one run's test samples."""
    rewards = score(suite, codec, prompts, s)
    tidx = temp_index(s, temps)
    tau_resp = [float(np.mean(t)) if len(t) else math.nan for t in s.temperatures]
    rewards_by = family_means(prompts, rewards)
    taus_by = family_means(prompts, tau_resp)
    constrained, free = [], []
    for p, r, t in zip(prompts, s.responses, s.temperatures, strict=True):
        if p.family != "constraint":
            continue
        toks = [codec.tok.tokens[i] for i in r]
        for is_start, tt in zip(suite.constrained_positions(p, toks), t, strict=True):
            (constrained if is_start else free).append(tt)
    summary = {
        "reward_mean": float(np.mean(list(rewards_by.values()))),
        "tau_mean": float(np.mean(list(taus_by.values()))),
        **{f"reward_{f}": v for f, v in rewards_by.items()},
        **{f"tau_{f}": v for f, v in taus_by.items()},
        "tau_constrained": float(np.mean(constrained)) if constrained else math.nan,
        "tau_free": float(np.mean(free)) if free else math.nan,
    }
    rows = []
    per_family: dict[str, int] = {}
    for p, r, tr, ti in zip(prompts, rewards, tau_resp, tidx, strict=True):
        k = per_family.get(p.family, 0)
        per_family[p.family] = k + 1
        rows.append(
            {
                "family": p.family,
                "prompt": k,
                "reward": float(r),
                "tau_response": tr,
                "tau_counts": np.bincount(ti, minlength=len(temps)).tolist(),
            }
        )
    return {"summary": summary, "prompts": rows}


def _grid(run: Mapping[str, Any]) -> dict[str, Any]:
    tau = run.get("tau")
    return {
        "method": run["method"],
        "variant": run["variant"],
        "decode": run["decode"],
        "tau": math.nan if tau is None else float(tau),
        "seed": int(run["seed"]),
    }


def run_meta(run, block, n_params, status, wall, dev, code_hash, init: str = "") -> dict:
    full = {**run, "tasks": block["tasks"], "base": block["base"], "data": block["data"]}
    return {
        "run_id": run_id(run),
        "experiment": CONTRACT.experiment,
        "n_params": int(n_params),
        "status": status,
        "wall_seconds": float(wall),
        "device": runtime.device_label(dev),
        "torch_version": runtime.torch_version(),
        "config_hash": run_hash(full, init),
        "code_hash": code_hash,
        **_grid(run),
    }


def write_rows(summaries, curves, prompt_rows, outputs: Mapping[str, str]) -> None:
    """A job's runs (summary and curve rows, through the contract, which refuses an
    undeclared column; metrics a run does not have are NaN) and its test prompts."""
    for kind, rows, schema in (
        ("summary", summaries, CONTRACT.summary_schema()),
        ("curve", curves, CONTRACT.curve_schema()),
    ):
        defaults = {f.name: _missing(f.type) for f in schema}
        full = [{**defaults, **r} for r in rows]
        write_parquet(rows_to_table(full, schema, outputs[kind]), outputs[kind])
    table = pa.Table.from_pylist(list(prompt_rows), schema=PROMPT_SCHEMA)
    write_parquet(table, outputs["prompts"])


def _missing(kind: pa.DataType):
    return math.nan if pa.types.is_floating(kind) else None


# ---------------------------------------------------------------- heads


class PairIndexBatches:
    """Pair indices per step, a pure function of (seed, step)."""

    def __init__(self, n: int, batch_size: int, seed: int):
        self.n, self.batch_size, self.seed = n, batch_size, seed

    def get(self, step: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step])
        return torch.from_numpy(rng.integers(0, self.n, self.batch_size))


def split_pairs(f: PairFeatures, held_share: float, seed: int) -> tuple[PairFeatures, PairFeatures]:
    perm = torch.from_numpy(np.random.default_rng([seed, 11]).permutation(len(f)))
    cut = max(1, int(round(held_share * len(f))))
    return f.take(perm[cut:]), f.take(perm[:cut])


def train_head(
    run: Mapping[str, Any], features: PairFeatures, d_model: int, dev
) -> tuple[TemperatureHead, Any, str]:
    """Train one head on cached pair features; returns (head, train result, init hash)."""
    hc = run["head"]
    torch.manual_seed(run["seed"])
    head = TemperatureHead(d_model, hc["hidden"], len(run["temperatures"]))
    init = runtime.state_hash(head)
    train_f, held = split_pairs(features, hc["held_out"], run["seed"])
    cfg = TrainConfig(
        steps=hc["steps"],
        batch_size=hc["batch_size"],
        lr=hc["lr"],
        warmup_steps=max(1, hc["steps"] // 20),
        weight_decay=hc["weight_decay"],
        eval_every=max(1, hc["steps"] // hc["evals"]),
        seed=run["seed"],
    )
    per_pair_flops = 6 * sum(p.numel() for p in head.parameters())

    def loss_fn(model, idx, step) -> StepOutput:
        batch = train_f.take(idx)
        loss, _ = pair_loss(model, batch, run["method"], run["variant"], run["beta"])
        return StepOutput(loss, {}, len(idx), per_pair_flops * len(idx))

    def evaluate(model) -> dict[str, float]:
        _, acc = pair_loss(model, held, run["method"], run["variant"], run["beta"] or 1.0)
        return {"pair_acc": float(acc)}

    result = train(
        head,
        cfg,
        PairIndexBatches(len(train_f), cfg.batch_size, run["seed"]),
        evaluate,
        torch.device("cpu"),  # a few thousand parameters: the CPU is faster than a launch
        loss_fn=loss_fn,
        run_key={"run": run_hash(run, init)},
    )
    return head.eval(), result, init


def heads_job(
    runs: Sequence[Mapping[str, Any]],
    baselines: Sequence[Mapping[str, Any]],
    block: Mapping[str, Any],
    model_path: str,
    vocab: str,
    pairs_path: str,
    fixed_prompts: str,
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, str],
) -> None:
    """Train and evaluate every head of one seed, then the per-task selector."""
    import pyarrow.parquet as pq

    seed = runs[0]["seed"]
    dev, model, codec, suite = frozen_setup(block, seed, model_path, vocab, device, threads)
    stored = torch.load(pairs_path, map_location="cpu", weights_only=False)
    temps = stored["temperatures"]
    test = seed_prompts(suite, block, seed)["test"]
    summaries, curves, prompt_rows = [], [], []
    for run in runs:
        data = stored["variants"][run["variant"]]
        features = data["features"]
        if len(features) < MIN_PAIRS:
            log.warning("%s: %d pairs, too few to train on", run_id(run), len(features))
            summaries += [
                failed_row({**run, "decode": d}, block, data, dev, code_hash) for d in run["decode"]
            ]
            continue
        head, result, init = train_head(run, features, model.cfg.d_model, dev)
        n_head = sum(p.numel() for p in head.parameters())
        last = dict(result.curve[-1])
        trained = {
            "steps_run": result.steps_run,
            "tokens": result.tokens,
            "flops": result.flops,
            "train_loss": last.get("train_loss", math.nan),
            "pair_acc": last.get("pair_acc", math.nan),
            "n_pairs": len(features),
            "n_ties": int(sum(data["ties"].values())),
        }
        # one trained head, a run per decoding rule (each with the head's training curve)
        for decode in run["decode"]:
            rule = {**run, "decode": decode}
            meta = run_meta(
                rule, block, n_head, result.status, result.wall_seconds, dev, code_hash, init
            )
            summary = dict(trained)
            if result.status == "ok":
                factory = head_temperatures(
                    head, temps, run["variant"], decode, stream(seed, HEAD_TEMPS)
                )
                s = draw(model, codec, test, factory, seed=stream(seed, TEST_TOKENS))
                ev = evaluation(suite, codec, test, s, temps)
                summary.update(ev["summary"])
                prompt_rows += [{**r, **_grid(rule)} for r in ev["prompts"]]
            summaries.append({**meta, **summary})
            curves += [{**meta, **row} for row in result.curve]
    summaries.append(
        selector_row(baselines[-1], block, stored["val_rewards"], fixed_prompts, dev, code_hash)
    )
    sel = selector_prompts(stored["val_rewards"], pq.read_table(fixed_prompts).to_pandas())
    prompt_rows += [{**r, **_grid(baselines[-1])} for r in sel]
    first = {f.name for f in CONTRACT.curve_schema()}
    curves.append({**{k: v for k, v in summaries[-1].items() if k in first}, "step": 0})
    write_rows(summaries, curves, prompt_rows, outputs)


def failed_row(run, block, data, dev, code_hash) -> dict[str, Any]:
    """A head that could not be trained: recorded as failed, the rest of the grid goes on."""
    meta = run_meta(run, block, 0, "failed", 0.0, dev, code_hash)
    return {
        **meta,
        "steps_run": 0,
        "tokens": 0,
        "flops": 0.0,
        "n_pairs": len(data["features"]),
        "n_ties": int(sum(data["ties"].values())),
    }


def selector_choice(val_rewards: Mapping[float, Mapping[str, float]]) -> dict[str, float]:
    """The best fixed temperature per family on the validation prompts (the lower one on a
    tie: a cooler decoder is the safer default)."""
    temps = sorted(val_rewards)
    return {fam: max(temps, key=lambda t: (val_rewards[t][fam], -t)) for fam in FAMILIES}


def selector_prompts(val_rewards, fixed) -> list[dict[str, Any]]:
    """The selector's test rows: each family's chosen temperature's own test samples."""
    choice = selector_choice(val_rewards)
    rows = []
    for fam, t in choice.items():
        part = fixed[(fixed["family"] == fam) & np.isclose(fixed["tau"], t)]
        for r in part.itertuples():
            rows.append(
                {
                    "family": fam,
                    "prompt": int(r.prompt),
                    "reward": float(r.reward),
                    "tau_response": float(r.tau_response),
                    "tau_counts": list(r.tau_counts),
                }
            )
    return rows


def selector_row(run, block, val_rewards, fixed_prompts, dev, code_hash) -> dict[str, Any]:
    import pyarrow.parquet as pq

    fixed = pq.read_table(fixed_prompts).to_pandas()
    rows = selector_prompts(val_rewards, fixed)
    choice = selector_choice(val_rewards)
    rewards = {
        fam: float(np.mean([r["reward"] for r in rows if r["family"] == fam])) for fam in FAMILIES
    }
    meta = run_meta(run, block, 0, "ok", 0.0, dev, code_hash)
    return {
        **meta,
        "steps_run": 0,
        "tokens": 0,
        "flops": 0.0,
        "reward_mean": float(np.mean(list(rewards.values()))),
        "tau_mean": float(np.mean(list(choice.values()))),
        **{f"reward_{f}": v for f, v in rewards.items()},
        **{f"tau_{f}": float(choice[f]) for f in FAMILIES},
        "tau_constrained": float(choice["constraint"]),
        "tau_free": float(choice["constraint"]),
    }
