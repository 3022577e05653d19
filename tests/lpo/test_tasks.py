import numpy as np
import pytest

from papergrid.lpo.tasks import FAMILIES, Suite

CFG = {
    "exact": {"skill": "sort", "size": 4, "noise": 0.3},
    "novel": {"topics": 3, "slots": 3, "options": 4, "zipf_s": 1.2, "tags": 20},
    "constraint": {"segments": 3, "start_p": [0.6] * 6, "zipf_s": 1.0, "tags": 20},
}
SUITE = Suite(CFG)


def test_exact_reward_is_the_task_suites_verifier():
    p = SUITE.prompts("exact", 5, seed=0)[0]
    assert SUITE.reward(p, p.reference) == 1.0
    assert SUITE.reward(p, p.reference + "1") == 0.0


def test_noise_replaces_one_symbol_in_its_share_of_references():
    clean = SUITE.prompts("exact", 2000, seed=3)
    noisy = SUITE.prompts("exact", 2000, seed=3, noise=0.3)
    changed = [
        (a.reference, b.reference)
        for a, b in zip(clean, noisy, strict=True)
        if a.reference != b.reference
    ]
    assert 0.25 < len(changed) / 2000 < 0.35
    assert all(sum(x != y for x, y in zip(a, b, strict=True)) == 1 for a, b in changed)


def test_the_mode_is_the_most_frequent_training_word():
    words = [(p.meta["topic"], p.reference) for p in SUITE.prompts("novel", 4000, seed=1)]
    topic0 = [w for t, w in words if t == 0]
    values, counts = np.unique(topic0, return_counts=True)
    assert values[np.argmax(counts)] == SUITE.grammar.mode(0)


def test_novel_reward_is_graded_by_rarity_and_zero_for_the_mode_or_a_non_word():
    g = SUITE.grammar
    p = next(p for p in SUITE.prompts("novel", 50, seed=2) if p.meta["topic"] == 1)
    syl = g.syllables()[1]
    rare = "".join(slot[-1] for slot in syl)  # the least probable word
    w = g.weights()
    assert SUITE.reward(p, rare) == pytest.approx(1 - (w[-1] / w[0]) ** 3)
    second = syl[0][1] + syl[1][0] + syl[2][0]  # one slot off the mode
    assert SUITE.reward(p, second) == pytest.approx(1 - w[1] / w[0])
    assert 0 < SUITE.reward(p, second) < SUITE.reward(p, rare) < 1
    assert SUITE.reward(p, g.mode(1)) == 0.0  # what greedy decoding produces
    assert SUITE.reward(p, rare[:-1]) == 0.0  # not a word of the grammar


def test_constraint_reward_counts_distinct_segments_that_keep_the_start():
    p = SUITE.prompts("constraint", 1, seed=0)[0]
    x = p.meta["start"]
    assert SUITE.reward(p, f"{x}ab {x}ac {x}bb") == 1.0
    assert SUITE.reward(p, f"{x}ab {x}ab {x}bb") == pytest.approx(2 / 3)  # two alike
    other = "u" if x != "u" else "v"
    assert SUITE.reward(p, f"{x}ab {other}ac {x}bb") == pytest.approx(2 / 3)  # a start broken
    assert SUITE.reward(p, f"{x}ab {x}ac") == pytest.approx(2 / 3)  # too few segments
    assert SUITE.reward(p, f"{x}ab {x}ac {x}bb {x}cc") == pytest.approx(3 / 4)  # too many
    assert SUITE.reward(p, "") == 0.0


def test_splits_draw_disjoint_tags():
    texts = {
        split: {
            p.text for f in ("novel", "constraint") for p in SUITE.prompts(f, 300, 7, split=split)
        }
        for split in ("train", "val", "test")
    }
    assert not texts["train"] & texts["test"] and not texts["val"] & texts["test"]
    assert not texts["train"] & texts["val"]
    assert len(texts["test"]) > 10  # many distinct held-out prompts, not a handful
    with pytest.raises(ValueError, match="unknown split"):
        SUITE.prompts("novel", 1, 0, split="dev")


def test_training_segments_keep_the_start_with_their_letters_start_p():
    cfg = {**CFG, "constraint": {**CFG["constraint"], "start_p": [0.9, 0.2, 0.6, 0.6, 0.6, 0.6]}}
    ps = Suite(cfg).prompts("constraint", 3000, seed=4)
    for letter, keep in (("u", 0.9), ("v", 0.2)):
        starts = [
            s[0] == p.meta["start"]
            for p in ps
            if p.meta["start"] == letter
            for s in p.reference.split(" ")
        ]
        # start_p, plus random starts that happen to hit the letter
        assert keep <= np.mean(starts) < keep + (1 - keep) / 6 + 0.04


def test_constrained_positions_are_segment_starts():
    p = SUITE.prompts("constraint", 1, seed=0)[0]
    toks = list("xab xac")
    assert SUITE.constrained_positions(p, toks) == [True, False, False, False, True, False, False]
    q = SUITE.prompts("exact", 1, seed=0)[0]
    assert SUITE.constrained_positions(q, toks) == [False] * 7


def test_prompts_are_deterministic_and_unknown_families_refused():
    for fam in FAMILIES:
        a = [p.text + p.reference for p in SUITE.prompts(fam, 20, seed=9)]
        assert a == [p.text + p.reference for p in SUITE.prompts(fam, 20, seed=9)]
    with pytest.raises(ValueError, match="unknown task family"):
        SUITE.prompts("poetry", 1, seed=0)


def test_held_out_verifiable_prompts_are_distinct_and_unseen():
    seen = frozenset(p.text for p in SUITE.prompts("exact", 500, seed=1))
    held = SUITE.prompts("exact", 300, seed=2, exclude=seen)
    texts = [p.text for p in held]
    assert len(texts) == 300 and len(set(texts)) == 300 and not set(texts) & seen
    # the same call gives the same prompts
    assert texts == [p.text for p in SUITE.prompts("exact", 300, seed=2, exclude=seen)]
    small = Suite({**CFG, "exact": {"skill": "sort", "size": 2, "noise": 0.0}})
    with pytest.raises(ValueError, match="too few distinct prompts"):
        small.prompts("exact", 500, seed=0, exclude=frozenset({"x"}))
