"""Fits of the precision experiment, from the aggregated runs table (claims:
papergrid.precision.claims).

Two stages, so that each parameter is read where the grid identifies it:
1. the unquantised runs fix the data and size terms: L - E = A N^-alpha + B D^-alpha with
   E the exact floor of the validation targets (the true source's loss on them), never
   fitted;
2. every quantised run minus the unquantised run of its cell (same size, D, seed,
   initialisation and data: a within-cell contrast) gives gamma of its setting group
   (integer, floating point, or one tensor type alone) through Kumar's N_eff.
A run that did not learn (NaN, or a held-out loss no better than the unigram level: it
never used its context, as Kumar's diverged low-precision runs) is left out and counted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.fit import PRECISION_CONTRAST, PRECISION_EXCESS, PTQ_DEGRADATION, fit_form
from papergrid.gates import FitCheck, lack_of_fit
from papergrid.io import write_parquet, write_text
from papergrid.precision.grid import CONTRACT, PTQ_BITS
from papergrid.stats import Evidence, no_evidence
from papergrid.tables import FIT_COLUMNS, markdown_table

EXPERIMENT = "precision"
CELL = ["d_model", "tokens_per_param", "seed"]
# setting group: (number_format, quantised tensor types) of its runs
GROUPS = {
    "int": ("int", "w+a+kv"),
    "float": ("float", "w+a+kv"),
    "w": ("int", "w"),
    "a": ("int", "a"),
    "kv": ("int", "kv"),
}


def ok_runs(runs: pd.DataFrame) -> pd.DataFrame:
    return runs[runs["status"] == "ok"]


def unigram_level(runs: pd.DataFrame) -> float:
    """The language's unigram entropy (every run's summary carries it)."""
    values = runs["val_unigram"].dropna()
    return float(values.median()) if len(values) else math.nan


def learned(runs: pd.DataFrame, unigram: float) -> pd.Series:
    """ok runs whose held-out loss beats the unigram level."""
    return (runs["status"] == "ok") & (runs["val_loss"] < unigram)


def floor(runs: pd.DataFrame) -> float:
    """E: the exact floor of the validation targets (one set of sequences for every run)."""
    values = runs["val_floor"].dropna().unique()
    if len(values) == 0:
        return math.nan
    return float(np.median(values))


@dataclass(frozen=True)
class Excess:
    """The unquantised law L = A N^-alpha + B D^-alpha + E (E known)."""

    A: float
    alpha: float
    B: float
    E: float
    status: str

    def u(self, n: np.ndarray) -> np.ndarray:
        """The size term A N^-alpha: what a cell's contrast is measured against."""
        return self.A * np.asarray(n, float) ** (-self.alpha)

    def loss(self, n, d, n_eff=None) -> np.ndarray:
        n_eff = n if n_eff is None else n_eff
        return self.u(n_eff) + self.B * np.asarray(d, float) ** (-self.alpha) + self.E


def fp_runs(runs: pd.DataFrame, unigram: float) -> pd.DataFrame:
    keep = learned(runs, unigram) & (runs["number_format"] == "fp")
    return runs[keep]


def fit_excess(
    runs: pd.DataFrame, unigram: float, *, n_boot: int = 0, level: float = 0.95, n_jobs: int = 1
):
    """Stage 1 on the unquantised runs; (Excess, the FitResult), bootstrap over cells
    (one unquantised run each) when ``n_boot`` > 0."""
    fp = fp_runs(runs, unigram)
    e = floor(runs)
    if len(fp) < len(PRECISION_EXCESS.params) + 1:
        return Excess(math.nan, math.nan, math.nan, e, "failed"), None
    key = np.column_stack(
        [fp["n_params"].to_numpy(float), fp["tokens"].to_numpy(float), fp["val_loss"]]
    )
    return _fit_excess(key.tobytes(), e, n_boot, level, n_jobs)


@lru_cache(maxsize=8)
def _fit_excess(key: bytes, e: float, n_boot: int, level: float, n_jobs: int):
    # a calibration plants effects in the quantised runs only: the unquantised runs, and
    # so this fit, repeat across its draws
    n, d, loss = np.frombuffer(key).reshape(-1, 3).T
    fit = fit_form(
        PRECISION_EXCESS, {"N": n, "D": d}, loss - e, n_boot=n_boot, level=level, n_jobs=n_jobs
    )
    p = fit.params
    law = Excess(
        p.get("A", math.nan), p.get("alpha", math.nan), p.get("B", math.nan), e, fit.status
    )
    return law, fit


