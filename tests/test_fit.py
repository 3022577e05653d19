import math

import numpy as np
import pytest

from papergrid.fit import (
    CHINCHILLA,
    POWER_LAW,
    PRECISION_CONTRAST,
    PRECISION_EXCESS,
    PRECISION_TRAINING,
    PTQ_DEGRADATION,
    SATURATING_POWER_LAW,
    Form,
    Param,
    fit_form,
    objective_and_gradient,
)

FORMS = {
    "power_law": (POWER_LAW, {"A": 0.8, "k": -0.45}),
    "saturating_power_law": (SATURATING_POWER_LAW, {"L_inf": 0.6, "c": 2.5, "k": 0.7}),
    # Hoffmann et al. (2022) unrounded constants
    "chinchilla": (
        CHINCHILLA,
        {"E": 1.69337368, "A": 406.401018, "alpha": 0.33917084, "B": 410.722827, "beta": 0.2849083},
    ),
    # Kumar et al. (2024) App. K: A, B, alpha = beta, E, gamma_w
    "precision_training": (
        PRECISION_TRAINING,
        {"A": 4.299e3, "alpha": 0.4965, "B": 1.806e4, "E": 2.7648, "gamma": 2.6745},
    ),
    "ptq_degradation": (
        PTQ_DEGRADATION,
        {"C_T": 0.0598, "gamma_D": 0.5068, "gamma_N": 0.3439, "gamma_post": 0.5907},
    ),
    "precision_excess": (PRECISION_EXCESS, {"A": 4.299e3, "alpha": 0.4965, "B": 1.806e4}),
    "precision_contrast": (PRECISION_CONTRAST, {"gamma": 2.6745}),
}


