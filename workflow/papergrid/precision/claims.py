"""The precision experiment's claims: statistics on cells and runs, rules, and the
simulators that calibrate them (papergrid.claims, papergrid.calibration).

A cell is (size, D/N, seed): its runs share initialisation and data, so the contrasts
within it are paired; cells are the independent units of every interval here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property, partial

import numpy as np
import pandas as pd

from papergrid.claims import ClaimSpec, Effects, Rule
from papergrid.contract import read_frame
from papergrid.fit import PRECISION_CONTRAST, compute_optimal_bits, fixed_size_optimal_bits
from papergrid.gates import FitCheck
from papergrid.precision.analysis import (
    CELL,
    EXPERIMENT,
    GROUPS,
    LowContrast,
    contrast_table,
    fit_excess,
    form_check,
    gamma_evidence,
    gamma_from_contrast,
    joint_fit,
    learned,
    unigram_level,
)
from papergrid.precision.grid import CONTRACT
from papergrid.stats import Evidence, fieller_ratio, no_evidence, ols, t_mean

PAPER_SHARE = 0.98  # gains "saturate at ~6-7 bits": at 8 bits nearly the whole gap is closed
PAPER_GAMMA_D = 0.5068  # App. K
PAPER_ROBUST_RATIO = 0.5  # "degrade less": read as half the PTQ degradation
PAPER_P_STAR = 7.5  # "~7-8 bits"
SEED_P_STAR_FLOAT = 6.0  # the seed: "fp6 seems compute-optimal"
PAPER_MULTIPLIER = 4.0  # "below 4 bits the model must grow more than 4x"
# bits of P* per doubling of D/N at fixed N under App. K's constants (three tensor factors
# with their offsets, alpha = beta = 0.4965) over D/N 16-256; 0.82 over 10-1000
PAPER_P_STAR_SLOPE = 0.81
REFERENCE_BITS = 16.0  # compute of a 16-bit run fixes C at each D/N (Kumar's baseline)
K_JOINT = 3  # weights, activations and KV cache


@dataclass(frozen=True)
class PrecisionData:
    """What the claims read: the runs table (and the capacity table, when that part ran)."""

    runs: pd.DataFrame
    capacity: pd.DataFrame | None = None

    @property
    def unigram(self) -> float:
        """The level under which a run counts as having learned."""
        return unigram_level(self.runs) if len(self.runs) else math.nan


def cells(runs: pd.DataFrame, unigram: float, settings: list[str] | None = None) -> list:
    """Each cell's learned runs indexed by setting."""
    ok = runs[learned(runs, unigram)]
    if settings is not None:
        ok = ok[ok["setting"].isin(settings)]
    return [c.set_index("setting") for _, c in ok.groupby(CELL)]


def share_values(data: PrecisionData, low: int, saturation_bits: int) -> tuple[list, int]:
    """Per cell, the share of the gap between ``low``-bit integer training and full
    precision that ``saturation_bits`` closes; and the cells with no gap (left out)."""
    shares, no_gap = [], 0
    names = ("fp", f"int{low}", f"int{saturation_bits}")
    for c in cells(data.runs, data.unigram, list(names)):
        if set(names) <= set(c.index):
            gap = c.loc[names[1], "val_loss"] - c.loc["fp", "val_loss"]
            if gap > 0:
                shares.append((c.loc[names[1], "val_loss"] - c.loc[names[2], "val_loss"]) / gap)
            else:
                no_gap += 1
    return shares, no_gap


def share_evidence(data: PrecisionData, low: int, saturation_bits: int) -> Evidence:
    """Share of the low-bit-to-full-precision gap closed at ``saturation_bits``; t over
    cells. Cells with no gap are left out."""
    shares, no_gap = share_values(data, low, saturation_bits)
    ev = t_mean(shares, "cells")
    if no_gap:
        ev = ev.with_detail(
            f"{no_gap} cell(s) left out: their {low}-bit run was not worse than the unquantised one"
        )
    return ev


PTQ_LOW = (3, 4)  # the post-training precisions whose degradation the growth claim reads


def ptq_growth_design(data: PrecisionData) -> tuple[np.ndarray, np.ndarray, int]:
    """Per unquantised run: (design [1, log D, log N], log mean delta_PTQ at 3-4 bits),
    runs with no positive mean degradation left out (counted)."""
    runs = data.runs
    fp = runs[learned(runs, data.unigram) & (runs["number_format"] == "fp")]
    delta = np.mean([fp[f"val_loss_ptq{b}"] - fp["val_loss"] for b in PTQ_LOW], axis=0)
    keep = delta > 0
    x = np.column_stack(
        [
            np.ones(keep.sum()),
            np.log(fp["tokens"].to_numpy(float)[keep]),
            np.log(fp["n_params"].to_numpy(float)[keep]),
        ]
    )
    return x, np.log(delta[keep]), int((~keep).sum())


