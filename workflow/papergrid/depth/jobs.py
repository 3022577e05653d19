"""The depth experiment's training job: every depth of one (budget, seed), Petty's protocol.

Each model is pretrained as a language model on a nested-bracket language, then the same
model is fine-tuned on SCAN as a prefix LM (losses and greedy exact match on every
composition test), then timed at inference. Every depth of the seed is pretrained first;
the target is the highest final held-out pretraining loss among them (a loss every model
reached), and each model is fine-tuned from its checkpoint closest to it
("matched pretraining loss", as Petty et al. take earlier checkpoints of the models that
got further). Where deeper models pretrain better, the target is depth 1's final loss, as
in the paper; where they pretrain worse (deep, narrow models learn slower), the shallower
ones start from earlier checkpoints. The summary says from which step and loss each
model started.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from papergrid import runtime
from papergrid.depth.grid import CONTRACT, run_id
from papergrid.lm.batches import Batch, StreamBatches
from papergrid.lm.data.dyck import DyckSource
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sources import Prepared, prepare
from papergrid.lm.tokenizer import Tokenizer
from papergrid.lm.trainer import Batches, TrainConfig, train


@dataclasses.dataclass
class Pretrained:
    """What pretraining leaves: held-out loss per checkpoint, the weights at each, the floor."""

    steps: list[int]
    losses: list[float]
    states: list[dict[str, torch.Tensor]]
    floor: float
    status: str

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.status == "ok" else math.nan

    def start(self, target: float) -> int:
        """Index of the checkpoint fine-tuning starts from: the one whose held-out loss is
        closest to ``target`` (never the initialisation; the earliest on a tie), else, with
        no target, the last with a finite loss."""
        finite = [i for i, loss in enumerate(self.losses) if math.isfinite(loss) and i > 0]
        if not finite:
            return 0
        if not math.isfinite(target):
            return finite[-1]
        return min(finite, key=lambda i: abs(self.losses[i] - target))


def matched_target(final_losses: Sequence[float]) -> float:
    """The pretraining loss the models are matched at: the highest finite final loss, the
    lowest loss every finished model has reached (NaN if none finished)."""
    finite = [x for x in final_losses if math.isfinite(x)]
    return max(finite) if finite else math.nan


def joint_tokenizer(scan_tok: Tokenizer, source: DyckSource) -> Tokenizer:
    """SCAN's vocabulary with the bracket symbols appended: SCAN ids are unchanged and one
    embedding table serves both stages, as one tokenizer serves Petty's two."""
    brackets = tuple(f"{side}{t}" for t in range(source.k) for side in ("<", ">"))
    return Tokenizer(scan_tok.kind, scan_tok.tokens + brackets, scan_tok.specials)


@dataclasses.dataclass(frozen=True)
class BracketData:
    """Pretraining sequences (ids shifted past SCAN's) and the held-out floor."""

    train: np.ndarray  # (n_train, seq_len + 1)
    val: torch.Tensor  # (n_val, seq_len + 1)
    floor: float  # the true source's mean loss on the held-out targets


def bracket_data(dyck: Mapping[str, Any], offset: int, seed: int) -> BracketData:
    source = DyckSource(dyck["k"], dyck["p_open"], dyck["max_depth"])
    train_tokens, _ = source.sample(dyck["n_train"], dyck["seq_len"] + 1, 1_000 + seed)
    val_tokens, val_logp = source.sample(dyck["n_val"], dyck["seq_len"] + 1, 2_000_000)
    return BracketData(
        train=train_tokens + offset,
        val=torch.from_numpy(val_tokens + offset),
        floor=float(-val_logp[:, 1:].mean()),  # the targets a model is scored on
    )


