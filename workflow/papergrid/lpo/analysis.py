"""Win rates and tables of the adaptive-decoding experiment.

A head's win rate against a baseline is, over the test prompts they share (the same
prompts per seed), the share it wins plus half the share it ties. Its interval is a
two-level bootstrap: seeds resampled, then prompts within each (seed, family), so both the
seed-to-seed and the prompt-to-prompt spread are in it. For 0/1 rewards a win rate w is a
reward difference of 2 (w - 0.5), which is what the claims test on seeds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from papergrid.contract import read_frame
from papergrid.lpo.grid import CONTRACT, PROMPT_SCHEMA
from papergrid.lpo.tasks import FAMILIES


def run_label(method: str, variant: str, tau: float) -> str:
    if method == "fixed":
        return f"fixed {tau:g}"
    if method == "selector":
        return "selector"
    return f"{variant} {method}"


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["run"] = [
        run_label(m, v, t) for m, v, t in zip(df["method"], df["variant"], df["tau"], strict=True)
    ]
    return out


def reward_cube(prompts: pd.DataFrame, label: str) -> tuple[np.ndarray, np.ndarray]:
    """(seeds, rewards (seeds, families, prompts)) of one run, seeds and prompts in order."""
    part = prompts[prompts["run"] == label]
    seeds = np.array(sorted(part["seed"].unique()))
    n = part.groupby(["seed", "family"]).size()
    if n.nunique() != 1 or len(n) != len(seeds) * len(FAMILIES):
        raise ValueError(f"{label}: every (seed, family) needs the same number of prompts")
    fam_order = {f: i for i, f in enumerate(FAMILIES)}
    part = part.assign(_f=part["family"].map(fam_order)).sort_values(["seed", "_f", "prompt"])
    cube = part["reward"].to_numpy().reshape(len(seeds), len(FAMILIES), int(n.iloc[0]))
    return seeds, cube


def shared_seeds(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]):
    """Both runs' rewards on the seeds they share (each seed has its own test prompts, so
    only the same seed's prompts may be compared)."""
    common = np.intersect1d(a[0], b[0])
    ia = np.searchsorted(a[0], common)
    ib = np.searchsorted(b[0], common)
    return common, a[1][ia], b[1][ib]


def win_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a > b) + 0.5 * (a == b)


