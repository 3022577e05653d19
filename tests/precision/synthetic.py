"""Precision runs tables drawn from planted laws, in the shape the grid writes."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from papergrid.fit import PRECISION_EXCESS, PTQ_DEGRADATION
from papergrid.precision.grid import PTQ_BITS, parse_setting

E = 1.33
UNIGRAM = 3.5
LAW = {"A": 4.0, "alpha": 0.35, "B": 20.0}
PTQ = {"C_T": 0.02, "gamma_D": 0.4, "gamma_N": 0.3, "gamma_post": 0.8}
SIZES = ((8, 1616), (16, 6304))
THREE_SIZES = (*SIZES, (32, 24896))
RATIOS = (16.0, 64.0, 256.0)
JOINT_BITS = (3, 4, 6, 8)
FLOATS = ("e2m1", "e3m2", "e4m3")
MARGINAL_BITS = (2, 3, 4)


def synthetic_runs(
    gamma: dict[str, float] | None = None,
    *,
    seeds: int = 4,
    robust_factor: float = 0.5,
    ptq: dict = PTQ,
    noise: float = 0.002,
    cell_noise: float = 0.02,
    multiply: bool = True,
    rng_seed: int = 0,
    sizes: tuple = SIZES,
    size_misfit: float = 0.0,
) -> pd.DataFrame:
    """A quantised run's loss is its cell's unquantised loss plus Kumar's contrast at the
    group's gamma (k = 3 jointly, 1 alone) and run noise; a cell's own noise (its seed)
    moves every run of the cell together, as a shared initialisation does.
    ``multiply=False`` makes the joint runs cost the largest one-tensor loss only;
    ``size_misfit`` scales the contrasts by (N / N_smallest)^size_misfit, a size
    dependence Kumar's law does not have."""
    g = {"int": 2.0, "float": 1.8, "w": 2.0, "a": 2.0, "kv": 2.0, **(gamma or {})}
    rng = np.random.default_rng(rng_seed)
    rows = []
    for d, n in sizes:
        for ratio in RATIOS:
            for seed in range(seeds):
                tokens = n * ratio
                fp = float(PRECISION_EXCESS({"N": [n], "D": [tokens]}, **LAW)[0]) + E
                fp += cell_noise * rng.standard_normal()
                u = LAW["A"] * n ** -LAW["alpha"]

                def contrast(group, bits, k, u=u, n=n):
                    f = 1 - math.exp(-bits / g[group])
                    misfit = (n / sizes[0][1]) ** size_misfit
                    return misfit * u * (f ** (-k * LAW["alpha"]) - 1)

                settings = ["fp", *(f"int{b}" for b in JOINT_BITS), *FLOATS]
                if d == 8:
                    settings += [f"{t}{b}" for t in ("w", "a", "kv") for b in MARGINAL_BITS]
                for s in settings:
                    p = parse_setting(s)
                    bits, tensors = p["train_bits"], p["tensors"]
                    if s == "fp":
                        loss = fp
                    elif len(tensors) == 1:
                        loss = fp + contrast(s.rstrip("0123456789"), bits, 1)
                    elif p["number_format"] == "float":
                        loss = fp + contrast("float", bits, 3)
                    elif multiply:
                        loss = fp + contrast("int", bits, 3)
                    else:
                        loss = fp + max(contrast(t, bits, 1) for t in ("w", "a", "kv"))
                    if s != "fp":
                        loss += noise * rng.standard_normal()
                    row = {
                        "d_model": d,
                        "tokens_per_param": ratio,
                        "seed": seed,
                        "setting": s,
                        "number_format": p["number_format"],
                        "quantised": "+".join(
                            {"weights": "w", "activations": "a", "kv": "kv"}[t] for t in tensors
                        ),
                        "train_bits": bits,
                        "n_quantised": len(tensors),
                        "n_params": n,
                        "tokens": int(tokens),
                        "status": "ok",
                        "val_loss": loss,
                        "val_floor": E,
                        "val_unigram": UNIGRAM,
                    }
                    for b in PTQ_BITS:
                        xp = {"N": [n], "D": [tokens], "P_post": [b]}
                        delta = float(PTQ_DEGRADATION(xp, **ptq)[0]) * math.exp(rng.normal(0, 0.05))
                        factor = robust_factor if s.startswith("w") else 1.0
                        row[f"val_loss_ptq{b}"] = loss + delta * factor
                    rows.append(row)
    return pd.DataFrame(rows)


SETTINGS = {
    "saturation_bits": 8,
    "robust_train_bits": 4,
    "robust_post_bits": 3,
    "p_star_band": [6.0, 9.0],
    "p_star_float_band": [5.0, 7.0],
    "multiplier_bits": 3,
    "sesoi_p_star_slope": 0.5,
    "sesoi_gamma_d": 0.1,
    "robust_ratio": 0.8,
    "marginal_bits": list(MARGINAL_BITS),
    "train_bits": list(JOINT_BITS),
}