def ptq_growth_evidence(data: PrecisionData) -> Evidence:
    """gamma_D: coefficient of log D in log delta_PTQ ~ 1 + log D + log N (Kumar's Eq. 2 in
    logs, at 3-4 post-training bits), OLS t over unquantised runs (one per cell)."""
    x, y, dropped = ptq_growth_design(data)
    ev = ols(x, y, 1, "cells")[0]
    return ev.with_detail(f"{dropped} run(s) left out: no positive degradation") if dropped else ev


def robust_pairs(data: PrecisionData, train_bits: int, post_bits: int):
    """Per cell: (delta_PTQ of the weight-only run at ``train_bits``, of the unquantised
    run), both after PTQ to ``post_bits``."""
    low, fp = [], []
    col, name = f"val_loss_ptq{post_bits}", f"w{train_bits}"
    for c in cells(data.runs, data.unigram, ["fp", name]):
        if {"fp", name} <= set(c.index):
            low.append(c.loc[name, col] - c.loc[name, "val_loss"])
            fp.append(c.loc["fp", col] - c.loc["fp", "val_loss"])
    return np.asarray(low), np.asarray(fp)


def log_ratios(low: np.ndarray, fp: np.ndarray) -> tuple[np.ndarray, int]:
    """log(low / fp) of the cells where both degrade (counted: the others)."""
    keep = (low > 0) & (fp > 0)
    return np.log(low[keep] / fp[keep]), int((~keep).sum())


def robustness_evidence(data: PrecisionData, train_bits: int, post_bits: int) -> Evidence:
    """Geometric mean over cells of delta_PTQ(weight-only training at ``train_bits``) /
    delta_PTQ(unquantised training), both quantised to ``post_bits`` after training; t on
    the log ratios. Per-cell ratios, because the degradation itself spans orders of
    magnitude across D/N: a ratio of means would be the largest cells' alone."""
    logs, left = log_ratios(*robust_pairs(data, train_bits, post_bits))
    ev = t_mean(logs, "cells")
    ev = mapped(ev, math.exp, True, "t on per-cell log ratios", "")
    return ev.with_detail(f"{left} cell(s) left out: no degradation to compare") if left else ev


def paired_ratio(num, den, unit: str) -> Evidence:
    """mean(num) / mean(den) of paired units, Fieller with the paired covariance."""
    a, b = np.asarray(num, float), np.asarray(den, float)
    n = a.size
    if n < 3:
        return no_evidence(math.nan, n, unit)
    cov = np.cov(a, b, ddof=1) / n
    return fieller_ratio((a.mean(), cov[0, 0]), (b.mean(), cov[1, 1]), cov[0, 1], n - 1, n, unit)


def group_gamma(data: PrecisionData, group: str) -> Evidence:
    """gamma of a setting group from its within-cell contrasts."""
    return gamma_evidence(data.runs, data.unigram, group)


def mapped(ev: Evidence, fn, increasing: bool, method: str, detail: str) -> Evidence:
    """A monotone function of a gamma's Evidence (bounds mapped, swapped if decreasing)."""
    if increasing:
        lo, hi = (lambda a: fn(ev.lower(a))), (lambda a: fn(ev.upper(a)))
    else:
        lo, hi = (lambda a: fn(ev.upper(a))), (lambda a: fn(ev.lower(a)))
    text = "; ".join(filter(None, [detail, ev.detail]))
    return Evidence(fn(ev.estimate), ev.n_units, ev.unit, method, lo, hi, detail=text)


def p_star(gamma: float) -> float:
    if math.isnan(gamma):
        return math.nan
    if gamma <= 0:
        return 0.0
    return math.inf if math.isinf(gamma) else compute_optimal_bits(gamma, K_JOINT)


def p_star_evidence(data: PrecisionData, group: str) -> Evidence:
    """P* = gamma x*(3) of a jointly quantised group: minimising Kumar's law at fixed
    C ~ N D P (with alpha = beta, P* does not depend on C); bounds from gamma's."""
    ev = group_gamma(data, group)
    return mapped(ev, p_star, True, "gamma's cluster-robust t bounds", f"gamma {ev.estimate:.3g}")


def multiplier(gamma: float, bits: int) -> float:
    """N_full / N_eff at ``bits``: how much larger a model trained at these bits must be
    to match the unquantised model's size term (rises with gamma)."""
    if math.isnan(gamma):
        return math.nan
    if gamma <= 0:
        return 1.0  # no loss from quantising at all
    f = 1 - math.exp(-bits / gamma)
    return f ** (-K_JOINT) if f > 0 else math.inf