def contrast_table(runs: pd.DataFrame, law: Excess, unigram: float) -> pd.DataFrame:
    """Every quantised run against the unquantised run of its cell: delta (nats), the
    cell's size term u, the setting group, and whether the run learned."""
    ok = learned(runs, unigram)
    fp = runs[ok & (runs["number_format"] == "fp")].set_index(CELL)["val_loss"]
    q = runs[(runs["number_format"] != "fp") & (runs["status"].notna())].copy()
    q = q[q.set_index(CELL).index.isin(fp.index)]
    q["learned"] = ok.loc[q.index].to_numpy()
    q["fp_loss"] = fp.reindex(pd.MultiIndex.from_frame(q[CELL])).to_numpy()
    q["delta"] = q["val_loss"] - q["fp_loss"]
    q["u"] = law.u(q["n_params"].to_numpy(float))
    q["group"] = [
        next((g for g, key in GROUPS.items() if key == (f, t)), "")
        for f, t in zip(q["number_format"], q["quantised"], strict=True)
    ]
    return q.reset_index(drop=True)


def _profile_excess(n: np.ndarray, d: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """(A, alpha, B) of y = A n^-alpha + B d^-alpha by least squares: A and B are linear
    given alpha (non-negative least squares), alpha by a grid and a bounded refinement."""
    from scipy import optimize

    def solve(alpha: float) -> tuple[float, np.ndarray]:
        x = np.column_stack([n ** (-alpha), d ** (-alpha)])
        coef, rnorm = optimize.nnls(x, y)
        return rnorm**2, coef

    grid = np.linspace(0.02, 2.0, 100)
    best = grid[int(np.argmin([solve(a)[0] for a in grid]))]
    res = optimize.minimize_scalar(
        lambda a: solve(a)[0], bounds=(max(0.01, best - 0.02), best + 0.02), method="bounded"
    )
    coef = solve(float(res.x))[1]
    return float(coef[0]), float(res.x), float(coef[1])


@dataclass(frozen=True)
class JointFit:
    """Stage 1 and one setting group's gamma fitted together: theta = (log A, alpha,
    log B, log gamma) with its cluster-robust (CR3) covariance over cells."""

    theta: np.ndarray
    cov: np.ndarray  # inf where the sandwich could not be formed
    on_bound: bool  # gamma at the edge of its range: its interval is not trusted
    sd: dict  # residual SD of the unquantised runs ("fp") and of the contrasts per bit width
    # the same fit with c, the standardised contrast at the group's lowest bits, in place
    # of log gamma (see :func:`gamma_from_contrast`); None unless asked for
    low: LowContrast | None = None

    @property
    def gamma(self) -> float:
        return math.exp(self.theta[3])


@dataclass(frozen=True)
class LowContrast:
    """theta = (log A, alpha, log B, c) with c = f(bits / gamma)^(-k alpha) - 1, the
    quantised run's excess over the unquantised one in units of u at ``bits``. An estimate
    of c is close to a mean of contrasts, so its interval can reach 0 (no cost, gamma -> 0)
    where one on log gamma cannot: a small gamma makes every contrast vanish, and log gamma
    then moves far for a small change in the data."""

    theta: np.ndarray
    cov: np.ndarray
    bits: float
    k: float


def gamma_from_contrast(c: float, alpha: float, k: float, bits: float) -> float:
    """The gamma at which a run at ``bits`` costs c u (0 for c <= 0: no cost at all)."""
    if not c > 0:
        return 0.0
    one_minus_f = -math.expm1(-math.log1p(c) / (k * alpha))
    if one_minus_f <= 0:
        return 0.0
    return bits / -math.log(one_minus_f) if one_minus_f < 1 else math.inf


def contrast_at(gamma: float, alpha: float, k: float, bits: float) -> float:
    """c of :class:`LowContrast`: the inverse of :func:`gamma_from_contrast`."""
    if gamma <= 0:
        return 0.0
    return float(math.expm1(-k * alpha * math.log1p(-math.exp(-bits / gamma))))


def joint_fit(
    runs: pd.DataFrame, unigram: float, group: str, low_contrast: bool = False
) -> tuple[JointFit | None, str, int]:
    """Weighted least squares of the unquantised runs' excess and the group's within-cell
    contrasts with shared A and alpha, so that the uncertainty of A and alpha, through
    which gamma is read, is in gamma's covariance. Returns (fit, detail, cells): fit is
    None where the group has fewer than 3 cells or there is no unquantised law; detail
    counts the runs left out (or says why there is no fit)."""
    from scipy import optimize

    # plain arrays and a dict of cells: every calibration draw calls this, and pandas
    # indexing was two thirds of its time
    e = floor(runs)
    ok = learned(runs, unigram).to_numpy()
    fmt, quantised = runs["number_format"].to_numpy(), runs["quantised"].to_numpy()
    keys = list(zip(*(runs[k].to_numpy() for k in CELL), strict=True))
    loss = runs["val_loss"].to_numpy(float)
    is_fp = ok & (fmt == "fp")
    fp_loss = {keys[i]: loss[i] for i in np.flatnonzero(is_fp)}
    in_group = (fmt == GROUPS[group][0]) & (quantised == GROUPS[group][1])
    in_group &= np.array([k in fp_loss for k in keys], dtype=bool)
    n_out = int((in_group & ~ok).sum())
    detail = f"{n_out} run(s) left out: did not learn" if n_out else ""
    rows_fp, rows_c = np.flatnonzero(is_fp), np.flatnonzero(in_group & ok)
    n_cells = len({keys[i] for i in rows_c})
    if n_cells < 3 or len(rows_fp) < 4:
        return None, detail or "too few cells", n_cells
    cell_index: dict = {}
    clusters = np.array(
        [cell_index.setdefault(keys[i], len(cell_index)) for i in (*rows_fp, *rows_c)]
    )
    g_count = len(cell_index)
    n_params, tokens = runs["n_params"].to_numpy(float), runs["tokens"].to_numpy(float)
    n_fp, d_fp = n_params[rows_fp], tokens[rows_fp]
    y_fp = loss[rows_fp] - e
    a0, alpha0, b0 = _profile_excess(n_fp, d_fp, y_fp)
    if not (math.isfinite(alpha0) and a0 > 0):
        return None, detail or "no unquantised law", n_cells
    n_c, p_c = n_params[rows_c], runs["train_bits"].to_numpy(float)[rows_c]
    k_c = runs["n_quantised"].to_numpy(float)[rows_c]
    y_c = loss[rows_c] - np.array([fp_loss[keys[i]] for i in rows_c])

    def raw(theta: np.ndarray) -> np.ndarray:
        a, alpha, b, g = math.exp(theta[0]), theta[1], math.exp(theta[2]), math.exp(theta[3])
        r_fp = y_fp - (a * n_fp ** (-alpha) + b * d_fp ** (-alpha))
        x = {"u": a * n_c ** (-alpha), "alpha": np.full(len(n_c), alpha), "P": p_c, "k": k_c}
        return np.concatenate([r_fp, y_c - PRECISION_CONTRAST(x, gamma=g)])

    # a start for gamma given stage 1: a grid over log gamma
    lo, hi = (
        math.log(p)
        for p in (PRECISION_CONTRAST.params[0].lower, PRECISION_CONTRAST.params[0].upper)
    )
    theta0 = [math.log(max(a0, 1e-12)), alpha0, math.log(max(b0, 1e-12)), 0.0]
    grid = np.linspace(lo, hi, 60)
    sse = [float(np.sum(raw(np.array([*theta0[:3], g]))[len(y_fp) :] ** 2)) for g in grid]
    theta0[3] = float(grid[int(np.argmin(sse))])
    bounds = ([-30, 0.005, -30, lo], [30, 3.0, 30, hi])
    # variance groups: the unquantised runs, and the contrasts at each bit width. A 3-bit
    # contrast scatters ~50x more than an 8-bit one across seeds, so unweighted least
    # squares let the 3-bit scatter decide gamma and fitted noise as a quantisation cost
    # when gamma is small; two-step feasible weighted least squares, the sandwich below
    # keeps the intervals valid if the weights are off
    labels = np.concatenate([np.full(len(y_fp), -1.0), p_c])
    first = optimize.least_squares(raw, np.array(theta0), bounds=bounds, x_scale="jac")
    sigma = _group_sd(first.fun, labels)
    scale = np.array([sigma[v] for v in labels])
    fit = optimize.least_squares(lambda t: raw(t) / scale, first.x, bounds=bounds, x_scale="jac")
    theta = fit.x
    sigma = _group_sd(fit.fun * scale, labels)
    cov = _cr3_cov(fit.jac, fit.fun, clusters, g_count)
    on_bound = min(theta[3] - lo, hi - theta[3]) < 1e-3
    if on_bound:
        detail = "; ".join(filter(None, [detail, "gamma on its bound"]))
    low = None
    if low_contrast:
        bits, k = float(p_c.min()), float(k_c.max())

        def raw_c(t: np.ndarray) -> np.ndarray:
            g = gamma_from_contrast(t[3], t[1], k, bits)
            return raw(np.array([*t[:3], math.log(min(max(g, 1e-9), 1e9))])) / scale

        start = np.array([*theta[:3], contrast_at(math.exp(theta[3]), theta[1], k, bits)])
        c_fit = optimize.least_squares(
            raw_c,
            start,
            bounds=([-30, 0.005, -30, 0.0], [30, 3.0, 30, 1e6]),
            x_scale="jac",
        )
        c_cov = _cr3_cov(c_fit.jac, c_fit.fun, clusters, g_count)
        low = LowContrast(c_fit.x, c_cov, bits, k)
    sd = {("fp" if k < 0 else k): v for k, v in sigma.items()}
    return JointFit(theta, cov, on_bound, sd, low), detail, n_cells


def _cr3_cov(j: np.ndarray, r: np.ndarray, clusters: np.ndarray, g_count: int) -> np.ndarray:
    """Cluster-robust sandwich of a least-squares fit with Jacobian ``j`` and residuals
    ``r``, CR3: each cell's residuals inflated by (I - H_gg)^-1, the leave-one-cell-out
    (jackknife) correction. The plain sandwich with 20-odd cells supported gamma bounds on
    their margin about four times as often as the nominal 2.5%. inf where singular."""
    width = j.shape[1]
    try:
        bread = np.linalg.inv(j.T @ j)
        scores = np.zeros((g_count, width))
        for g in range(g_count):
            rows = clusters == g
            j_g = j[rows]
            h_gg = j_g @ bread @ j_g.T
            adj = np.linalg.solve(np.eye(rows.sum()) - h_gg, r[rows])
            scores[g] = j_g.T @ adj
        return bread @ (scores.T @ scores) @ bread * (g_count - 1) / g_count
    except np.linalg.LinAlgError:
        return np.full((width, width), math.inf)


def _group_sd(resid: np.ndarray, labels: np.ndarray) -> dict[float, float]:
    """Root mean square residual per label, floored at a thousandth of the largest (a
    group fitted exactly would otherwise get an infinite weight)."""
    sd = {v: float(np.sqrt(np.mean(resid[labels == v] ** 2))) for v in np.unique(labels)}
    top = max(sd.values())
    return {v: max(s, 1e-3 * top, 1e-12) for v, s in sd.items()}


def gamma_evidence(runs: pd.DataFrame, unigram: float, group: str) -> Evidence:
    """gamma of one setting group from :func:`joint_fit`, t(cells - 1) bounds on log
    gamma."""
    from scipy import stats as st

    fit, detail, n_cells = joint_fit(runs, unigram, group)
    if fit is None:
        return no_evidence(math.nan, n_cells, "cells", detail)
    v = fit.cov[3, 3]
    se = math.sqrt(v) if math.isfinite(v) and v > 0 else math.inf
    log_g = math.log(fit.gamma)

    def bound(a: float, sign: int) -> float:
        if not math.isfinite(se):
            return 0.0 if sign < 0 else math.inf
        return math.exp(log_g + sign * min(700.0, float(st.t.isf(a, n_cells - 1)) * se))

    return Evidence(
        fit.gamma,
        n_cells,
        "cells",
        "joint least squares with the unquantised law, cluster-robust t over cells",
        lambda a: bound(a, -1),
        lambda a: bound(a, 1),
        detail=detail,
    )


LOF_ALPHA = 0.05  # a law whose lack of fit is significant at this level does not fit
# gamma is fitted to the contrasts; A and alpha are shared with the unquantised runs,
# which pin them, so the contrasts' misfit keeps (points - 1) degrees of freedom
FORM_PARAMS = 1


def contrast_residuals(
    runs: pd.DataFrame, unigram: float, group: str, theta: np.ndarray
) -> pd.DataFrame:
    """The group's learned within-cell contrasts against the joint law ``theta`` (log A,
    alpha, log B, log gamma): one row per run with its design point (size, D/N, bits),
    the seed's cell, the contrast and its residual."""
    ok = learned(runs, unigram)
    fmt, quantised = GROUPS[group]
    fp = runs[ok & (runs["number_format"] == "fp")]
    fp_loss = {tuple(r): v for r, v in zip(fp[CELL].to_numpy(), fp["val_loss"], strict=True)}
    mine = runs[ok & (runs["number_format"] == fmt) & (runs["quantised"] == quantised)]
    keys = [tuple(r) for r in mine[CELL].to_numpy()]
    keep = np.array([k in fp_loss for k in keys], dtype=bool)
    mine = mine[keep]
    base = np.array([fp_loss[k] for k, kept in zip(keys, keep, strict=True) if kept])
    a, alpha, g = math.exp(theta[0]), float(theta[1]), math.exp(theta[3])
    n = mine["n_params"].to_numpy(float)
    x = {
        "u": a * n ** (-alpha),
        "alpha": np.full(len(mine), alpha),
        "P": mine["train_bits"].to_numpy(float),
        "k": mine["n_quantised"].to_numpy(float),
    }
    y = mine["val_loss"].to_numpy(float) - base
    pred = PRECISION_CONTRAST(x, gamma=g) if len(mine) else np.array([])
    return pd.DataFrame(
        {
            "d_model": mine["d_model"].to_numpy(),
            "tokens_per_param": mine["tokens_per_param"].to_numpy(),
            "bits": mine["train_bits"].to_numpy(float),
            "contrast": y,
            "pred": pred,
            "resid": y - pred,
        }
    )


def form_check(runs: pd.DataFrame, unigram: float, group: str) -> FitCheck:
    """Whether Kumar's law, fitted jointly to the unquantised runs and the group's
    contrasts, fits these runs: its lack of fit against pure error (the contrasts' seed
    scatter at each size, D/N and bit width, weighted per bit width) must not be
    significant at LOF_ALPHA, and refitted without the largest size it must predict that
    size's contrasts within their pure-error intervals. With fewer than three sizes the
    held-out check cannot run (one size left cannot fit a size term), and the form's size
    dependence is an assumption: the check fails."""
    from scipy import stats as st

    fit, detail, _ = joint_fit(runs, unigram, group)
    if fit is None:
        return FitCheck(False, f"no fit ({detail})")
    res = contrast_residuals(runs, unigram, group, fit.theta)
    points = list(zip(res["d_model"], res["tokens_per_param"], res["bits"], strict=True))
    lof = lack_of_fit(res["resid"], points, FORM_PARAMS, variance_groups=res["bits"])
    figures = {"lof_f": lof.f, "lof_df_fit": lof.df_fit, "lof_df_pure": lof.df_pure, "lof_p": lof.p}
    sizes = sorted(runs.loc[learned(runs, unigram), "d_model"].unique())
    if not lof.defined:
        return FitCheck(False, lof.describe(), figures)
    if lof.p < LOF_ALPHA:
        return FitCheck(False, lof.describe(), figures)
    if len(sizes) < 3:
        why = (
            f"{lof.describe()}, but no held-out size: {len(sizes)} size(s), and holding one "
            "out needs three"
        )
        return FitCheck(False, why, figures)
    largest = sizes[-1]
    held_fit, held_detail, _ = joint_fit(runs[runs["d_model"] != largest], unigram, group)
    if held_fit is None:
        return FitCheck(False, f"no fit without size {largest} ({held_detail})", figures)
    held = contrast_residuals(runs[runs["d_model"] == largest], unigram, group, held_fit.theta)
    # pure error per bit width: the runs' scatter around their (size, D/N, bits) point,
    # with (runs - points) degrees of freedom
    point = ["d_model", "tokens_per_param", "bits"]
    pure = res.assign(dev=res["resid"] - res.groupby(point)["resid"].transform("mean"))
    var, dof = {}, {}
    for bits, g in pure.groupby("bits"):
        dof[bits] = len(g) - g.groupby(point).ngroups
        if dof[bits] > 0:
            var[bits] = float((g["dev"] ** 2).sum()) / dof[bits]
    # the refit's own prediction error is left out: the check is stricter than exact
    tests = []
    for (_, bits), g in held.groupby(["tokens_per_param", "bits"]):
        if var.get(bits, 0.0) > 0:
            tests.append((abs(float(g["resid"].mean())) / math.sqrt(var[bits] / len(g)), bits))
    if not tests:
        return FitCheck(False, f"no pure error to test the held-out size {largest}", figures)
    # Bonferroni over the held-out points, each against its bit width's t
    worst_ratio, worst, crit = 0.0, 0.0, math.inf
    for t, bits in tests:
        c = float(st.t.isf(LOF_ALPHA / 2 / len(tests), dof[bits]))
        if t / c > worst_ratio:
            worst_ratio, worst, crit = t / c, t, c
    figures = {**figures, "held_out_size": float(largest), "held_out_worst_t": worst, "crit": crit}
    if worst_ratio > 1:
        why = (
            f"refitted without size {largest}, it misses that size's contrasts (worst "
            f"|t| = {worst:.3g} against {crit:.3g})"
        )
        return FitCheck(False, why, figures)
    return FitCheck(True, "", figures)


def form_checks_markdown(runs: pd.DataFrame, unigram: float, groups: Sequence[str]) -> str:
    """The lack-of-fit and held-out figures of the fitted law, per setting group."""
    lines = [
        "Lack of fit of Kumar's law (the validity gate of the claims read off it): each "
        "(size, D/N, bit width) mean contrast against the seed-to-seed scatter at the same "
        "point, scaled per bit width, F = the scaled misfit over its degrees of freedom "
        f"({FORM_PARAMS} fitted parameter taken out), p from the statistic's Monte Carlo "
        f"null (papergrid.gates.lack_of_fit), failing at {LOF_ALPHA:g}; and, with three or "
        "more sizes, the largest size's contrasts predicted by the law refitted without it.",
        "",
        "| group | F | df | p | held-out size | worst held-out t | passes | why not |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for group in groups:
        c = form_check(runs, unigram, group)
        f = c.figures
        lines.append(
            f"| {group} | {f.get('lof_f', math.nan):.3g} | "
            f"{f.get('lof_df_fit', 0):.0f}, {f.get('lof_df_pure', 0):.0f} | "
            f"{f.get('lof_p', math.nan):.3g} | {f.get('held_out_size', math.nan):.0f} | "
            f"{f.get('held_out_worst_t', math.nan):.3g} | {'yes' if c.passed else 'no'} | "
            f"{c.reason} |"
        )
    return "\n".join(lines) + "\n"


def ptq_points(runs: pd.DataFrame, unigram: float) -> pd.DataFrame:
    """delta_PTQ = loss after round-to-nearest to P_post bits minus loss as trained,
    for the runs trained unquantised; one row per (run, P_post)."""
    fp = fp_runs(runs, unigram)
    rows = []
    for _, r in fp.iterrows():
        for b in PTQ_BITS:
            rows.append(
                {
                    "n_params": r["n_params"],
                    "tokens": r["tokens"],
                    "d_model": r["d_model"],
                    "tokens_per_param": r["tokens_per_param"],
                    "seed": r["seed"],
                    "p_post": b,
                    "delta": r[f"val_loss_ptq{b}"] - r["val_loss"],
                }
            )
    columns = ["n_params", "tokens", "d_model", "tokens_per_param", "seed", "p_post", "delta"]
    return pd.DataFrame(rows, columns=columns)


def fit_ptq_law(points: pd.DataFrame, *, n_boot: int, level: float, n_jobs: int):
    """Eq. 2 in log space, so only positive degradations enter; the rest are counted."""
    pos = points[points["delta"] > 0]
    x = {
        "N": pos["n_params"].to_numpy(float),
        "D": pos["tokens"].to_numpy(float),
        "P_post": pos["p_post"].to_numpy(float),
    }
    result = fit_form(
        PTQ_DEGRADATION,
        x,
        pos["delta"].to_numpy(float),
        n_boot=n_boot,
        level=level,
        max_starts=64,
        groups=pos[CELL].astype(str).agg("-".join, axis=1).to_numpy(),
        n_jobs=n_jobs,
    )
    return result, int((points["delta"] <= 0).sum())


def fit_table(
    runs: pd.DataFrame, unigram: float, *, n_boot: int, level: float, n_jobs: int
) -> pd.DataFrame:
    """Stage 1 (unquantised law, E fixed), each group's gamma, and the PTQ law."""
    law, excess = fit_excess(runs, unigram, n_boot=n_boot, level=level, n_jobs=n_jobs)
    rows = excess.rows(law="unquantised") if excess is not None else []
    contrasts = contrast_table(runs, law, unigram)
    for group in GROUPS:
        ev = gamma_evidence(runs, unigram, group)
        lo, hi = ev.interval(level)
        left = int(((contrasts["group"] == group) & ~contrasts["learned"]).sum())
        rows.append(
            {
                "law": f"contrast ({group})",
                "form": PRECISION_CONTRAST.name,
                "formula": PRECISION_CONTRAST.formula,
                "param": "gamma",
                "value": ev.estimate,
                "ci_low": lo,
                "ci_high": hi,
                "n_points": int((contrasts["group"] == group).sum()) - left,
                "n_dropped": left,
                "status": "ok" if math.isfinite(lo) and math.isfinite(hi) else "no interval",
            }
        )
    points = ptq_points(runs, unigram)
    if (points["delta"] > 0).sum() > len(PTQ_DEGRADATION.params):
        ptq, dropped = fit_ptq_law(points, n_boot=n_boot, level=level, n_jobs=n_jobs)
        rows += [{**row, "n_dropped": dropped} for row in ptq.rows(law="ptq")]
    table = pd.DataFrame(rows)
    table["n_dropped"] = table["n_dropped"].fillna(0).astype(int)
    return table


def fit_job(
    runs_path: str,
    n_boot: int,
    level: float,
    threads: int,
    parquet_out: str,
    md_out: str,
) -> None:
    runs = read_frame(runs_path, CONTRACT.summary_schema())
    unigram = unigram_level(runs)
    table = fit_table(runs, unigram, n_boot=n_boot, level=level, n_jobs=threads)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), parquet_out)
    write_text(fit_markdown(table, runs, unigram), md_out)


