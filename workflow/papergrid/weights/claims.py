"""The weights experiment's claims: statistics on the seeds, rules, and the simulator that
calibrates them (papergrid.claims, papergrid.calibration).

Every claim reads the runs at the matched training loss (papergrid.weights.analysis
.readings), the paper's comparison: to reach the same loss, do wider networks move less?
The hidden-to-hidden layer fc2 carries the stamp and the claims; readings.md reports every
layer. Arms with weight decay are read by their deviation net of decay's deterministic
shrink (W divided by the product of (1 - rate x wd) over the steps): the raw relative
deviation is partly that shrink, fixed by the dose chosen.
"""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.gates import FitCheck, lack_of_fit
from papergrid.simulate import group_slopes, line_fit, matched
from papergrid.stats import Evidence, no_evidence, t_mean, t_paired
from papergrid.weights.analysis import EXPERIMENT
from papergrid.weights.model import STAMPED_LAYER

PAPER_EXPONENT = -0.5
"""Deviation ~ width^-1/2: lazy training (Jacot et al. 2018; Chizat et al. 2019) for SGD
at a fixed learning rate, and what SGD shows here. Jesus et al. give the direction only."""
# the paper's effect for power: Fig. 1a shows the letter clearly after 1,000 epochs and gives
# no number; a per-weight AUC of 0.97 is a planted value, not a reading of the paper
VISIBLE_AUC = 0.97
FADED_AUC = 0.75  # against the claim: a quarter of masked-unmasked pairs out of order
REFERENCE = "sgd"  # the paper's optimizer: other arms are compared with it
LOF_ALPHA = 0.05  # a straight log-log line whose lack of fit is significant here does not fit
REFERENCE_LEVEL = 0.95  # a reference arm has a width effect to lose when its own exponent's
# interval at this level lies below -SESOI
DEV = f"dev_{STAMPED_LAYER}"
NET = f"net_dev_{STAMPED_LAYER}"


def metric_of(runs: pd.DataFrame, optimizer: str) -> str:
    """The deviation an arm's width claims read: net of decay's shrink for an arm with
    weight decay, the relative deviation otherwise (the two agree without decay)."""
    return NET if decayed(runs, optimizer) else DEV


def decayed(runs: pd.DataFrame, optimizer: str) -> bool:
    if "weight_decay" not in runs:
        return False
    wd = runs.loc[runs["optimizer"] == optimizer, "weight_decay"].to_numpy(float)
    return bool(np.any(np.nan_to_num(wd) > 0))


def _columns(runs: pd.DataFrame, *names: str) -> list[np.ndarray]:
    # numpy from here on: the calibration evaluates these thousands of times
    return [runs[n].to_numpy() for n in names]