def multiplier_evidence(data: PrecisionData, bits: int) -> Evidence:
    ev = group_gamma(data, "int")
    return mapped(
        ev,
        partial(multiplier, bits=bits),
        True,
        "gamma's cluster-robust t bounds",
        f"gamma {ev.estimate:.3g}",
    )


def p_star_slope(
    gamma: float, alpha: float, b_over_a: float, data_range: tuple[float, float]
) -> float:
    """Bits of fixed-N P* (integer training, three tensor types) per doubling of D/N
    between the ends of ``data_range``."""
    lo, hi = data_range
    p = [
        fixed_size_optimal_bits(gamma, alpha, K_JOINT, b_over_a, r, REFERENCE_BITS)
        for r in (lo, hi)
    ]
    return (p[1] - p[0]) / math.log2(hi / lo)


def data_range(data: PrecisionData) -> tuple[float, float]:
    """The smallest and largest D/N of the learned unquantised runs."""
    fp = data.runs[learned(data.runs, data.unigram) & (data.runs["number_format"] == "fp")]
    r = fp["tokens_per_param"].to_numpy(float)
    return (float(r.min()), float(r.max())) if len(r) else (math.nan, math.nan)


def _slope_at(theta: np.ndarray, low: LowContrast, span: tuple[float, float]) -> float:
    """The slope at theta = (log A, alpha, log B, c): 0 where c <= 0 (no cost: gamma 0)
    or alpha <= 0 (points on a wide ellipsoid can reach either)."""
    log_a, alpha, log_b, c = theta
    if alpha <= 0:
        return 0.0  # data returns that do not diminish: P* has no reason to rise
    gamma = gamma_from_contrast(c, alpha, low.k, low.bits)
    if gamma == 0:
        return 0.0
    return p_star_slope(gamma, alpha, math.exp(np.clip(log_b - log_a, -700, 700)), span)


def _gradient(fn, theta: np.ndarray) -> np.ndarray:
    steps = 1e-6 * np.maximum(1.0, np.abs(theta))
    unit = np.eye(len(theta))
    pairs = zip(steps, unit, strict=True)
    return np.array([(fn(theta + h * e) - fn(theta - h * e)) / (2 * h) for h, e in pairs])


def wald_extreme(fn, theta: np.ndarray, cov: np.ndarray, radius: float, sign: int) -> float:
    """The largest (sign +1) or smallest (-1) value of ``fn`` on the Wald ellipsoid
    (theta' - theta) cov^-1 (theta' - theta) <= radius^2, sought at the boundary point
    along cov grad / |grad|_cov from the estimate, with the gradient taken again there
    until the point settles; the best value met (or the estimate's own) is returned. For
    a linear fn this is the delta method's bound; a curved one (here near c = 0) is
    followed rather than linearised at the estimate."""
    best = fn(theta)  # the region holds its centre: its extremes bracket the estimate
    point = theta
    for _ in range(8):
        g = _gradient(fn, point)
        v = float(g @ cov @ g)
        if not (math.isfinite(v) and v > 0):
            return math.inf if sign > 0 else 0.0
        new = theta + sign * radius * (cov @ g) / math.sqrt(v)
        value = fn(new)
        if math.isfinite(value) and sign * (value - best) > 0:
            best = value
        if np.allclose(new, point, rtol=1e-6, atol=1e-9):
            break
        point = new
    return best


def p_star_slope_evidence(data: PrecisionData) -> Evidence:
    """Slope of fixed-N P* in log2(D/N) from the joint fit of the unquantised law and the
    integer contrasts, parametrised by the standardised lowest-bit contrast c (so that a grid
    whose quantised runs cost nothing has an interval reaching 0); bounds are the slope's
    extremes on the cluster-robust Wald ellipsoid, t(cells - 1) radius."""
    from scipy import stats as st

    fit, detail, n_cells = joint_fit(data.runs, data.unigram, "int", low_contrast=True)
    span = data_range(data)
    if fit is None or not span[0] < span[1]:
        return no_evidence(math.nan, n_cells, "cells", detail or "one D/N only")
    low = fit.low
    slope = partial(_slope_at, low=low, span=span)
    est = slope(low.theta)
    usable = math.isfinite(est) and np.isfinite(low.cov).all()

    def bound(a: float, sign: int) -> float:
        if not usable:
            return 0.0 if sign < 0 else math.inf
        return wald_extreme(slope, low.theta, low.cov, float(st.t.isf(a, n_cells - 1)), sign)

    text = (
        f"{low.bits:g}-bit contrast {low.theta[3]:.3g} u, gamma {fit.gamma:.3g}, alpha "
        f"{low.theta[1]:.3g}, D/N {span[0]:g}-{span[1]:g}"
    )
    return Evidence(
        est,
        n_cells,
        "cells",
        "extremes on the cluster-robust Wald ellipsoid of the joint fit",
        lambda a: bound(a, -1),
        lambda a: bound(a, 1),
        detail="; ".join(filter(None, [text, detail])),
    )


