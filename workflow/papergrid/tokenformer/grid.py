"""The TokenFormer grid (Wang et al. 2024, arXiv 2410.23168), planned without torch.

Three architectures (:data:`LAYERS`) of equal N at every stage: parameter attention
(``pattention``: Q, K, V, output and feed-forward blocks attend to learnable parameter
tokens through Theta), the same shapes with Theta a plain GeLU (``gelu``: the
normalisation taken out, nothing else), and the standard transformer (``linear``). With
``attn_tokens`` tokens per projection and ``d_ff`` feed-forward tokens, parameter
attention has ``8 d attn_tokens + 2 d d_ff`` weights per block where the standard block
has ``4 d^2 + 2 d d_ff``; the standard arm's feed-forward width is chosen to make them
equal (:func:`linear_d_ff`), at the first stage and after every growth.

Per seed, one job per architecture trains the first stage once, then grows it at
``growth.at_steps`` by ``growth.factors`` (token counts, or feed-forward units, times the
first stage's) in every growth arm of that architecture, on the data stream's next
steps; and trains the final shape from scratch on as many tokens as a growth run
(:func:`same_steps`), and, for parameter attention, on enough for a growth run's FLOPs
to be ``analysis.share`` of its own (:func:`target_steps`, the paper's "at a third of
the compute"). Each architecture's peak learning rates (one for its growth runs, one for
its scratch runs) are chosen by a sweep of ``train.lr_grid`` on data no claim reads
(:mod:`papergrid.tokenformer.tuning`). Arms
(:data:`ARMS`), every one on one schedule across stages unless it says otherwise
(:mod:`papergrid.tokenformer.schedule`):

- ``zero_fixed``: new keys zero, Theta's scale held (function preserved, App. B);
- ``random``: new keys and values random, scale recomputed (the paper's headline runs,
  Sec 4.1, with the official code's scale);
- ``zero_rescaled``: new keys zero, scale recomputed from the new count (official code);
- ``zero_fixed_restart``: ``zero_fixed`` with a fresh optimizer and a warm-up at every
  growth (the official incremental configs);
- ``gelu_zero``: the ``gelu`` architecture grown with zero new keys;
- ``plain_zero``: the standard transformer's feed-forward block widened, new input rows
  zero and new output columns random (the critique: a plain network grows the same way);
- ``plain_net2net``: the same widening by Net2WiderNet (the paper's Table 8 baseline);
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
    layer: str  # pattention | gelu | linear (papergrid.tokenformer.model)
    new_keys: str  # zero | random
    keep_scale: bool
    schedule: str = "continue"  # continue | restart (papergrid.tokenformer.schedule)


ARMS = {
    "zero_fixed": Arm("pattention", "zero", True),
    "random": Arm("pattention", "random", False),
    "zero_rescaled": Arm("pattention", "zero", False),
    "zero_fixed_restart": Arm("pattention", "zero", True, "restart"),
    "gelu_zero": Arm("gelu", "zero", True),
    "plain_zero": Arm("linear", "zero", True),
    "plain_net2net": Arm("linear", "net2net", True),
}
# pattention: Theta of model.norm; gelu: the same shapes with Theta a plain GeLU; linear:
# the standard transformer of equal N
LAYERS = ("pattention", "gelu", "linear")
LAYER_NORMS = ("plain", "affine")
STRUCTURES = ("permuted", "independent")
SCRATCH = "scratch"
# the learning-rate sweep's runs: their own data stream and validation sequences, so the
# rate is not chosen on anything a claim reads
TUNING_SEED = 1_000_000
TUNING_VAL_SEED = 3_000_000

CONTRACT = RunContract(
    experiment="tokenformer",
    grid=(
        pa.field("arm", pa.string()),  # a growth arm of ARMS, or scratch
        pa.field("layer", pa.string()),  # pattention | gelu | linear
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
        pa.field("bigram_floor", pa.float64()),  # the best loss from the current token alone
        pa.field("lr_peak", pa.float64()),  # chosen by the sweep (architecture, kind of run)
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
    if layer in ("pattention", "gelu"):
        return {
            **common,
            "d_ff": factor * model["d_ff"],
            "layer": "pattention",
            "attn_tokens": factor * model["attn_tokens"],
            "norm": model["norm"],
        }
    return {**common, "d_ff": linear_d_ff(model, factor)}


def non_embedding_params(model: Mapping[str, Any], layer: str, factor: int = 1) -> int:
    """N of the built model (:func:`papergrid.tokenformer.model.build`): a plain LayerNorm
    has no gain or bias."""
    cfg = GPTConfig(vocab_size=2, block_size=2, **shape(model, layer, factor))
    gains = 0 if model["layer_norm"] == "affine" else (2 * cfg.n_layer + 1) * 2 * cfg.d_model
    return cfg.non_embedding_params - gains


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
    if model["layer_norm"] not in LAYER_NORMS:
        problems.append(
            f"tokenformer.model.layer_norm: unknown {model['layer_norm']!r}; allowed: "
            f"{list(LAYER_NORMS)}"
        )
    markov = block["markov"]
    if markov["structure"] not in STRUCTURES:
        problems.append(
            f"tokenformer.markov.structure: unknown {markov['structure']!r}; allowed: "
            f"{list(STRUCTURES)}"
        )
    elif markov["structure"] == "permuted" and markov["order"] != 2:
        problems.append(
            f"tokenformer.markov.order: {markov['order']} with structure permuted; allowed: 2 "
            "(the last token sets the successors, the one before their order)"
        )
    if markov["branching"] > markov["vocab"]:
        problems.append(
            f"tokenformer.markov.branching: {markov['branching']} exceeds vocab {markov['vocab']}"
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
    if warm > steps:
        problems.append(f"tokenformer.train.warmup_steps: {warm} exceeds train.steps ({steps})")
    restarts = any(ARMS[a].schedule == "restart" for a in block["grid"]["arm"] if a in ARMS)
    if restarts and not past and list(at) == sorted(set(at)):
        shortest = min(b - a for a, b in zip([0, *at], [*at, steps], strict=True))
        if warm > shortest:
            problems.append(
                f"tokenformer.train.warmup_steps: {warm} exceeds the shortest stage "
                f"({shortest} steps); a restart arm warms up again at every stage"
            )
    if list(train["lr_grid"]) != sorted(set(train["lr_grid"])):
        problems.append(
            f"tokenformer.train.lr_grid: {train['lr_grid']} must be strictly increasing"
        )
    if TUNING_SEED in block["grid"]["seed"]:
        problems.append(
            f"tokenformer.grid.seed: {TUNING_SEED} is the learning-rate sweep's own seed; "
            "pick another"
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
        for s in scratch_steps(block, layer)
    ]
    return growth + scratch


def scratch_steps(block: Mapping[str, Any], layer: str) -> list[int]:
    """Scratch runs of the final shape: as many tokens as a growth run for every
    architecture (the growth penalty's reference), and the target for parameter attention
    (the paper's "at a third of the compute" is about it)."""
    if layer == "pattention":
        return sorted({same_steps(block), target_steps(block)})
    return [same_steps(block)]


def run_id(run: Mapping[str, Any]) -> str:
    return f"tokenformer-{run['arm']}-{run['layer']}-{run['steps']}-s{run['seed']}"
