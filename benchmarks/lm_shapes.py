"""The training step of each language-model experiment at its default shape (config.yaml).

Shared by benchmarks/step_profile.py and benchmarks/stacked_seeds.py. Depth trains on its
real data (SCAN batches of each seed, Dyck pretraining sequences); the other experiments'
batches are random tokens of their measured shapes (rows, padded length), which is what a
step's time depends on. Lengths are the default run's means: tokens / steps / rows from
results/<experiment>/runs.parquet (SFT 835 tokens per 16-row step; DPO 1,340 per 32 rows).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import torch
import yaml

from papergrid.lm.batches import Batch
from papergrid.lm.model import GPT, GPTConfig

ROOT = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class RandomBatches:
    """Random token rows of a fixed shape; a pure function of (seed, step) like the real ones."""

    rows: int
    length: int
    vocab: int
    seed: int

    def get(self, step: int) -> Batch:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        t = torch.randint(0, self.vocab, (self.rows, self.length + 1), generator=g)
        return Batch(t[:, :-1], t[:, 1:], None)


@dataclasses.dataclass(frozen=True)
class Shape:
    """One experiment's step: the model, a batch stream per seed, and the trainer's knobs."""

    name: str
    model: GPTConfig
    batches: Callable[[int], object]  # seed -> Batches
    grad_accum: int = 1
    # what the experiment builds around the plain GPT: a linear factory (precision's fake
    # quantisation) or a second, frozen forward pass (DPO's reference model)
    build: Callable[[GPTConfig], GPT] = GPT
    reference_pass: bool = False
    stackable: bool = True


def load_config() -> dict:
    return yaml.safe_load((ROOT / "config.yaml").read_text())


def _depth_shapes(cfg: dict) -> list[Shape]:
    from papergrid.depth.grid import seed_runs
    from papergrid.depth.jobs import bracket_data, scan_data
    from papergrid.lm.batches import StreamBatches

    block = cfg["depth"]
    budget = block["grid"]["budget"][0]
    runs0 = seed_runs(block, budget, 0)
    data, offset = scan_data(runs0[0])
    dyck = runs0[0]["pretrain"]["dyck"]
    length = max(data.block_size, dyck["seq_len"])
    pre_rows = runs0[0]["pretrain"]["train"]["batch_size"]

    def scan(seed: int):
        return scan_data(seed_runs(block, budget, seed)[0])[0].batches

    def dyck_stream(seed: int):
        return StreamBatches(bracket_data(dyck, offset, seed).train, pre_rows, seed)

    out = []
    for run in runs0:
        model = GPTConfig(vocab_size=len(data.tokenizer), block_size=length, **run["model"])
        depth = run["depth"]
        out.append(Shape(f"depth pretrain L{depth}", model, dyck_stream))
        out.append(Shape(f"depth fine-tune L{depth}", model, scan))
    return out


def shapes(cfg: dict | None = None) -> list[Shape]:
    """Every language-model experiment's step, in the order of the default run's cost."""
    from papergrid.precision.quant import kv_quantiser, quant_linear_factory

    cfg = cfg or load_config()
    out = _depth_shapes(cfg)

    p = cfg["precision"]
    for size in p["sizes"]:
        d = size["d_model"]
        model = GPTConfig(
            vocab_size=p["markov"]["vocab"],
            block_size=p["markov"]["seq_len"],
            d_ff=4 * d,
            **size,
        )
        n = model.non_embedding_params
        for ratio in (min(p["grid"]["tokens_per_param"]), max(p["grid"]["tokens_per_param"])):
            seq = p["markov"]["seq_len"]
            rows = max(p["train"]["min_batch"], round(ratio * n / p["train"]["steps"] / seq))
            stream = _random(rows, seq, model.vocab_size)
            out.append(Shape(f"precision d{d} D/N {ratio} fp32", model, stream))
            bits = 4
            out.append(
                Shape(
                    f"precision d{d} D/N {ratio} int{bits}",
                    model,
                    stream,
                    build=lambda c, b=bits: GPT(c, quant_linear_factory(b, b), kv_quantiser(b)),
                    stackable=False,
                )
            )

    s = cfg["sft"]
    m = s["base"]["model"]
    base = GPTConfig(vocab_size=64, block_size=100, **m)
    out.append(Shape("sft base", base, _random(s["base"]["train"]["batch_size"], 68, 64)))
    out.append(
        Shape(
            "sft step",
            base,
            _random(s["train"]["batch_size"], 52, 64),
            grad_accum=s["train"]["grad_accum"],
        )
    )
    pairs = cfg["post"]["dpo"]["train"]["batch_size"]
    dpo = _random(2 * pairs, 42, 64)
    out.append(Shape("post DPO step", base, dpo, reference_pass=True, stackable=False))

    lm = cfg["lpo"]["base"]
    lpo = GPTConfig(vocab_size=64, block_size=64, **lm["model"])
    out.append(Shape("lpo base", lpo, _random(lm["train"]["batch_size"], 40, 64)))

    t = cfg["tokenformer"]
    tm = t["model"]
    common = dict(vocab_size=t["markov"]["vocab"], block_size=t["markov"]["seq_len"])
    tf = GPTConfig(
        n_layer=tm["n_layer"],
        d_model=tm["d_model"],
        n_head=tm["n_head"],
        d_ff=tm["d_ff"],
        layer="pattention",
        attn_tokens=tm["attn_tokens"],
        norm=tm["norm"],
        **common,
    )
    rows, seq = t["train"]["batch_size"], t["markov"]["seq_len"]
    out.append(
        Shape("tokenformer pattention", tf, _random(rows, seq, tf.vocab_size), stackable=False)
    )
    std = GPTConfig(
        n_layer=tm["n_layer"], d_model=tm["d_model"], n_head=tm["n_head"], d_ff=tm["d_ff"], **common
    )
    out.append(Shape("tokenformer standard", std, _random(rows, seq, std.vocab_size)))
    return out


def _random(rows: int, length: int, vocab: int) -> Callable[[int], RandomBatches]:
    return lambda seed: RandomBatches(rows, length, vocab, seed)


def seeded_models(shape: Shape, n: int, first_seed: int = 0) -> list[GPT]:
    out = []
    for s in range(first_seed, first_seed + n):
        torch.manual_seed(s)
        out.append(shape.build(shape.model))
    return out
