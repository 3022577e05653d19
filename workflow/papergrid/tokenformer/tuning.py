"""The peak learning rates of each architecture, chosen on validation loss.

One rate for every architecture favours whichever it suits (REVIEW.md, "Tuned for one
arm only"), and one rate for every shape does too: a rate chosen at the first stage's
size was measured to leave parameter attention's final shape, trained from scratch,
0.15 nats worse than at a third of that rate, which made every growth look cheap. So
each architecture gets two rates, each chosen from ``train.lr_grid`` on the kind of run
that uses it:

- ``growth``: the architecture's function-preserving growth run (:data:`SWEPT`), every
  stage, on the run's schedule; its growth arms (and its first stage) use it;
- ``scratch``: the final shape trained from scratch for as many steps as a growth run;
  its scratch runs (the target's too) use it.

The sweep trains on its own data stream (:data:`~papergrid.tokenformer.grid.TUNING_SEED`)
and is scored on its own validation sequences, so no rate is chosen on a run or sequence
a claim reads. A rate whose run diverged is never chosen. A rate on the grid's edge is
not known to be tuned (a rate past it might be better): while the best rate sits on an
edge, the sweep tries one more rate past it, at the grid's own ratio there, up to
``train.lr_edge_steps`` times per kind of run (the JSON keeps every swept loss).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from typing import Any

from papergrid import runtime
from papergrid.io import write_text
from papergrid.tokenformer.grid import TUNING_SEED, TUNING_VAL_SEED, final_factor, same_steps
from papergrid.tokenformer.jobs import first_stage, grown_run, scratch_run
from papergrid.tokenformer.language import prepare

log = logging.getLogger(__name__)

KINDS = ("growth", "scratch")
# each architecture's growth arm that preserves the function: the one its rate is tuned on
SWEPT = {"pattention": "zero_fixed", "gelu": "gelu_zero", "linear": "plain_zero"}


def choose(losses: Mapping[float, float]) -> float:
    """The rate of the lowest finite loss (the smaller rate on a tie)."""
    finite = {lr: v for lr, v in losses.items() if math.isfinite(v)}
    if not finite:
        raise ValueError(f"every rate of the sweep diverged: {dict(losses)}")
    return min(sorted(finite), key=lambda lr: finite[lr])


def sweep_loss(block: Mapping[str, Any], data, layer: str, kind: str, lr: float, dev) -> float:
    """Final validation loss of one sweep run (NaN if it diverged)."""
    if kind == "growth":
        first = first_stage(block, data, layer, lr, TUNING_SEED, dev)
        _, progress, _ = grown_run(block, data, SWEPT[layer], first, lr, TUNING_SEED, dev)
    else:
        factor, steps = final_factor(block), same_steps(block)
        _, progress = scratch_run(block, data, layer, factor, steps, lr, TUNING_SEED, dev)
    return progress.curve[-1]["val_loss"] if progress.status == "ok" else math.nan


def past_edge(grid: list[float], losses: Mapping[float, float]) -> float | None:
    """The next rate past the swept edge on which the best rate sits, at the grid's own
    ratio there; None when the best rate is inside the swept rates (or only one was swept)."""
    rates = sorted(losses)
    if len(rates) < 2:
        return None
    best = choose(losses)
    if best == rates[0]:
        return float(f"{rates[0] / (grid[1] / grid[0]):.6g}")
    if best == rates[-1]:
        return float(f"{rates[-1] * (grid[-1] / grid[-2]):.6g}")
    return None


def sweep_job(block: Mapping[str, Any], layer: str, device: str, threads: int, output: str) -> None:
    """Write ``{"layer", "growth", "scratch", "losses"}`` as JSON: the rate of each kind
    of run and every swept loss, past-edge rates included; with one rate in the grid it is
    taken without training."""
    grid = [float(x) for x in block["train"]["lr_grid"]]
    edge_steps = int(block["train"].get("lr_edge_steps", 0))
    losses: dict[str, dict[float, float]] = {kind: {} for kind in KINDS}
    if len(grid) > 1:
        runtime.configure(threads, TUNING_SEED)
        dev = runtime.resolve_device(device)
        data = prepare(block["markov"], block["train"]["batch_size"], TUNING_SEED, TUNING_VAL_SEED)
        for kind in KINDS:
            todo = list(grid)
            budget = edge_steps
            while todo:
                lr = todo.pop(0)
                losses[kind][lr] = sweep_loss(block, data, layer, kind, lr, dev)
                log.info("%s %s at lr %g: validation loss %.4f", layer, kind, lr, losses[kind][lr])
                if not todo and budget > 0 and (nxt := past_edge(grid, losses[kind])):
                    log.info("%s %s: the best rate is on the edge; trying %g", layer, kind, nxt)
                    todo.append(nxt)
                    budget -= 1
    body = {
        "layer": layer,
        **{kind: choose(losses[kind]) if losses[kind] else grid[0] for kind in KINDS},
        "losses": {kind: {str(k): v for k, v in sorted(losses[kind].items())} for kind in KINDS},
    }
    write_text(json.dumps(body, indent=1) + "\n", output)


def read_rates(path: str) -> dict[str, float]:
    """``{"growth": rate, "scratch": rate}`` from a sweep's JSON."""
    body = json.loads(open(path).read())
    return {kind: float(body[kind]) for kind in KINDS}
