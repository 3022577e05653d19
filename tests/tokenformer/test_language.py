import numpy as np
import pytest

from papergrid.lm.data.markov import MarkovSource
from papergrid.tokenformer.language import PermutedSource, bigram_entropy, prepare, source

CFG = {
    "structure": "permuted",
    "vocab": 8,
    "order": 2,
    "branching": 3,
    "zipf_s": 2.0,
    "smoothing": 0.01,
    "table_seed": 0,
    "seq_len": 12,
    "n_val": 5,
}


def test_the_last_token_sets_the_successors_and_the_one_before_their_order():
    src = source(CFG)
    assert isinstance(src, PermutedSource)
    table = src.table.reshape(8, 8, 8)  # (token before, last token, next)
    np.testing.assert_allclose(table.sum(axis=2), 1.0)
    for last in range(8):
        likely = [set(np.flatnonzero(table[b, last] > 0.01)) for b in range(8)]
        assert len(likely[0]) == 3 and all(s == likely[0] for s in likely)
        # the order differs with the token before: not one row for every context
        assert len({tuple(np.round(table[b, last], 9)) for b in range(8)}) > 1


def test_the_bigram_floor_is_the_loss_of_the_best_current_token_predictor():
    src = source(CFG)
    tokens = src.sample(4000, 40, seed=1)
    a, b = tokens[:, :-1].ravel(), tokens[:, 1:].ravel()
    counts = np.zeros((8, 8))
    np.add.at(counts, (a, b), 1)
    cond = counts / counts.sum(axis=1, keepdims=True)
    empirical = -np.log(cond[a, b]).mean()
    assert bigram_entropy(src) == pytest.approx(empirical, abs=0.01)
    assert bigram_entropy(src) > src.entropy_rate + 0.2  # attention has something to win


def test_for_an_order_one_chain_the_bigram_floor_is_the_entropy_rate():
    src = MarkovSource(8, 1, 3, 1.0, 0.01, seed=0)
    assert bigram_entropy(src) == pytest.approx(src.entropy_rate, rel=1e-9)


def test_prepare_keeps_the_validation_set_apart_from_the_sweep_s():
    a = prepare(CFG, 2, seed=0)
    b = prepare(CFG, 2, seed=5)
    c = prepare(CFG, 2, seed=0, val_seed=3)
    assert a.meta["bigram_floor"] > a.meta["entropy_floor"]
    assert not np.array_equal(a.batches.get(0).x, b.batches.get(0).x)

    class Uniform:
        def parameters(self):
            import torch

            yield torch.zeros(1)

        def __call__(self, x, y, loss_mask):
            import torch

            return None, (loss_mask * 0 + np.log(8)).mean() + 0 * torch.zeros(1).sum()

    assert a.evaluate(Uniform())["val_loss"] == pytest.approx(np.log(8))
    assert a.block_size == 12 and c.meta == a.meta
