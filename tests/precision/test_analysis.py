import math

import numpy as np
import pandas as pd

from papergrid.claims import NOT_SUPPORTED, SUPPORTED
from papergrid.fit import PRECISION_TRAINING, PTQ_DEGRADATION, compute_optimal_bits
from papergrid.precision.analysis import claims, fit_table, ptq_points
from papergrid.precision.grid import PTQ_BITS

LAW = {"A": 40.0, "alpha": 0.35, "B": 60.0, "E": 1.3, "gamma": 1.5}
PTQ = {"C_T": 0.02, "gamma_D": 0.4, "gamma_N": 0.3, "gamma_post": 0.8}


def synthetic_runs(robust_factor: float, seed: int = 0) -> pd.DataFrame:
    """Runs drawn from the planted laws; low-precision-trained runs' PTQ degradation is
    the unquantised one times robust_factor."""
    rng = np.random.default_rng(seed)
    rows = []
    for d, n in ((8, 1.6e3), (16, 6.3e3), (33, 2.6e4), (48, 5.5e4)):
        for ratio in (2, 8, 64):
            for bits in (3, 4, 5, 6, 8, math.inf):
                k = 0.0 if math.isinf(bits) else 3.0
                x = {
                    "N": np.array([n]),
                    "D": np.array([n * ratio]),
                    "P": np.array([bits]),
                    "k": np.array([k]),
                }
                loss = float(PRECISION_TRAINING(x, **LAW)[0]) * math.exp(rng.normal(0, 0.001))
                row = {
                    "d_model": d,
                    "tokens_per_param": float(ratio),
                    "train_bits": bits,
                    "n_quantised": int(k),
                    "n_params": int(n),
                    "tokens": int(n * ratio),
                    "status": "ok",
                    "val_loss": loss,
                }
                for b in PTQ_BITS:
                    xp = {"N": np.array([n]), "D": np.array([n * ratio]), "P_post": np.array([b])}
                    delta = float(PTQ_DEGRADATION(xp, **PTQ)[0]) * math.exp(rng.normal(0, 0.02))
                    row[f"val_loss_ptq{b}"] = loss + delta * (
                        1 if math.isinf(bits) else robust_factor
                    )
                rows.append(row)
    return pd.DataFrame(rows)


SETTINGS = {
    "level": 0.95,
    "saturation_bits": 8,
    "robust_train_bits": 6,
    "robust_post_bits": 4,
    "p_star_band": [6.0, 9.0],
}


def test_planted_laws_recovered_and_claims_judged():
    runs = synthetic_runs(robust_factor=0.5)
    fits = fit_table(runs, n_boot=50, level=0.95, n_jobs=1)
    gamma = fits[(fits.law == "training") & (fits.param == "gamma")].iloc[0]
    assert gamma["ci_low"] <= LAW["gamma"] <= gamma["ci_high"]
    g_d = fits[(fits.law == "ptq") & (fits.param == "gamma_D")].iloc[0]
    assert g_d["ci_low"] <= PTQ["gamma_D"] <= g_d["ci_high"]
    found = {c.claim_id: c for c in claims(runs, fits, **SETTINGS)}
    assert found["ptq_grows_with_data"].verdict == SUPPORTED
    assert found["low_precision_training_robust"].verdict == SUPPORTED
    saturate = found["gains_saturate"]
    assert saturate.verdict == SUPPORTED
    # the planted law's own share of the 3-bit-to-full gap closed at 8 bits, per cell
    shares = []
    for _, cell in runs.groupby(["d_model", "tokens_per_param"]):
        exact = {}
        for bits in (3.0, 8.0, math.inf):
            r = cell[cell.train_bits == bits].iloc[0]
            x = {
                "N": np.array([r.n_params]),
                "D": np.array([r.tokens]),
                "P": np.array([bits]),
                "k": np.array([float(r.n_quantised)]),
            }
            exact[bits] = PRECISION_TRAINING(x, **LAW)[0]
        shares.append((exact[3.0] - exact[8.0]) / (exact[3.0] - exact[math.inf]))
    assert saturate.ci_low <= np.mean(shares) <= saturate.ci_high
    p_star = found["compute_optimal_bits"]
    assert p_star.estimate == compute_optimal_bits(gamma["value"], 3)
    assert p_star.ci_low <= compute_optimal_bits(LAW["gamma"], 3) <= p_star.ci_high


def test_robustification_not_supported_when_quantised_training_degrades_more():
    runs = synthetic_runs(robust_factor=2.0, seed=1)
    fits = fit_table(runs, n_boot=20, level=0.95, n_jobs=1)
    found = {c.claim_id: c for c in claims(runs, fits, **SETTINGS)}
    assert found["low_precision_training_robust"].verdict == NOT_SUPPORTED


def test_ptq_points_come_from_unquantised_runs_only():
    pts = ptq_points(synthetic_runs(1.0))
    assert len(pts) == 4 * 3 * len(PTQ_BITS)
    assert (pts["delta"] > 0).all()