def bootstrap_mean(w: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Means of ``w`` (seeds, families, prompts) over two-level resamples."""
    S, F, P = w.shape
    out = np.empty(n_boot)
    for b in range(n_boot):
        s = rng.integers(S, size=S)
        p = rng.integers(P, size=(S, F, P))
        out[b] = np.take_along_axis(w[s], p, axis=2).mean()
    return out


def win_rates(
    prompts: pd.DataFrame,
    rows: Sequence[str],
    cols: Sequence[str],
    level: float = 0.95,
    n_boot: int = 1000,
    seed: int = 0,
) -> pd.DataFrame:
    """Win rate of each run in ``rows`` against each in ``cols`` on the mixed set, with
    its two-level bootstrap interval."""
    prompts = prompts if "run" in prompts else labelled(prompts)
    cubes = {label: reward_cube(prompts, label) for label in {*rows, *cols}}
    rng = np.random.default_rng(seed)
    a = (1 - level) / 2
    out = []
    for r in rows:
        for c in cols:
            if r == c:
                continue
            seeds, ra, rb = shared_seeds(cubes[r], cubes[c])
            if len(seeds) == 0:
                continue
            w = win_matrix(ra, rb)
            draws = bootstrap_mean(w, n_boot, rng)
            out.append(
                {
                    "run": r,
                    "against": c,
                    "seeds": len(seeds),
                    "win_rate": float(w.mean()),
                    "low": float(np.quantile(draws, a)),
                    "high": float(np.quantile(draws, 1 - a)),
                }
            )
    return pd.DataFrame(out)


def win_rate_markdown(table: pd.DataFrame, level: float) -> str:
    """Rows: heads and the selector; columns: what they are compared against."""
    cols = list(dict.fromkeys(table["against"]))
    lines = [
        f"Win rate (%) on the mixed test set against each baseline, with "
        f"{level:.0%} two-level bootstrap intervals (seeds, then prompts).",
        "",
        "| run | " + " | ".join(cols) + " |",
        "|---|" + "---|" * len(cols),
    ]
    most = int(table["seeds"].max()) if len(table) else 0
    for run, part in table.groupby("run", sort=False):
        cells = []
        by = {r.against: r for r in part.itertuples()}
        for c in cols:
            r = by.get(c)
            if r is None:
                cells.append("")
                continue
            few = f" ({r.seeds} seeds)" if r.seeds < most else ""
            cells.append(f"{100 * r.win_rate:.1f} [{100 * r.low:.1f}, {100 * r.high:.1f}]{few}")
        lines.append(f"| {run} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def reward_markdown(runs: pd.DataFrame) -> str:
    """Mean reward and mean temperature per family, over seeds, for every run."""
    ok = labelled(runs[runs["status"] == "ok"])
    cols = [
        "reward_mean",
        *(f"reward_{f}" for f in FAMILIES),
        "tau_mean",
        *(f"tau_{f}" for f in FAMILIES),
        "tau_constrained",
        "tau_free",
    ]
    means = ok.groupby("run", sort=False)[cols].mean()
    head = [
        "run",
        "seeds",
        "mixed",
        *FAMILIES,
        "tau mixed",
        *(f"tau {f}" for f in FAMILIES),
        "tau starts",
        "tau elsewhere",
    ]
    lines = [
        "Mean over seeds of each run's test reward and of the temperature it decoded at "
        "(constraint prompts: at segment starts and elsewhere).",
        "",
        "| " + " | ".join(head) + " |",
        "|---|" + "---|" * (len(head) - 1),
    ]
    seeds = ok.groupby("run", sort=False)["seed"].nunique()
    for run, row in means.iterrows():
        vals = [f"{v:.3f}" if math.isfinite(v) else "" for v in row.to_numpy(dtype=float)]
        lines.append(f"| {run} | {seeds[run]} | " + " | ".join(vals) + " |")
    return "\n".join(lines) + "\n"


def temperature_histogram(prompts: pd.DataFrame, temps: Sequence[float]) -> pd.DataFrame:
    """Share of decoding choices at each temperature, per run and family: of tokens for a
    per-token head, of responses otherwise (one temperature per response)."""
    prompts = prompts if "run" in prompts else labelled(prompts)
    rows = []
    for (run, fam), part in prompts.groupby(["run", "family"], sort=False):
        per_row = np.stack(part["tau_counts"].map(np.asarray).to_numpy()).astype(float)
        if not (part["variant"] == "tok").all():
            per_row = per_row / np.maximum(per_row.sum(axis=1, keepdims=True), 1)
        counts = per_row.sum(axis=0)
        total = counts.sum()
        for t, c in zip(temps, counts, strict=True):
            rows.append({"run": run, "family": fam, "tau": float(t), "share": c / total})
    return pd.DataFrame(rows)


def heads_in(runs: pd.DataFrame) -> list[str]:
    """The heads that trained (status ok), then the selector."""
    ok = labelled(runs[(runs["method"] != "fixed") & (runs["status"] == "ok")])
    return list(dict.fromkeys(ok["run"]))


def table_job(
    runs_path: str,
    prompts_path: str,
    level: float,
    n_boot: int,
    outputs: dict[str, str],
) -> None:
    """Win rates of every head and the selector against every fixed temperature and the
    selector, and the reward table."""
    import pyarrow as pa

    from papergrid.io import write_parquet, write_text

    runs = read_frame(runs_path, CONTRACT.summary_schema())
    prompts = labelled(read_frame(prompts_path, PROMPT_SCHEMA))
    fixed = labelled(runs[runs["method"] == "fixed"]).sort_values("tau")["run"].unique()
    rows = heads_in(runs)
    table = win_rates(prompts, rows, [*fixed, "selector"], level, n_boot)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), outputs["winrates"])
    write_text(win_rate_markdown(table, level), outputs["winrates_md"])
    write_text(reward_markdown(runs), outputs["rewards_md"])


def aggregate_job(
    summaries: Sequence[str],
    curves: Sequence[str],
    prompt_files: Sequence[str],
    outputs: dict[str, str],
) -> None:
    """runs.parquet and curves.parquet through the contract, and every test prompt's row."""
    from papergrid.aggregate import aggregate
    from papergrid.contract import collect
    from papergrid.io import write_parquet

    aggregate(CONTRACT, summaries, curves, outputs["runs"], outputs["curves"])
    write_parquet(collect(prompt_files, PROMPT_SCHEMA), outputs["prompts"])
