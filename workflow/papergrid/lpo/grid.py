"""The adaptive-decoding grid (LPO, Dhuliawala et al. 2024), planned without torch.

Per seed, a frozen language model of its own is trained on the three task families
(:mod:`papergrid.lpo.tasks`), so the seeds are independent units and their spread holds
the base model's variance as well as the head's. Then, per seed:

- ``data``: preference data for each head variant (N samples per prompt at random
  temperatures, drawn per response for ``seq`` and per token for ``tok``; the best and
  the worst by reward give the chosen and the rejected temperatures, ties dropped and
  counted), the frozen model's features of every pair (cached once: the head trains on
  them), and every fixed temperature evaluated on the validation and test prompts;
- ``heads``: every (variant, loss) head trained on that data and evaluated on the test
  prompts under every decoding rule (the head's most probable temperature, as the paper
  decodes, and a temperature sampled from it), and the per-task selector (the best fixed
  temperature per family on the validation prompts) read off the fixed temperatures' test
  samples.

Every decoding of a seed (each fixed temperature, each head, each rule) draws its tokens
with the same random numbers per test prompt and position: common random numbers, so the
paired differences between them carry no sampling noise of their own choosing.

Runs (rows of ``runs.parquet``): ``method`` is a head's loss (``lpo``, ``lpo_marginal``,
``nll``), ``fixed`` (one per temperature) or ``selector``; ``variant`` is ``seq``,
``tok`` or ``none``; ``decode`` is ``argmax`` or ``sample`` for a head, ``none`` else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lpo.tasks import FAMILIES

VARIANTS = ("seq", "tok")
LOSSES = ("lpo", "lpo_marginal", "nll")
BASELINES = ("fixed", "selector")
DECODES = ("argmax", "sample")  # argmax first: the paper's rule, the one the claims read

_FAMILY_METRICS = tuple(
    f for fam in FAMILIES for f in (f"reward_{fam}", f"tau_{fam}")
)  # mean reward and mean drawn temperature on the family's test prompts

CONTRACT = RunContract(
    experiment="lpo",
    grid=(
        pa.field("method", pa.string()),  # lpo | lpo_marginal | nll | fixed | selector
        pa.field("variant", pa.string()),  # seq | tok | none (fixed, selector)
        pa.field("decode", pa.string()),  # argmax | sample (heads) | none
        pa.field("tau", pa.float64()),  # the fixed temperature; NaN otherwise
    ),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        # held-out pairs whose chosen temperatures the head gives the higher probability (for
        # every loss, the marginalised one included: it is not that loss's own objective)
        pa.field("pair_acc", pa.float64()),
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("pair_acc", pa.float64()),
        pa.field("reward_mean", pa.float64()),  # the mixed set: mean over the families
        pa.field("tau_mean", pa.float64()),
        *(pa.field(name, pa.float64()) for name in _FAMILY_METRICS),
        pa.field("tau_constrained", pa.float64()),  # constraint family, segment starts
        pa.field("tau_free", pa.float64()),  # constraint family, every other token
        pa.field("n_pairs", pa.int64()),  # preference pairs the head trained on
        pa.field("n_ties", pa.int64()),  # prompts dropped: best and worst reward equal
    ),
)

# The frozen model: what it does at each fixed temperature is measured and stated.
BASE_CONTRACT = RunContract(
    experiment="lpo",
    grid=(),
    curve=(
        pa.field("step", pa.int64()),
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        *(pa.field(f"reward_{fam}_greedy", pa.float64()) for fam in FAMILIES),
        *(pa.field(f"reward_{fam}_t1", pa.float64()) for fam in FAMILIES),
        pa.field("valid_novel_t1", pa.float64()),  # novel words valid at temperature 1
    ),
)

# One row per (run, test prompt): the win rates' bootstrap resamples prompts within seeds.
PROMPT_SCHEMA = pa.schema(
    [
        pa.field("method", pa.string()),
        pa.field("variant", pa.string()),
        pa.field("decode", pa.string()),
        pa.field("tau", pa.float64()),
        pa.field("seed", pa.int64()),
        pa.field("family", pa.string()),
        pa.field("prompt", pa.int64()),  # index among the seed's test prompts
        pa.field("reward", pa.float64()),
        pa.field("tau_response", pa.float64()),  # mean temperature over its tokens
        pa.field("tau_counts", pa.list_(pa.int64())),  # tokens drawn at each temperature
    ]
)


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    problems = []
    temps = block["temperatures"]
    if not temps:
        problems.append("lpo.temperatures: empty; give at least two temperatures >= 0")
    elif any(not math.isfinite(t) or t < 0 for t in temps):
        problems.append(f"lpo.temperatures: {temps} has a negative or non-finite value")
    elif list(temps) != sorted(set(temps)):
        problems.append(f"lpo.temperatures: {temps} must be strictly increasing")
    elif len(temps) < 2:
        problems.append(f"lpo.temperatures: {temps} has one value; a head needs a choice")
    if block["data"]["n_samples"] < 2:
        problems.append(
            f"lpo.data.n_samples: {block['data']['n_samples']}; a pair needs at least 2"
        )
    for loss in block["grid"]["loss"]:
        if loss not in LOSSES:
            problems.append(f"lpo.grid.loss: unknown loss {loss!r}; allowed: {list(LOSSES)}")
    for variant in block["grid"]["variant"]:
        if variant not in VARIANTS:
            problems.append(
                f"lpo.grid.variant: unknown variant {variant!r}; allowed: {list(VARIANTS)}"
            )
    decodes = block["decode"]
    if not decodes or any(d not in DECODES for d in decodes) or len(set(decodes)) < len(decodes):
        problems.append(
            f"lpo.decode: {decodes}; give distinct values of {list(DECODES)}, argmax among them"
        )
    elif "argmax" not in decodes:
        problems.append(
            f"lpo.decode: {decodes} lacks argmax, the paper's decoding, which the claims read"
        )
    from papergrid.lpo.tasks import START_LETTERS

    start_p = block["tasks"]["constraint"]["start_p"]
    if len(start_p) != len(START_LETTERS) or not all(0 < p <= 1 for p in start_p):
        problems.append(
            f"lpo.tasks.constraint.start_p: {start_p}; give {len(START_LETTERS)} values in "
            f"(0, 1], one per start letter ({', '.join(START_LETTERS)})"
        )
    for fam in ("novel", "constraint"):
        tags = block["tasks"][fam]["tags"]
        if tags < 5:
            problems.append(
                f"lpo.tasks.{fam}.tags: {tags}; at least 5, so that training, validation and "
                "test prompts each get tags of their own"
            )
    for loss in block["beta"]:
        if loss not in LOSSES or loss == "nll":
            problems.append(
                f"lpo.beta: {loss!r} has no beta; allowed: {[x for x in LOSSES if x != 'nll']}"
            )
    if problems:
        raise ConfigError("invalid lpo config:\n  " + "\n  ".join(problems))


def head_runs(block: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    """The resolved config of every head trained from seed ``seed``'s data."""
    return [
        {
            "method": loss,
            "variant": variant,
            "tau": None,
            "seed": int(seed),
            "beta": block["beta"].get(loss),
            "head": dict(block["head"]),
            "decode": list(block["decode"]),
            "temperatures": list(block["temperatures"]),
            "data": dict(block["data"]),
            "tasks": block["tasks"],
            "base": block["base"],
        }
        for variant in block["grid"]["variant"]
        for loss in block["grid"]["loss"]
    ]


def baseline_runs(block: Mapping[str, Any], seed: int) -> list[dict[str, Any]]:
    """Every fixed temperature, then the per-task selector, for seed ``seed``."""
    common = {
        "seed": int(seed),
        "temperatures": list(block["temperatures"]),
        "data": dict(block["data"]),
        "tasks": block["tasks"],
        "base": block["base"],
    }
    fixed = [
        {"method": "fixed", "variant": "none", "decode": "none", "tau": float(t), **common}
        for t in block["temperatures"]
    ]
    selector = {"method": "selector", "variant": "none", "decode": "none", "tau": None}
    return [*fixed, {**selector, **common}]


def run_id(run: Mapping[str, Any]) -> str:
    if run["method"] == "fixed":
        return f"lpo-fixed-t{run['tau']:g}-s{run['seed']}"
    if run["method"] == "selector":
        return f"lpo-selector-s{run['seed']}"
    return f"lpo-{run['variant']}-{run['method']}-{run['decode']}-s{run['seed']}"
