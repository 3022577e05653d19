import numpy as np
import pytest

from papergrid.lm.data.markov import MarkovSource


@pytest.mark.parametrize("kw", [{}, {"vocab": 16, "order": 3, "branching": 3, "zipf_s": 1.5}])
def test_entropy_rate_matches_monte_carlo(kw):
    src = MarkovSource(**kw)
    nll = -src.log_prob(src.sample(400, 200, seed=11))
    # sequences are independent; per-sequence means give an honest standard error
    per_seq = nll.mean(axis=1)
    se = per_seq.std(ddof=1) / np.sqrt(len(per_seq))
    assert abs(per_seq.mean() - src.entropy_rate) < 4 * se
    assert 0 < src.entropy_rate < np.log(src.vocab)


def test_stationary_distribution_is_stationary():
    src = MarkovSource(vocab=8, order=2, branching=2)
    pi = src.stationary
    assert pi.sum() == pytest.approx(1.0) and (pi > 0).all()
    moved = np.zeros_like(pi)
    for c in range(src.n_contexts):
        for x in range(src.vocab):
            moved[src.next_context(c, x)] += pi[c] * src.table[c, x]
    assert np.allclose(moved, pi, atol=1e-10)


def test_sampling_is_deterministic_and_table_rows_sum_to_one():
    src = MarkovSource()
    assert np.array_equal(src.sample(3, 20, 5), src.sample(3, 20, 5))
    assert not np.array_equal(src.sample(3, 20, 5), src.sample(3, 20, 6))
    assert np.allclose(src.table.sum(axis=1), 1.0)


def test_more_branching_means_more_entropy():
    assert MarkovSource(branching=8).entropy_rate > MarkovSource(branching=2).entropy_rate


def test_rejects_bad_settings():
    with pytest.raises(ValueError, match="smoothing"):
        MarkovSource(smoothing=0.0)
    with pytest.raises(ValueError, match="branching"):
        MarkovSource(vocab=4, branching=5)
