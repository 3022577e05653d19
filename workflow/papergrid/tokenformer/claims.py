"""The TokenFormer experiment's claims, and the critique's.

Every statistic is a mean over seeds of a per-seed quantity, the seeds being the units:
a seed's growth arms share its first stage and its data stream, and its scratch runs the
data stream, so arms are paired by seed (:mod:`papergrid.contrasts`). Losses are in nats
per token on held-out sequences of the synthetic language.

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
from papergrid.tokenformer.analysis import JUMP_FLOOR, RUNS_SCHEMA
from papergrid.tokenformer.grid import SCRATCH

EXPERIMENT = "tokenformer"
PAPER = {
    # Table 6 at 1.4B: grown 11.77 against the Transformer trained on 300B tokens 11.63, at
    # "about 3x" less cumulative cost: ln(11.77 / 11.63) nats above the scratch loss
    "reach_gap": math.log(11.77 / 11.63),
    # App. B: zero new keys with the scale held leave the function unchanged (a jump of 0,
    # the floor of the log10 scale)
    "preserve_jump": math.log10(JUMP_FLOOR),
    # the recomputed scale: no number in the paper; 0.01 nats, a twentieth of the
    # single-stage gap between 30B and 300B tokens in Table 6 (ln 15.97/13.02 = 0.2)
    "rescale_jump": math.log10(0.01),
    # Table 8: TokenFormer 13.7 against Net2Net 14.3 at 354M (15B tokens per stage): the
    # paper's growth beats a grown plain network by ln(14.3 / 13.7) nats
    "plain_vs_tokens": math.log(14.3 / 13.7),
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
    target_steps: int,
    same_steps: int,
) -> list[ClaimSpec]:
    specs: list[ClaimSpec] = []

    def add(claim_id, statement, statistic, stat, rule, sesoi, note, paper, opposite):
        specs.append(
            paired_claim(
                stat,
                experiment=EXPERIMENT,
                claim_id=claim_id,
                statement=statement,
                statistic=statistic,
                rule=rule,
                sesoi=sesoi,
                sesoi_note=note,
                effects=Effects(margin=rule.threshold, paper=paper, opposite=opposite, note=NOTE),
                data=runs,
            )
        )

    loss_note = (
        "a 2% perplexity difference, about 1.7 times the gap the paper calls comparable "
        "(Table 6: 11.77 against 11.63)"
    )
    for arm, label in (("random", "random new tokens"), ("zero_fixed", "zero new keys")):
        if arm not in arms:
            continue
        add(
            f"{arm}_growth_reaches_scratch_at_a_third",
            f"growing by parameter tokens ({label}) reaches, within the smallest effect of "
            "interest, the loss of training the final model from scratch with "
            f"{1 / share:.3g} times the compute",
            "final validation loss, grown model minus the final shape trained from scratch "
            f"for {target_steps} steps (a growth run's FLOPs are {share:.3g} of its; paired "
            "t over seeds)",
            Paired(growth(arm), scratch("pattention", target_steps), "val_loss", "val_loss"),
            Rule("below", sesoi_loss),
            sesoi_loss,
            loss_note,
            PAPER["reach_gap"],
            10 * sesoi_loss,
        )
    # Zero keys with the scale held leave the function unchanged at growth, and the
    # official code's recomputed scale changes it: both are algebra (GeLU(0) = 0, zeros
    # leave the L2 norm alone), tested in tests/lm/test_growth.py, not claims. The
    # empirical question they stand for is whether preserving the function pays at the end.
    if "zero_fixed" in arms and "random" in arms and norm != "softmax":
        add(
            "preserving_growth_ends_lower_than_random",
            "growth that preserves the function (zero new keys, scale held) ends at a lower "
            "loss than growth by random new tokens",
            "final validation loss, zero new keys minus random new tokens (same first stage "
            "and data; paired t over seeds)",
            Paired(growth("zero_fixed"), growth("random"), "val_loss", "val_loss"),
            Rule("below", -sesoi_loss),
            sesoi_loss,
            loss_note + "; the paper argues for preservation but gives no number: planted at "
            "twice the margin",
            -2 * sesoi_loss,
            2 * sesoi_loss,
        )
    if "plain_zero" in arms:
        for arm, label in (("zero_fixed", "zero new keys"), ("random", "random new tokens")):
            if arm not in arms:
                continue
            add(
                f"plain_growth_matches_{arm}",
                "growing a plain network's feed-forward block with zero-initialised weights "
                f"does as well as growing parameter tokens ({label}) at equal N and FLOPs",
                f"final validation loss, widened standard transformer minus {arm} "
                "(paired t over seeds)",
                Paired(growth("plain_zero"), growth(arm), "val_loss", "val_loss"),
                Rule("below", sesoi_loss),
                sesoi_loss,
                loss_note,
                0.0,  # the critique's tie; the paper's own Table 8 is the opposite
                PAPER["plain_vs_tokens"],
            )
    pattention_arms = [a for a in ("zero_fixed", "zero_rescaled", "random") if a in arms]
    if pattention_arms and "plain_zero" in arms:
        add(
            "pattention_no_worse_at_equal_n_first_stage",
            "parameter attention is no worse than the standard transformer of equal N "
            "(first-stage size)",
            "validation loss at the end of the first stage, parameter attention minus "
            "standard (paired t over seeds)",
            Paired(growth(pattention_arms[0]), growth("plain_zero"), "stage1_loss", "stage1_loss"),
            Rule("below", sesoi_loss),
            sesoi_loss,
            loss_note,
            PAPER["equal_n"],
            10 * sesoi_loss,
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
            sesoi_loss,
            loss_note,
            PAPER["equal_n"],
            10 * sesoi_loss,
        )
    return specs


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    return read_frame(inputs["runs"], RUNS_SCHEMA)
