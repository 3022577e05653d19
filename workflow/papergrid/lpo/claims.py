"""The adaptive-decoding experiment's claims (LPO, Dhuliawala et al. 2024).

Every statistic is a mean over seeds of a per-seed quantity, and the seeds are the
units: a seed draws its own preference data, trains its heads on it and evaluates every
run (heads, fixed temperatures, the selector) on its own test prompts, so heads and
baselines are paired by seed (:mod:`papergrid.contrasts`). All runs share one frozen
model: the claims are about heads on that model.

The paper's numbers (papers.md, "Adaptive Decoding") set the planted effects of the
calibration where it gives them; where it gives none, the note says so.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.contrasts import MinOfPaired, Paired, Single, paired_claim
from papergrid.lpo.grid import CONTRACT

EXPERIMENT = "lpo"
PAPER = {
    # AD_seq's smallest win rate against a fixed temperature, 50.8% (UltraFeedback): for
    # 0/1 rewards a win rate w is a reward difference of 2 (w - 0.5)
    "beats_fixed": 2 * (0.508 - 0.5),
    # ConstrainedStories: mean temperature 0.21 at sentence starts against 0.55 elsewhere
    "constrained": 0.21 - 0.55,
    # "low for GSM8K, high for Stories": no number; two steps of the temperature grid
    "task_split": -0.4,
    # "high tau is the most chosen value regardless of task": no number; two grid steps
    "nll_drift": 0.4,
    # the per-task selector: a reviewer's control, no number; a tie
    "selector": 0.0,
}
NOTE = "LPO (arXiv 2411.09661), see papergrid.lpo.claims.PAPER"


def head(variant: str, loss: str = "lpo") -> dict[str, Any]:
    return {"method": loss, "variant": variant}


def claim_specs(
    runs: pd.DataFrame,
    *,
    temperatures: list[float],
    variants: list[str],
    losses: list[str],
    sesoi_tau: float,
    sesoi_reward: float,
    tie_margin: float,
) -> list[ClaimSpec]:
    specs: list[ClaimSpec] = []

    def add(claim_id, statement, statistic, stat, rule, sesoi, note, paper, opposite, **gates):
        margin = rule.threshold
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
                effects=Effects(margin=margin, paper=paper, opposite=opposite, note=NOTE),
                data=runs,
                **gates,
            )
        )

    tau_note = "half a step of the temperature grid"
    if "seq" in variants and "lpo" in losses:
        # the tasks were built for this split: the split is LPO's only if the head trained
        # by likelihood on the same data does not clear the same rule
        split = lambda d: d["tau_exact"] - d["tau_novel"]  # noqa: E731
        control = {}
        if "nll" in losses:
            control = dict(
                control=Single(head("seq", "nll"), split, "tau_exact").evidence,
                control_label="the likelihood-trained head (NLL, AD_seq)",
            )
        add(
            "seq_tau_lower_for_exact",
            "the sequence-level head picks lower temperatures for the verifiable task "
            "than for the creative one",
            "mean temperature, exact minus novel prompts (AD_seq, LPO; t over seeds)",
            Single(head("seq"), split, "tau_exact"),
            Rule("below", -sesoi_tau),
            sesoi_tau,
            tau_note,
            PAPER["task_split"],
            -PAPER["task_split"],
            **control,
        )
    for variant in variants:
        if "lpo" not in losses:
            break
        label = {"seq": "AD_seq", "tok": "AD_tok"}[variant]
        contrasts = tuple(
            Paired(
                head(variant), {"method": "fixed", "tau": float(t)}, "reward_mean", "reward_mean"
            )
            for t in temperatures
        )
        add(
            f"{variant}_beats_every_fixed",
            f"the {label} head beats every fixed temperature on the mixed set",
            f"mean reward, {label} minus the best fixed temperature (smallest of "
            f"{len(contrasts)} paired t contrasts over seeds; intersection-union)",
            MinOfPaired(contrasts),
            Rule("above", sesoi_reward),
            sesoi_reward,
            "one point of reward (half a point of win rate)",
            PAPER["beats_fixed"],
            -3 * PAPER["beats_fixed"],
        )
        add(
            f"{variant}_ties_selector",
            f"the {label} head beats or ties the per-task temperature selector",
            f"mean reward, {label} minus the selector (paired t over seeds)",
            Paired(head(variant), {"method": "selector"}, "reward_mean", "reward_mean"),
            Rule("above", -tie_margin),
            tie_margin,
            "a tie: within two points of reward",
            PAPER["selector"],
            -3 * tie_margin,
        )
    if "tok" in variants and "lpo" in losses:
        add(
            "tok_lowers_tau_at_constraint",
            "the per-token head lowers its temperature where the constraint binds",
            "mean temperature at segment starts minus elsewhere, constraint prompts "
            "(AD_tok, LPO; t over seeds)",
            Single(head("tok"), lambda d: d["tau_constrained"] - d["tau_free"], "tau_constrained"),
            Rule("below", -sesoi_tau),
            sesoi_tau,
            tau_note,
            PAPER["constrained"],
            -PAPER["constrained"],
        )
    if "seq" in variants and {"lpo", "nll"} <= set(losses):
        add(
            "nll_drifts_high",
            "a head trained by likelihood on the chosen temperatures decodes the verifiable "
            "task hotter than the LPO head (it drifts to high temperatures whatever the task)",
            "mean temperature on the verifiable prompts, NLL head minus LPO head (AD_seq; "
            "paired t over seeds)",
            Paired(head("seq", "nll"), head("seq"), "tau_exact", "tau_exact"),
            Rule("above", sesoi_tau),
            sesoi_tau,
            tau_note,
            PAPER["nll_drift"],
            -PAPER["nll_drift"],
        )
    return specs


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    return read_frame(inputs["runs"], CONTRACT.summary_schema())