def pretrain(
    model: GPT, train_cfg: Mapping[str, Any], data: BracketData, device: torch.device
) -> Pretrained:
    """Train ``model`` on the bracket language, keeping a copy of the weights at every
    evaluation."""
    tcfg = TrainConfig(**train_cfg)
    states: list[dict[str, torch.Tensor]] = []

    def evaluate(m: GPT) -> dict[str, float]:
        v = data.val.to(next(m.parameters()).device)
        _, loss = m(v[:, :-1], v[:, 1:])
        # on the host: every checkpoint of every depth is held until fine-tuning starts
        states.append({k: t.detach().to("cpu", copy=True) for k, t in m.state_dict().items()})
        return {"val_loss": loss.item()}

    result = train(
        model, tcfg, StreamBatches(data.train, tcfg.batch_size, tcfg.seed), evaluate, device
    )
    return Pretrained(
        steps=[int(r["step"]) for r in result.curve],
        losses=[float(r["val_loss"]) for r in result.curve],
        states=states,
        floor=data.floor,
        status=result.status,
    )


def us_per_token(model: GPT, batch: int = 16, seq_len: int = 32, repeats: int = 9) -> float:
    """Median wall time of one inference forward pass, in microseconds per token."""
    device = next(model.parameters()).device
    x = torch.zeros((batch, min(seq_len, model.cfg.block_size)), dtype=torch.long, device=device)
    model.eval()
    times = []
    with torch.no_grad():
        model(x)  # warm-up
        for _ in range(repeats):
            if device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            model(x)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times) / x.numel()


@dataclasses.dataclass
class SharedBatches:
    """Batches built once per step and handed to every depth of the seed.

    Every depth fine-tunes on the same steps' batches (``get`` is a pure function of the
    step), and padding SCAN pairs into a batch costs about a tenth of a shallow model's
    training step on this CPU; building them once spares three of the four builds.
    """

    source: Batches
    built: dict[int, Batch] = dataclasses.field(default_factory=dict)

    def get(self, step: int) -> Batch:
        if step not in self.built:
            self.built[step] = self.source.get(step)
        return self.built[step]


def scan_data(run: Mapping[str, Any]) -> tuple[Prepared, int]:
    """SCAN prepared on the joint vocabulary, and the id offset of the bracket symbols."""
    tcfg = run["train"]
    data = prepare("scan_composition", run["scan"], tcfg["batch_size"], tcfg["seed"])
    dyck = run["pretrain"]["dyck"]
    source = DyckSource(dyck["k"], dyck["p_open"], dyck["max_depth"])
    offset = len(data.tokenizer)
    joint = joint_tokenizer(data.tokenizer, source)
    return dataclasses.replace(data, tokenizer=joint, batches=SharedBatches(data.batches)), offset


def train_seed(
    runs: Sequence[Mapping[str, Any]],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Pretrain every depth of one (budget, seed), then fine-tune each from its checkpoint
    matched to the common target; ``outputs`` maps curve/summary/model/vocab to one path
    per run, in ``runs``' order."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run

    data, offset = scan_data(runs[0])
    brackets = bracket_data(runs[0]["pretrain"]["dyck"], offset, int(runs[0]["seed"]))
    block = max(data.block_size, runs[0]["pretrain"]["dyck"]["seq_len"])
    pretrained = []
    for run in runs:
        runtime.configure(threads, run["seed"])
        dev = runtime.resolve_device(device)
        cfg = GPTConfig(vocab_size=len(data.tokenizer), block_size=block, **run["model"])
        torch.manual_seed(run["seed"])
        pretrained.append(pretrain(GPT(cfg), run["pretrain"]["train"], brackets, dev))
    target = matched_target([p.final_loss for p in pretrained])
    statuses: list[str] = []
    for i, (run, pre) in enumerate(zip(runs, pretrained, strict=True)):
        start = pre.start(target if run["pretrain"]["match"] else math.nan)
        extra = {
            "pretrain_loss": pre.final_loss,
            "pretrain_floor": pre.floor,
            "pretrain_target": target,
            "pretrain_step": pre.steps[start],
            "pretrain_start_loss": pre.losses[start],
        }

        def after_train(model, _data):
            return {"us_per_token": us_per_token(model)}

        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid={
                    "budget": run["budget"],
                    "depth": run["depth"],
                    "d_model": run["model"]["d_model"],
                    "d_ff": run["model"]["d_ff"],
                    "narrow": run["narrow"],
                },
                source="scan_composition",
                source_cfg=run["scan"],
                model_cfg=run["model"],
                train_cfg=run["train"],
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                after_train=after_train,
                summary_extra=extra,
                data=data,
                init_state=pre.states[start],
                block_size=block,
            )
        )
    return statuses
