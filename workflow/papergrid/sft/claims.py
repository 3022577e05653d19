"""The SFT experiment's claims: intervals on the independent units (seeds for the paired
ablation and loss arms, papergrid.contrasts; runs for the spreads; soups for the soup
claim), rules, and the simulators that calibrate them (papergrid.calibration)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.contrasts import Paired, paired_claim
from papergrid.sft.analysis import EXPERIMENT, SOUPS_TABLE, main_matrix, skills_of
from papergrid.sft.grid import CONTRACT
from papergrid.simulate import pooled_sd
from papergrid.stats import Evidence, no_evidence, rms_effect, sd_interval, t_mean

PAPER_SEED_SD = 0.013  # 70B: three seeds spanning 2.6 points (8B: 0.3 points, SD 0.0013)
PAPER_TEMPLATE_RMS = 0.0051  # Table 13: five templates 51.6-53.0, RMS deviation 0.51 points
PAPER_DROP = 0.12  # Table 10: GSM8K 76.2 -> 64.1 without the math data
PAPER_REDUCTION = 0.02  # sum over mean loss: no number in our sources; read as 2 points


def seed_spread_evidence(runs: pd.DataFrame) -> Evidence:
    """Within-template SD of mean accuracy over seeds, pooled over templates (chi-square)."""
    m = main_matrix(runs, "acc_mean").to_numpy(float)
    if m.shape[1] < 2:
        return no_evidence(math.nan, m.size, "runs")
    ss = float(((m - m.mean(axis=1, keepdims=True)) ** 2).sum())
    return sd_interval(ss, m.shape[0] * (m.shape[1] - 1), m.size, "runs")


def template_spread_evidence(runs: pd.DataFrame) -> Evidence:
    """RMS of the template effects on mean accuracy (fixed effects, noncentral F)."""
    return rms_effect(main_matrix(runs, "acc_mean").to_numpy(float), "runs")


def soup_evidence(soups: pd.DataFrame) -> Evidence:
    mean = soups[soups["skill"] == "mean"]
    return t_mean(mean["soup"] - mean["chosen_parent"], "soups")


class Simulator:
    """Tables of the shipped shape. Main grid: accuracy = template mean + seed noise
    (pooled within-template SD). Soups: gains at the planted mean with the observed SD over
    soups. (The paired arms are papergrid.contrasts'.)"""

    def __init__(self, runs: pd.DataFrame, soups: pd.DataFrame, reference: str, skills):
        self.runs = runs[runs["status"] == "ok"].reset_index(drop=True)
        self.soups = soups[soups["skill"] == "mean"].reset_index(drop=True)
        self.reference, self.skills = reference, list(skills)
        main = self.runs["variant"] == "main"
        self.main = main.to_numpy()
        self.template = self.runs["template"].to_numpy()
        m = main_matrix(self.runs, "acc_mean")
        self.template_means = m.mean(axis=1)
        self.within_sd = pooled_sd(self.runs.loc[main, "acc_mean"], self.runs.loc[main, "template"])
        gains = (self.soups["soup"] - self.soups["chosen_parent"]).to_numpy(float)
        self.soup_sd = float(np.std(gains, ddof=1)) if gains.size > 1 else math.nan

    def main_grid(self, rng, means: pd.Series, sd: float) -> pd.DataFrame:
        out = self.runs.copy()
        mu = means.reindex(self.template[self.main]).to_numpy()
        out.loc[self.main, "acc_mean"] = mu + sd * rng.standard_normal(self.main.sum())
        return out

    def seed_sd(self, e: float, rng) -> pd.DataFrame:
        return self.main_grid(rng, self.template_means, e)

    def template_rms(self, e: float, rng) -> pd.DataFrame:
        dev = self.template_means - self.template_means.mean()
        rms = float(np.sqrt((dev**2).mean()))
        shape = dev / rms if rms > 0 else pd.Series(rng.standard_normal(len(dev)), dev.index)
        return self.main_grid(rng, self.template_means.mean() + e * shape, self.within_sd)

    def soup_gain(self, e: float, rng) -> pd.DataFrame:
        out = self.soups.copy()
        out["soup"] = out["chosen_parent"] + e + self.soup_sd * rng.standard_normal(len(out))
        return out


def claim_specs(
    data: dict,
    *,
    reference_template: str,
    sesoi_spread: float,
    drop_threshold: float,
    others_margin: float,
    soup_margin: float,
    sesoi_reduction: float,
) -> list[ClaimSpec]:
    runs, soups = data["runs"], data["soups"]
    skills = [s for s in skills_of(runs) if s != "mean"]
    sim = Simulator(runs, soups, reference_template, skills)
    ref = reference_template
    on_runs = _on("runs")
    specs = [
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="seed_moves_results",
            statement="the random seed moves SFT results (mean accuracy)",
            statistic="within-template SD of mean accuracy over seeds, pooled (chi-square)",
            rule=Rule("above", sesoi_spread),
            sesoi=sesoi_spread,
            sesoi_note="a quarter point of accuracy: below every spread Tülu 3 reports as such",
            effects=Effects(
                margin=sesoi_spread,
                paper=PAPER_SEED_SD,
                opposite=PAPER_SEED_SD / 10,
                note="Tülu 3 70B: seeds span 2.6 points (SD ~1.3); 8B: 0.3 points",
            ),
            compute=on_runs(seed_spread_evidence),
            simulate=lambda e, rng: {"runs": sim.seed_sd(e, rng), "soups": soups},
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="template_moves_results",
            statement="the chat template moves SFT results (mean accuracy)",
            statistic="RMS of the template effects on mean accuracy, templates fixed "
            "(noncentral F)",
            rule=Rule("above", sesoi_spread),
            sesoi=sesoi_spread,
            sesoi_note="a quarter point of accuracy, RMS over templates",
            effects=Effects(
                margin=sesoi_spread,
                paper=PAPER_TEMPLATE_RMS * 2,
                opposite=0.0,
                no_effect=0.0,
                note="Tülu 3 Table 13: 5 templates, RMS 0.51 points; planted at twice that",
            ),
            compute=on_runs(template_spread_evidence),
            simulate=lambda e, rng: {"runs": sim.template_rms(e, rng), "soups": soups},
        ),
    ]
    full = {"variant": "main", "template": ref}

    def paired(claim_id, b, value, shift, **spec):
        pair = Paired(full, b, value, shift)
        return paired_claim(
            pair, experiment=EXPERIMENT, claim_id=claim_id, data=data, data_key="runs", **spec
        )

    ablated = sorted(set(runs.loc[runs["variant"] == "ablate", "held_out"]))
    for skill in ablated:
        arm = {"variant": "ablate", "held_out": skill}
        others = tuple(f"acc_{o}" for o in skills if o != skill)
        specs.append(
            paired(
                f"leaving_out_{skill}_drops_it",
                arm,
                f"acc_{skill}",
                f"acc_{skill}",
                statement=f"leaving {skill} out of SFT drops {skill} accuracy by more than "
                f"{drop_threshold:g}",
                statistic=f"{skill} accuracy, all skills minus {skill} left out ({ref}, same "
                "examples of the other skills, paired t)",
                rule=Rule("above", drop_threshold),
                sesoi=drop_threshold,
                sesoi_note="five points of accuracy",
                effects=Effects(
                    margin=drop_threshold,
                    paper=PAPER_DROP,
                    opposite=0.0,
                    note="Tülu 3 Table 10: GSM8K -12 points without the math data",
                ),
            )
        )
        specs.append(
            paired(
                f"others_stay_without_{skill}",
                arm,
                lambda a, others=others: a[list(others)].mean(axis=1),
                others,
                statement=f"leaving {skill} out moves the other skills by less than "
                f"{others_margin:g}",
                statistic=f"mean accuracy of the other skills, all skills minus {skill} left "
                f"out ({ref}, paired t)",
                rule=Rule("within", -others_margin, others_margin),
                sesoi=others_margin,
                sesoi_note="the same five points that count as a drop for the skill left out",
                effects=Effects(
                    margin=others_margin,
                    paper=0.0,
                    opposite=2 * others_margin,
                    note="Tülu 3 Table 10: averages fell only with the targeted skill",
                ),
            )
        )
    specs.append(
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="soup_not_better_than_parent",
            statement=f"a two-seed soup is not better than its better parent by more than "
            f"{soup_margin:g}",
            statistic="mean test accuracy, soup minus the parent with the higher validation "
            "accuracy (t over soups)",
            rule=Rule("below", soup_margin),
            sesoi=soup_margin,
            sesoi_note="one point of accuracy",
            effects=Effects(
                margin=soup_margin,
                paper=0.0,
                opposite=3 * soup_margin,
                note="Tülu 3: best soup 60.2 / 72.5 against best seed 60.1 / 72.6",
            ),
            compute=lambda d: soup_evidence(d["soups"]),
            simulate=lambda e, rng: {"runs": runs, "soups": sim.soup_gain(e, rng)},
        )
    )
    if (runs["variant"] == "mean_loss").any():
        specs.append(
            paired(
                "sum_loss_beats_mean_loss",
                {"variant": "mean_loss"},
                "acc_mean",
                "acc_mean",
                statement="the summed-token loss gives higher accuracy than the per-micro-batch "
                "mean loss under gradient accumulation",
                statistic=f"mean accuracy, sum minus mean reduction ({ref}, same micro-batches, "
                "paired t)",
                rule=Rule("above", sesoi_reduction),
                sesoi=sesoi_reduction,
                sesoi_note="one point of accuracy",
                effects=Effects(
                    margin=sesoi_reduction,
                    paper=PAPER_REDUCTION,
                    opposite=-PAPER_REDUCTION,
                    no_effect=0.0,
                    note="no number in our sources; read as 2 points",
                ),
            )
        )
    return specs


def _on(key: str):
    """Lift a statistic of one table to the claims' data dict."""

    def lift(fn):
        return lambda data: fn(data[key])

    return lift


def claim_data(inputs: dict[str, str]) -> dict[str, pd.DataFrame]:
    return {
        "runs": read_frame(inputs["runs"], CONTRACT.summary_schema()),
        "soups": read_frame(inputs["soups"], SOUPS_TABLE),
    }
