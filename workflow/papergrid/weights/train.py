"""Train one grid point of the weights experiment and measure how far its weights moved."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from papergrid.runtime import state_hash
from papergrid.weights.data import Dataset
from papergrid.weights.model import LAYERS, MLP, STAMPED_LAYER
from papergrid.weights.stamp import apply_stamp, letter_mask, mask_auc

OPTIMIZERS = ("sgd", "adam", "adamw")
LR_WIDTH = ("constant", "inverse")

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WeightsRun:
    """Everything one training job needs; built from the rule's params."""

    width: int
    optimizer: str  # the arm's name (weights.optimizers), which ``kind`` trains
    kind: str  # sgd | adam | adamw
    seed: int
    lr: float  # of the input layer, and of every layer when lr_width is constant
    momentum: float  # SGD only
    # "inverse": layers fed by the hidden units (fc2, fc3) train at lr * lr_base_width /
    # width, Adam's rule for those layers in muP (Yang et al. 2022, Tensor Programs V):
    # Adam moves every entry by about lr per step while the initial entries shrink as
    # width^-1/2, so a constant rate moves wide layers relatively more
    lr_width: str
    lr_base_width: int
    # weight decay as a dose: lr * wd * steps, the e-folds by which decay alone would
    # shrink the weights over the run (AdamW's decoupled decay, SGD's L2); Adam's L2 term
    # passes through its normaliser, so for type adam the dose is nominal; 0 disables
    decay_dose: float
    epochs: int
    batch_size: int
    stamp_mode: str
    stamp_letter: str
    stamp_amplitude: float  # added to masked entries when stamp_mode == "add"

    def __post_init__(self):
        if self.kind not in OPTIMIZERS:
            raise ValueError(f"optimizer type must be one of {OPTIMIZERS}, got {self.kind!r}")
        if self.lr_width not in LR_WIDTH:
            raise ValueError(f"lr_width must be one of {LR_WIDTH}, got {self.lr_width!r}")

    def hidden_lr(self) -> float:
        """The rate of fc2 and fc3."""
        if self.lr_width == "inverse":
            return self.lr * self.lr_base_width / self.width
        return self.lr

    def weight_decay(self, steps: int, lr: float | None = None) -> float:
        """The decay coefficient that gives ``decay_dose`` over ``steps`` at rate ``lr`` (the
        input rate by default): each layer gets its own, so every layer receives the dose
        whatever its rate."""
        return self.decay_dose / ((lr or self.lr) * steps) if self.decay_dose else 0.0


@dataclass
class WeightsResult:
    status: str
    curve: list[dict[str, Any]]
    n_params: int
    w_init: np.ndarray  # the stamped hidden-to-hidden matrix at init
    w_final: np.ndarray
    mask: np.ndarray
    wall_seconds: float = 0.0
    init_hash: str = ""  # of the stamped initial weights (papergrid.runtime.state_hash)
    extra: dict = field(default_factory=dict)


def make_optimizer(run: WeightsRun, model: MLP, steps: int) -> torch.optim.Optimizer:
    """The arm's optimizer over ``steps`` steps: fc1 at ``lr``, fc2 and fc3 at the hidden
    rate, each group with the decay that gives it ``decay_dose`` (decay acts as rate x
    coefficient per step, so a group at a smaller rate needs a larger coefficient)."""
    groups = [
        {"params": list(model.fc1.parameters()), "lr": run.lr},
        {"params": [*model.fc2.parameters(), *model.fc3.parameters()], "lr": run.hidden_lr()},
    ]
    for g in groups:
        g["weight_decay"] = run.weight_decay(steps, g["lr"])
    if run.kind == "sgd":
        return torch.optim.SGD(groups, lr=run.lr, momentum=run.momentum)
    if run.kind == "adam":
        return torch.optim.Adam(groups, lr=run.lr)
    return torch.optim.AdamW(groups, lr=run.lr)


