"""Growing a trained model into a larger shape, and curves that continue across growth.

:func:`grow` maps a trained :class:`~papergrid.lm.model.GPT` onto a larger configuration
that differs only in its counts of hidden units or parameter tokens (``d_ff``, and
``attn_tokens`` for parameter attention): every trained weight is copied into the leading
rows (or columns) of its larger tensor, and the new part is set by the growth mode:

- ``new_keys="zero"``: the new key tokens of a parameter attention, or the new input rows
  of a feed-forward block, are zero and the new value tokens (output columns) keep the
  larger model's random initialisation. A zero score passes GeLU as 0, so the new units
  add nothing to the output, while their keys still get gradient through the values.
- ``new_keys="random"``: every new weight keeps the larger model's random initialisation
  (TokenFormer's headline runs, Sec 4.1).
- ``new_keys="net2net"`` (standard feed-forward blocks only): Net2WiderNet (Chen et al.
  2016), the baseline of TokenFormer's Table 8. Each new hidden unit copies the input row
  of an old unit drawn at random, and every copy of a unit (the old one included) gets a
  share of its output column; the shares are a random split of 1 rather than equal, so
  the function is preserved exactly (the copies' activations are equal) while the copies
  get different gradients and can part (with equal shares they would stay copies).
- ``keep_scale``: parameter attention keeps the Theta scale of the model it grew from
  (App. B: with zero keys the function is then unchanged), or recomputes it from the new
  token count as the official code does (the old scores are then rescaled).

:func:`continue_curve` appends a stage's curve to the curve so far, with its steps, tokens
and FLOPs counted on from where the previous stage ended.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, replace
from typing import Any

import torch

from papergrid.lm.config import GPTConfig
from papergrid.lm.model import GPT

__all__ = ["GROWABLE", "NEW_KEYS", "carry_adam_state", "continue_curve", "grow", "grown_config"]

NEW_KEYS = ("zero", "random", "net2net")
# the shape fields growth may change: hidden units / parameter tokens
GROWABLE = ("d_ff", "attn_tokens")
# the tensors whose new rows are "keys" (their scores feed the nonlinearity)
_KEY_SUFFIXES = (".key", "mlp.fc.weight")
COUNTED = ("step", "tokens", "flops")  # curve columns that continue across stages


def grown_config(cfg: GPTConfig, **counts: int) -> GPTConfig:
    """``cfg`` with larger ``d_ff`` and/or ``attn_tokens``; nothing else may change."""
    for name, value in counts.items():
        if name not in GROWABLE:
            raise ValueError(f"growth changes only {GROWABLE}, not {name!r}")
        if value < getattr(cfg, name):
            raise ValueError(f"growth cannot shrink {name} from {getattr(cfg, name)} to {value}")
    return replace(cfg, **counts)


def _check_shapes(old: GPTConfig, new: GPTConfig) -> None:
    a, b = asdict(old), asdict(new)
    changed = {k for k in a if a[k] != b[k]}
    if changed - set(GROWABLE):
        raise ValueError(f"growth changes only {GROWABLE}; these differ: {sorted(changed)}")
    for k in changed:
        if b[k] < a[k]:
            raise ValueError(f"growth cannot shrink {k} from {a[k]} to {b[k]}")


def grow(
    model: GPT,
    new_cfg: GPTConfig,
    *,
    new_keys: str,
    keep_scale: bool,
    seed: int,
    build: Callable[[GPTConfig], GPT] = GPT,
) -> GPT:
    """A new model of shape ``new_cfg`` that holds ``model``'s weights (see module doc).

    ``seed`` draws the random part of the new weights (the larger model's own init);
    ``build`` makes the larger model (a variant of GPT must grow into the same variant)."""
    if new_keys not in NEW_KEYS:
        raise ValueError(f"new_keys must be one of {NEW_KEYS}, got {new_keys!r}")
    _check_shapes(model.cfg, new_cfg)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        grown = build(new_cfg)
    old_state = model.state_dict()
    state = grown.state_dict()
    for name, old in old_state.items():
        new = state[name]
        if name.endswith("scale_tokens"):
            state[name] = old.clone() if keep_scale else new
            continue
        if new.shape == old.shape:
            state[name] = old.clone()
            continue
        grew = [i for i, (a, b) in enumerate(zip(old.shape, new.shape, strict=True)) if a != b]
        if len(grew) != 1:
            raise ValueError(f"{name}: cannot grow {tuple(old.shape)} into {tuple(new.shape)}")
        axis = grew[0]
        out = new.clone()
        if new_keys == "zero" and name.endswith(_KEY_SUFFIXES):
            out.narrow(axis, old.size(axis), new.size(axis) - old.size(axis)).zero_()
        out.narrow(axis, 0, old.size(axis)).copy_(old)
        state[name] = out
    if new_keys == "net2net":
        _net2net(old_state, state, seed)
    grown.load_state_dict(state)
    return grown.to(next(model.parameters()).device)


def _net2net(old: Mapping[str, torch.Tensor], state: dict[str, torch.Tensor], seed: int) -> None:
    """Net2WiderNet on every feed-forward block of ``state`` (see the module doc)."""
    if any(name.endswith(".key") for name in old):
        raise ValueError("net2net growth widens standard feed-forward blocks only")
    gen = torch.Generator().manual_seed(seed)
    for name in (n for n in old if n.endswith("mlp.fc.weight")):
        proj = name.replace("mlp.fc.weight", "mlp.proj.weight")
        fc_old, proj_old = old[name], old[proj]  # (m, d), (d, m)
        m, width = fc_old.size(0), state[name].size(0)
        if width == m:
            continue
        source = torch.cat([torch.arange(m), torch.randint(0, m, (width - m,), generator=gen)])
        # a random split of 1 over each unit's copies: exponential draws normalised per unit
        draw = -torch.log(torch.rand(width, generator=gen, dtype=fc_old.dtype))
        total = torch.zeros(m, dtype=fc_old.dtype).index_add_(0, source, draw)
        share = draw / total[source]
        state[name] = fc_old[source].clone()
        state[proj] = proj_old[:, source] * share


def carry_adam_state(
    old: torch.nn.Module,
    old_opt: torch.optim.Optimizer,
    new: torch.nn.Module,
    new_opt: torch.optim.Optimizer,
) -> None:
    """Give ``new_opt`` (an Adam-family optimizer over the grown model ``new``) the state
    ``old_opt`` held for the grown-from model ``old``: each tensor's moments are copied
    into the leading rows (or columns) of the larger one, where :func:`grow` copied its
    weights, and are zero for the new rows, as a fresh optimizer's are. The step count is
    the tensor's own, so the bias correction of the old entries goes on where it was.
    Parameters are matched by name."""
    new_params = dict(new.named_parameters())
    for name, p in old.named_parameters():
        state = old_opt.state.get(p)
        if not state:
            continue
        q = new_params[name]
        carried = {}
        for key, value in state.items():
            if torch.is_tensor(value) and value.shape == p.shape:
                out = torch.zeros_like(q)
                out[tuple(slice(0, n) for n in p.shape)] = value
                carried[key] = out
            else:  # the step count
                carried[key] = value.clone() if torch.is_tensor(value) else value
        new_opt.state[q] = carried


def continue_curve(
    so_far: Sequence[Mapping[str, Any]], stage: Sequence[Mapping[str, Any]], stage_index: int
) -> list[dict[str, Any]]:
    """``so_far`` followed by ``stage`` (a curve that starts at step 0 of its own stage),
    its steps, tokens and FLOPs offset by where ``so_far`` ended; every row of ``stage``
    gets ``stage`` = ``stage_index``. The stage's first row (evaluated before it trains)
    sits at the same step, tokens and FLOPs as the last row before it: the two differ
    only by the growth between them."""
    end = {k: so_far[-1][k] for k in COUNTED} if so_far else dict.fromkeys(COUNTED, 0)
    rows = [dict(r) for r in so_far]
    for row in stage:
        rows.append({**row, **{k: end[k] + row[k] for k in COUNTED}, "stage": stage_index})
    return rows
