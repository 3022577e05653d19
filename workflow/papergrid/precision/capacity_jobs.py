"""The knowledge-capacity training job: models learn a fixed set of facts, then PTQ.

Inputs: resolved run configs from :func:`papergrid.precision.capacity.capacity_runs`.
Outputs, per run: curve and summary Parquet (:data:`papergrid.precision.capacity.CONTRACT`),
final weights and vocabulary, through :func:`papergrid.lm.jobs.train_lm_run`.

Every fact is one sequence ``name attribute value`` with the loss on the value token only.
Batches walk through the facts epoch by epoch, each epoch in an order seeded by (seed,
epoch), so after the run's steps every fact has been seen ``exposures`` times (a few once
more, in the last batch) and a batch is a pure function of its step. Bits stored are read
from the value's cross-entropy over every fact, as trained and after round-to-nearest
quantisation of every weight matrix and embedding table to int8 and int4.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.batches import Batch
from papergrid.lm.data.facts import FactSet, bits_stored
from papergrid.lm.model import GPT
from papergrid.lm.sources import Prepared
from papergrid.precision.capacity import CONTRACT, PTQ_BITS, fact_set, params_total, run_id
from papergrid.precision.quant import fake_quant_per_channel

EVAL_BATCH = 4096  # facts per forward pass when scoring every fact


@dataclass(frozen=True)
class FactBatches:
    """Facts epoch by epoch: batch ``step`` holds positions [step B, (step + 1) B) of the
    concatenated epochs, epoch e a permutation seeded by (seed, e)."""

    ids: np.ndarray  # (n_facts, seq_len) token ids: name, attribute, value
    batch_size: int
    seed: int

    def get(self, step: int) -> Batch:
        n = len(self.ids)
        pos = np.arange(step * self.batch_size, (step + 1) * self.batch_size)
        epoch = pos // n
        rows = np.empty(self.batch_size, dtype=np.int64)
        for e in np.unique(epoch):  # a batch larger than the facts spans several epochs
            here = epoch == e
            rows[here] = np.random.default_rng([self.seed, int(e)]).permutation(n)[pos[here] % n]
        seq = torch.from_numpy(self.ids[rows])  # (B, seq_len)
        return Batch(seq[:, :-1], seq[:, 1:], value_mask(len(rows), seq.size(1) - 1))


def value_mask(batch: int, length: int) -> torch.Tensor:
    """(batch, length): 1 at the last target only, the value token."""
    mask = torch.zeros(batch, length)
    mask[:, -1] = 1.0
    return mask


@torch.no_grad()
def value_nll(model: GPT, ids: np.ndarray) -> np.ndarray:
    """The model's cross-entropy on each fact's value given its name and attribute, in
    nats (over the whole vocabulary: mass on a non-value token is mass lost)."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(ids), EVAL_BATCH):
        seq = torch.from_numpy(ids[i : i + EVAL_BATCH]).to(device)
        logits, _ = model(seq[:, :-1])  # (b, seq_len - 1, vocab)
        logp = F.log_softmax(logits[:, -1].float(), dim=-1)
        out.append(-logp.gather(1, seq[:, -1:]).squeeze(1).cpu().numpy())
    return np.concatenate(out).astype(float)


def facts_source(facts: FactSet, batch_size: int, seed: int) -> Prepared:
    """The facts prepared for :func:`papergrid.lm.jobs.train_lm_run`: evaluation scores
    every training fact (the paper measures what was stored, not generalisation)."""
    ids, prior = facts.ids, facts.prior_bits()

    def evaluate(model: GPT) -> dict[str, float]:
        nll = value_nll(model, ids)
        return {"value_loss": float(nll.mean()), "bits_stored": bits_stored(nll, prior)}

    return Prepared(
        facts.tokenizer,
        FactBatches(ids, batch_size, seed),
        evaluate,
        facts.seq_len - 1,
        {"info_bits": facts.information_bits, "n_facts": facts.n_facts},
    )


@torch.no_grad()
def quantize_all_rtn(model: nn.Module, bits: int) -> None:
    """Round-to-nearest PTQ in place of every weight matrix (per output channel) and every
    embedding table (per row: one scale per token or position; the tied head with it), as
    the paper quantises the whole model. LayerNorm gains and biases (2 d per norm) stay."""
    for module in model.modules():
        if isinstance(module, nn.Linear | nn.Embedding):
            module.weight.copy_(fake_quant_per_channel(module.weight, bits))


def ptq_capacity(model: GPT, data: Prepared, bits: Sequence[int] = PTQ_BITS) -> dict[str, float]:
    """Bits stored as trained and after PTQ to each of ``bits`` (with the value loss)."""
    model.eval()
    out = {"bits_stored_fp": data.evaluate(model)["bits_stored"]}
    for b in bits:
        q = copy.deepcopy(model)
        quantize_all_rtn(q, b)
        scored = data.evaluate(q)
        out[f"bits_stored_int{b}"] = scored["bits_stored"]
        out[f"value_loss_int{b}"] = scored["value_loss"]
    return out


def train_capacity(
    runs: Sequence[Mapping[str, Any]],
    device: str,
    threads: int,
    code_hash: str,
    outputs: Mapping[str, Sequence[str]],
) -> list[str]:
    """Train every run of one job; ``outputs`` maps curve/summary/model/vocab to one path
    per run. Returns each run's status."""
    from papergrid.lm.jobs import packed_run_paths, train_lm_run

    statuses = []
    for i, run in enumerate(runs):
        train = run["train"]
        statuses.append(
            train_lm_run(
                contract=CONTRACT,
                run_id=run_id(run),
                run=run,
                grid={k: run[k] for k in CONTRACT.grid_names},
                source="facts",
                source_cfg=run["facts"],
                model_cfg=run["model"],
                train_cfg=train,
                device=device,
                threads=threads,
                code_hash=code_hash,
                **packed_run_paths(outputs, i),
                data=facts_source(fact_set(run["facts"]), train["batch_size"], train["seed"]),
                after_train=ptq_capacity,
                # known from the shape, so a diverged run records it too
                summary_extra={"n_params_total": params_total(run["model"], run["facts"])},
            )
        )
    return statuses
