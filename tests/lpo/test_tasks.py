import numpy as np
import pytest

from papergrid.lpo.tasks import FAMILIES, Grammar, Suite

CFG = {
    "exact": {"skill": "sort", "size": 4, "noise": 0.3},
    "novel": {"topics": 3, "slots": 3, "options": 4, "zipf_s": 1.2, "n_cliches": 4},
    "constraint": {"segments": 3, "start_p": 0.6, "zipf_s": 1.0},
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


def test_cliches_are_the_most_probable_words():
    g = Grammar(2, 3, 4, 1.2, 4, 0)
    words = [p.reference for p in SUITE.prompts("novel", 4000, seed=1)]
    topic0 = [
        w
        for w, p in zip(words, SUITE.prompts("novel", 4000, seed=1), strict=True)
        if p.meta["topic"] == 0
    ]
    values, counts = np.unique(topic0, return_counts=True)
    top = set(values[np.argsort(-counts)][:2])
    assert top <= set(SUITE.grammar.cliches(0))
    assert len(g.cliches(0)) == 4 and len(set(g.cliches(0))) == 4


def test_novel_reward_wants_a_valid_word_that_is_no_cliche():
    g = SUITE.grammar
    p = next(p for p in SUITE.prompts("novel", 50, seed=2) if p.meta["topic"] == 1)
    syl = g.syllables()[1]
    rare = "".join(slot[-1] for slot in syl)  # the least probable word
    assert SUITE.reward(p, rare) == 1.0
    assert SUITE.reward(p, g.cliches(1)[0]) == 0.0
    assert SUITE.reward(p, rare[:-1]) == 0.0  # not a word of the grammar


def test_constraint_reward_wants_every_start_and_distinct_segments():
    p = SUITE.prompts("constraint", 1, seed=0)[0]
    x = p.meta["start"]
    assert SUITE.reward(p, f"{x}ab {x}ac {x}bb") == 1.0
    assert SUITE.reward(p, f"{x}ab {x}ab {x}bb") == 0.0  # two segments alike
    other = "u" if x != "u" else "v"
    assert SUITE.reward(p, f"{x}ab {other}ac {x}bb") == 0.0  # a start broken
    assert SUITE.reward(p, f"{x}ab {x}ac") == 0.0  # too few segments


def test_training_segments_keep_the_start_with_start_p():
    ps = SUITE.prompts("constraint", 2000, seed=4)
    starts = [s[0] == p.meta["start"] for p in ps for s in p.reference.split(" ")]
    assert 0.6 <= np.mean(starts) < 0.75  # start_p, plus random starts that hit x


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
