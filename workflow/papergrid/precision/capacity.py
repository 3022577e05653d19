"""Knowledge capacity (Allen-Zhu and Li 2024): planning and contract.

Models of a few sizes learn one fixed set of synthetic facts
(:class:`papergrid.lm.data.facts.FactSet`) until each fact has been seen ``exposures``
times; bits stored (the paper's measure) are read as trained and after round-to-nearest
quantisation of the whole model to int8 and int4 (:mod:`papergrid.precision.capacity_jobs`).
Claims (:mod:`papergrid.precision.capacity_claims`): about 2 bits per parameter at full
precision, kept at int8, lower at int4.

The config block (``precision.capacity``, say):

- ``facts``: ``n_people``, ``n_values`` (choices of each attribute, a list), ``name_tokens``
  (tokens per name), ``syllables`` (the pool name tokens are drawn from), ``seed``;
- ``sizes``: model shapes ``{d_model, n_layer, n_head}`` (``d_ff`` 4 d_model unless given);
- ``seeds``: initialisation and batch order of each size's runs;
- ``exposures``: times each fact is seen;
- ``batch_size``: facts per step; ``lr``: peak learning rate; ``warmup_fraction``: share
  of the steps in warmup; ``evals``: evaluations per run;
- ``analysis`` (optional here, the claims' settings): ``bits_band`` [low, high] bits per
  parameter, ``int8_kept`` and ``int4_lower`` (ratio thresholds).

N here is every parameter, embeddings included (``n_params_total``): a fact can be stored
in an embedding row as well as in a block, and the paper counts the whole model.
:func:`capacity_runs` resolves one run per (size, seed) and :func:`run_id` names it;
:func:`papergrid.precision.capacity_jobs.train_capacity` trains any list of them in one
job, so the rule decides how to pack them.

This module imports neither torch nor scipy: the Snakefile plans the grid with it at
start-up.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.config import GPTConfig
from papergrid.lm.data.facts import FactSet, steps_for_exposures, vocab_size

EXPERIMENT = "precision_capacity"  # the runs' contract; the claims join the precision family
CLAIM_EXPERIMENT = "precision"
PTQ_BITS = (8, 4)
PAPER_BITS_PER_PARAM = 2.0  # at ~1,000 exposures per fact, every model size
PAPER_BITS_100_EXPOSURES = 1.0  # the paper's rate at ~100 exposures: an under-trained model
PAPER_INT4_RATIO = 0.35  # int4: ~0.7 bits per parameter against ~2 at full precision
MAX_FILL = 0.5
"""Largest share of the facts' information a model could hold at the paper's 2 bits per
parameter (2 N_total / info_bits). Above it, bits stored approach the data's own content
and bits per parameter measure the data, not the model."""

CONTRACT = RunContract(
    experiment=EXPERIMENT,
    grid=(  # the seed is a base column of every contract
        pa.field("d_model", pa.int64()),
        pa.field("n_layer", pa.int64()),
        pa.field("exposures", pa.int64()),  # times each fact is seen
    ),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),  # nats per value token
        pa.field("value_loss", pa.float64()),  # mean over every fact, nats
        pa.field("bits_stored", pa.float64()),
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("n_params_total", pa.int64()),  # every parameter, embeddings included
        pa.field("info_bits", pa.float64()),  # the facts' information content
        pa.field("value_loss", pa.float64()),
        pa.field("bits_stored_fp", pa.float64()),  # as trained
        # after round-to-nearest PTQ of every weight matrix and embedding table
        *(pa.field(f"bits_stored_int{b}", pa.float64()) for b in PTQ_BITS),
        *(pa.field(f"value_loss_int{b}", pa.float64()) for b in PTQ_BITS),
    ),
)
CAPACITY_CONTRACT = CONTRACT  # the name the precision claims read it by


# --- planning -------------------------------------------------------------------------


def fact_set(cfg: Mapping[str, Any]) -> FactSet:
    return FactSet(
        n_people=cfg["n_people"],
        n_values=tuple(cfg["n_values"]),
        name_tokens=cfg["name_tokens"],
        syllables=cfg["syllables"],
        seed=cfg["seed"],
    )


def info_bits(facts: Mapping[str, Any]) -> float:
    return facts["n_people"] * sum(math.log2(v) for v in facts["n_values"])


def model_shape(size: Mapping[str, int]) -> dict[str, int]:
    return {**size, "d_ff": size.get("d_ff", 4 * size["d_model"])}


def params_total(model: Mapping[str, int], facts: Mapping[str, Any]) -> int:
    """Every parameter of a model of this shape on these facts: blocks, token and position
    embeddings (the head is tied). A test checks it against the model."""
    vocab = vocab_size(facts["n_values"], facts["syllables"])
    block = facts["name_tokens"] + 1  # the inputs: name and attribute
    cfg = GPTConfig(vocab_size=vocab, block_size=block, **model)
    return cfg.non_embedding_params + (vocab + block) * cfg.d_model


def capacity_runs(block: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Resolved configs of every (size, seed) run; all learn the same facts for the same
    number of steps."""
    facts = {**block["facts"], "n_values": [int(v) for v in block["facts"]["n_values"]]}
    n_facts = facts["n_people"] * len(facts["n_values"])
    steps = steps_for_exposures(n_facts, block["exposures"], block["batch_size"])
    return [
        {
            "d_model": int(size["d_model"]),
            "n_layer": int(size["n_layer"]),
            "exposures": int(block["exposures"]),
            "seed": int(seed),
            "model": model_shape(size),
            "facts": facts,
            "train": {
                "steps": steps,
                "batch_size": block["batch_size"],
                "lr": block["lr"],
                "warmup_steps": max(1, round(block["warmup_fraction"] * steps)),
                "eval_every": max(1, steps // block["evals"]),
                "checkpoint_every": 0,
                "seed": int(seed),
                "dtype": "fp32",
            },
        }
        for size in block["sizes"]
        for seed in block["seeds"]
    ]


def run_id(run: Mapping[str, Any]) -> str:
    return f"{EXPERIMENT}/d{run['d_model']}-l{run['n_layer']}-s{run['seed']}"


def check_block(block: Mapping[str, Any], key: str = "precision.capacity") -> None:
    """Cross-key checks the JSON schema cannot express, run before any job starts;
    ``key`` is where the block sits in the config, for the messages."""
    from papergrid.config import ConfigError

    problems = []
    facts = block["facts"]
    names = facts["syllables"] ** facts["name_tokens"]
    if names < facts["n_people"]:
        problems.append(
            f"{key}.facts.syllables: {facts['syllables']}^{facts['name_tokens']} = {names} "
            f"distinct names cannot name {facts['n_people']} people; raise syllables or "
            "name_tokens"
        )
    shapes = [(s["d_model"], s["n_layer"]) for s in block["sizes"]]
    repeated = sorted({s for s in shapes if shapes.count(s) > 1})
    if repeated:  # a run is named by (d_model, n_layer, seed): a repeat would overwrite it
        problems.append(f"{key}.sizes: (d_model, n_layer) {repeated} listed more than once")
    seeds = list(block["seeds"])
    if len(set(seeds)) != len(seeds):
        problems.append(f"{key}.seeds: {seeds} repeats a seed; each must be distinct")
    if len(shapes) * len(set(seeds)) < 3:
        problems.append(
            f"{key}: {len(shapes)} size(s) x {len(set(seeds))} seed(s) give fewer than the 3 "
            "runs a claim's interval needs; add sizes or seeds"
        )
    info = info_bits(facts)
    for i, size in enumerate(block["sizes"]):
        if size["d_model"] % size["n_head"]:
            continue  # reported by the config's own check of every model shape
        n = params_total(model_shape(size), facts)
        if PAPER_BITS_PER_PARAM * n > MAX_FILL * info:
            problems.append(
                f"{key}.sizes[{i}]: d_model {size['d_model']}, n_layer {size['n_layer']} has "
                f"{n} parameters: at {PAPER_BITS_PER_PARAM:g} bits each it could hold "
                f"{PAPER_BITS_PER_PARAM * n:.0f} bits, more than {MAX_FILL:.0%} of the facts' "
                f"{info:.0f}, so its bits per parameter would be bounded by the data, not the "
                f"model; every model must be capacity-limited: use a smaller one or more "
                f"facts ({key}.facts.n_people, n_values)"
            )
    analysis = block.get("analysis")
    if analysis is not None:
        lo, hi = analysis["bits_band"]
        if not 0 < lo < hi:
            problems.append(f"{key}.analysis.bits_band: [{lo}, {hi}] must satisfy 0 < low < high")
        for name in ("int8_kept", "int4_lower"):
            if not 0 < analysis[name] <= 1:
                problems.append(
                    f"{key}.analysis.{name}: {analysis[name]} must be a ratio in (0, 1]"
                )
    if problems:
        raise ConfigError("invalid configuration:\n" + "\n".join(f"  - {p}" for p in problems))
