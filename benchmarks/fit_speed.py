"""Speed of the fitting library on the precision law.

Usage: python benchmarks/fit_speed.py [--jobs N]

Fits Kumar et al.'s 5-parameter training law to 200 noisy points generated from their
published constants, from 64 starting points, plus 1,000 bootstrap refits, and prints
the wall time of each part and whether the truth lies inside each 95% interval.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from papergrid.fit import PRECISION_TRAINING, fit_form

TRUTH = {"A": 4.299e3, "alpha": 0.4965, "B": 1.806e4, "E": 2.7648, "gamma": 2.6745}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    args = ap.parse_args()
    rng = np.random.default_rng(0)
    n = 200
    x = {
        "N": np.exp(rng.uniform(np.log(3e7), np.log(2.2e8), n)),
        "D": np.exp(rng.uniform(np.log(1.5e9), np.log(2.6e10), n)),
        "P": rng.choice([3.0, 4.0, 5.0, 6.0, 8.0, np.inf], n),
        "k": np.full(n, 1.0),  # weight-only quantisation, as in Kumar's gamma_w fit
    }
    y = PRECISION_TRAINING(x, **TRUTH) * np.exp(rng.normal(0, 0.01, n))
    t = time.perf_counter()
    point = fit_form(PRECISION_TRAINING, x, y, max_starts=64, n_boot=0)
    t_point = time.perf_counter() - t
    t = time.perf_counter()
    full = fit_form(PRECISION_TRAINING, x, y, max_starts=64, n_boot=1000, n_jobs=args.jobs)
    t_full = time.perf_counter() - t
    print(
        f"{n} points, {full.n_starts} starts: {t_point:.1f} s; "
        f"plus {full.n_boot} bootstrap refits on {args.jobs} processes: {t_full:.1f} s in all "
        f"(target: 30 s); status {full.status}"
    )
    for name, value in TRUTH.items():
        inside = full.ci_low[name] <= value <= full.ci_high[name]
        print(
            f"  {name:6s} true {value:<10.4g} fit {full.params[name]:<10.4g} "
            f"95% [{full.ci_low[name]:.4g}, {full.ci_high[name]:.4g}] {'in' if inside else 'OUT'}"
        )
    assert point.params == full.params


if __name__ == "__main__":
    main()
