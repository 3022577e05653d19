import numpy as np
import pytest

from papergrid.lm.data import tasks
from papergrid.post.data import ARMS, OnPolicy, build_arms, corrupt, label_samples, prompt_pools
from papergrid.sft.data import held_prompts, training_examples

SFT_DATA = {
    "skills": ["addition", "sort", "reverse", "format"],
    "sizes": {"addition": 2, "sort": 5, "reverse": 5, "format": 3},
    "n_base_per_skill": 50,
    "n_sft_per_skill": 60,
    "n_eval_per_skill": 30,
    "n_val_per_skill": 10,
}


@pytest.mark.parametrize("how", ["substitute", "truncate", "append"])
def test_corruptions_are_wrong_and_keep_the_character_class(how):
    rng = np.random.default_rng(0)
    for skill in SFT_DATA["skills"]:
        for ex in tasks.generate(skill, 30, 7, SFT_DATA["sizes"][skill]):
            if how == "truncate" and len(ex.reference) < 2:
                continue
            bad = corrupt(ex, how, rng, allowed="0123456789abcdefghijklmnopqrstuvwxyz")
            assert not ex.verify(bad)
            if how == "substitute":
                assert len(bad) == len(ex.reference)
            assert (len(bad) < len(ex.reference)) == (how == "truncate")
            assert all(
                c in "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-;, "
                for c in bad
            )


def test_pools_avoid_every_sft_test_validation_and_training_prompt_except_the_reused():
    pools = prompt_pools(SFT_DATA, 20, 10)
    banned = held_prompts(SFT_DATA)
    sft_train = {
        e.prompt for e in training_examples(SFT_DATA["skills"], 60, 3, SFT_DATA["sizes"], banned)
    }
    unused = {e.prompt for e in pools.unused}
    assert len(unused) == 4 * 20 and not unused & (banned | sft_train)
    assert {e.prompt for e in pools.reused} <= sft_train and len(pools.reused) == 4 * 10


def on_policy_for(pool, right_share: float) -> OnPolicy:
    """Samples that are right for the first share of prompts and wrong for the rest."""
    cut = int(len(pool) * right_share)
    return label_samples(
        pool, [[e.reference, e.reference + "9"] if i < cut else ["?"] for i, e in enumerate(pool)]
    )


def test_every_arm_has_the_same_pair_count_and_its_own_composition():
    pools = prompt_pools(SFT_DATA, 20, 10)
    arms = build_arms(
        pools, on_policy_for(pools.unused, 0.5), on_policy_for(pools.reused, 0.5), 20, seed=0
    )
    assert set(arms) == set(ARMS) and {len(p) for p in arms.values()} == {20}
    for arm, pairs in arms.items():
        for p in pairs:
            ex = next(e for e in pools.unused + pools.reused if e.prompt == p.prompt)
            assert ex.verify(p.chosen) and not ex.verify(p.rejected), arm
    kinds = {arm: sorted({p.kind for p in pairs}) for arm, pairs in arms.items()}
    assert kinds["mixed"] == ["off", "on"] and kinds["off_policy"] == ["off"]
    assert kinds["on_policy"] == ["on"]
    assert len({p.prompt for p in arms["mixed"]}) == 20  # unique prompts
    assert len({p.prompt for p in arms["duplicated"]}) == 10  # each prompt twice
    unused = {e.prompt for e in pools.unused}
    assert not {p.prompt for p in arms["reused"]} & unused
    assert all(len(p.chosen) > len(p.rejected) for p in arms["chosen_longer"])
    assert all(len(p.chosen) < len(p.rejected) for p in arms["rejected_longer"])


def test_on_policy_pairs_keep_the_sampled_side_and_fill_the_other():
    pools = prompt_pools(SFT_DATA, 5, 2)
    ex = pools.unused[0]
    on = label_samples([ex], [["wrong one"]])
    assert on.counts() == {"both_sampled": 0, "all_wrong": 1, "all_right": 0}
    arms = build_arms(pools, on, on, 4, seed=1, arms=["on_policy"])
    pair = next((p for p in arms["on_policy"] if p.prompt == ex.prompt), None)
    if pair is not None:
        assert pair.chosen == ex.reference and pair.rejected == "wrong one"
