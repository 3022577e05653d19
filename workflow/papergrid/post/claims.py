"""The post-training experiment's claims: every one compares two arms that share their start
seeds (papergrid.contrasts), so the seed-to-seed spread of the SFT starts cancels.

Tülu 3's numbers (papers.md, "Tülu 3") set the planted effects of the calibration; the
smallest effects of interest are config settings (``post.analysis``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.contrasts import Paired, paired_claim
from papergrid.post.analysis import EXPERIMENT, others_mean, skills_in
from papergrid.post.grid import CONTRACT, loss_beta

PAPER = {
    "norm_over_sft": 0.016,  # Table 18: 55.7 -> 57.3
    "norm_over_dpo": 0.021,  # 57.3 against DPO's 55.2
    "norm_over_simpo": 0.044,  # against SimPO's 52.9
    "norm_over_wpo": 0.02,  # "worse": no number in our sources
    "beta": 0.105,  # dpo_norm at beta 5 (57.3) against beta 2 (46.8)
    "on_policy": 0.015,  # Fig. 11: on- plus off-policy above off-policy alone
    "unused": 0.01,  # "slightly better"
    "length": 3.0,  # characters: the summed loss lengthens responses (no number)
    "ppo_gap": -0.01,  # PPO 54.5-55.5 against DPO-norm 57.3: "similar"
    "ppo_cost": math.log(14.0),  # ~28 h on 2 nodes against ~4 h on 1
    "rlvr_target": 0.033,  # Table 23: GSM8K 84.3 -> 87.6 with the math verifier
    "kl": 0.5,  # nats per response: lower beta drifts further (no number)
    "others": -0.01,  # lower beta: "a lower average"
}


def claim_specs(
    runs: pd.DataFrame,
    *,
    reference: Mapping[str, Any],
    main: Mapping[str, list[float]],
    arms: list[str],
    length: Mapping[str, Any],
    rlvr: Mapping[str, Any],
    sesoi_acc: float,
    equivalence_acc: float,
    sesoi_length: float,
    cost_ratio: float,
    sesoi_kl: float,
) -> list[ClaimSpec]:
    ref = {"method": reference["loss"], "arm": "mixed", "beta": float(reference["beta"])}
    dpo = {"reference": reference, "main": main}
    start = {"method": "sft", "start": "sft"}
    specs: list[ClaimSpec] = []

    def add(
        claim_id,
        statement,
        statistic,
        a,
        b,
        value,
        rule,
        sesoi,
        note,
        paper,
        opposite,
        shift=None,
        log=False,
        margin=None,
    ):
        shift = shift or (value if isinstance(value, str) else "acc_mean")
        paired = Paired(a, b, value, shift, log=log)
        specs.append(
            paired_claim(
                paired,
                experiment=EXPERIMENT,
                claim_id=claim_id,
                statement=statement,
                statistic=statistic + " (paired t over start seeds)",
                rule=rule,
                sesoi=sesoi,
                sesoi_note=note,
                effects=Effects(
                    margin=rule.threshold_high if margin == "high" else rule.threshold,
                    paper=paper,
                    opposite=opposite,
                    note="Tülu 3, see papergrid.post.claims.PAPER",
                ),
                data=runs,
            )
        )

    name = f"{reference['loss']} (beta {reference['beta']:g})"
    up = Rule("above", sesoi_acc)
    add(
        "norm_improves_on_sft",
        f"{name} tuning lifts accuracy above the SFT start",
        f"mean accuracy, {name} minus its SFT start",
        ref,
        start,
        "acc_mean",
        up,
        sesoi_acc,
        "one point of accuracy",
        PAPER["norm_over_sft"],
        -PAPER["norm_over_sft"],
    )
    for loss, betas in main.items():
        for beta in betas:
            if loss == reference["loss"] and beta == reference["beta"]:
                continue
            other = {"method": loss, "arm": "mixed", "beta": float(beta)}
            key = "beta" if loss == reference["loss"] else f"norm_over_{loss}"
            paper = PAPER.get(key, 0.02)
            add(
                f"norm_beats_{loss}_{beta:g}",
                f"{name} beats {loss} at beta {beta:g}",
                f"mean accuracy, {name} minus {loss} (beta {beta:g})",
                ref,
                other,
                "acc_mean",
                up,
                sesoi_acc,
                "one point of accuracy",
                paper,
                -paper,
            )

    def arm_ref(arm: str) -> dict:
        return {**ref, "arm": arm}

    if "off_policy" in arms:
        add(
            "on_policy_pairs_help",
            "on- plus off-policy pairs beat off-policy pairs alone",
            f"mean accuracy, {name} on the mixed arm minus the off-policy arm",
            ref,
            arm_ref("off_policy"),
            "acc_mean",
            up,
            sesoi_acc,
            "one point of accuracy",
            PAPER["on_policy"],
            -PAPER["on_policy"],
        )
    if "duplicated" in arms:
        band = Rule("within", -equivalence_acc, equivalence_acc)
        add(
            "duplication_adds_nothing",
            "duplicating prompts at equal pair count changes "
            f"accuracy by less than {equivalence_acc:g}",
            f"mean accuracy, {name} on duplicated minus unique prompts",
            arm_ref("duplicated"),
            ref,
            "acc_mean",
            band,
            equivalence_acc,
            "three points: within seed noise of SFT",
            0.0,
            2 * equivalence_acc,
            margin="high",
        )
    if "reused" in arms:
        add(
            "unused_prompts_help",
            "prompts unused in SFT beat prompts reused from SFT",
            f"mean accuracy, {name} on unused minus reused SFT prompts",
            ref,
            arm_ref("reused"),
            "acc_mean",
            Rule("above", sesoi_acc / 2),
            sesoi_acc / 2,
            "half a point: 'slightly'",
            PAPER["unused"],
            -PAPER["unused"],
        )
    losses = length["losses"]
    if len(losses) == 2:
        summed, normed = (
            {"method": loss, "arm": length["arm"], "beta": loss_beta(dpo, loss)} for loss in losses
        )
        add(
            "norm_avoids_length_exploitation",
            f"under a length confound ({length['arm']}), "
            f"the summed {losses[0]} loss lengthens responses more than {losses[1]}",
            f"mean greedy response length (characters), {losses[0]} minus {losses[1]}",
            summed,
            normed,
            "response_length",
            Rule("above", sesoi_length),
            sesoi_length,
            "one character per response",
            PAPER["length"],
            -PAPER["length"],
        )
    ppo = {"method": "ppo", "arm": "prompts"}
    band = Rule("within", -equivalence_acc, equivalence_acc)
    add(
        "ppo_similar_to_dpo",
        f"PPO on the same prompts reaches the accuracy of {name}",
        f"mean accuracy, PPO minus {name}",
        ppo,
        ref,
        "acc_mean",
        band,
        equivalence_acc,
        "three points",
        PAPER["ppo_gap"],
        2 * equivalence_acc,
        margin="high",
    )
    add(
        "ppo_costs_more",
        f"PPO costs more than {cost_ratio:g}x the compute of {name}",
        f"log of total FLOPs (data included), PPO over {name}",
        ppo,
        ref,
        "total_flops",
        Rule("above", math.log(cost_ratio)),
        math.log(cost_ratio),
        f"'several times': more than {cost_ratio:g}x",
        PAPER["ppo_cost"],
        math.log(0.5),
        log=True,
    )
    skill = rlvr["skill"]
    betas = sorted(rlvr["betas"])
    mid = betas[len(betas) // 2]

    def rl(beta: float, start: str = "sft") -> dict:
        return {"method": "ppo", "arm": "rlvr", "beta": float(beta), "start": start}

    target = f"acc_{skill}"
    add(
        "rlvr_improves_target",
        f"RLVR on {skill} (beta {mid:g}) lifts {skill} accuracy",
        f"{skill} accuracy, RLVR minus its SFT start",
        rl(mid),
        start,
        target,
        up,
        sesoi_acc,
        "one point of accuracy",
        PAPER["rlvr_target"],
        -PAPER["rlvr_target"],
    )

    def concentrated(arm: pd.DataFrame) -> pd.Series:
        return arm[target] - others_mean(arm, skill)

    add(
        "rlvr_gains_concentrate",
        f"RLVR's gains concentrate on {skill}",
        f"({skill} minus other skills' mean accuracy), RLVR minus its SFT start",
        rl(mid),
        start,
        concentrated,
        up,
        sesoi_acc,
        "one point of accuracy",
        PAPER["rlvr_target"],
        -PAPER["rlvr_target"],
        shift=target,
    )
    low, high = betas[0], betas[-1]
    add(
        "lower_beta_more_kl",
        f"a lower beta ({low:g}) drifts further from the start than {high:g}",
        f"KL to the start per response (nats), beta {low:g} minus {high:g}",
        rl(low),
        rl(high),
        "kl",
        Rule("above", sesoi_kl),
        sesoi_kl,
        "a tenth of a nat",
        PAPER["kl"],
        -PAPER["kl"],
    )

    def others(arm: pd.DataFrame) -> pd.Series:
        return others_mean(arm, skill)

    other_cols = tuple(f"acc_{s}" for s in skills_in(runs) if s != skill)
    add(
        "lower_beta_hurts_others",
        f"a lower beta ({low:g}) lowers the other skills' accuracy",
        f"other skills' mean accuracy, beta {low:g} minus {high:g}",
        rl(low),
        rl(high),
        others,
        Rule("below", -sesoi_acc),
        sesoi_acc,
        "one point of accuracy",
        PAPER["others"] * 2,
        -PAPER["others"] * 2,
        shift=other_cols,
    )
    weak = rlvr["weak_beta"]
    add(
        "weaker_start_drifts_further",
        f"a weaker start drifts further from its start than the SFT start (beta {weak:g})",
        "KL to the start per response (nats), weak minus SFT start",
        rl(weak, "weak"),
        rl(weak),
        "kl",
        Rule("above", sesoi_kl),
        sesoi_kl,
        "a tenth of a nat",
        PAPER["kl"],
        -PAPER["kl"],
    )
    return specs


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    return read_frame(inputs["runs"], CONTRACT.summary_schema())