def design(form: Form, rng: np.random.Generator, n: int = 60) -> dict[str, np.ndarray]:
    if form.variables == ("x",):
        return {"x": np.repeat(np.geomspace(1, 300, 6), n // 6)}
    if form.variables == ("N", "D", "P", "k"):  # Kumar's grid: 30M-220M params, to 26B tokens
        grid = np.array(
            np.meshgrid(
                np.geomspace(3e7, 2.2e8, 4),
                np.geomspace(1.5e9, 2.6e10, 5),
                [3.0, 4.0, 5.0, 6.0, 8.0, np.inf],
            )
        )
        out = dict(zip(("N", "D", "P"), grid.reshape(3, -1), strict=True))
        return {**out, "k": np.where(np.arange(out["N"].size) % 2 == 0, 1.0, 3.0)}
    if form.variables == ("u", "alpha", "P", "k"):  # within-cell contrasts, k = 1 and 3
        u, p, k = np.meshgrid(np.geomspace(0.01, 1.0, 4), [2.0, 3.0, 4.0, 6.0, 8.0], [1.0, 3.0])
        return {"u": u.ravel(), "alpha": np.full(u.size, 0.4965), "P": p.ravel(), "k": k.ravel()}
    if form.variables == ("N", "D", "P_post"):
        grid = np.array(
            np.meshgrid(
                np.geomspace(3e7, 2.2e8, 4),
                np.geomspace(1.5e9, 2.6e10, 5),
                [3.0, 4.0, 5.0, 6.0, 8.0],
            )
        )
        return dict(zip(("N", "D", "P_post"), grid.reshape(3, -1), strict=True))
    n_grid = np.geomspace(1e7, 1e10, 6)
    d_grid = np.geomspace(1e9, 1e12, 6)
    nn, dd = np.meshgrid(n_grid, d_grid)
    return {"N": nn.ravel(), "D": dd.ravel()}


@pytest.mark.parametrize("name", FORMS)
def test_gradient_matches_finite_differences(name):
    form, truth = FORMS[name]
    rng = np.random.default_rng(0)
    x = design(form, rng)
    y = form(x, **truth) * np.exp(rng.normal(0, 0.05, size=len(next(iter(x.values())))))
    theta = np.array([p.to_opt(truth[p.name] * 1.1) for p in form.params])
    # infinite P (unquantised runs) must give finite gradients
    assert np.all(np.isfinite(objective_and_gradient(form, x, y, theta, 1e-1)[1]))
    _, grad = objective_and_gradient(form, x, y, theta, delta=1e-1)
    eps = 1e-6
    for i in range(len(theta)):
        up, down = theta.copy(), theta.copy()
        up[i] += eps
        down[i] -= eps
        fd = (
            objective_and_gradient(form, x, y, up, 1e-1)[0]
            - objective_and_gradient(form, x, y, down, 1e-1)[0]
        ) / (2 * eps)
        assert grad[i] == pytest.approx(fd, rel=1e-4, abs=1e-8), form.params[i].name


@pytest.mark.parametrize("name", FORMS)
def test_recovers_planted_parameters_without_noise(name):
    form, truth = FORMS[name]
    x = design(form, np.random.default_rng(1))
    y = form(x, **truth)
    result = fit_form(form, x, y, n_boot=0, max_starts=64)
    assert result.status == "ok", result.message
    for key, value in truth.items():
        assert result.params[key] == pytest.approx(value, rel=0.01), key


@pytest.mark.parametrize("name", ["power_law", "saturating_power_law"])
def test_noisy_truth_inside_bootstrap_interval(name):
    form, truth = FORMS[name]
    rng = np.random.default_rng(2)
    x = design(form, rng, n=120)
    y = form(x, **truth) * np.exp(rng.normal(0, 0.02, size=len(x["x"])))
    result = fit_form(form, x, y, n_boot=300, groups=x["x"], seed=3)
    assert result.n_boot == 300
    for key, value in truth.items():
        assert result.ci_low[key] <= value <= result.ci_high[key], (
            key,
            result.ci_low,
            result.ci_high,
        )
        assert result.se[key] > 0


def test_chinchilla_noisy_truth_inside_interval():
    form, truth = FORMS["chinchilla"]
    rng = np.random.default_rng(4)
    x = design(form, rng)
    x = {k: np.tile(v, 3) for k, v in x.items()}
    y = form(x, **truth) * np.exp(rng.normal(0, 0.003, size=len(x["N"])))
    result = fit_form(form, x, y, n_boot=200, max_starts=64, seed=5)
    assert result.n_starts == 64
    for key in ("E", "alpha", "beta"):
        assert result.ci_low[key] <= truth[key] <= result.ci_high[key], key


def test_parameter_on_bound_is_flagged():
    form = Form(
        name="bounded_power_law",
        formula="y = A * x^k",
        variables=("x",),
        params=(Param("A", 1e-3, 1e3, (1.0,), log=True), Param("k", -0.2, 0.0, (-0.1,))),
        predict=POWER_LAW.predict,
        gradient=POWER_LAW.gradient,
    )
    x = {"x": np.geomspace(1, 100, 10)}
    result = fit_form(form, x, 2.0 * x["x"] ** -0.8, n_boot=0)
    assert "k" in result.on_bound
    assert result.status == "on_bound"
    assert result.rows()[1]["on_bound"] is True


def test_heldout_error_reported_for_extrapolation():
    x = {"x": np.geomspace(1, 1000, 8)}
    y = 3.0 * x["x"] ** -0.5
    result = fit_form(POWER_LAW, x, y, n_boot=0, heldout=x["x"] == x["x"].max())
    assert result.n_heldout == 1
    assert result.heldout_are < 1e-4


def test_rejects_nonpositive_observations():
    with pytest.raises(ValueError, match="finite and positive"):
        fit_form(POWER_LAW, {"x": np.array([1.0, 2.0])}, np.array([1.0, 0.0]), n_boot=0)


def test_rows_are_one_per_parameter_with_labels():
    x = {"x": np.geomspace(1, 100, 10)}
    result = fit_form(POWER_LAW, x, 2 * x["x"] ** -0.3, n_boot=20)
    rows = result.rows(optimizer="sgd")
    assert [r["param"] for r in rows] == ["A", "k"]
    assert all(r["optimizer"] == "sgd" for r in rows)
    assert not math.isnan(rows[1]["ci_low"])


@pytest.mark.parametrize("name", ["precision_training", "ptq_degradation"])
def test_kumar_forms_noisy_truth_inside_interval(name):
    form, truth = FORMS[name]
    rng = np.random.default_rng(6)
    x = {k: np.tile(v, 3) for k, v in design(form, rng).items()}
    y = form(x, **truth) * np.exp(rng.normal(0, 0.01, size=len(x["N"])))
    result = fit_form(form, x, y, n_boot=200, max_starts=64, seed=7)
    assert result.status == "ok"
    for key, value in truth.items():
        assert result.ci_low[key] <= value <= result.ci_high[key], (
            key,
            result.ci_low[key],
            result.ci_high[key],
        )


def test_optimiser_stopped_early_is_reported_not_converged():
    form, truth = FORMS["chinchilla"]
    x = design(form, np.random.default_rng(8))
    result = fit_form(form, x, form(x, **truth), n_boot=0, max_starts=4, max_iter=2)
    assert not result.converged and result.status == "not_converged"
    assert all(row["status"] == "not_converged" for row in result.rows())


def test_compute_optimal_bits_is_interior_only_with_several_quantised_tensors():
    from papergrid.fit import compute_optimal_bits

    assert compute_optimal_bits(2.6745, 1) == 0.0
    p3 = compute_optimal_bits(2.6745, 3)
    # brute force over P of the law at fixed C = N * D * P, optimising N numerically
    truth = FORMS["precision_training"][1]
    bits = np.linspace(2, 16, 141)
    best = []
    for b in bits:
        n = np.geomspace(1e6, 1e11, 4001)
        x = {"N": n, "D": 1e20 / (n * b), "P": np.full_like(n, b), "k": np.full_like(n, 3.0)}
        best.append(PRECISION_TRAINING(x, **truth).min())
    assert p3 == pytest.approx(bits[int(np.argmin(best))], abs=0.15)


@pytest.mark.parametrize("n", [1e4, 1e8])
def test_fixed_size_optimal_bits_minimises_the_law_with_n_fixed(n):
    from papergrid.fit import fixed_size_optimal_bits

    a, b, alpha, gamma, k = 4299.0, 18060.0, 0.4965, 2.0, 3.0
    bits = np.geomspace(0.5, 60, 40001)
    found = []
    for ratio in (16.0, 256.0):
        compute = n * (ratio * n) * 16  # a 16-bit run at this D/N
        f = 1 - np.exp(-bits / gamma)
        loss = a * (n * f**k) ** -alpha + b * (compute / (n * bits)) ** -alpha
        p = fixed_size_optimal_bits(gamma, alpha, k, b / a, ratio)
        assert p == pytest.approx(bits[np.argmin(loss)], rel=1e-3)
        found.append(p)
    assert found[1] > found[0] + 2  # Kumar: with N fixed, P* grows with the data
    assert math.isnan(fixed_size_optimal_bits(-1.0, alpha, k, b / a, 16.0))


def test_too_few_distinct_points_are_underdetermined():
    form, truth = FORMS["precision_training"]
    x = {k: v[:6] for k, v in design(form, np.random.default_rng(9)).items()}
    result = fit_form(form, x, form(x, **truth), n_boot=0, max_starts=8)
    assert result.status == "underdetermined"
    assert result.n_distinct == 6 and "underdetermined" in result.message
    # replicates at the same design points do not help
    rep = {k: np.tile(v, 5) for k, v in x.items()}
    assert fit_form(form, rep, form(rep, **truth), n_boot=0, max_starts=8).n_distinct == 6


def test_unidentified_parameter_is_underdetermined():
    x = {"x": np.full(12, 3.0)}  # A and k cannot be told apart at one x
    y = 2.0 * x["x"] ** -0.5 * np.exp(np.random.default_rng(0).normal(0, 0.01, 12))
    result = fit_form(POWER_LAW, x, y, n_boot=0)
    assert result.status == "underdetermined" and result.n_distinct == 1


def test_bootstrap_refits_on_a_bound_are_counted_and_degrade_the_status():
    # nearly flat data: L_inf is pushed to its lower bound in many resamples
    rng = np.random.default_rng(1)
    x = {"x": np.repeat([1.0, 2.0, 4.0, 8.0, 16.0], 3)}
    y = 1.0 + 0.02 * x["x"] ** -0.3 + rng.normal(0, 0.01, 15)
    result = fit_form(SATURATING_POWER_LAW, x, y, n_boot=100, groups=x["x"])
    assert 0 <= result.boot_on_bound <= 1
    if result.boot_on_bound > 0.05 and result.status not in ("on_bound", "underdetermined"):
        assert result.status == "boot_on_bound"
    assert all(r["boot_on_bound"] == result.boot_on_bound for r in result.rows())


def test_predictors_are_checked_and_bad_rows_named():
    x = {"x": np.array([1.0, 2.0, np.nan, 4.0, -1.0])}
    with pytest.raises(ValueError, match=r"variable 'x' must be finite and positive; rows 2: "):
        fit_form(POWER_LAW, x, np.ones(5), n_boot=0)
    form, truth = FORMS["precision_training"]
    xp = design(form, np.random.default_rng(2))
    xp["P"] = xp["P"].copy()
    xp["P"][3] = np.nan
    with pytest.raises(ValueError, match=r"'P' must be finite or \+inf and positive; rows 3"):
        fit_form(form, xp, np.ones(len(xp["P"])), n_boot=0)


def test_acceptance_of_an_abnormal_stop_looks_beyond_coordinate_steps():
    from types import SimpleNamespace

    from papergrid.fit import _no_descent

    def predict(x, p):
        return np.exp(x["u"] * p["a"] + x["v"] * p["b"])

    def gradient(x, p):
        pred = predict(x, p)
        return {"a": x["u"] * pred, "b": x["v"] * pred}

    form = Form(
        "valley",
        "y = exp(u a + v b)",
        ("u", "v"),
        (Param("a", -5, 5, (0.0,)), Param("b", -5, 5, (0.0,))),
        predict,
        gradient,
    )
    # |a - b| + 0.01 (a + b) + 1 near the origin: every coordinate step goes up, the
    # diagonal (-1, -1) goes down
    x = {"u": np.array([1.0, 0.01]), "v": np.array([-1.0, 0.01])}
    y = np.array([1.0, np.exp(-1.0)])
    theta = np.zeros(2)
    _, grad = objective_and_gradient(form, x, y, theta, 1e-9)
    assert not _no_descent(form, x, y, SimpleNamespace(x=theta, jac=grad), 1e-9)
    best = np.array([-5.0, -5.0])  # the bounded minimum along the valley
    _, grad = objective_and_gradient(form, x, y, best, 1e-9)
    assert _no_descent(form, x, y, SimpleNamespace(x=best, jac=grad), 1e-9)


def test_wald_interval_agrees_with_the_bootstrap_on_a_determined_fit():
    rng = np.random.default_rng(3)
    x = {"x": np.repeat(np.geomspace(1, 300, 8), 6)}
    y = 0.8 * x["x"] ** -0.45 * np.exp(rng.normal(0, 0.02, x["x"].size))
    result = fit_form(POWER_LAW, x, y, n_boot=500, groups=x["x"], seed=4)
    assert result.status == "ok" and result.df_resid == 46
    lo, hi = result.wald("k", 0.025)
    assert lo == pytest.approx(result.ci_low["k"], abs=0.3 * (hi - lo))
    assert hi == pytest.approx(result.ci_high["k"], abs=0.3 * (hi - lo))
    lo_a, _ = result.wald("A", 0.025)
    assert lo_a > 0  # a log parameter's bound stays positive


def test_warm_start_gives_the_same_optimum():
    form, truth = FORMS["saturating_power_law"]
    x = design(form, np.random.default_rng(5))
    y = form(x, **truth)
    cold = fit_form(form, x, y, n_boot=0)
    warm = fit_form(form, x, y, n_boot=0, starts=[cold.params])
    assert warm.n_starts == 1
    for k in truth:
        assert warm.params[k] == pytest.approx(cold.params[k], rel=1e-6)
