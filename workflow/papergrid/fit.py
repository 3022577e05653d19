"""Named functional forms and a robust log-space fitter with bootstrap intervals.

A :class:`Form` names its input variables and its parameters and carries its own
analytic gradient; nothing is addressed by position. :func:`fit_form` minimises
the summed Huber loss of ``log(prediction) - log(observation)`` with L-BFGS-B from
a grid of starting points, keeps the best, and returns a frozen :class:`FitResult`
that says whether the optimiser converged and which parameters sit on a bound.

Practice follows Hoffmann et al. (2022, App. D.2) and the replication by
Besiroglu et al. (2024): the objective is a sum, not a mean, and tolerances are
tight, because an objective that is tiny against ``ftol`` lets L-BFGS-B stop
early and report success on an unconverged fit.
"""

from __future__ import annotations

import itertools
import math
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
from scipy.optimize import brentq, minimize

Array = np.ndarray
Params = Mapping[str, float]


@dataclass(frozen=True)
class Param:
    """A named parameter with bounds; ``log=True`` optimises log(value) (positive scales)."""

    name: str
    lower: float
    upper: float
    starts: tuple[float, ...]
    log: bool = False

    def to_opt(self, value: float) -> float:
        return math.log(value) if self.log else value

    def from_opt(self, value: float) -> float:
        return math.exp(value) if self.log else value

    def opt_bounds(self) -> tuple[float, float]:
        return (self.to_opt(self.lower), self.to_opt(self.upper))


@dataclass(frozen=True)
class Form:
    """A functional form y = f(x; params) with its gradient d f / d param.

    ``positive`` names the variables the form takes logs or powers of (they must be > 0),
    ``infinite_ok`` those where +inf means something (P = inf: unquantised). Every other
    variable must be finite. ``value_and_grad`` may compute both in one pass (speed).
    """

    name: str
    formula: str
    variables: tuple[str, ...]
    params: tuple[Param, ...]
    predict: Callable[[Mapping[str, Array], Params], Array]
    gradient: Callable[[Mapping[str, Array], Params], dict[str, Array]]
    positive: tuple[str, ...] = ()
    infinite_ok: tuple[str, ...] = ()
    value_and_grad: Callable[[Mapping[str, Array], Params], tuple[Array, dict]] | None = None

    @property
    def param_names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    def __call__(self, x: Mapping[str, Array], **params: float) -> Array:
        return self.predict(_as_arrays(x), params)

    def evaluate(self, x: Mapping[str, Array], p: Params) -> tuple[Array, dict[str, Array]]:
        if self.value_and_grad is not None:
            return self.value_and_grad(x, p)
        return self.predict(x, p), self.gradient(x, p)


def _as_arrays(x: Mapping[str, Array]) -> dict[str, Array]:
    return {k: np.asarray(v, dtype=float) for k, v in x.items()}


# ---------------------------------------------------------------- functional forms


def _power_law(x, p):
    return p["A"] * x["x"] ** p["k"]


def _power_law_grad(x, p):
    xk = x["x"] ** p["k"]
    return {"A": xk, "k": p["A"] * xk * np.log(x["x"])}


POWER_LAW = Form(
    name="power_law",
    formula="y = A * x^k",
    variables=("x",),
    params=(
        Param("A", 1e-12, 1e12, starts=(1e-2, 1.0, 1e2), log=True),
        Param("k", -5.0, 5.0, starts=(-1.0, -0.3, 0.3)),
    ),
    predict=_power_law,
    gradient=_power_law_grad,
    positive=("x",),
)


def _saturating(x, p):
    return p["L_inf"] + p["c"] * x["x"] ** (-p["k"])


def _saturating_grad(x, p):
    xk = x["x"] ** (-p["k"])
    return {"L_inf": np.ones_like(xk), "c": xk, "k": -p["c"] * xk * np.log(x["x"])}


SATURATING_POWER_LAW = Form(
    name="saturating_power_law",
    formula="y = L_inf + c * x^-k",
    variables=("x",),
    params=(
        Param("L_inf", 1e-6, 1e3, starts=(0.1, 1.0), log=True),
        Param("c", 1e-8, 1e6, starts=(0.1, 1.0, 10.0), log=True),
        Param("k", 1e-3, 5.0, starts=(0.3, 1.0, 2.0)),
    ),
    predict=_saturating,
    gradient=_saturating_grad,
    positive=("x",),
)


def _chinchilla(x, p):
    return p["E"] + p["A"] * x["N"] ** (-p["alpha"]) + p["B"] * x["D"] ** (-p["beta"])


