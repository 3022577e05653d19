import math

import numpy as np
import pytest

from papergrid.lm.data.dyck import DyckSource


def replay_logp(src: DyckSource, seq: np.ndarray) -> np.ndarray:
    """Each token's probability re-derived from the tokens alone, checking they are legal."""
    stack: list[int] = []
    out = []
    for tok in seq:
        kind, opens = int(tok) // 2, int(tok) % 2 == 0
        if not stack:
            assert opens, "a close on an empty stack"
            p = 1 / src.k
        elif len(stack) >= src.max_depth:
            assert not opens, "an open past max_depth"
            p = 1.0
        else:
            p = src.p_open / src.k if opens else 1 - src.p_open
        if opens:
            stack.append(kind)
        else:
            assert stack.pop() == kind, "a close that does not match the top"
        out.append(math.log(p))
    return np.array(out)


def test_sequences_are_legal_and_log_probabilities_exact():
    src = DyckSource(k=3, p_open=0.4, max_depth=3)
    tokens, logp = src.sample(50, 40, seed=7)
    assert tokens.shape == logp.shape == (50, 40)
    assert tokens.min() >= 0 and tokens.max() < src.vocab
    for seq, lp in zip(tokens, logp, strict=True):
        np.testing.assert_allclose(lp, replay_logp(src, seq))


def test_moves_follow_the_stated_probabilities():
    src = DyckSource(k=4, p_open=0.3, max_depth=50)
    tokens, logp = src.sample(400, 30, seed=1)
    free = logp[:, 1:] != -math.log(src.k)  # both moves allowed (stack not empty)
    opened = tokens[:, 1:] % 2 == 0
    assert opened[free].mean() == pytest.approx(0.3, abs=0.02)
    types = tokens[:, 1:][opened] // 2
    assert np.bincount(types, minlength=4) / types.size == pytest.approx([0.25] * 4, abs=0.02)


def test_floor_is_below_the_uniform_loss_and_sampling_is_seeded():
    src = DyckSource()
    a, la = src.sample(20, 16, seed=3)
    b, _ = src.sample(20, 16, seed=3)
    np.testing.assert_array_equal(a, b)
    assert -la.mean() < math.log(src.vocab)
    with pytest.raises(ValueError, match="p_open"):
        DyckSource(p_open=1.0)
