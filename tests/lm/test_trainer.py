import math
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
import torch

from papergrid.lm.batches import PairBatches, StreamBatches, pad_pairs
from papergrid.lm.data.markov import MarkovSource
from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.trainer import TrainConfig, lr_at, make_optimizer, train

CFG = GPTConfig(vocab_size=16, block_size=32, n_layer=1, d_model=16, n_head=2, d_ff=32)


def setup(seed=0, **over):
    torch.manual_seed(seed)
    data = MarkovSource(vocab=16, order=1, branching=2).sample(64, 33, seed=1)
    val = torch.from_numpy(data[:8])

    def evaluate(model):
        return {"val_loss": model(val[:, :-1], val[:, 1:])[1].item()}

    cfg = TrainConfig(
        **{"steps": 30, "batch_size": 8, "lr": 3e-3, "warmup_steps": 5, "eval_every": 10, **over}
    )
    return GPT(CFG), cfg, StreamBatches(data, 8, seed), evaluate


def test_lr_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(steps=100, batch_size=1, lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1)
    assert lr_at(cfg, 9) == pytest.approx(1.0)
    assert lr_at(cfg, 55) == pytest.approx(0.55)
    assert lr_at(cfg, 100) == pytest.approx(0.1)
    assert all(lr_at(cfg, s) >= lr_at(cfg, s + 1) for s in range(10, 100))


def test_trains_logs_tokens_and_flops_and_is_deterministic():
    runs = [train(*setup(), device=torch.device("cpu")) for _ in range(2)]
    a, b = runs
    assert a.status == "ok" and a.curve == b.curve
    assert [r["step"] for r in a.curve] == [0, 10, 20, 30]
    assert a.curve[-1]["val_loss"] < a.curve[0]["val_loss"]
    assert a.tokens == 30 * 8 * 32 == a.curve[-1]["tokens"]
    assert a.flops == pytest.approx(a.tokens * GPT(CFG).flops_per_token(32))
    other = train(*setup(seed=1), device=torch.device("cpu"))
    assert other.curve[-1]["val_loss"] != a.curve[-1]["val_loss"]


def test_non_finite_loss_stops_with_status_diverged():
    result = train(*setup(lr=1e30, warmup_steps=0, grad_clip=0.0), device=torch.device("cpu"))
    assert result.status == "diverged"
    assert result.steps_run < 30 and math.isnan(result.curve[-1]["train_loss"])


def test_pair_batches_count_response_tokens_only():
    batch = pad_pairs([([1, 2, 3], [4, 5]), ([1], [6, 7, 8])], pad_id=0)
    # sequence 1: 1 2 3 4 5 -> targets 2 3 4 5, response targets 4 5
    assert batch.x.tolist()[0] == [1, 2, 3, 4] and batch.y.tolist()[0] == [2, 3, 4, 5]
    assert batch.mask.tolist()[0] == [0, 0, 1, 1]
    assert batch.mask.tolist()[1] == [1, 1, 1, 0]
    pb = PairBatches([([1], [2, 3])] * 5, batch_size=2, seed=0, pad_id=0)
    assert torch.equal(pb.get(4).x, pb.get(4).x)


RUNNER = textwrap.dedent(
    """
    import json, sys, time, torch
    from tests.lm.test_trainer import setup
    from papergrid.lm.trainer import train
    torch.set_num_threads(1)
    ckpt, out, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
    model, cfg, batches, evaluate = setup(steps=60, checkpoint_every=20, eval_every=10)

    class Slow:
        def get(self, step):
            time.sleep(slow)
            return batches.get(step)

    res = train(model, cfg, Slow(), evaluate, torch.device("cpu"), checkpoint=ckpt or None)
    json.dump({"curve": res.curve, "resumed_from": res.resumed_from}, open(out, "w"))
    """
)


def run_runner(tmp_path, ckpt, out, slow):
    script = tmp_path / "runner.py"
    script.write_text(RUNNER)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), *sys.path])}
    return subprocess.Popen(
        [sys.executable, str(script), str(ckpt), str(out), str(slow)], env=env, cwd=os.getcwd()
    )


def test_sigkill_then_resume_equals_uninterrupted(tmp_path):
    import json

    ckpt = tmp_path / "ckpt.pt"
    killed = run_runner(tmp_path, ckpt, tmp_path / "killed.json", slow=0.1)
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline and killed.poll() is None:
        time.sleep(0.05)
    assert ckpt.exists() and killed.poll() is None, "no checkpoint before the run ended"
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert not (tmp_path / "killed.json").exists()
    resumed = run_runner(tmp_path, ckpt, tmp_path / "resumed.json", slow=0.0)
    straight = run_runner(tmp_path, "", tmp_path / "straight.json", slow=0.0)
    assert resumed.wait() == 0 and straight.wait() == 0
    a = json.loads((tmp_path / "resumed.json").read_text())
    b = json.loads((tmp_path / "straight.json").read_text())
    assert a["resumed_from"] in (20, 40) and b["resumed_from"] == 0
    assert a["curve"] == b["curve"]


def test_checkpoint_of_another_config_is_not_resumed(tmp_path):
    ckpt = tmp_path / "c.pt"
    train(*setup(steps=20, checkpoint_every=10), device=torch.device("cpu"), checkpoint=ckpt)
    res = train(
        *setup(steps=20, lr=1e-3, checkpoint_every=10), device=torch.device("cpu"), checkpoint=ckpt
    )
    assert res.resumed_from == 0


