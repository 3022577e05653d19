import numpy as np
import pytest

from papergrid.weights.stamp import GLYPHS, apply_stamp, letter_mask, mask_auc


@pytest.mark.parametrize("letter", sorted(GLYPHS))
@pytest.mark.parametrize("size", [8, 16, 100])
def test_mask_has_the_glyphs_proportion_of_ink(letter, size):
    mask = letter_mask(letter, size, size)
    assert mask.shape == (size, size) and mask.dtype == bool
    ink = np.mean([[c == "#" for c in row] for row in GLYPHS[letter]])
    assert 0 < mask.mean() < 1
    if size >= 100:  # with a 10% margin the glyph covers 0.8^2 of the matrix
        assert mask.mean() == pytest.approx(ink * 0.64, rel=0.1)


def test_unknown_letter_lists_available():
    with pytest.raises(ValueError, match="available"):
        letter_mask("?", 10, 10)


def test_zero_stamp_is_perfectly_visible_at_init_and_erased_by_noise():
    rng = np.random.default_rng(0)
    w = rng.uniform(-0.1, 0.1, (64, 64))
    mask = letter_mask("a", 64, 64)
    stamped = apply_stamp(w, mask, "zero", 0.0)
    assert np.all(stamped[mask] == 0)
    assert mask_auc(stamped, mask, "zero") == pytest.approx(1.0)
    assert mask_auc(rng.uniform(-0.1, 0.1, (64, 64)), mask, "zero") == pytest.approx(0.5, abs=0.05)


def test_add_stamp_scores_by_signed_weight():
    rng = np.random.default_rng(1)
    w = rng.uniform(-0.1, 0.1, (32, 32))
    mask = letter_mask("x", 32, 32)
    stamped = apply_stamp(w, mask, "add", 0.4)
    assert mask_auc(stamped, mask, "add") == pytest.approx(1.0)
    assert mask_auc(apply_stamp(w, mask, "add", -0.4), mask, "add") == pytest.approx(0.0)


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(2)
    w = rng.normal(size=(12, 12))
    mask = letter_mask("p", 12, 12)
    pos, neg = -np.abs(w[mask]), -np.abs(w[~mask])
    pairwise = np.mean(pos[:, None] > neg[None, :])
    assert mask_auc(w, mask, "zero") == pytest.approx(pairwise)


def test_auc_counts_ties_as_one_half():
    # integer weights tie often; the pairwise definition gives a tie half a win
    rng = np.random.default_rng(3)
    w = rng.integers(-3, 4, (20, 20)).astype(float)
    mask = letter_mask("a", 20, 20)
    pos, neg = -np.abs(w[mask]), -np.abs(w[~mask])
    pairwise = np.mean((pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :]))
    assert mask_auc(w, mask, "zero") == pytest.approx(pairwise)
