"""Win rates and tables of the adaptive-decoding experiment.

A head's win rate against a baseline is, over the test prompts they share (the same
prompts per seed), the share it wins plus half the share it ties. Its interval is a
two-level bootstrap: seeds resampled, then prompts within each (seed, family), so both the
seed-to-seed and the prompt-to-prompt spread are in it. For 0/1 rewards a win rate w is a
reward difference of 2 (w - 0.5), which is what the claims test on seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from papergrid.contract import read_frame
from papergrid.lpo.grid import CONTRACT, PROMPT_SCHEMA
from papergrid.lpo.tasks import FAMILIES


def run_label(method: str, variant: str, tau: float, decode: str = "argmax") -> str:
    """ "seq lpo" for a head decoded at its most probable temperature (the paper's rule),
    "seq lpo (sampled)" for the same head with its temperature sampled."""
    if method == "fixed":
        return f"fixed {tau:g}"
    if method == "selector":
        return "selector"
    return f"{variant} {method}" + (" (sampled)" if decode == "sample" else "")


def labelled(df: pd.DataFrame) -> pd.DataFrame:
    out = df.copy()
    out["run"] = [
        run_label(m, v, t, d)
        for m, v, t, d in zip(df["method"], df["variant"], df["tau"], df["decode"], strict=True)
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


def chosen_shares(pairs: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Share of each temperature among the chosen and the rejected sides of the
    preference pairs, per head variant and family, every seed's pairs pooled (the paper's
    Fig. 7): of responses for ``seq`` (one temperature each), of tokens for ``tok``.

    ``pairs`` holds each seed's stored data (:func:`papergrid.lpo.jobs.data_job`)."""
    rows = []
    counts: dict[tuple[str, str, str], np.ndarray] = {}
    temps: list[float] = []
    for stored in pairs:
        temps = list(stored["temperatures"])
        for variant, data in stored["variants"].items():
            f = data["features"]
            fam = np.asarray(f.family)
            for side, tau, mask in (("chosen", f.tau_c, f.mask_c), ("rejected", f.tau_r, f.mask_r)):
                tau, mask = tau.numpy(), mask.numpy() > 0
                if variant == "seq":  # one temperature drew the whole response
                    mask = np.zeros_like(mask)
                    mask[:, 0] = True
                for family in FAMILIES:
                    sel = mask & (fam == family)[:, None]
                    key = (variant, family, side)
                    n = np.bincount(tau[sel], minlength=len(temps))
                    counts[key] = counts.get(key, 0) + n
    for (variant, family, side), n in counts.items():
        total = int(n.sum())
        if total == 0:  # every prompt of the family tied: no pairs to show
            continue
        for t, c in zip(temps, n, strict=True):
            rows.append(
                {
                    "variant": variant,
                    "family": family,
                    "side": side,
                    "tau": float(t),
                    "share": c / total,
                    "count": int(c),
                }
            )
    return pd.DataFrame(rows)


def chosen_markdown(shares: pd.DataFrame) -> str:
    """A row per (variant, family, side), a column per temperature (percent)."""
    temps = sorted(shares["tau"].unique())
    lines = [
        "Share (%) of each temperature among the chosen and the rejected sides of the "
        "preference pairs (responses for seq, tokens for tok; every seed pooled). The "
        "likelihood head learns the chosen row alone; LPO learns the contrast of the two.",
        "",
        "| variant | family | side | n | " + " | ".join(f"{t:g}" for t in temps) + " |",
        "|---|---|---|---|" + "---|" * len(temps),
    ]
    for (variant, family, side), part in shares.groupby(["variant", "family", "side"], sort=False):
        by = dict(zip(part["tau"], part["share"], strict=True))
        cells = " | ".join(f"{100 * by.get(t, 0.0):.1f}" for t in temps)
        lines.append(f"| {variant} | {family} | {side} | {int(part['count'].sum())} | {cells} |")
    return "\n".join(lines) + "\n"


def heads_in(runs: pd.DataFrame) -> list[str]:
    """The heads that trained (status ok), then the selector."""
    ok = labelled(runs[(runs["method"] != "fixed") & (runs["status"] == "ok")])
    return list(dict.fromkeys(ok["run"]))


def table_job(
    runs_path: str,
    prompts_path: str,
    pairs_paths: Sequence[str],
    level: float,
    n_boot: int,
    outputs: dict[str, str],
) -> None:
    """Win rates of every head and the selector against every fixed temperature and the
    selector, the reward table, and the chosen and rejected temperatures."""
    import pyarrow as pa
    import torch

    from papergrid.io import write_parquet, write_text

    runs = read_frame(runs_path, CONTRACT.summary_schema())
    prompts = labelled(read_frame(prompts_path, PROMPT_SCHEMA))
    fixed = labelled(runs[runs["method"] == "fixed"]).sort_values("tau")["run"].unique()
    rows = heads_in(runs)
    table = win_rates(prompts, rows, [*fixed, "selector"], level, n_boot)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), outputs["winrates"])
    write_text(win_rate_markdown(table, level), outputs["winrates_md"])
    write_text(reward_markdown(runs), outputs["rewards_md"])
    stored = [torch.load(p, map_location="cpu", weights_only=False) for p in pairs_paths]
    shares = chosen_shares(stored)
    write_parquet(pa.Table.from_pandas(shares, preserve_index=False), outputs["chosen"])
    write_text(chosen_markdown(shares), outputs["chosen_md"])


def aggregate_job(
    summaries: Sequence[str],
    curves: Sequence[str],
    prompt_files: Sequence[str],
    outputs: dict[str, str],
    learned: bool = True,
) -> None:
    """runs.parquet and curves.parquet through the contract, with runs that did not learn
    marked (:mod:`papergrid.lpo.learned`, unless ``learned`` is off), and every test
    prompt's row."""
    import logging

    import pyarrow as pa

    from papergrid.contract import collect
    from papergrid.io import write_parquet
    from papergrid.lpo import learned as rule

    table = collect(summaries, CONTRACT.summary_schema())
    if learned and table.num_rows:
        runs = table.to_pandas()
        marked = rule.mark(runs)
        n = int(((marked["status"] == "not_learned") & (runs["status"] == "ok")).sum())
        if n:
            logging.getLogger(__name__).warning(
                "%d of %d runs did not learn (%s): status not_learned",
                n,
                len(runs),
                rule.describe(),
            )
        table = pa.Table.from_pandas(marked, schema=table.schema, preserve_index=False)
    write_parquet(table, outputs["runs"])
    write_parquet(collect(curves, CONTRACT.curve_schema()), outputs["curves"])
    write_parquet(collect(prompt_files, PROMPT_SCHEMA), outputs["prompts"])
