import numpy as np
import pytest
import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sampling import sample
from papergrid.lpo.head import TemperatureHead
from papergrid.lpo.jobs import (
    head_temperatures,
    preference_pairs,
    random_temperatures,
    selector_choice,
)
from papergrid.lpo.tasks import Prompt


def test_pairs_are_best_and_worst_and_ties_are_dropped_and_counted():
    prompts = [Prompt("exact", "a", "x"), Prompt("novel", "b", "y"), Prompt("novel", "c", "z")]
    rewards = [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    samples = [([i], [0], float(r)) for row in rewards for i, r in enumerate(row)]
    pairs, ties = preference_pairs(prompts, samples, 3, np.random.default_rng(0))
    assert ties == {"exact": 0, "novel": 1, "constraint": 0}
    assert [p[0] for p in pairs] == [0, 2]
    (_, c0, r0), (_, c2, r2) = pairs
    assert samples[c0][2] == 1 and samples[r0][2] == 0 and r0 == 1
    assert c2 == 2 * 3 + 1 and samples[r2][2] == 0


def test_selector_takes_the_best_temperature_per_family_and_the_cooler_on_ties():
    val = {
        0.0: {"exact": 0.9, "novel": 0.0, "constraint": 0.1},
        0.5: {"exact": 0.9, "novel": 0.4, "constraint": 0.3},
        1.0: {"exact": 0.7, "novel": 0.6, "constraint": 0.2},
    }
    assert selector_choice(val) == {"exact": 0.0, "novel": 1.0, "constraint": 0.5}


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=7, block_size=16, n_layer=1, d_model=8, n_head=2, d_ff=16))


def test_random_temperatures_are_per_response_or_per_token(tiny):
    temps = [0.0, 0.5, 1.0]
    prompts = [[1, 2], [3], [4, 5, 6]] * 8
    for per_token in (False, True):
        fn = random_temperatures(temps, per_token, seed=3)(0)
        s = sample(
            tiny,
            prompts,
            max_new=6,
            eos_id=0,
            pad_id=0,
            temperature=fn,
            generator=torch.Generator().manual_seed(0),
        )
        drawn = [set(t) for t in s.temperatures if len(t) > 1]
        assert all(t <= set(temps) for t in drawn)
        if per_token:
            assert any(len(t) > 1 for t in drawn)
        else:
            assert all(len(t) == 1 for t in drawn)


def test_a_head_that_always_says_greedy_decodes_greedily(tiny):
    head = TemperatureHead(8, 4, 3)
    with torch.no_grad():
        head.net[-1].weight.zero_()
        head.net[-1].bias.copy_(torch.tensor([50.0, 0.0, 0.0]))
    prompts = [[1, 2], [3, 4]]
    for variant in ("seq", "tok"):
        fn = head_temperatures(head, [0.0, 0.5, 1.0], variant, "sample", seed=0)(0)
        s = sample(
            tiny,
            prompts,
            max_new=5,
            eos_id=0,
            pad_id=0,
            temperature=fn,
            generator=torch.Generator().manual_seed(1),
        )
        greedy = sample(tiny, prompts, max_new=5, eos_id=0, pad_id=0, temperature=0.0)
        assert s.responses == greedy.responses
        assert all(set(t) == {0.0} for t in s.temperatures)


def test_a_seeds_test_prompts_are_held_out_from_everything_it_trained_on():
    import yaml

    from papergrid.lpo.jobs import base_texts, seed_prompts, stream
    from papergrid.lpo.tasks import Suite

    from ..conftest import ROOT

    block = yaml.safe_load((ROOT / "config.yaml").read_text())["lpo"]
    suite = Suite(block["tasks"])
    sets = seed_prompts(suite, block, 0)
    exact = {k: {p.text for p in v if p.family == "exact"} for k, v in sets.items()}
    assert not exact["test"] & (exact["train"] | exact["val"] | base_texts(suite, block))
    assert not exact["val"] & (exact["train"] | base_texts(suite, block))
    assert len(sets["test"]) == 3 * block["data"]["n_test_per_family"]
    # streams never coincide across seeds or purposes
    seeds = {stream(s, p, k) for s in range(10) for p in ("a", "b") for k in range(20)}
    assert len(seeds) == 10 * 2 * 20
    # the other families hold out by tag: a test prompt is none of the seed's others
    for fam in ("novel", "constraint"):
        texts = {k: {p.text for p in v if p.family == fam} for k, v in sets.items()}
        assert not texts["test"] & (texts["train"] | texts["val"])
        assert len(texts["test"]) > 20


def test_decodings_of_a_seed_share_their_random_numbers(tiny):
    """Common random numbers: a head whose argmax is always 1.0 draws exactly what the
    fixed temperature 1.0 draws from the same stream, and two temperatures drawn from one
    stream agree on more tokens than from two streams."""
    head = TemperatureHead(8, 4, 3)
    with torch.no_grad():
        head.net[-1].weight.zero_()
        head.net[-1].bias.copy_(torch.tensor([0.0, 0.0, 5.0]))
    prompts = [[1, 2], [3], [4, 5, 6], [2, 2]] * 50

    def run(temperature, seed):
        g = torch.Generator().manual_seed(seed)
        return sample(
            tiny, prompts, max_new=6, eos_id=0, pad_id=0, temperature=temperature, generator=g
        )

    fixed = run(1.0, 7)
    for variant in ("seq", "tok"):
        fn = head_temperatures(head, [0.0, 0.5, 1.0], variant, "argmax", seed=0)(0)
        assert run(fn, 7).responses == fixed.responses

    def agreement(a, b):
        pairs = [
            (x, y)
            for ra, rb in zip(a.responses, b.responses, strict=True)
            for x, y in zip(ra, rb, strict=False)
        ]
        return np.mean([x == y for x, y in pairs])

    common = agreement(run(0.8, 7), fixed)
    apart = agreement(run(0.8, 8), fixed)
    assert common > apart + 0.2, (common, apart)