def fit_markdown(table: pd.DataFrame, runs: pd.DataFrame, unigram: float) -> str:
    e = floor(runs)
    ok = ok_runs(runs)
    not_learned = ok[ok["val_loss"] >= unigram]
    failed = runs[runs["status"] != "ok"]
    counts = pd.concat([not_learned, failed]).groupby("setting").size().to_dict()
    left = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "none"
    cols = [c for c in ["law", *FIT_COLUMNS] if c in table.columns]
    return (
        "Stage 1, unquantised runs: L - E = A N^-alpha + B D^-alpha with E fixed at the exact "
        f"floor of the validation targets, E = {e:.4f} nats/token (the true source's loss on "
        "the same sequences). Stage 2, within-cell contrasts: L(P) - L(unquantised) = "
        "u ((1 - exp(-P/gamma))^(-k alpha) - 1), u = A N^-alpha, one gamma per setting "
        "group (int / float: weights, activations and KV cache jointly, k = 3; w, a, kv: "
        "that tensor type alone, k = 1), fitted jointly with stage 1 by weighted least "
        "squares (each bit width's contrasts and the unquantised runs weighted by their "
        "inverse residual variance), cluster-robust (CR3) intervals over cells. PTQ law: "
        "delta = C_T D^gamma_D N^-gamma_N exp(-P_post/gamma_post) on the unquantised runs. "
        "95% intervals; bootstraps resample cells.\n\n"
        + markdown_table(table, cols)
        + f"\nRuns left out as not learned (held-out loss not below the unigram level "
        f"{unigram:.4f}, or not ok), by setting: {left}.\n\n"
        + form_checks_markdown(runs, unigram, [g for g in GROUPS if _has_group(runs, g)])
    )


def _has_group(runs: pd.DataFrame, group: str) -> bool:
    fmt, quantised = GROUPS[group]
    return bool(((runs["number_format"] == fmt) & (runs["quantised"] == quantised)).any())
