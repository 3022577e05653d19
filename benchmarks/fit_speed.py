"""Speed of the fitting library against a plain numpy/scipy fit of the same law.

Usage: python benchmarks/fit_speed.py [--jobs N] [--boot B] [--repeats R]

Fits Kumar et al.'s 5-parameter training law to 200 noisy points generated from their
published constants: 64 starting points, then B bootstrap refits (1,000 by default), once
with papergrid.fit and once with a plain reference written the way one would without the
library (one objective function with its analytic gradient in positional form, L-BFGS-B
from the same 64 starts, every bootstrap refit from the best fit, on the same processes).
Both run in this one process, alternately, R times; the script prints every time, the
ratio of medians, and whether the truth lies inside each 95% interval.

The library does more per fit than the reference (the second start for refits that end on
a bound, the identification check, the Wald errors); the ratio says what that costs.
"""

from __future__ import annotations

import argparse
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from itertools import product
from multiprocessing import get_context

import numpy as np
from scipy.optimize import minimize

from papergrid.fit import PRECISION_TRAINING, bootstrap_indices, fit_form

TRUTH = {"A": 4.299e3, "alpha": 0.4965, "B": 1.806e4, "E": 2.7648, "gamma": 2.6745}
DELTA = 1e-3


def data(n: int = 200):
    rng = np.random.default_rng(0)
    x = {
        "N": np.exp(rng.uniform(np.log(3e7), np.log(2.2e8), n)),
        "D": np.exp(rng.uniform(np.log(1.5e9), np.log(2.6e10), n)),
        "P": rng.choice([3.0, 4.0, 5.0, 6.0, 8.0, np.inf], n),
        "k": np.full(n, 1.0),  # weight-only quantisation, as in Kumar's gamma_w fit
    }
    y = PRECISION_TRAINING(x, **TRUTH) * np.exp(rng.normal(0, 0.01, n))
    return x, y


# ---------------------------------------------------------------- the plain reference
# theta = (log A, alpha, log B, log E, gamma), bounds as in PRECISION_TRAINING
BOUNDS = [
    (np.log(1e-3), np.log(1e9)),
    (0.01, 2.0),
    (np.log(1e-3), np.log(1e9)),
    (np.log(1e-3), np.log(1e2)),
    (0.05, 20.0),
]


def ref_objective(theta, logn, logd, p_bits, k, logy):
    la, alpha, lb, le, gamma = theta
    a, b, e_ = np.exp(la), np.exp(lb), np.exp(le)
    ratio = p_bits / gamma
    ex = np.exp(-ratio)
    frac = 1 - ex
    log_neff = logn + k * np.log(frac)
    nt, dt = np.exp(-alpha * log_neff), np.exp(-alpha * logd)
    pred = a * nt + b * dt + e_
    r = np.log(pred) - logy
    hub = np.where(np.abs(r) <= DELTA, 0.5 * r * r, DELTA * (np.abs(r) - 0.5 * DELTA))
    w = np.clip(r, -DELTA, DELTA) / pred
    with np.errstate(invalid="ignore"):  # 0 * inf at unquantised points, masked below
        dneff = np.where(np.isinf(ratio), 0.0, -k * ex * ratio / (frac * gamma))
    g = np.array(
        [
            w @ (a * nt),
            w @ (-a * nt * log_neff - b * dt * logd),
            w @ (b * dt),
            w @ np.full_like(pred, e_),
            w @ (-alpha * a * nt * dneff),
        ]
    )
    s = 1 / DELTA**2
    return hub.sum() * s, g * s


def ref_fit(args, start):
    return minimize(
        ref_objective,
        start,
        args=args,
        jac=True,
        method="L-BFGS-B",
        bounds=BOUNDS,
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 5000, "maxfun": 20000},
    )


def ref_chunk(args, start, resamples):
    # one BLAS thread per worker, as the library's workers use: two workers with two BLAS
    # threads each on two cores oversubscribe them (seen here: 2-3x slower)
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)
    return [ref_fit(tuple(a[i] for a in args), start).x for i in resamples]


def reference(x, y, n_boot: int, jobs: int, starts, resamples):
    args = (np.log(x["N"]), np.log(x["D"]), x["P"], x["k"], np.log(y))
    best = min((ref_fit(args, s) for s in starts), key=lambda r: r.fun)
    chunks = [resamples[i::jobs] for i in range(jobs)]
    with ProcessPoolExecutor(jobs, mp_context=get_context("fork")) as pool:
        draws = [
            d for f in [pool.submit(ref_chunk, args, best.x, c) for c in chunks] for d in f.result()
        ]
    return best, np.array(draws)


def same_draws(n: int, n_boot: int, n_starts: int = 64):
    """The library's start grid and bootstrap resamples, drawn the same way (seed 0), so
    that both fit exactly the same problems."""
    rng = np.random.default_rng(0)
    prms = PRECISION_TRAINING.params
    grid = [
        np.array([p.to_opt(v) for p, v in zip(prms, c, strict=True)])
        for c in product(*(p.starts for p in prms))
    ]
    idx = sorted(rng.choice(len(grid), size=n_starts, replace=False))
    return [grid[i] for i in idx], bootstrap_indices(n, n_boot, None, rng)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--boot", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    x, y = data()
    starts, resamples = same_draws(len(y), args.boot)
    lib_t, ref_t = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        full = fit_form(PRECISION_TRAINING, x, y, max_starts=64, n_boot=args.boot, n_jobs=args.jobs)
        lib_t.append(time.perf_counter() - t)
        t = time.perf_counter()
        best, draws = reference(x, y, args.boot, args.jobs, starts, resamples)
        ref_t.append(time.perf_counter() - t)
    print(
        f"{len(y)} points, 64 starts, {args.boot} bootstrap refits on {args.jobs} processes, "
        f"{args.repeats} alternating repeats"
    )
    print(f"  papergrid.fit: {', '.join(f'{v:.1f}' for v in lib_t)} s")
    print(f"  plain scipy  : {', '.join(f'{v:.1f}' for v in ref_t)} s")
    ratio = statistics.median(lib_t) / statistics.median(ref_t)
    print(
        f"  ratio of medians (library / plain): {ratio:.2f}; status {full.status}; "
        f"{full.boot_second_start:.1%} of refits used the second start, "
        f"{full.boot_on_bound:.1%} ended on a bound"
    )
    tail = 2.5
    ref_params = dict(
        zip(
            ("A", "alpha", "B", "E", "gamma"),
            (np.exp(best.x[0]), best.x[1], np.exp(best.x[2]), np.exp(best.x[3]), best.x[4]),
            strict=True,
        )
    )
    for j, (name, value) in enumerate(TRUTH.items()):
        col = np.exp(draws[:, j]) if name in ("A", "B", "E") else draws[:, j]
        rlo, rhi = np.percentile(col, [tail, 100 - tail])
        inside = full.ci_low[name] <= value <= full.ci_high[name]
        print(
            f"  {name:6s} true {value:<10.4g} fit {full.params[name]:<10.4g} "
            f"95% [{full.ci_low[name]:.4g}, {full.ci_high[name]:.4g}] "
            f"{'in' if inside else 'OUT'}; plain fit {ref_params[name]:<10.4g} "
            f"[{rlo:.4g}, {rhi:.4g}]"
        )


if __name__ == "__main__":
    main()