def test_bf16_autocast_runs():
    res = train(*setup(steps=10, dtype="bf16"), device=torch.device("cpu"))
    assert res.status == "ok" and np.isfinite(res.curve[-1]["val_loss"])


def test_markov_stream_batches_are_fresh_and_a_function_of_the_step():
    from papergrid.lm.batches import MarkovStreamBatches

    src = MarkovSource(vocab=8, order=1, branching=2)
    stream = MarkovStreamBatches(src, seq_len=12, batch_size=4, seed=3)
    a, b = stream.get(5), stream.get(5)
    assert torch.equal(a.x, b.x) and a.x.shape == (4, 12)
    assert torch.equal(a.x[:, 1:], a.y[:, :-1])
    assert not torch.equal(stream.get(6).x, a.x)


def _grads(model, batch, reduction, accum):
    """The gradient one trainer step would take, from a copy of ``model``."""
    from papergrid.lm.batches import micro_batches

    m = GPT(model.cfg)
    m.load_state_dict(model.state_dict())
    for micro in micro_batches(batch, accum):
        _, loss = m(micro.x, micro.y, loss_mask=micro.mask, reduction=reduction)
        (loss if reduction == "sum" else loss / accum).backward()
    return torch.cat([p.grad.flatten() for p in m.parameters()])


def test_accumulation_weights_tokens_under_sum_and_micro_batches_under_mean():
    from papergrid.lm.batches import micro_batches

    torch.manual_seed(0)
    model = GPT(CFG)
    # two short responses and two long ones: the micro-batches hold unequal token counts
    pairs = [([1, 2], [3]), ([1, 4], [5]), ([2, 3], [4, 5, 6, 7, 8]), ([2, 5], [6, 7, 8, 9, 10])]
    batch = pad_pairs(pairs, 0)
    micro = micro_batches(batch, 2)
    assert [int(m.mask.sum()) for m in micro] == [2, 10]
    assert micro[0].x.shape[1] < batch.x.shape[1]  # trimmed to its own last target
    # sum: accumulation changes nothing; every token counts once
    assert torch.allclose(_grads(model, batch, "sum", 2), _grads(model, batch, "sum", 1), atol=1e-6)
    # mean: each micro-batch's mean counts equally, so the 2 short tokens weigh 5x more
    by_hand = 0.5 * (_grads(model, micro[0], "mean", 1) + _grads(model, micro[1], "mean", 1))
    assert torch.allclose(_grads(model, batch, "mean", 2), by_hand, atol=1e-6)
    assert not torch.allclose(
        _grads(model, batch, "mean", 2), _grads(model, batch, "mean", 1), atol=1e-4
    )


def test_training_with_accumulation_runs_and_counts_every_token():
    result = train(*setup(grad_accum=4), device=torch.device("cpu"))
    assert result.status == "ok" and result.tokens == 30 * 8 * 32
    with pytest.raises(ValueError, match="grad_accum"):
        TrainConfig(steps=1, batch_size=2, lr=1e-3, warmup_steps=0, grad_accum=3)


def test_left_out_pairs_change_nothing_else_in_a_batch():
    pairs = [([1], [2, 3]), ([1], [4]), ([2], [5, 6]), ([3], [7])]
    keep = [True, False, True, True]
    full, part = PairBatches(pairs, 6, 0, 0), PairBatches(pairs, 6, 0, 0, keep=keep)

    def sequences(batch):
        out = []
        for x, y, m in zip(batch.x.tolist(), batch.y.tolist(), batch.mask.tolist(), strict=True):
            n = max(i for i, v in enumerate(m) if v) + 1
            out.append(tuple(x[:n] + [y[n - 1]]))
        return out

    for step in range(4):
        kept = [s for s in sequences(full.get(step)) if s != (1, 4)]
        assert sequences(part.get(step)) == kept
    with pytest.raises(ValueError, match="every pair is left out"):
        PairBatches(pairs, 2, 0, 0, keep=[False] * 4)


def test_the_grouped_optimizer_updates_exactly_as_the_per_tensor_one():
    torch.manual_seed(0)
    shape = {"n_layer": 3, "d_model": 8, "n_head": 2, "d_ff": 4}
    models = [GPT(GPTConfig(vocab_size=11, block_size=8, **shape)) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    start = {k: t.clone() for k, t in models[0].state_dict().items()}
    cfg = TrainConfig(steps=6, batch_size=4, lr=0.01, warmup_steps=1, eval_every=6)
    params = list(models[1].parameters())
    per_tensor = torch.optim.AdamW(
        [
            {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
            {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
        ],
        lr=cfg.lr,
        betas=(cfg.beta1, cfg.beta2),
        foreach=False,
    )
    grouped = make_optimizer(models[0], cfg)
    x = torch.randint(0, 11, (4, 8))
    for _ in range(6):
        for model, opt in zip(models, (grouped, per_tensor), strict=True):
            opt.zero_grad(set_to_none=True)
            _, loss = model(x[:, :-1], x[:, 1:])
            loss.backward()
            opt.step()
    a, b = (m.state_dict() for m in models)
    assert grouped.defaults["foreach"]
    assert not torch.equal(a["wte.weight"], start["wte.weight"])  # the weights moved
    assert all(torch.equal(a[k], b[k]) for k in a)