MARGINAL_TENSORS = ("w", "a", "kv")


def multiplicativity_pairs(data: PrecisionData, bits: list[int]):
    """Per cell with every run learned: (mean over ``bits`` of log(1 + delta_joint / u),
    of the sum over tensor types of log(1 + delta_t / u)). Under Kumar's N_eff both equal
    -k alpha log f, the joint one the sum of the marginal ones."""
    law, _ = fit_excess(data.runs, data.unigram)
    c = contrast_table(data.runs, law, data.unigram)
    names = [f"int{b}" for b in bits] + [f"{t}{b}" for t in MARGINAL_TENSORS for b in bits]
    c = c[c["setting"].isin(names)]
    with np.errstate(invalid="ignore"):
        c = c.assign(ell=np.log1p(c["delta"] / c["u"]).where(c["learned"]))
    wide = c.pivot_table(index=CELL, columns="setting", values="ell", aggfunc="first")
    wide = wide.reindex(columns=names)
    complete = wide.notna().any(axis=1)  # cells at a size with the one-tensor sweeps
    wide = wide[complete & wide.reindex(columns=names[len(bits) :]).notna().any(axis=1)]
    usable = np.isfinite(wide.to_numpy()).all(axis=1)
    left = int((~usable).sum())
    wide = wide[usable]
    joint = wide[[f"int{b}" for b in bits]].mean(axis=1).to_numpy()
    summed = np.mean(
        [wide[[f"{t}{b}" for t in MARGINAL_TENSORS]].sum(axis=1).to_numpy() for b in bits],
        axis=0,
    )
    return joint, summed, left


def multiplicativity_evidence(data: PrecisionData, bits: list[int]) -> Evidence:
    """Joint over summed marginal log-factors, paired by cell (Fieller): 1 when the
    tensor types' effects multiply."""
    joint, summed, left = multiplicativity_pairs(data, bits)
    ev = paired_ratio(joint, summed, "cells")
    return ev.with_detail(f"{left} cell(s) left out: a run did not learn") if left else ev