@torch.no_grad()
def evaluate(model: MLP, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    logits = model(x)
    loss = F.cross_entropy(logits, y).item()
    acc = (logits.argmax(dim=1) == y).float().mean().item()
    return loss, acc


def relative_deviation(w: torch.Tensor, w0: torch.Tensor) -> float:
    return (torch.linalg.norm(w - w0) / torch.linalg.norm(w0)).item()


def cosine(w: torch.Tensor, w0: torch.Tensor) -> float:
    """Cosine of the angle between W and W0 as vectors: blind to a uniform shrink, which
    moves the relative deviation by itself (weight decay's share of it)."""
    return (torch.sum(w * w0) / (torch.linalg.norm(w) * torch.linalg.norm(w0))).item()


def train_weights(run: WeightsRun, data: Dataset, device: torch.device) -> WeightsResult:
    """Train for ``run.epochs`` epochs, logging metrics at init and after each epoch.

    A non-finite training loss stops the run with status ``diverged``; non-finite
    evaluation metrics at the end give ``failed``.
    """
    torch.manual_seed(run.seed)
    model = MLP(data.n_features, run.width, data.n_classes)
    mask = letter_mask(run.stamp_letter, run.width, run.width)
    with torch.no_grad():
        stamped = apply_stamp(model.fc2.weight.numpy(), mask, run.stamp_mode, run.stamp_amplitude)
        model.fc2.weight.copy_(torch.from_numpy(stamped))
    init_hash = state_hash(model)
    model.to(device)
    init = {name: getattr(model, name).weight.detach().clone() for name in LAYERS}
    steps_total = run.epochs * math.ceil(len(data.y_train) / run.batch_size)
    opt = make_optimizer(run, model, steps_total)

    x_tr = torch.from_numpy(data.x_train).to(device)
    y_tr = torch.from_numpy(data.y_train).to(device)
    x_te = torch.from_numpy(data.x_test).to(device)
    y_te = torch.from_numpy(data.y_test).to(device)
    gen = torch.Generator().manual_seed(run.seed)

    def row(epoch: int, step: int, train_override: float | None = None) -> dict[str, Any]:
        tr_loss, tr_acc = evaluate(model, x_tr, y_tr)
        te_loss, te_acc = evaluate(model, x_te, y_te)
        if train_override is not None:
            tr_loss = train_override
        out = {
            "epoch": epoch,
            "step": step,
            "train_loss": tr_loss,
            "train_acc": tr_acc,
            "test_loss": te_loss,
            "test_acc": te_acc,
        }
        for name in LAYERS:
            w = getattr(model, name).weight
            out[f"dev_{name}"] = relative_deviation(w, init[name])
            out[f"cos_{name}"] = cosine(w, init[name])
            out[f"norm_{name}"] = (torch.linalg.norm(w) / torch.linalg.norm(init[name])).item()
        w = getattr(model, STAMPED_LAYER).weight.detach().cpu().numpy()
        out["mask_auc"] = mask_auc(w, mask, run.stamp_mode) if np.isfinite(w).all() else math.nan
        return out

    t0 = time.perf_counter()
    curve = [row(0, 0)]
    status, step, n = "ok", 0, len(y_tr)
    for epoch in range(1, run.epochs + 1):
        model.train()
        order = torch.randperm(n, generator=gen).to(device)
        for start in range(0, n, run.batch_size):
            idx = order[start : start + run.batch_size]
            loss = F.cross_entropy(model(x_tr[idx]), y_tr[idx])
            step += 1
            if not torch.isfinite(loss):
                status = "diverged"
                break
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        if status == "diverged":
            curve.append(row(epoch, step, train_override=math.nan))
            log.warning("run diverged at epoch %d step %d", epoch, step)
            break
        curve.append(row(epoch, step))
        if epoch % max(1, run.epochs // 10) == 0 or epoch == run.epochs:
            last = curve[-1]
            log.info(
                "epoch %d/%d train_loss %.4f test_acc %.3f dev_fc2 %.4f auc %.3f",
                epoch,
                run.epochs,
                last["train_loss"],
                last["test_acc"],
                last["dev_fc2"],
                last["mask_auc"],
            )
    final = curve[-1]
    if status == "ok" and not all(math.isfinite(final[k]) for k in ("test_loss", "train_loss")):
        status = "failed"
    return WeightsResult(
        status=status,
        curve=curve,
        n_params=model.num_params(),
        w_init=init[STAMPED_LAYER].cpu().numpy(),
        w_final=getattr(model, STAMPED_LAYER).weight.detach().cpu().numpy(),
        mask=mask,
        wall_seconds=time.perf_counter() - t0,
        init_hash=init_hash,
        # the hidden layers' coefficient: the one the claims' layer trains with
        extra={
            "hidden_lr": run.hidden_lr(),
            "weight_decay": run.weight_decay(steps_total, run.hidden_lr()),
        },
    )