def log_metric(
    runs: pd.DataFrame, optimizer: str, metric: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(seed, log width, log metric) of one arm's runs that reached the matched loss."""
    opt, status, seed, width, v = _columns(runs, "optimizer", "status", "seed", "width", metric)
    sel = (opt == optimizer) & (status == "ok")
    v = v[sel].astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        logv = np.where(v > 0, np.log(v), np.nan)
    return seed[sel], np.log(width[sel].astype(float)), logv


def seed_exponents(runs: pd.DataFrame, optimizer: str, metric: str) -> tuple[np.ndarray, ...]:
    """Per seed, the slope of log metric on log width over the widths it reached."""
    seeds, logw, logv = log_metric(runs, optimizer, metric)
    return group_slopes(logw, logv, seeds)


def _reach_note(runs: pd.DataFrame, optimizer: str) -> str:
    opt, status, width = _columns(runs, "optimizer", "status", "width")
    mine = opt == optimizer
    missed = mine & (status != "ok")
    if not missed.any():
        return f"all {int(mine.sum())} runs reached the matched loss"
    ws, counts = np.unique(width[missed], return_counts=True)
    where = ", ".join(f"width {w}: {n}" for w, n in zip(ws, counts, strict=True))
    return f"{int(mine.sum() - missed.sum())} of {int(mine.sum())} runs read (left out: {where})"


def exponent_evidence(runs: pd.DataFrame, optimizer: str, metric: str) -> Evidence:
    _, k = seed_exponents(runs, optimizer, metric)
    ev = t_mean(k, "seeds")
    return ev.with_detail(_reach_note(runs, optimizer))


def exponent_gap_evidence(
    runs: pd.DataFrame, optimizer: str, reference: str, metric: str, sesoi: float
) -> Evidence:
    """Exponent under ``optimizer`` minus under ``reference``, paired by seed (same seed:
    same initial weights and the same batches), each over the widths both arms reached for
    that seed. No evidence when the reference has no width effect of its own (its exponent
    not below -``sesoi``): two flat slopes agree by construction, so "the effect survives"
    would be vacuous (the reference against itself passes)."""
    _, k_ref = seed_exponents(runs, reference, metric)
    ref = t_mean(k_ref, "seeds")
    if not ref.interval(REFERENCE_LEVEL)[1] < -sesoi:
        lo, hi = ref.interval(REFERENCE_LEVEL)
        return no_evidence(
            math.nan,
            ref.n_units,
            "seeds",
            f"{reference} has no width effect to lose: its own exponent {ref.estimate:.3g} "
            f"[{lo:.3g}, {hi:.3g}] is not below -{sesoi:g}",
        )
    sa, wa, la = log_metric(runs, optimizer, metric)
    sb, wb, lb = log_metric(runs, reference, metric)
    key_a = sa.astype(np.int64) * 1_000_003 + np.round(np.exp(wa)).astype(np.int64)
    key_b = sb.astype(np.int64) * 1_000_003 + np.round(np.exp(wb)).astype(np.int64)
    ok_a, ok_b = np.isfinite(la), np.isfinite(lb)
    _, ia, ib = np.intersect1d(key_a[ok_a], key_b[ok_b], return_indices=True)
    seeds, logw = sa[ok_a][ia], wa[ok_a][ia]
    keys_a, k_a = group_slopes(logw, la[ok_a][ia], seeds)
    keys_b, k_b = group_slopes(logw, lb[ok_b][ib], seeds)
    x, y = matched(keys_a, k_a, keys_b, k_b)
    ev = t_paired(x, y, "seeds")
    return ev.with_detail(f"{optimizer}: {_reach_note(runs, optimizer)}")


def line_check(runs: pd.DataFrame, optimizer: str, metric: str) -> FitCheck:
    """Whether log metric is a straight line in log width for this arm: the lack of fit of
    the pooled least-squares line against the seed-to-seed scatter within each width. The
    exponent claim reads one slope for the whole range; where the relation bends (Adam's
    deviation stops falling beyond width 128), that slope is a property of the range."""
    _, logw, logv = log_metric(runs, optimizer, metric)
    keep = np.isfinite(logv)
    logw, logv = logw[keep], logv[keep]
    if np.unique(logw).size < 3:
        return FitCheck(False, "fewer than three widths: no lack-of-fit test")
    slope, intercept = np.polyfit(logw, logv, 1)
    lof = lack_of_fit(logv - (intercept + slope * logw), np.round(np.exp(logw)), n_params=2)
    figures = {"lof_f": lof.f, "lof_p": lof.p}
    if not lof.defined:
        return FitCheck(False, lof.describe(), figures)
    if lof.p < LOF_ALPHA:
        return FitCheck(False, f"not a straight line in log-log: {lof.describe()}", figures)
    return FitCheck(True, "", figures)


def lines_check(runs: pd.DataFrame, arms: tuple[str, ...], metric: str) -> FitCheck:
    """:func:`line_check` of every arm a gap reads: a gap of two slopes is a property of the
    range as soon as either relation bends."""
    for arm in arms:
        check = line_check(runs, arm, metric)
        if not check.passed:
            return FitCheck(False, f"{arm}: {check.reason}", check.figures)
    return FitCheck(True, "")


def widest_auc(runs: pd.DataFrame, optimizer: str) -> tuple[int, np.ndarray]:
    """The arm's widest width and the mask AUC at the matched loss of its runs there."""
    opt, status, width, auc = _columns(runs, "optimizer", "status", "width", "mask_auc")
    mine = opt == optimizer
    widest = int(width[mine].max()) if mine.any() else 0
    return widest, auc[mine & (status == "ok") & (width == widest)].astype(float)


def auc_evidence(runs: pd.DataFrame, optimizer: str) -> Evidence:
    return t_mean(widest_auc(runs, optimizer)[1], "seeds")


class Simulator:
    """Readings tables of the shipped shape. Per arm and metric, the log metric at each
    width is its observed mean over seeds plus noise with the pooled within-width SD over
    seeds; a planted exponent k tilts those means by (k - k_obs) (log width - its mean), so
    the per-seed slope is k on average while the means keep the curvature they have
    (Adam's deviation stops falling at the widest widths: a straight line through it would
    count that curvature as seed noise). Mask AUC at the widest width = level + noise (SD
    over seeds). Planted values replace one arm's k in one metric, or its AUC level; the
    rest keep their observed values."""

    def __init__(self, runs: pd.DataFrame):
        ok = runs[runs["status"] == "ok"]
        cols = ["optimizer", "width", "seed", "status"]
        if "weight_decay" in ok:
            cols.append("weight_decay")
        self.shape = ok[cols].reset_index(drop=True)
        self.metrics = [m for m in (DEV, NET) if m in runs]
        self.logw = np.log(self.shape["width"].to_numpy(float))
        self.opt = self.shape["optimizer"].to_numpy()
        self.width = self.shape["width"].to_numpy()
        self.fit, self.auc, self.cells = {}, {}, {}
        for opt in self.shape["optimizer"].unique():
            sel = self.opt == opt
            for metric in self.metrics:
                _, logw, logv = log_metric(runs, opt, metric)
                self.fit[(opt, metric)] = line_fit(logw, logv)
                self.cells[(opt, metric)] = self._cells(logw, logv, self.logw[sel])
            widest, aucs = widest_auc(runs, opt)
            sd = float(np.std(aucs, ddof=1)) if aucs.size > 1 else math.nan
            self.auc[opt] = (widest, float(np.mean(aucs)) if aucs.size else math.nan, sd)
        self.sel = {o: self.opt == o for o in self.auc}

    @staticmethod
    def _cells(logw, logv, at) -> tuple[np.ndarray, float, float]:
        """(observed mean log metric at each row of ``at``, pooled within-width SD, mean
        log width): the curvature the planted tilt keeps, and the seed noise."""
        keep = np.isfinite(logv)
        logw, logv = logw[keep], logv[keep]
        means, resid = {}, []
        for w in np.unique(logw):
            v = logv[logw == w]
            means[w] = v.mean()
            resid.extend(v - v.mean())
        dof = len(resid) - len(means)
        sd = float(np.sqrt(np.sum(np.square(resid)) / dof)) if dof > 0 else math.nan
        mean_logw = float(np.mean(logw)) if logw.size else math.nan
        return np.array([means.get(w, math.nan) for w in at]), sd, mean_logw

    def slope(self, optimizer: str, metric: str) -> float:
        return self.fit.get((optimizer, metric), (math.nan,) * 3)[1]

    def draw(self, rng, exponent: dict | None = None, auc: dict | None = None) -> pd.DataFrame:
        """``exponent``: {(arm, metric): k}; ``auc``: {arm: level}."""
        n = len(self.shape)
        cols = {}
        for metric in self.metrics:
            col = np.full(n, math.nan)
            for o, sel in self.sel.items():
                means, sd, mean_logw = self.cells[(o, metric)]
                k_obs = self.slope(o, metric)
                tilt = (exponent or {}).get((o, metric), k_obs) - k_obs
                logv = means + tilt * (self.logw[sel] - mean_logw)
                col[sel] = np.exp(logv + sd * rng.standard_normal(sel.sum()))
            cols[metric] = col
        aucs = np.full(n, math.nan)
        for o, (widest, level, auc_sd) in self.auc.items():
            at = self.sel[o] & (self.width == widest)
            level = (auc or {}).get(o, level)
            aucs[at] = level + auc_sd * rng.standard_normal(at.sum())
        cols["mask_auc"] = aucs
        return self.shape.assign(**cols)


def _measure(metric: str) -> str:
    if metric == NET:
        return "||W/s-W0||/||W0|| (hidden layer fc2, s: decay's deterministic shrink)"
    return "||W-W0||/||W0|| (hidden layer fc2)"


def claim_specs(
    runs: pd.DataFrame,
    *,
    auc_threshold: float,
    sesoi_exponent: float,
    decay_reference: str,
) -> list[ClaimSpec]:
    """Per arm, read at the matched training loss: (1) wider networks deviate less, by at
    least the smallest effect of interest; (2) the stamp stays visible at the widest width;
    and (3) the width effect is as strong as under its reference, paired by seed: SGD for
    an arm without weight decay, ``decay_reference`` (the same optimizer without decay) for
    an arm with it, read net of decay's shrink."""
    sim = Simulator(runs)
    opts = sorted(runs["optimizer"].unique())
    specs = []
    shrink = 2**-sesoi_exponent
    for opt in opts:
        metric = metric_of(runs, opt)
        specs.append(
            ClaimSpec(
                experiment=EXPERIMENT,
                claim_id=f"wider_deviates_less_{opt}",
                statement=f"{opt}: to reach the matched training loss, wider networks "
                "move less from their initial weights"
                + (" (net of decay's shrink)" if metric == NET else ""),
                statistic=f"exponent k of the {_measure(metric)} at the matched loss ~ "
                "width^k: per-seed least-squares slope in log-log, t over seeds",
                rule=Rule("below", -sesoi_exponent),
                sesoi=sesoi_exponent,
                sesoi_note=f"doubling the width shrinks the deviation by at least "
                f"{1 - 1 / shrink:.0%} (k <= -{sesoi_exponent:g}); the paper gives a direction "
                "only",
                effects=Effects(
                    margin=-sesoi_exponent,
                    paper=PAPER_EXPONENT,
                    opposite=sesoi_exponent,
                    no_effect=0.0,
                    note="k = -1/2, lazy training's 1/sqrt(width)",
                ),
                compute=partial(exponent_evidence, optimizer=opt, metric=metric),
                simulate=lambda e, rng, opt=opt, m=metric: sim.draw(rng, exponent={(opt, m): e}),
                reads=({"optimizer": opt},),
                fit_check=partial(line_check, optimizer=opt, metric=metric),
            )
        )
        widest = widest_auc(runs, opt)[0]  # every run of the arm, learned or not
        specs.append(
            ClaimSpec(
                experiment=EXPERIMENT,
                claim_id=f"stamp_visible_{opt}",
                statement=f"{opt}: at the matched training loss the stamp survives weight by "
                f"weight in the widest network (width {widest})",
                statistic="mean per-entry mask AUC over seeds at the widest width, at the "
                "matched loss (t interval): how well one weight tells whether it was stamped",
                rule=Rule("above", auc_threshold),
                sesoi=auc_threshold,
                sesoi_note="a level, not a difference: at 0.9 nine masked-unmasked pairs in ten "
                "keep their initial order, each weight still carrying its stamp; the letter "
                "as a whole stays legible to the eye well below it at width 512",
                effects=Effects(
                    margin=auc_threshold,
                    paper=VISIBLE_AUC,
                    opposite=FADED_AUC,
                    no_effect=0.5,
                    note="planted: the paper gives no number (Fig. 1a shows the letter)",
                ),
                compute=partial(auc_evidence, optimizer=opt),
                simulate=lambda e, rng, opt=opt: sim.draw(rng, auc={opt: e}),
                reads=({"optimizer": opt, "width": widest},),
            )
        )
    for opt in opts:
        # the width effect under each arm against its reference, paired by seed: SGD for an
        # arm without decay (does it survive the optimizer?), the decay reference for one
        # with decay (does it survive weight decay at this dose?), net of the shrink for both
        ref = decay_reference if decayed(runs, opt) else REFERENCE
        if opt == ref or ref not in opts or decayed(runs, ref):
            continue
        metric = metric_of(runs, opt)
        k_ref = sim.slope(ref, metric)
        what = "weight decay" if ref == decay_reference and ref != REFERENCE else opt
        specs.append(
            ClaimSpec(
                experiment=EXPERIMENT,
                claim_id=f"width_effect_survives_{opt}",
                statement=f"the width effect survives {what} ({opt} against {ref}): at the "
                f"matched loss its exponent is at most {sesoi_exponent:g} above {ref}'s",
                statistic=f"exponent k of the {_measure(metric)} under {opt} minus under "
                f"{ref}, each per seed over the widths both reached, paired by seed "
                "(paired t)",
                rule=Rule("below", sesoi_exponent),
                sesoi=sesoi_exponent,
                sesoi_note="the same smallest effect as the width claim: a gap that "
                "large would itself be a meaningful width effect",
                effects=Effects(
                    margin=sesoi_exponent,
                    paper=0.0,
                    opposite=-PAPER_EXPONENT,
                    note="the seed asks whether the finding survives; surviving unchanged "
                    "is a gap of 0",
                ),
                compute=partial(
                    exponent_gap_evidence,
                    optimizer=opt,
                    reference=ref,
                    metric=metric,
                    sesoi=sesoi_exponent,
                ),
                simulate=lambda e, rng, opt=opt, m=metric, k=k_ref: sim.draw(
                    rng, exponent={(opt, m): k + e}
                ),
                reads=({"optimizer": opt}, {"optimizer": ref}),
                fit_check=partial(lines_check, arms=(opt, ref), metric=metric),
            )
        )
    return specs


def claim_data(inputs: dict[str, str]) -> pd.DataFrame:
    """What the claims read: every run at the matched loss (readings.parquet)."""
    return pd.read_parquet(inputs["readings"])
