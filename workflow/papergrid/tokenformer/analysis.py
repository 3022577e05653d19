"""Compute against loss for every TokenFormer run, and the compute table.

Each run is measured against the scratch runs of the final shape of its own architecture
and seed (the target is trained for parameter attention only) (:mod:`papergrid.tokenformer.grid`):

- the target, trained with a growth run's FLOPs divided by ``analysis.share`` (three
  times, for a third): ``gap_to_target`` is the run's final loss minus the target's, and
  ``compute_ratio`` the FLOPs at which the run first reaches the target's final loss
  (linear between evaluations; NaN where it never does) over the target's FLOPs;
- the scratch run on as many tokens as a growth run: ``same_loss`` is its final loss,
  ``growth_penalty`` a growth run's final loss minus it, and ``same_compute_ratio`` the
  same ratio against it (the paper's "Transformer, 30B" column is the analogue at one
  stage's tokens).

``log10_jump`` is log10 of the run's mean |loss change| at growth, floored at
:data:`JUMP_FLOOR`: whether growth preserved the function is a question of orders of
magnitude (exactly zero, float rounding, or a real change), and on this scale the spread
over seeds does not grow with the jump itself.

FLOPs are counted with one formula for every arm
(:meth:`papergrid.lm.model.GPT.flops_per_token`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from papergrid.contract import read_frame
from papergrid.stats import t_mean
from papergrid.tokenformer.grid import ARMS, CONTRACT, SCRATCH

DERIVED = (
    pa.field("target_loss", pa.float64()),  # final loss of the same seed's target run
    pa.field("target_flops", pa.float64()),
    pa.field("gap_to_target", pa.float64()),
    pa.field("compute_ratio", pa.float64()),
    pa.field("same_loss", pa.float64()),  # final loss of the same-tokens scratch run
    pa.field("same_compute_ratio", pa.float64()),
    # final loss minus the same-tokens scratch run's: what growing cost against training the
    # final shape from the start (the critique's differences in differences read it)
    pa.field("growth_penalty", pa.float64()),
    pa.field("log10_jump", pa.float64()),
)
RUNS_SCHEMA = pa.schema([*CONTRACT.summary_schema(), *DERIVED])
ARM_ORDER = (*ARMS, SCRATCH)
JUMP_FLOOR = 1e-9  # nats: far below float32 rounding of a mean loss (about 1e-7)


def flops_to_reach(curve: pd.DataFrame, target: float) -> float:
    """FLOPs at which the validation loss first reaches ``target`` (NaN: never); a model
    the run held before a growth counts."""
    c = curve.sort_values(["step", "stage"])
    x, y = c["flops"].to_numpy(float), c["val_loss"].to_numpy(float)
    hit = np.flatnonzero(y <= target)
    if not hit.size:
        return math.nan
    i = int(hit[0])
    if i == 0:
        return float(x[0])
    # the loss crosses the target between evaluations i - 1 and i
    w = (y[i - 1] - target) / (y[i - 1] - y[i])
    return float(x[i - 1] + w * (x[i] - x[i - 1]))


def derive(
    runs: pd.DataFrame, curves: pd.DataFrame, target_steps: int, same_steps: int
) -> pd.DataFrame:
    """``runs`` with the :data:`DERIVED` columns (see the module doc)."""
    out = runs.copy()
    for f in DERIVED:
        out[f.name] = math.nan
    jump = runs["abs_jump"].to_numpy(float)
    out["log10_jump"] = np.log10(np.maximum(jump, JUMP_FLOOR))  # NaN stays NaN
    ok = runs[(runs["status"] == "ok") & (runs["arm"] == SCRATCH)]

    def final(steps: int) -> dict:
        rows = ok[ok["steps"] == steps]
        return {(r.layer, r.seed): (r.val_loss, r.flops) for r in rows.itertuples()}

    target, same = final(target_steps), final(same_steps)
    by_run = dict(tuple(curves.groupby("run_id")))
    for i, r in runs.iterrows():
        key = (r["layer"], r["seed"])
        if r["status"] != "ok" or r["run_id"] not in by_run:
            continue
        curve = by_run[r["run_id"]]
        if key in target:
            loss, flops = target[key]
            out.loc[i, ["target_loss", "target_flops"]] = [loss, flops]
            out.loc[i, "gap_to_target"] = r["val_loss"] - loss
            out.loc[i, "compute_ratio"] = flops_to_reach(curve, loss) / flops
        if key in same:
            loss, flops = same[key]
            out.loc[i, "same_loss"] = loss
            if r["arm"] != SCRATCH:
                out.loc[i, "growth_penalty"] = r["val_loss"] - loss
            out.loc[i, "same_compute_ratio"] = flops_to_reach(curve, loss) / flops
    return out


def _geometric(values: np.ndarray, level: float) -> dict[str, float]:
    """Geometric mean with a t interval on the log scale, over the finite values."""
    reached = values[np.isfinite(values)]
    if not reached.size:
        return {"": math.nan, "_low": math.nan, "_high": math.nan, "_reached": 0}
    ev = t_mean(np.log(reached))
    lo, hi = ev.interval(level)
    return {
        "": math.exp(ev.estimate),
        "_low": math.exp(lo) if math.isfinite(lo) else math.nan,
        "_high": math.exp(hi) if math.isfinite(hi) else math.nan,
        "_reached": int(reached.size),
    }


def compute_table(runs: pd.DataFrame, level: float) -> pd.DataFrame:
    """Per arm and architecture (and steps, for scratch runs): the final loss, its gap to
    the target, the growth penalty, the distance to the bigram floor, the compute ratios
    to reach the target's and the same-tokens scratch run's loss (geometric means over
    the seeds that reach them, with the count), and the growth jump; t intervals over
    seeds."""
    rows = []
    ok = runs[runs["status"] == "ok"].assign(
        # below 0: the run predicts better than any model of the current token alone can,
        # so it uses attention between tokens (papergrid.tokenformer.language)
        below_bigram=lambda r: r["val_loss"] - r["bigram_floor"]
    )
    for (arm, layer, steps), g in ok.groupby(["arm", "layer", "steps"], sort=False):
        row = {
            "arm": arm,
            "layer": layer,
            "steps": int(steps),
            "seeds": len(g),
            "lr_peak": float(g["lr_peak"].iloc[0]),
        }
        for col in ("val_loss", "gap_to_target", "growth_penalty", "below_bigram", "abs_jump"):
            ev = t_mean(g[col].to_numpy(float))
            lo, hi = ev.interval(level)
            row.update({col: ev.estimate, f"{col}_low": lo, f"{col}_high": hi})
        for col in ("compute_ratio", "same_compute_ratio"):
            for suffix, v in _geometric(g[col].to_numpy(float), level).items():
                row[col + suffix] = v
        rows.append(row)
    table = pd.DataFrame(rows)
    if table.empty:
        return table
    order = {a: i for i, a in enumerate(ARM_ORDER)}
    return table.sort_values(
        ["layer", "arm", "steps"], key=lambda s: s.map(order) if s.name == "arm" else s
    ).reset_index(drop=True)


def _ci(r: pd.Series, col: str, fmt: str = "{:.4f}") -> str:
    if not math.isfinite(r[col]):
        return "n/a"
    lo, hi = r[f"{col}_low"], r[f"{col}_high"]
    band = f" [{fmt.format(lo)}, {fmt.format(hi)}]" if math.isfinite(lo) else ""
    return fmt.format(r[col]) + band


def compute_markdown(table: pd.DataFrame, share: float, level: float) -> str:
    head = (
        "Compute to reach a scratch run's final loss (same architecture and seed, final "
        "shape), as a share of that run's FLOPs: the target, trained with a growth run's "
        f"FLOPs divided by {share:.4g}, and the scratch run on as many tokens as a growth "
        "run (same). The gap is the final loss minus the target's. Means over seeds with "
        f"{level:.0%} t intervals; compute ratios are geometric means over the seeds that "
        "reach the loss (reached: how many do).\n\n"
        "The growth penalty is the final loss minus the same-tokens scratch run's; minus "
        "bigram is the final loss minus the best loss from the current token alone (below "
        "0: attention between tokens is used). lr: the peak rate the sweep chose for the "
        "architecture.\n\n"
        "| arm | layer | steps | seeds | lr | final val loss | gap to target | growth penalty "
        "| minus bigram | reached target | compute ratio | reached same | compute ratio same "
        "| mean abs jump |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    )
    lines = [
        f"| {r.arm} | {r.layer} | {r.steps} | {r.seeds} | {r.lr_peak:.3g} | "
        f"{_ci(r, 'val_loss')} | {_ci(r, 'gap_to_target')} | {_ci(r, 'growth_penalty')} | "
        f"{_ci(r, 'below_bigram')} | {r.compute_ratio_reached}/{r.seeds} | "
        f"{_ci(r, 'compute_ratio', '{:.3f}')} | {r.same_compute_ratio_reached}/{r.seeds} | "
        f"{_ci(r, 'same_compute_ratio', '{:.3f}')} | {_ci(r, 'abs_jump', '{:.2e}')} |"
        for _, r in table.iterrows()
    ]
    return head + "\n".join(lines) + "\n"


def aggregate_job(
    summaries: Sequence[str],
    curves: Sequence[str],
    target_steps: int,
    same_steps: int,
    outputs: dict[str, str],
    vocab: int | None = None,
) -> None:
    """runs.parquet (the summaries with the derived columns, runs that did not learn
    marked ``not_learned`` when ``vocab`` is given) and curves.parquet."""
    from papergrid.aggregate import with_learned
    from papergrid.contract import collect
    from papergrid.io import write_parquet
    from papergrid.tokenformer.learned import learned_rule

    runs = collect(summaries, CONTRACT.summary_schema()).to_pandas()
    curve_table = collect(curves, CONTRACT.curve_schema())
    derived = derive(runs, curve_table.to_pandas(), target_steps, same_steps)
    table = pa.Table.from_pandas(derived, schema=RUNS_SCHEMA, preserve_index=False)
    if vocab and len(derived):
        entropy = float(derived["entropy_floor"].median())
        table = with_learned(table, learned_rule(vocab, entropy))
    write_parquet(table, outputs["runs"])
    write_parquet(curve_table, outputs["curves"])


def table_job(runs_path: str, share: float, level: float, outputs: dict[str, str]) -> None:
    from papergrid.io import write_parquet, write_text

    table = compute_table(read_frame(runs_path, RUNS_SCHEMA), level)
    write_parquet(pa.Table.from_pandas(table, preserve_index=False), outputs["compute"])
    write_text(compute_markdown(table, share, level), outputs["compute_md"])
