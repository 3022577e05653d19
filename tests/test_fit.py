import math

import numpy as np
import pytest

from papergrid.fit import (
    CHINCHILLA,
    POWER_LAW,
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