class Simulator:
    """Data of the shipped shape with one claim's statistic planted (see each method)."""

    def __init__(
        self,
        data: PrecisionData,
        low: int,
        saturation_bits: int,
        train_bits: int,
        post_bits: int,
        common_bits: list[int],
    ):
        self.data = data
        self.runs = data.runs.reset_index(drop=True)
        self.ok = learned(self.runs, data.unigram)
        self.low, self.sat = low, saturation_bits
        self.train_bits, self.post_bits = train_bits, post_bits
        self.common_bits = common_bits
        shares, _ = share_values(data, low, saturation_bits)
        self.share_sd = float(np.std(shares, ddof=1)) if len(shares) > 1 else 0.0
        x, y, _ = ptq_growth_design(data)
        _, self.ptq_beta = ols(x, y, 1) if len(y) > 3 else (None, np.full(3, np.nan))
        resid = y - x @ self.ptq_beta if len(y) > 3 else np.array([])
        self.ptq_sd = float(np.sqrt(resid @ resid / max(1, len(y) - 3))) if resid.size else 0.0
        logs, _ = log_ratios(*robust_pairs(data, train_bits, post_bits))
        self.robust_sd = float(np.std(logs, ddof=1)) if len(logs) > 1 else 0.0
        self.law, _ = fit_excess(self.runs, data.unigram)
        self.contrasts = contrast_table(self.runs, self.law, data.unigram)
        self.gamma_sd = {g: self._contrast_sd(g) for g in ("int", "float")}
        fp = self.runs[self._setting("fp")]
        r = fp["val_loss"] - self.law.loss(fp["n_params"], fp["tokens"])
        self.fp_sd = float(np.std(r, ddof=3)) if len(r) > 3 else 0.0
        joint, summed, _ = multiplicativity_pairs(data, common_bits)
        if len(joint) > 1:
            r = float(np.mean(joint) / np.mean(summed)) if np.mean(summed) else 1.0
            # the spread is of a cell's mean over the common bits; the draws add noise to
            # each bit's run, so each gets the spread times sqrt(bits)
            per_cell = float(np.std(joint - r * summed, ddof=1))
            self.mult_sd = per_cell * math.sqrt(len(common_bits))
        else:
            self.mult_sd = 0.0

    def _contrast_sd(self, group: str) -> dict:
        """The joint fit's residual SD of the group's contrasts per bit width."""
        fit, _, _ = joint_fit(self.runs, self.data.unigram, group)
        return {} if fit is None else {k: v for k, v in fit.sd.items() if k != "fp"}

    def _with(self, runs: pd.DataFrame) -> PrecisionData:
        return replace(self.data, runs=runs)

    def _setting(self, name: str) -> np.ndarray:
        return ((self.runs["setting"] == name) & self.ok).to_numpy()

    def _cell_values(self, name: str, column: str, where: np.ndarray) -> np.ndarray:
        """``column`` of setting ``name``'s run in the cell of each row in ``where``."""
        src = self.runs[self._setting(name)].set_index(CELL)[column]
        idx = pd.MultiIndex.from_frame(self.runs.loc[where, CELL])
        return src.reindex(idx).to_numpy()

    def share(self, e: float, rng) -> PrecisionData:
        """The saturation-bit loss at the planted share of each cell's gap."""
        out = self.runs.copy()
        sat = self._setting(f"int{self.sat}")
        low = self._cell_values(f"int{self.low}", "val_loss", sat)
        fp = self._cell_values("fp", "val_loss", sat)
        draws = e + self.share_sd * rng.standard_normal(sat.sum())
        out.loc[sat, "val_loss"] = low - draws * (low - fp)
        return self._with(out)

    def ptq_growth(self, e: float, rng) -> PrecisionData:
        """Unquantised runs' degradation at 3-4 bits from the fitted log-linear law with
        the planted gamma_D, turning about the mean log D, and the observed residual SD."""
        out = self.runs.copy()
        fp = self._setting("fp")
        b0, b_d, b_n = self.ptq_beta
        log_d = np.log(out.loc[fp, "tokens"].to_numpy(float))
        log_n = np.log(out.loc[fp, "n_params"].to_numpy(float))
        mu = b0 + b_d * log_d.mean() + e * (log_d - log_d.mean()) + b_n * log_n
        delta = np.exp(mu + self.ptq_sd * rng.standard_normal(fp.sum()))
        for b in PTQ_LOW:
            out.loc[fp, f"val_loss_ptq{b}"] = out.loc[fp, "val_loss"].to_numpy() + delta
        return self._with(out)

    def robustness(self, e: float, rng) -> PrecisionData:
        """Weight-only runs' degradation at the planted multiple of their cell's
        unquantised one, with the observed SD of the log ratios."""
        out = self.runs.copy()
        col = f"val_loss_ptq{self.post_bits}"
        low = self._setting(f"w{self.train_bits}")
        fp_delta = self._cell_values("fp", col, low) - self._cell_values("fp", "val_loss", low)
        delta = e * fp_delta * np.exp(self.robust_sd * rng.standard_normal(low.sum()))
        out.loc[low, col] = out.loc[low, "val_loss"].to_numpy() + delta
        return self._with(out)

    def gamma(self, group: str, to_gamma, e: float, rng) -> PrecisionData:
        """Unquantised runs redrawn from the fitted law with the observed residual SD (so
        the law's own uncertainty is in every draw), and every learned run of ``group``
        its cell's new unquantised loss plus the contrast Kumar's form gives at the gamma
        whose statistic is ``e``, plus the joint fit's residual SD of the contrasts at
        that run's bit width."""
        law = self.law
        out = self.runs.copy()
        fp = self._setting("fp")
        fp_rows = out.loc[fp]
        new_fp = law.loss(fp_rows["n_params"], fp_rows["tokens"]) + (
            self.fp_sd * rng.standard_normal(fp.sum())
        )
        out.loc[fp, "val_loss"] = new_fp
        cell_fp = pd.Series(new_fp, index=pd.MultiIndex.from_frame(fp_rows[CELL]))
        c = self.contrasts[(self.contrasts["group"] == group) & self.contrasts["learned"]]
        x = {
            "u": law.u(c["n_params"].to_numpy(float)),
            "alpha": np.full(len(c), law.alpha),
            "P": c["train_bits"].to_numpy(float),
            "k": c["n_quantised"].to_numpy(float),
        }
        pred = PRECISION_CONTRAST(x, gamma=to_gamma(e))
        sd = c["train_bits"].map(self.gamma_sd[group]).fillna(0.0).to_numpy(float)
        noise = sd * rng.standard_normal(len(c))
        base = cell_fp.reindex(pd.MultiIndex.from_frame(c[CELL])).to_numpy()
        out.loc[out.index[self._rows_of(c)], "val_loss"] = base + pred + noise
        return self._with(out)

    def gamma_for_slope(self, e: float) -> float:
        """The gamma planting a fixed-N P* slope of ``e`` under the fitted law."""
        return gamma_for_slope(e, self.law.alpha, self.law.B / self.law.A, data_range(self.data))

    def _rows_of(self, c: pd.DataFrame) -> np.ndarray:
        """Positions in ``self.runs`` of the contrast rows ``c`` (by cell and setting)."""
        key = [*CELL, "setting"]
        pos = pd.Series(np.arange(len(self.runs)), index=pd.MultiIndex.from_frame(self.runs[key]))
        return pos.reindex(pd.MultiIndex.from_frame(c[key])).to_numpy()

    def multiplicative(self, e: float, rng) -> PrecisionData:
        """Joint runs at the common bits with log(1 + delta / u) = e times the sum of the
        marginal ones, plus the observed paired residual SD."""
        out = self.runs.copy()
        pos, u, ell, fp = self._mult_rows
        ell_j = e * ell + self.mult_sd * rng.standard_normal(len(pos))
        out.loc[out.index[pos], "val_loss"] = fp + u * np.expm1(ell_j)
        return self._with(out)

    @cached_property
    def _mult_rows(self):
        """Positions of the joint runs at the common bits whose cell has every one-tensor
        run, with u, the summed one-tensor log factors and the cell's unquantised loss."""
        c = self.contrasts
        names = [f"{t}{b}" for t in MARGINAL_TENSORS for b in self.common_bits]
        m = c[c["setting"].isin(names)]
        with np.errstate(invalid="ignore"):
            m = m.assign(ell=np.log1p(m["delta"] / m["u"]), bits=m["train_bits"])
        ok = m.groupby([*CELL, "bits"])["ell"].agg(["sum", "count"])
        ok = ok[ok["count"] == len(MARGINAL_TENSORS)]["sum"]
        joint = c[c["setting"].isin([f"int{b}" for b in self.common_bits])]
        key = pd.MultiIndex.from_frame(joint[[*CELL, "train_bits"]])
        ell = ok.reindex(key).to_numpy()
        keep = np.isfinite(ell)
        joint = joint[keep]
        return self._rows_of(joint), joint["u"].to_numpy(), ell[keep], joint["fp_loss"].to_numpy()