def _chinchilla_grad(x, p):
    n_term = x["N"] ** (-p["alpha"])
    d_term = x["D"] ** (-p["beta"])
    return {
        "E": np.ones_like(n_term),
        "A": n_term,
        "alpha": -p["A"] * n_term * np.log(x["N"]),
        "B": d_term,
        "beta": -p["B"] * d_term * np.log(x["D"]),
    }


CHINCHILLA = Form(
    name="chinchilla",
    formula="L = E + A * N^-alpha + B * D^-beta",
    variables=("N", "D"),
    params=(
        Param("E", 1e-3, 1e2, starts=(0.5, 1.0, 2.0), log=True),
        Param("A", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
        Param("alpha", 0.0, 2.0, starts=(0.2, 0.5, 1.0)),
        Param("B", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
        Param("beta", 0.0, 2.0, starts=(0.2, 0.5, 1.0)),
    ),
    predict=_chinchilla,
    gradient=_chinchilla_grad,
    positive=("N", "D"),
)


def _neff_fraction(p_bits: Array, gamma: float) -> Array:
    """1 - exp(-P / gamma); P = inf (unquantised) gives 1."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(np.isinf(p_bits), 1.0, 1.0 - np.exp(-p_bits / gamma))


def _precision(x, p):
    n_eff = x["N"] * _neff_fraction(x["P"], p["gamma"]) ** x["k"]
    return p["A"] * n_eff ** (-p["alpha"]) + p["B"] * x["D"] ** (-p["alpha"]) + p["E"]


def cached_log(x: dict, name: str) -> Array:
    """log(x[name]), computed once per data dict: a fit calls its form hundreds of times on
    the same (private) dict of variables."""
    key = f"log {name}"
    if key not in x:
        x[key] = np.log(x[name])
    return x[key]


def _precision_both(x, p):
    ratio = x["P"] / p["gamma"]  # inf for an unquantised run: fraction 1, no gamma dependence
    e = np.exp(-ratio)
    frac = 1.0 - e
    log_neff = cached_log(x, "N") + x["k"] * np.log(frac)
    log_d = cached_log(x, "D")
    n_term = np.exp(-p["alpha"] * log_neff)
    d_term = np.exp(-p["alpha"] * log_d)
    an, bd = p["A"] * n_term, p["B"] * d_term
    with np.errstate(invalid="ignore"):
        dlog_neff_dgamma = np.where(np.isinf(ratio), 0.0, -x["k"] * e * ratio / (frac * p["gamma"]))
    grads = {
        "A": n_term,
        "alpha": -an * log_neff - bd * log_d,
        "B": d_term,
        "E": np.ones_like(n_term),
        "gamma": -p["alpha"] * an * dlog_neff_dgamma,
    }
    return an + bd + p["E"], grads


def _precision_grad(x, p):
    return _precision_both(x, p)[1]


PRECISION_TRAINING = Form(
    name="precision_training",
    formula="L = A * N_eff^-alpha + B * D^-alpha + E,  N_eff = N * (1 - exp(-P / gamma))^k",
    variables=("N", "D", "P", "k"),
    params=(
        Param("A", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
        Param("alpha", 0.01, 2.0, starts=(0.2, 0.5)),
        Param("B", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
        Param("E", 1e-3, 1e2, starts=(0.5, 1.5), log=True),
        Param("gamma", 0.05, 20.0, starts=(1.0, 3.0), log=True),
    ),
    predict=_precision,
    gradient=_precision_grad,
    positive=("N", "D", "P"),
    infinite_ok=("P",),
    value_and_grad=_precision_both,
)
"""Kumar et al. (2024) Eq. 4 with alpha = beta tied (their choice) and ``k`` tensor types
(weights, activations, KV cache) quantised at the same P bits with one shared gamma (their
"N(1 - exp(-P / gamma_bar))^3"); P = inf marks an unquantised run (N_eff = N). k is data,
not a parameter: 1 for weight-only QAT, 3 for fully low-precision training."""


def _excess(x, p):
    return p["A"] * x["N"] ** (-p["alpha"]) + p["B"] * x["D"] ** (-p["alpha"])


def _excess_grad(x, p):
    n_term = x["N"] ** (-p["alpha"])
    d_term = x["D"] ** (-p["alpha"])
    return {
        "A": n_term,
        "alpha": -p["A"] * n_term * cached_log(x, "N") - p["B"] * d_term * cached_log(x, "D"),
        "B": d_term,
    }


PRECISION_EXCESS = Form(
    name="precision_excess",
    formula="L - E = A * N^-alpha + B * D^-alpha  (E: the exact entropy floor, not fitted)",
    variables=("N", "D"),
    params=(
        Param("A", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
        Param("alpha", 0.01, 2.0, starts=(0.2, 0.5)),
        Param("B", 1e-3, 1e9, starts=(1e1, 1e3, 1e5), log=True),
    ),
    predict=_excess,
    gradient=_excess_grad,
    positive=("N", "D"),
)
"""Kumar et al.'s law for unquantised runs (alpha = beta tied) with E known: fitted to the
loss above the source's exact floor, so E cannot absorb what the power laws should."""


def _contrast(x, p):
    f = _neff_fraction(x["P"], p["gamma"])
    return x["u"] * (f ** (-x["k"] * x["alpha"]) - 1)


def _contrast_grad(x, p):
    g = p["gamma"]
    e = np.exp(-x["P"] / g)
    f = 1 - e
    # d f / d gamma = -exp(-P/gamma) P / gamma^2
    df = -e * x["P"] / g**2
    ka = x["k"] * x["alpha"]
    return {"gamma": x["u"] * (-ka) * f ** (-ka - 1) * df}


PRECISION_CONTRAST = Form(
    name="precision_contrast",
    formula="L(P) - L(unquantised) = u * ((1 - exp(-P / gamma))^(-k alpha) - 1),  "
    "u = A N^-alpha from the unquantised law",
    variables=("u", "alpha", "P", "k"),
    params=(Param("gamma", 0.05, 20.0, starts=(0.5, 1.0, 3.0), log=True),),
    predict=_contrast,
    gradient=_contrast_grad,
    positive=("u", "alpha", "P"),
)
"""Within-cell form of Kumar's Eq. 4: a quantised run minus the unquantised run of its
cell (same size, data, seed and initialisation). The B D^-beta + E terms cancel, so gamma
is read from what quantisation alone costs; u and alpha come from
:data:`PRECISION_EXCESS` fitted to the unquantised runs."""


def compute_optimal_bits(gamma: float, k: float) -> float:
    """P* minimising the fitted law at fixed compute C proportional to N * D * P.

    With alpha = beta tied, optimising N at fixed C and P leaves L - E proportional to
    (f(P)^k / P)^(-alpha/2) with f(P) = 1 - exp(-P / gamma), so P* maximises f(P)^k / P,
    whatever C, alpha, A and B are (Kumar et al.'s finding that P* does not depend on
    compute). P* = gamma * x*(k) with x* the maximiser of (1 - exp(-x))^k / x. For k = 1
    there is no interior optimum (fewer bits are always better): returns 0.
    """
    if k <= 1:
        return 0.0
    return float(gamma * _optimal_x(float(k)))


@lru_cache(maxsize=16)
def _optimal_x(k: float) -> float:
    """x*(k), the maximiser of (1 - exp(-x))^k / x (intervals call this thousands of times)."""
    xs = np.linspace(1e-3, 50, 200_001)
    return float(xs[np.argmax((1 - np.exp(-xs)) ** k / xs)])


def fixed_size_optimal_bits(
    gamma: float,
    alpha: float,
    k: float,
    b_over_a: float,
    tokens_per_param: float,
    reference_bits: float = 16.0,
) -> float:
    """P* at a fixed model size: compute C = N D P spent on data, so that a run at P bits
    sees D = C / (N P) tokens, with C that of a ``reference_bits`` run at D = N *
    ``tokens_per_param``.

    The law's excess is then A N^-alpha f(P)^(-k alpha) + B D_ref^-alpha (P / P_ref)^alpha
    with f(P) = 1 - exp(-P / gamma): raising P shrinks the N_eff penalty and costs data.
    Up to the factor A N^-alpha it depends on N only through D/N, so P* is a function of
    D/N (Kumar et al.: with N fixed, P* grows with log C). In x = P / gamma the optimum
    solves k f^(-k alpha - 1) e^-x = c x^(alpha - 1), c = (B / A) (D/N)^-alpha
    (gamma / P_ref)^alpha; its left side minus its right falls from +inf to -inf in x.
    Returns inf where the optimum lies past 10^4 gammas.
    """
    if not all(math.isfinite(v) for v in (gamma, alpha, b_over_a)) or min(gamma, alpha) <= 0:
        return math.nan
    log_c = (
        math.log(b_over_a)
        - alpha * math.log(tokens_per_param)
        + alpha * math.log(gamma / reference_bits)
    )

    def h(log_x: float) -> float:
        x = math.exp(log_x)
        log_f = math.log(-math.expm1(-x))
        return math.log(k) - (k * alpha + 1) * log_f - x - log_c - (alpha - 1) * log_x

    lo, hi = math.log(1e-8), math.log(1e4)
    if h(hi) > 0:
        return math.inf
    if h(lo) < 0:
        return 0.0
    return float(gamma * math.exp(brentq(h, lo, hi, xtol=1e-12, rtol=1e-12)))


def _ptq(x, p):
    return (
        p["C_T"]
        * x["D"] ** p["gamma_D"]
        * x["N"] ** (-p["gamma_N"])
        * np.exp(-x["P_post"] / p["gamma_post"])
    )


def _ptq_grad(x, p):
    y = _ptq(x, p)
    return {
        "C_T": y / p["C_T"],
        "gamma_D": y * np.log(x["D"]),
        "gamma_N": -y * np.log(x["N"]),
        "gamma_post": y * x["P_post"] / p["gamma_post"] ** 2,
    }


PTQ_DEGRADATION = Form(
    name="ptq_degradation",
    formula="delta_PTQ = C_T * D^gamma_D / N^gamma_N * exp(-P_post / gamma_post)",
    variables=("N", "D", "P_post"),
    params=(
        Param("C_T", 1e-8, 1e8, starts=(1e-2, 1.0, 1e2), log=True),
        Param("gamma_D", -3.0, 3.0, starts=(0.0, 0.5)),
        Param("gamma_N", -3.0, 3.0, starts=(0.0, 0.5)),
        Param("gamma_post", 0.05, 20.0, starts=(0.5, 2.0)),
    ),
    predict=_ptq,
    gradient=_ptq_grad,
    positive=("N", "D"),
)
"""Kumar et al. (2024) Eq. 2: the loss added by post-training quantisation to P_post bits."""


# ---------------------------------------------------------------- fitting

FIT_STATUSES = ("ok", "boot_on_bound", "on_bound", "underdetermined", "not_converged", "failed")
"""ok: converged off every bound, determined, and at most BOOT_BOUND_SHARE of the bootstrap
refits on a bound; boot_on_bound: more of them on a bound (the interval is cut by a bound);
on_bound: the best fit itself sits on a bound; underdetermined: too few distinct design
points for the parameters (fewer than two left over), or a Jacobian so ill-conditioned that
some combination of parameters is not identified; not_converged; failed: no finite fit."""

BOOT_BOUND_SHARE = 0.05
MIN_RESIDUAL_POINTS = 2  # distinct design points beyond the parameter count
MAX_CONDITION = 1e8  # of the column-scaled Jacobian of the log predictions


@dataclass(frozen=True)
class FitResult:
    """A fitted form. ``status`` is one of :data:`FIT_STATUSES`."""

    form: str
    formula: str
    params: dict[str, float]
    n_points: int
    n_starts: int
    objective: float  # summed Huber loss of log residuals at the best start
    converged: bool
    grad_norm: float  # projected gradient norm (optimiser space) at the optimum
    on_bound: tuple[str, ...]
    status: str
    message: str
    n_boot: int = 0
    se: dict[str, float] = field(default_factory=dict)
    ci_low: dict[str, float] = field(default_factory=dict)
    ci_high: dict[str, float] = field(default_factory=dict)
    n_heldout: int = 0
    heldout_are: float = math.nan  # mean |pred - obs| / obs on held-out points
    # bootstrap parameter draws, one dict each, kept on request for derived quantities
    draws: tuple[dict[str, float], ...] = ()
    n_distinct: int = 0  # distinct design points (replicates at one x count once)
    condition: float = math.nan  # of the column-scaled Jacobian of log predictions
    boot_on_bound: float = math.nan  # share of bootstrap refits with a parameter on a bound
    boot_second_start: float = math.nan  # share of refits that needed the second start
    # Wald (Gauss-Newton) standard errors in optimiser space (log scale for log parameters)
    # with the residual degrees of freedom: intervals at any level, cheap to recompute
    se_opt: dict[str, float] = field(default_factory=dict)
    df_resid: int = 0
    log_params: tuple[str, ...] = ()

    def wald(self, name: str, alpha: float) -> tuple[float, float]:
        """One-sided bounds at confidence 1 - alpha from the Wald standard error (on the log
        scale for log parameters, so their bounds stay positive)."""
        from scipy import stats as st

        se, value = self.se_opt.get(name, math.nan), self.params.get(name, math.nan)
        if not (math.isfinite(se) and math.isfinite(value) and self.df_resid > 0):
            return -math.inf, math.inf
        q = float(st.t.isf(alpha, self.df_resid)) * se
        if name in self.log_params:
            q = min(q, 700.0)  # exp overflows past e^709
            return value * math.exp(-q), value * math.exp(q)
        return value - q, value + q

    def rows(self, **labels: object) -> list[dict]:
        """One row per parameter, for a fit table (labels are extra columns)."""
        return [
            {
                **labels,
                "form": self.form,
                "formula": self.formula,
                "param": name,
                "value": value,
                "se": self.se.get(name, math.nan),
                "ci_low": self.ci_low.get(name, math.nan),
                "ci_high": self.ci_high.get(name, math.nan),
                "n_points": self.n_points,
                "n_distinct": self.n_distinct,
                "n_starts": self.n_starts,
                "n_boot": self.n_boot,
                "boot_on_bound": self.boot_on_bound,
                "objective": self.objective,
                "converged": self.converged,
                "grad_norm": self.grad_norm,
                "condition": self.condition,
                "on_bound": name in self.on_bound,
                "status": self.status,
                "n_heldout": self.n_heldout,
                "heldout_are": self.heldout_are,
            }
            for name, value in self.params.items()
        ]


def huber(r: Array, delta: float) -> Array:
    a = np.abs(r)
    return np.where(a <= delta, 0.5 * r**2, delta * (a - 0.5 * delta))


def huber_grad(r: Array, delta: float) -> Array:
    return np.clip(r, -delta, delta)


def _to_params(form: Form, theta: Array) -> dict[str, float]:
    return {
        prm.name: (math.exp(t) if prm.log else t)
        for prm, t in zip(form.params, theta.tolist(), strict=True)
    }


def objective_and_gradient(
    form: Form,
    x: Mapping[str, Array],
    y: Array,
    theta: Array,
    delta: float,
    log_y: Array | None = None,
) -> tuple[float, Array]:
    """Summed Huber loss of log residuals and its gradient in optimiser space (``log_y``:
    log(y), when the caller has it already)."""
    p = _to_params(form, theta)
    pred, grads = form.evaluate(x, p)
    if not pred.min() > 0:  # a non-positive prediction, or NaN
        return math.inf, np.zeros_like(theta)
    r = np.log(pred) - (np.log(y) if log_y is None else log_y)
    if not math.isfinite(r.sum()):
        return math.inf, np.zeros_like(theta)
    a = np.abs(r)
    inside = a <= delta
    loss = float(np.where(inside, 0.5 * r * r, delta * (a - 0.5 * delta)).sum())
    weight = np.where(inside, r, np.copysign(delta, r)) / pred
    g = np.empty_like(theta)
    for i, prm in enumerate(form.params):
        gi = float(weight @ grads[prm.name])
        g[i] = gi * p[prm.name] if prm.log else gi  # chain rule for d/d log(value)
    return loss, g


def log_jacobian(form: Form, x: Mapping[str, Array], theta: Array) -> Array:
    """d log(prediction) / d theta (optimiser space), shape (points, parameters)."""
    p = _to_params(form, theta)
    pred, grads = form.evaluate(x, p)
    cols = []
    for prm in form.params:
        col = grads[prm.name] / pred
        cols.append(col * p[prm.name] if prm.log else col)
    return np.column_stack(cols)


def _start_grid(form: Form, max_starts: int | None, rng: np.random.Generator) -> list[Array]:
    grid = [
        np.array([prm.to_opt(v) for prm, v in zip(form.params, combo, strict=True)])
        for combo in itertools.product(*(prm.starts for prm in form.params))
    ]
    if max_starts is not None and len(grid) > max_starts:
        idx = rng.choice(len(grid), size=max_starts, replace=False)
        grid = [grid[i] for i in sorted(idx)]
    return grid


_OPTIONS = {"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000, "maxfun": 20000}


def _minimise(form, x, y, start, delta, max_iter: int = _OPTIONS["maxiter"]):
    # The objective is scaled by 1/delta^2 so that it is O(n) rather than O(n * delta^2):
    # otherwise it sits near ftol and L-BFGS-B stops early (Besiroglu et al. 2024).
    scale = 1.0 / delta**2
    log_y = np.log(y)

    def fun(theta):
        f, g = objective_and_gradient(form, x, y, theta, delta, log_y)
        return f * scale, g * scale

    bounds = [prm.opt_bounds() for prm in form.params]
    options = {**_OPTIONS, "maxiter": max_iter}
    return minimize(fun, start, jac=True, method="L-BFGS-B", bounds=bounds, options=options)


def _projected_grad(res, bounds) -> Array:
    g = np.array(res.jac, dtype=float)
    for i, (lo, hi) in enumerate(bounds):
        if (res.x[i] <= lo and g[i] > 0) or (res.x[i] >= hi and g[i] < 0):
            g[i] = 0.0
    return g


def _no_descent(form, x, y, res, delta, seed: int = 0) -> bool:
    """True if no small step lowers the objective: along each coordinate, along the
    negative projected gradient, and along random directions, at two step sizes.

    With the Huber delta far below the noise (1e-3 against ~1% here) the objective is
    nearly L1 in the residuals: kinked at the optimum, where the gradient need not vanish
    and L-BFGS-B's line search ends ABNORMAL. A point no such step improves on is a minimum
    all the same; a valley that only a combination of parameters descends is caught by the
    gradient and random directions, which coordinate steps alone would miss.
    """
    theta = res.x
    bounds = np.array([prm.opt_bounds() for prm in form.params])
    f0 = objective_and_gradient(form, x, y, theta, delta)[0]
    tol = 1e-12 * abs(f0)  # relative: the unscaled objective is O(n delta^2), tiny
    p = len(theta)
    dirs = list(np.eye(p)) + list(-np.eye(p))
    grad = _projected_grad(res, bounds)
    if np.linalg.norm(grad) > 0:
        dirs.append(-grad / np.linalg.norm(grad))
    rng = np.random.default_rng(seed)
    for v in rng.standard_normal((8, p)):
        dirs.append(v / np.linalg.norm(v))
    scale = np.maximum(1.0, np.abs(theta))
    for step in (1e-5, 1e-3):
        for d in dirs:
            trial = np.clip(theta + step * scale * d, bounds[:, 0], bounds[:, 1])
            if objective_and_gradient(form, x, y, trial, delta)[0] < f0 - tol:
                return False
    return True


def _local_optima(form, x, y, starts, delta, max_iter: int = _OPTIONS["maxiter"]) -> list:
    """Every start's optimum with a finite objective, best first."""
    found = [_minimise(form, x, y, start, delta, max_iter) for start in starts]
    return sorted((r for r in found if np.isfinite(r.fun)), key=lambda r: r.fun)


def _on_bound(form: Form, theta: Array) -> tuple[str, ...]:
    names = []
    for prm, t in zip(form.params, theta, strict=True):
        lo, hi = prm.opt_bounds()
        tol = 1e-6 * max(1.0, abs(hi - lo))
        if t - lo <= tol or hi - t <= tol:
            names.append(prm.name)
    return tuple(names)


def check_inputs(form: Form, x: Mapping[str, Array], y: Array) -> None:
    """Refuse data the fit cannot use, naming the variable and the offending rows."""
    missing = [v for v in form.variables if v not in x]
    if missing:
        raise ValueError(f"fit {form.name}: missing variable(s) {missing}")

    def bad_rows(name: str, values: Array, bad: Array, wants: str) -> None:
        rows = np.flatnonzero(bad)
        if rows.size:
            shown = ", ".join(f"{i}: {values[i]!r}" for i in rows[:8])
            more = f" and {rows.size - 8} more" if rows.size > 8 else ""
            raise ValueError(f"fit {form.name}: {name} must be {wants}; rows {shown}{more}")

    bad_rows("the observation", y, ~np.isfinite(y) | (y <= 0), "finite and positive (log space)")
    for v in form.variables:
        if x[v].shape != y.shape:
            raise ValueError(f"fit {form.name}: variable {v!r} has shape {x[v].shape}, y {y.shape}")
        finite = np.isfinite(x[v]) | ((x[v] == np.inf) if v in form.infinite_ok else False)
        wants = "finite" + (" or +inf" if v in form.infinite_ok else "")
        if v in form.positive:
            bad_rows(f"variable {v!r}", x[v], ~finite | ~(x[v] > 0), wants + " and positive")
        else:
            bad_rows(f"variable {v!r}", x[v], ~finite, wants)


def bootstrap_indices(
    n: int, n_boot: int, groups: Sequence | None, rng: np.random.Generator
) -> list[Array]:
    """Resample indices with replacement; with ``groups``, resample within each group.

    Stratifying by group (for example by width, resampling seeds within each width)
    keeps every grid point present in every resample.
    """
    if groups is None:
        return [rng.integers(0, n, size=n) for _ in range(n_boot)]
    groups = np.asarray(groups)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]
    return [
        np.concatenate([rng.choice(m, size=len(m), replace=True) for m in members])
        for _ in range(n_boot)
    ]


def _refit_chunk(form, xa, ya, starts, delta, resamples, blas_threads=None) -> list[tuple]:
    """Refit each resample from the best fit; where that refit ends on a bound (the mark of
    a refit stuck away from its optimum) or fails, refit from the runner-up optimum too and
    keep the lower objective. An ABNORMAL line search alone is not retried: at the Huber
    kink it is the usual end of a converged fit (see :func:`_no_descent`).
    Returns (parameters in optimiser space, on a bound, second start used) per refit."""
    if blas_threads is not None:
        # workers share the job's cores; multi-threaded BLAS in each would oversubscribe them
        from threadpoolctl import threadpool_limits

        threadpool_limits(blas_threads)
    out = []
    for idx in resamples:
        xs, ys = {k: v[idx] for k, v in xa.items()}, ya[idx]
        res = _minimise(form, xs, ys, starts[0], delta)
        second = False
        if len(starts) > 1 and (not np.isfinite(res.fun) or _on_bound(form, res.x)):
            alt = _minimise(form, xs, ys, starts[1], delta)
            second = True
            if np.isfinite(alt.fun) and (not np.isfinite(res.fun) or alt.fun < res.fun):
                res = alt
        if np.isfinite(res.fun):
            out.append((res.x, bool(_on_bound(form, res.x)), second))
    return out


def _refit_all(form, xa, ya, starts, delta, resamples, n_jobs) -> list[tuple]:
    if n_jobs <= 1 or len(resamples) < 2 * n_jobs:
        return _refit_chunk(form, xa, ya, starts, delta, resamples)
    chunks = [resamples[i::n_jobs] for i in range(n_jobs)]
    # fork: the forms' functions need no pickling by reference and workers start fast
    ctx = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(n_jobs, mp_context=ctx) as pool:
        futures = [pool.submit(_refit_chunk, form, xa, ya, starts, delta, c, 1) for c in chunks]
        return [d for f in futures for d in f.result()]


def _identification(form: Form, xa, ya, theta) -> tuple[int, float, dict[str, float], int]:
    """(distinct design points, condition number of the column-scaled Jacobian, Wald
    standard errors in optimiser space, residual degrees of freedom)."""
    design = np.column_stack([np.nan_to_num(xa[v], posinf=1e300) for v in form.variables])
    n_distinct = len(np.unique(design, axis=0))
    jac = log_jacobian(form, xa, theta)
    p = len(form.params)
    df = len(ya) - p
    if not np.all(np.isfinite(jac)):
        return n_distinct, math.inf, {}, df
    norms = np.linalg.norm(jac, axis=0)
    if np.any(norms == 0):
        return n_distinct, math.inf, {}, df
    sv = np.linalg.svd(jac / norms, compute_uv=False)
    cond = float(sv[0] / sv[-1]) if sv[-1] > 0 else math.inf
    se: dict[str, float] = {}
    if df > 0 and math.isfinite(cond):
        r = np.log(form.predict(xa, _to_params(form, theta))) - np.log(ya)
        cov = float(r @ r) / df * np.linalg.pinv(jac.T @ jac)
        se = {prm.name: float(math.sqrt(max(cov[i, i], 0.0))) for i, prm in enumerate(form.params)}
    return n_distinct, cond, se, df


def fit_form(
    form: Form,
    x: Mapping[str, Sequence[float]],
    y: Sequence[float],
    *,
    delta: float = 1e-3,
    max_starts: int | None = None,
    n_boot: int = 1000,
    groups: Sequence | None = None,
    heldout: Sequence[bool] | None = None,
    level: float = 0.95,
    seed: int = 0,
    n_jobs: int = 1,
    max_iter: int = _OPTIONS["maxiter"],
    keep_draws: bool = False,
    starts: Sequence[Mapping[str, float]] | None = None,
) -> FitResult:
    """Fit ``form`` to ``(x, y)`` and attach bootstrap intervals and held-out error.

    The main fit uses every point, from every start of the form's grid (or from
    ``starts``, given as parameter values: a warm start). If ``heldout`` marks points, a
    second fit without them predicts them, and the mean absolute relative error of those
    predictions is reported (an extrapolation check, not used for the parameters).
    Bootstrap refits start from the best fit, and from the runner-up optimum where that
    refit ends on a bound or fails; resamples whose refit fails are dropped
    and counted out of ``n_boot``. ``n_jobs > 1`` spreads the refits over processes; the
    resamples are drawn up front, so the result does not depend on ``n_jobs``.
    ``keep_draws`` keeps every refit's parameters, for intervals of derived quantities.
    """
    xa = _as_arrays({v: x[v] for v in form.variables})
    ya = np.asarray(y, dtype=float)
    check_inputs(form, xa, ya)
    rng = np.random.default_rng(seed)
    if starts is None:
        grid = _start_grid(form, max_starts, rng)
    else:
        grid = [np.array([prm.to_opt(s[prm.name]) for prm in form.params]) for s in starts]
    optima = _local_optima(form, xa, ya, grid, delta, max_iter)
    if not optima:
        return FitResult(
            form.name,
            form.formula,
            {p: math.nan for p in form.param_names},
            len(ya),
            len(grid),
            math.inf,
            False,
            math.nan,
            (),
            "failed",
            "no start gave a finite objective",
        )
    best = optima[0]
    bounds = [prm.opt_bounds() for prm in form.params]
    params = _to_params(form, best.x)
    on_bound = _on_bound(form, best.x)
    converged = bool(best.success)
    message = str(best.message)
    if not converged and _no_descent(form, xa, ya, best, delta, seed):
        converged = True
        message += "; accepted: no small step (coordinates, gradient, random) lowers it"
    n_distinct, cond, se_opt, df = _identification(form, xa, ya, best.x)
    underdetermined = n_distinct < len(form.params) + MIN_RESIDUAL_POINTS or not (
        cond <= MAX_CONDITION
    )
    if not converged:
        status = "not_converged"
    elif underdetermined:
        status = "underdetermined"
        message += (
            f"; underdetermined: {n_distinct} distinct design points for "
            f"{len(form.params)} parameters, Jacobian condition {cond:.3g}"
        )
    elif on_bound:
        status = "on_bound"
    else:
        status = "ok"

    se, lo, hi, n_ok, kept = {}, {}, {}, 0, ()
    boot_bound = second_share = math.nan
    if n_boot > 0:
        resamples = bootstrap_indices(len(ya), n_boot, groups, rng)
        # the runner-up: the best optimum that differs from the best fit
        alt = [o.x for o in optima[1:] if np.max(np.abs(o.x - best.x)) > 1e-6][:1]
        refits = _refit_all(form, xa, ya, [best.x, *alt], delta, resamples, n_jobs)
        n_ok = len(refits)
        if refits:
            arr = np.array(
                [
                    [prm.from_opt(t) for prm, t in zip(form.params, r[0], strict=True)]
                    for r in refits
                ]
            )
            boot_bound = float(np.mean([r[1] for r in refits]))
            second_share = float(np.mean([r[2] for r in refits]))
            if status == "ok" and boot_bound > BOOT_BOUND_SHARE:
                status = "boot_on_bound"
                message += f"; {boot_bound:.0%} of bootstrap refits end on a bound"
            tail = 100 * (1 - level) / 2
            if keep_draws:
                kept = tuple(dict(zip(form.param_names, map(float, d), strict=True)) for d in arr)
            for i, name in enumerate(form.param_names):
                se[name] = float(np.std(arr[:, i], ddof=1)) if n_ok > 1 else math.nan
                lo[name] = float(np.percentile(arr[:, i], tail))
                hi[name] = float(np.percentile(arr[:, i], 100 - tail))

    n_held, are = 0, math.nan
    if heldout is not None:
        mask = np.asarray(heldout, dtype=bool)
        n_held = int(mask.sum())
        if 0 < n_held < len(ya) - len(form.params) + 1:
            train = {k: v[~mask] for k, v in xa.items()}
            held = _local_optima(form, train, ya[~mask], grid, delta)
            if held:
                pred = form.predict(
                    {k: v[mask] for k, v in xa.items()}, _to_params(form, held[0].x)
                )
                are = float(np.mean(np.abs(pred - ya[mask]) / ya[mask]))

    return FitResult(
        form=form.name,
        formula=form.formula,
        params=params,
        n_points=len(ya),
        n_starts=len(grid),
        objective=float(best.fun) * delta**2,
        converged=converged,
        grad_norm=float(np.linalg.norm(_projected_grad(best, bounds))),
        on_bound=on_bound,
        status=status,
        message=message,
        n_boot=n_ok,
        se=se,
        ci_low=lo,
        ci_high=hi,
        n_heldout=n_held,
        heldout_are=are,
        draws=kept,
        n_distinct=n_distinct,
        condition=cond,
        boot_on_bound=boot_bound,
        boot_second_start=second_share,
        se_opt=se_opt,
        df_resid=df,
        log_params=tuple(prm.name for prm in form.params if prm.log),
    )
