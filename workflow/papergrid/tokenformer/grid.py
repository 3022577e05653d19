"""The TokenFormer grid (Wang et al. 2024, arXiv 2410.23168), planned without torch.

Two architectures of equal N at every stage: parameter attention (``pattention``: Q, K, V,
output and feed-forward blocks attend to learnable parameter tokens) and the standard
transformer (``linear``). With ``attn_tokens`` tokens per projection and ``d_ff``
feed-forward tokens, parameter attention has ``8 d attn_tokens + 2 d d_ff`` weights per
block where the standard block has ``4 d^2 + 2 d d_ff``; the standard arm's feed-forward
width is chosen to make them equal (:func:`linear_d_ff`), at the first stage and after
every growth.

Per seed, one job per architecture trains the first stage once, then grows it at
``growth.at_steps`` by ``growth.factors`` (token counts, or feed-forward units, times the
first stage's) in every growth arm of that architecture, each stage with its own warmup
and cosine schedule on the data stream's next steps; and trains the final shape from
scratch twice: on as many tokens as a growth run (:func:`same_steps`), and on enough for
a growth run's FLOPs to be ``analysis.share`` of its own (:func:`target_steps`, the
paper's "at a third of the compute"). Arms (:data:`ARMS`):

- ``zero_fixed``: new keys zero, Theta's scale held (function preserved, App. B);
- ``zero_rescaled``: new keys zero, scale recomputed from the new count (official code);
- ``random``: new keys and values random (the paper's headline runs, Sec 4.1);
- ``plain_zero``: the standard transformer's feed-forward block widened, new input rows
  zero and new output columns random (the critique: a plain network grows the same way);
- ``scratch``: the final shape trained from its own random start.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from papergrid.contract import LM_FIELDS, RunContract
from papergrid.lm.config import NORMS, GPTConfig


@dataclass(frozen=True)
class Arm:
    layer: str  # pattention | linear
    new_keys: str  # zero | random
    keep_scale: bool


ARMS = {
    "zero_fixed": Arm("pattention", "zero", True),
    "zero_rescaled": Arm("pattention", "zero", False),
    "random": Arm("pattention", "random", False),
    "plain_zero": Arm("linear", "zero", True),
}
LAYERS = ("pattention", "linear")
SCRATCH = "scratch"

CONTRACT = RunContract(
    experiment="tokenformer",
    grid=(
        pa.field("arm", pa.string()),  # a growth arm of ARMS, or scratch
        pa.field("layer", pa.string()),  # pattention | linear
        pa.field("steps", pa.int64()),  # optimizer steps of the whole run, every stage
    ),
    curve=(
        pa.field("step", pa.int64()),  # counted on across stages
        *LM_FIELDS,
        pa.field("lr", pa.float64()),
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("stage", pa.int64()),  # 0 before the first growth
    ),
    summary=(
        pa.field("steps_run", pa.int64()),
        *LM_FIELDS,
        pa.field("train_loss", pa.float64()),
        pa.field("val_loss", pa.float64()),
        pa.field("entropy_floor", pa.float64()),  # the language's exact entropy rate
        pa.field("stage1_loss", pa.float64()),  # validation loss when the first stage ends
        pa.field("jump_first", pa.float64()),  # loss after minus before the first growth
        pa.field("abs_jump", pa.float64()),  # mean |jump| over the run's growths
    ),
)


def linear_d_ff(model: Mapping[str, Any], factor: int = 1) -> int:
    """The standard transformer's feed-forward width whose N equals parameter attention's
    with ``factor`` times the first stage's tokens: 4 d^2 + 2 d f = 8 d a + 2 d t."""
    return factor * (4 * model["attn_tokens"] + model["d_ff"]) - 2 * model["d_model"]


def shape(model: Mapping[str, Any], layer: str, factor: int = 1) -> dict[str, Any]:
    """GPTConfig fields (vocabulary and block size aside) of ``layer`` at ``factor``."""
    common = {k: model[k] for k in ("n_layer", "d_model", "n_head")}
    if layer == "pattention":
        return {
            **common,
            "d_ff": factor * model["d_ff"],
            "layer": "pattention",
            "attn_tokens": factor * model["attn_tokens"],
            "norm": model["norm"],
        }
    return {**common, "d_ff": linear_d_ff(model, factor)}


def non_embedding_params(model: Mapping[str, Any], layer: str, factor: int = 1) -> int:
    return GPTConfig(vocab_size=2, block_size=2, **shape(model, layer, factor)).non_embedding_params


def stages(block: Mapping[str, Any]) -> list[tuple[int, int, int]]:
    """(first step, steps, factor) of each stage of a growth run."""
    bounds = [0, *block["growth"]["at_steps"], block["train"]["steps"]]
    factors = [1, *block["growth"]["factors"]]
    return [(bounds[i], bounds[i + 1] - bounds[i], factors[i]) for i in range(len(factors))]


def final_factor(block: Mapping[str, Any]) -> int:
    return block["growth"]["factors"][-1] if block["growth"]["factors"] else 1