def gamma_for_p_star(p: float) -> float:
    return p / compute_optimal_bits(1.0, K_JOINT)


def gamma_for_multiplier(m: float, bits: int) -> float:
    """The gamma whose N_full / N_eff at ``bits`` is ``m`` (m > 1)."""
    f = max(m, 1.0 + 1e-9) ** (-1 / K_JOINT)
    return -bits / math.log(1 - f)


def gamma_for_slope(e: float, alpha: float, b_over_a: float, span: tuple[float, float]) -> float:
    """The gamma whose fixed-N P* slope is ``e`` under alpha and B / A (the slope rises
    with gamma); clipped to the contrast form's gamma range."""
    from scipy.optimize import brentq

    gamma_range = PRECISION_CONTRAST.params[0]
    lo, hi = math.log(gamma_range.lower), math.log(gamma_range.upper)

    def gap(log_g: float) -> float:
        return p_star_slope(math.exp(log_g), alpha, b_over_a, span) - e

    if gap(lo) >= 0:
        return math.exp(lo)
    if gap(hi) <= 0:
        return math.exp(hi)
    return math.exp(brentq(gap, lo, hi, xtol=1e-10))


def law_check(data: PrecisionData, group: str) -> FitCheck:
    """The validity gate of a claim read off Kumar's law: lack of fit and a held-out size
    (:func:`papergrid.precision.analysis.form_check`)."""
    return form_check(data.runs, data.unigram, group)


def bits_trained(data: PrecisionData, group: str) -> tuple[float, float]:
    """The lowest and highest training precision of the group's learned runs."""
    fmt, quantised = GROUPS[group]
    runs = data.runs[learned(data.runs, data.unigram)]
    bits = runs.loc[
        (runs["number_format"] == fmt) & (runs["quantised"] == quantised), "train_bits"
    ].astype(float)
    return (float(bits.min()), float(bits.max())) if len(bits) else (math.nan, math.nan)


def p_star_range(data: PrecisionData, group: str) -> str:
    """Why P* lies outside the precisions trained ("" inside)."""
    p = p_star_evidence(data, group).estimate
    lo, hi = bits_trained(data, group)
    if math.isnan(p) or not math.isfinite(lo):
        return ""
    if p < lo:
        return f"P* {p:.3g} bits, below the lowest precision trained ({lo:g})"
    if p > hi:
        return f"P* {p:.3g} bits, above the highest quantised precision trained ({hi:g})"
    return ""


