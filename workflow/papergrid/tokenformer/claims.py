"""The TokenFormer experiment's claims, and the critique's.

Every statistic is a mean over seeds of a per-seed quantity, the seeds being the units:
a seed's growth arms share its first stage and its data stream, and its scratch runs the
data stream, so arms are paired by seed (:mod:`papergrid.contrasts`). Losses are in nats
per token on held-out sequences of the synthetic language.

The critique's comparisons are differences in differences: each growth run's
``growth_penalty`` is its final loss minus that of its own architecture's final shape
trained from scratch on the same tokens and seed (:mod:`papergrid.tokenformer.analysis`),
so a claim about how two architectures grow does not also measure how good each is at
equal N (that is a claim of its own).

The paper's numbers (papers.md, "TokenFormer") set the planted effects where it gives
them; where it gives none, ``PAPER``'s comment says so.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.contrasts import Paired, paired_claim
from papergrid.tokenformer.analysis import RUNS_SCHEMA
from papergrid.tokenformer.grid import SCRATCH

EXPERIMENT = "tokenformer"
PAPER = {
    # Table 6 at 1.4B: grown 11.77 against the Transformer trained on 300B tokens 11.63, at
    # "about 3x" less cumulative cost: ln(11.77 / 11.63) nats above the scratch loss
    "reach_gap": math.log(11.77 / 11.63),
    # Table 8: TokenFormer 13.7 against Net2Net 14.3 at 354M (15B tokens per stage): growth
    # by parameter tokens ends ln(14.3 / 13.7) nats below a transformer grown by Net2Net.
    # That is a gap of final losses (token_growth_ends_below_net2net); the critique's
    # differences of growth penalties are planted at the same size, an assumption: the
    # paper reports no scratch runs of the two final shapes to subtract
    "plain_vs_tokens": -math.log(14.3 / 13.7),
    # no parameter-matched comparison in the paper (its Pile models are not matched);
    # the critique's "on par": no difference
    "equal_n": 0.0,
}
NOTE = "TokenFormer (arXiv 2410.23168), see papergrid.tokenformer.claims.PAPER"


def growth(arm: str) -> dict[str, Any]:
    return {"arm": arm}


def scratch(layer: str, steps: int) -> dict[str, Any]:
    return {"arm": SCRATCH, "layer": layer, "steps": int(steps)}


def claim_specs(
    runs: pd.DataFrame,
    *,
    arms: list[str],
    norm: str,
    share: float,
    sesoi_loss: float,
    reach_margin: float,
    target_steps: int,
    same_steps: int,
) -> list[ClaimSpec]:
    specs: list[ClaimSpec] = []

    def add(claim_id, statement, statistic, stat, rule, note, paper, opposite):
        specs.append(
            paired_claim(
                stat,
                experiment=EXPERIMENT,
                claim_id=claim_id,
                statement=statement,
                statistic=statistic,
                rule=rule,
                sesoi=abs(rule.threshold) or sesoi_loss,
                sesoi_note=note,
                effects=Effects(margin=rule.threshold, paper=paper, opposite=opposite, note=NOTE),
                data=runs,
            )
        )

    loss_note = (
        "a 2% perplexity difference, about 1.7 times the gap the paper calls comparable "
        "(Table 6: 11.77 against 11.63)"
    )
    reach_note = (
        f"{reach_margin:.3g} nats, about twice the paper's own gap at 1.4B and 30B tokens "
        "per stage (ln 11.77/11.63 = 0.012, which it calls reaching), so that the paper's "
        "gap lies inside the margin with room for seed noise; the same gap at 60B per "
        "stage is -0.003"
    )
    for arm, label in (("random", "random new tokens"), ("zero_fixed", "zero new keys")):
        if arm not in arms:
            continue
        add(
            f"{arm}_growth_reaches_scratch_at_a_third",
            f"growing by parameter tokens ({label}) reaches, within the margin, the loss "
            f"of training the final model from scratch with {1 / share:.3g} times the "
            "compute",
            "final validation loss, grown model minus the final shape trained from scratch "
            f"for {target_steps} steps (a growth run's FLOPs are {share:.3g} of its; paired "
            "t over seeds)",
            Paired(growth(arm), scratch("pattention", target_steps), "val_loss", "val_loss"),
            Rule("below", reach_margin),
            reach_note,
            PAPER["reach_gap"],
            reach_margin + 4 * sesoi_loss,
        )
    # Zero keys with the scale held leave the function unchanged at growth, and the
    # official code's recomputed scale changes it: both are algebra (GeLU(0) = 0, zeros
    # leave the L2 norm alone), tested in tests/lm/test_growth.py, not claims. The
    # empirical question they stand for is whether preserving the function pays at the end.
    if "zero_fixed" in arms and "random" in arms and norm != "softmax":
        add(
            "preserving_growth_ends_lower_than_random",
            "growth that preserves the function (zero new keys, scale held) ends at a lower "
            "loss than growth by random new tokens (the paper's headline runs)",
            "final validation loss, zero new keys minus random new tokens (same first stage, "
            "data and schedule; paired t over seeds)",
            Paired(growth("zero_fixed"), growth("random"), "val_loss", "val_loss"),
            Rule("below", -sesoi_loss),
            loss_note + "; the paper argues for preservation but gives no number: planted at "
            "twice the margin",
            -2 * sesoi_loss,
            sesoi_loss,
        )
    for plain, how in (
        ("plain_zero", "with zero new input rows"),
        ("plain_net2net", "by Net2Net (the paper's Table 8 baseline)"),
    ):
        if "zero_fixed" not in arms or plain not in arms:
            continue
        add(
            f"token_growth_penalty_below_{plain.removeprefix('plain_')}",
            "growing by parameter tokens costs less, against training the final shape from "
            "scratch, than widening a plain network's feed-forward block "
            f"{how} (both function-preserving, equal N and FLOPs at every stage)",
            f"difference in differences: zero_fixed's growth penalty minus {plain}'s "
            "(penalty: final loss minus the same architecture's final shape trained from "
            f"scratch for {same_steps} steps, same seed; paired t over seeds)",
            Paired(growth("zero_fixed"), growth(plain), "growth_penalty", "growth_penalty"),
            Rule("below", -sesoi_loss),
            loss_note + "; planted at the size of the paper's gap to Net2Net (Table 8, 354M: "
            "13.7 against 14.3, a gap of final losses; read here as one of growth penalties, "
            "an assumption), its only growth comparison with a plain network",
            PAPER["plain_vs_tokens"],
            sesoi_loss,
        )
    if "zero_fixed" in arms and "plain_net2net" in arms:
        # The paper's own form of Table 8: final losses, grown against grown. It measures
        # the architectures' gap at equal N as well as their growth (the differences in
        # differences above separate the two), which is how the paper reads it.
        add(
            "token_growth_ends_below_net2net",
            "growing by parameter tokens ends at a lower loss than growing the standard "
            "transformer of equal N by Net2Net (the paper's Table 8 comparison: equal N and "
            "FLOPs at every stage, final losses)",
            "final validation loss, zero_fixed minus plain_net2net (same data and schedule; "
            "paired t over seeds)",
            Paired(growth("zero_fixed"), growth("plain_net2net"), "val_loss", "val_loss"),
            Rule("below", -sesoi_loss),
            loss_note + "; planted at the paper's gap to Net2Net (Table 8, 354M: 13.7 against "
            "14.3)",
            PAPER["plain_vs_tokens"],
            sesoi_loss,
        )
    if "zero_fixed" in arms and "gelu_zero" in arms:
        add(
            "theta_growth_penalty_below_gelu",
            "Theta's normalisation makes growth by parameter tokens cost less than the same "
            "growth with Theta a plain GeLU (same shapes, same zero new keys)",
            "difference in differences: zero_fixed's growth penalty minus gelu_zero's "
            "(paired t over seeds)",
            Paired(growth("zero_fixed"), growth("gelu_zero"), "growth_penalty", "growth_penalty"),
            Rule("below", -sesoi_loss),
            loss_note + "; the paper credits Theta's normalisation but gives no growth "
            "number for it: planted at twice the margin",
            -2 * sesoi_loss,
            sesoi_loss,
        )
    if "plain_zero" in arms:
        add(
            "pattention_no_worse_at_equal_n_final_size",
            "parameter attention is no worse than the standard transformer of equal N "
            "(final size, trained from scratch)",
            f"final validation loss of the scratch runs of {same_steps} steps, parameter "
            "attention minus standard (paired t over seeds)",
            Paired(
                scratch("pattention", same_steps),
                scratch("linear", same_steps),
                "val_loss",
                "val_loss",
            ),
            Rule("below", sesoi_loss),
            loss_note,
            PAPER["equal_n"],
            10 * sesoi_loss,
        )
    if "gelu_zero" in arms:
        add(
            "theta_normalisation_lowers_loss",
            "Theta's normalisation lowers the loss of parameter attention against Theta a "
            "plain GeLU, at the same shapes (final size, trained from scratch)",
            f"final validation loss of the scratch runs of {same_steps} steps, parameter "
            "attention minus the same with a plain GeLU (paired t over seeds)",
            Paired(
                scratch("pattention", same_steps),
                scratch("gelu", same_steps),
                "val_loss",
                "val_loss",
            ),
            Rule("below", -sesoi_loss),
            loss_note + "; the paper's Theta ablation (ImageNet accuracy: GeLU+L2 82.5, "
            "GeLU+L1 81.7, exp+L1 79.6) has no plain GeLU and no loss: planted at twice the "
            "margin",
            -2 * sesoi_loss,
            sesoi_loss,
        )
    return specs


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    return read_frame(inputs["runs"], RUNS_SCHEMA)