def flops_per_token(block: Mapping[str, Any], layer: str, factor: int) -> float:
    """Training FLOPs per token of ``layer`` at ``factor``, planned without torch:
    :meth:`papergrid.lm.model.GPT.flops_per_token` at the Markov language's vocabulary and
    sequence length (a test checks that the two agree)."""
    m, vocab, seq = block["model"], block["markov"]["vocab"], block["markov"]["seq_len"]
    n = non_embedding_params(m, layer, factor)
    return float(6 * (n + m["d_model"] * vocab) + 12 * m["n_layer"] * m["d_model"] * seq)


def growth_flops(block: Mapping[str, Any], layer: str = "pattention") -> float:
    """Training FLOPs of a whole growth run (both architectures spend the same)."""
    tokens = block["train"]["batch_size"] * block["markov"]["seq_len"]
    return sum(steps * tokens * flops_per_token(block, layer, f) for _, steps, f in stages(block))


def same_steps(block: Mapping[str, Any]) -> int:
    """The scratch run on as many tokens as a growth run."""
    return block["train"]["steps"]


def target_steps(block: Mapping[str, Any]) -> int:
    """The scratch run whose final loss growth must reach: the fewest steps at the final
    shape with at least a growth run's FLOPs divided by ``analysis.share``."""
    tokens = block["train"]["batch_size"] * block["markov"]["seq_len"]
    per_step = tokens * flops_per_token(block, "pattention", final_factor(block))
    return math.ceil(growth_flops(block) / block["analysis"]["share"] / per_step - 1e-9)


def check_block(block: Mapping[str, Any]) -> None:
    """Cross-key checks the schema cannot express, run before any job starts."""
    from papergrid.config import ConfigError

    problems = []
    model, growth, train = block["model"], block["growth"], block["train"]
    if model["norm"] not in NORMS:
        problems.append(
            f"tokenformer.model.norm: unknown {model['norm']!r}; allowed: {list(NORMS)}"
        )
    if model["d_model"] % model["n_head"]:
        problems.append(
            f"tokenformer.model.n_head: {model['n_head']} does not divide "
            f"d_model {model['d_model']}"
        )
    if linear_d_ff(model) < 1:
        problems.append(
            "tokenformer.model: 4 attn_tokens + d_ff must exceed 2 d_model, or no standard "
            f"transformer has the same N (got attn_tokens {model['attn_tokens']}, d_ff "
            f"{model['d_ff']}, d_model {model['d_model']})"
        )
    at, factors, steps = growth["at_steps"], growth["factors"], train["steps"]
    if len(at) != len(factors):
        problems.append(
            f"tokenformer.growth: at_steps {at} and factors {factors} differ in length; "
            "give one factor per growth"
        )
    for f in factors:
        if not (isinstance(f, int) and f > 1):
            problems.append(
                f"tokenformer.growth.factors: {f} is not a whole number above 1 (a growth "
                "multiplies the first stage's tokens)"
            )
    if list(factors) != sorted(set(factors)):
        problems.append(f"tokenformer.growth.factors: {factors} must be strictly increasing")
    if list(at) != sorted(set(at)):
        problems.append(f"tokenformer.growth.at_steps: {at} must be strictly increasing")
    past = [s for s in at if not 0 < s < steps]
    if past:
        problems.append(
            f"tokenformer.growth.at_steps: {past} outside the run's steps; each growth "
            f"must fall strictly between 0 and tokenformer.train.steps ({steps})"
        )
    warm = train["warmup_steps"]
    if not past and list(at) == sorted(set(at)):
        shortest = min(b - a for a, b in zip([0, *at], [*at, steps], strict=True))
        if warm > shortest:
            problems.append(
                f"tokenformer.train.warmup_steps: {warm} exceeds the shortest stage "
                f"({shortest} steps); every stage warms up again"
            )
    for arm in block["grid"]["arm"]:
        if arm not in ARMS:
            problems.append(f"tokenformer.grid.arm: unknown arm {arm!r}; allowed: {list(ARMS)}")
    if problems:
        raise ConfigError("invalid tokenformer config:\n  " + "\n  ".join(problems))


def family_arms(block: Mapping[str, Any], layer: str) -> list[str]:
    """The growth arms of ``layer`` in the grid, in ARMS order."""
    return [a for a in ARMS if a in block["grid"]["arm"] and ARMS[a].layer == layer]


def families(block: Mapping[str, Any]) -> list[str]:
    """Architectures with a job: every one with a growth arm (its scratch runs come along)."""
    return [layer for layer in LAYERS if family_arms(block, layer)]


def family_runs(block: Mapping[str, Any], layer: str, seed: int) -> list[dict[str, Any]]:
    """The resolved config of every run of one (architecture, seed) job."""
    common = {
        "layer": layer,
        "seed": int(seed),
        "model": dict(block["model"]),
        "train": dict(block["train"]),
        "markov": dict(block["markov"]),
    }
    growth = [
        {"arm": arm, "steps": block["train"]["steps"], "growth": dict(block["growth"]), **common}
        for arm in family_arms(block, layer)
    ]
    scratch = [
        {"arm": SCRATCH, "steps": int(s), "factor": final_factor(block), **common}
        for s in sorted({same_steps(block), target_steps(block)})
    ]
    return growth + scratch


def run_id(run: Mapping[str, Any]) -> str:
    return f"tokenformer-{run['arm']}-{run['layer']}-{run['steps']}-s{run['seed']}"