def multiplier_range(data: PrecisionData, bits: int) -> str:
    lo, hi = bits_trained(data, "int")
    if math.isfinite(lo) and not lo <= bits <= hi:
        return f"the multiplier is read at {bits} bits, outside the bits trained ({lo:g}-{hi:g})"
    return ""


def p_star_spec(
    sim: Simulator,
    group: str,
    claim_id: str,
    statement: str,
    band: list[float],
    paper: float,
    sesoi_note: str,
    note: str,
) -> ClaimSpec:
    """P* of a jointly quantised setting group within ``band``."""
    formats = {"int": "integer", "float": "floating-point (e2m1/e3m2/e4m3)"}
    return ClaimSpec(
        experiment=EXPERIMENT,
        claim_id=claim_id,
        statement=statement,
        statistic=f"P* = gamma x*(3) minimising Kumar's law at fixed C ~ N D P, gamma of "
        f"{formats[group]} training from within-cell contrasts (cluster-robust t over cells)",
        rule=Rule("within", band[0], band[1]),
        sesoi=1.0,
        sesoi_note=sesoi_note,
        effects=Effects(
            margin=band[1],
            paper=paper,
            opposite=band[1] + 2 * (band[1] - paper),
            note=note,
        ),
        compute=partial(p_star_evidence, group=group),
        simulate=lambda e, rng: sim.gamma(group, gamma_for_p_star, e, rng),
        sims_share=0.5,
        fit_check=partial(law_check, group=group),
        range_check=partial(p_star_range, group=group),
    )


def claim_specs(
    data: PrecisionData,
    *,
    saturation_bits: int,
    robust_train_bits: int,
    robust_post_bits: int,
    p_star_band: list[float],
    p_star_float_band: list[float],
    multiplier_bits: int,
    sesoi_p_star_slope: float,
    sesoi_gamma_d: float,
    robust_ratio: float,
    marginal_bits: list[int],
    train_bits: list[int],
    capacity: dict | None = None,
) -> list[ClaimSpec]:
    low = min(train_bits)
    common = sorted(set(marginal_bits) & set(train_bits))
    sim = Simulator(data, low, saturation_bits, robust_train_bits, robust_post_bits, common)
    specs = [
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="gains_saturate",
            statement=f"gains from more bits saturate by {saturation_bits} bits",
            statistic=f"share of the {low}-bit-to-full-precision loss gap closed at "
            f"{saturation_bits} bits (integer training; mean over cells, t interval)",
            rule=Rule("above", 0.9),
            sesoi=0.1,
            sesoi_note="saturated: the bits past this precision recover less than 10% of the gap",
            effects=Effects(
                margin=0.9,
                paper=PAPER_SHARE,
                opposite=0.6,
                note="Kumar: gains saturate at ~6-7 bits",
            ),
            compute=partial(share_evidence, low=low, saturation_bits=saturation_bits),
            simulate=sim.share,
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="ptq_grows_with_data",
            statement="PTQ degradation grows with training data at fixed N",
            statistic="gamma_D: coefficient of log D in log delta_PTQ(3-4 bits) ~ log D + log N "
            "(OLS t over the unquantised runs, one per cell)",
            rule=Rule("above", sesoi_gamma_d),
            sesoi=sesoi_gamma_d,
            sesoi_note="delta_PTQ grows by at least 7% per doubling of D",
            effects=Effects(
                margin=sesoi_gamma_d,
                paper=PAPER_GAMMA_D,
                opposite=-PAPER_GAMMA_D,
                no_effect=0.0,
                note="Kumar App. K: gamma_D = 0.5068",
            ),
            compute=ptq_growth_evidence,
            simulate=sim.ptq_growth,
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="low_precision_training_robust",
            statement=f"a model whose weights were trained at {robust_train_bits} bits degrades "
            f"less under PTQ to {robust_post_bits} bits than one trained unquantised",
            statistic=f"geometric mean over cells of delta_PTQ({robust_train_bits}-bit weight "
            "training) / delta_PTQ(unquantised) (t on log ratios)",
            rule=Rule("below", robust_ratio),
            sesoi=1 - robust_ratio,
            sesoi_note=f"at least {1 - robust_ratio:.0%} less degradation",
            effects=Effects(
                margin=robust_ratio,
                paper=PAPER_ROBUST_RATIO,
                opposite=1.2,
                no_effect=1.0,
                note="Kumar: low-precision training 'robustifies'; read as half the degradation",
            ),
            compute=partial(
                robustness_evidence, train_bits=robust_train_bits, post_bits=robust_post_bits
            ),
            simulate=sim.robustness,
        ),
        p_star_spec(
            sim,
            "int",
            "compute_optimal_bits",
            "the compute-optimal integer training precision is 7-8 bits",
            p_star_band,
            PAPER_P_STAR,
            "7-8 bits give or take one bit",
            "Kumar: P* ~ 7-8 bits for integer training",
        ),
        p_star_spec(
            sim,
            "float",
            "compute_optimal_bits_float",
            "the compute-optimal floating-point training precision is about 6 bits",
            p_star_float_band,
            SEED_P_STAR_FLOAT,
            "fp6 give or take one bit",
            "the seed: fp6 seems compute-optimal",
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="low_bits_need_4x_params",
            statement=f"at {multiplier_bits} bits (below 4) the model must grow more than 4x "
            "to keep its loss",
            statistic=f"N / N_eff = (1 - exp(-{multiplier_bits}/gamma))^-3 of integer training, "
            "gamma from within-cell contrasts (cluster-robust t over cells)",
            rule=Rule("above", PAPER_MULTIPLIER),
            sesoi=1.0,
            sesoi_note="the paper's factor of 4",
            effects=Effects(
                margin=PAPER_MULTIPLIER,
                paper=8.0,
                opposite=2.0,
                no_effect=1.0,
                note="Kumar: below 4 bits the model must grow more than 4x (8 read as a "
                "clear case)",
            ),
            compute=partial(multiplier_evidence, bits=multiplier_bits),
            simulate=lambda e, rng: sim.gamma(
                "int", partial(gamma_for_multiplier, bits=multiplier_bits), e, rng
            ),
            sims_share=0.5,
            fit_check=partial(law_check, group="int"),
            range_check=partial(multiplier_range, bits=multiplier_bits),
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="p_star_rises_with_data",
            statement="with N fixed, the compute-optimal training precision rises with the data",
            statistic="bits of P* per doubling of D/N at fixed N: P* minimising Kumar's law "
            "with C ~ N D P spent on data (C of a 16-bit run at each D/N), between the grid's "
            "smallest and largest D/N, integer training (extremes on the cluster-robust Wald "
            "ellipsoid of the joint fit, parametrised by the lowest-bit contrast; t over cells)",
            rule=Rule("above", sesoi_p_star_slope),
            sesoi=sesoi_p_star_slope,
            sesoi_note=f"P* rises by at least {4 * sesoi_p_star_slope:g} bits over a 16x "
            "range of data",
            effects=Effects(
                margin=sesoi_p_star_slope,
                paper=PAPER_P_STAR_SLOPE,
                opposite=sesoi_p_star_slope / 5,
                note="Kumar: with N fixed, P* grows with log C; 0.81 bits per doubling under "
                "App. K's constants",
            ),
            compute=p_star_slope_evidence,
            simulate=lambda e, rng: sim.gamma("int", sim.gamma_for_slope, e, rng),
            sims_share=0.5,
            fit_check=partial(law_check, group="int"),
        ),
        ClaimSpec(
            experiment=EXPERIMENT,
            claim_id="tensor_effects_multiply",
            statement="the effects of quantising weights, activations and KV cache multiply",
            statistic=f"mean log(1 + delta/u) of joint training over the sum of the three "
            f"one-tensor ones at {'/'.join(map(str, common))} bits, paired by cell (Fieller)",
            rule=Rule("within", 0.8, 1.25),
            sesoi=0.2,
            sesoi_note="the product of the marginal N_eff factors within 20% (in log) of the "
            "joint one",
            effects=Effects(
                margin=1.25,
                paper=1.0,
                opposite=2.0,
                note="Kumar: marginal and joint fits predict equally well",
            ),
            compute=partial(multiplicativity_evidence, bits=common),
            simulate=sim.multiplicative,
        ),
    ]
    if capacity is not None and data.capacity is not None:
        from papergrid.precision.capacity_claims import capacity_claim_specs

        cap = capacity_claim_specs(data.capacity, **capacity)
        specs += [_on_capacity(s) for s in cap]
    return specs


def _on_capacity(spec: ClaimSpec) -> ClaimSpec:
    """A capacity claim (written on the capacity table) on :class:`PrecisionData`."""
    compute, simulate = spec.compute, spec.simulate
    return replace(
        spec,
        compute=lambda data: compute(data.capacity),
        simulate=lambda e, rng: _capacity_data(simulate(e, rng)),
    )


def _capacity_data(frame: pd.DataFrame) -> PrecisionData:
    return PrecisionData(pd.DataFrame(), frame)


def claim_data(inputs: dict[str, str]) -> PrecisionData:
    runs = read_frame(inputs["runs"], CONTRACT.summary_schema())
    capacity = None
    if "capacity" in inputs:
        from papergrid.precision.capacity import CAPACITY_CONTRACT

        capacity = read_frame(inputs["capacity"], CAPACITY_CONTRACT.summary_schema())
    return PrecisionData(runs, capacity)
