import math

import numpy as np
import pytest
import torch

from papergrid.lm.data.facts import FactSet, bits_stored, steps_for_exposures, vocab_size
from papergrid.lm.model import GPT, GPTConfig

FACTS = FactSet(n_people=50, n_values=(4, 16, 100), name_tokens=2, syllables=8, seed=3)


def test_information_content_is_exact():
    assert FACTS.n_facts == 150
    assert FACTS.information_bits == pytest.approx(50 * (2 + 4 + math.log2(100)))
    assert FACTS.prior_bits().sum() == pytest.approx(FACTS.information_bits)
    assert FACTS.prior_bits()[:3] == pytest.approx([2.0, 4.0, math.log2(100)])


def test_every_person_has_a_distinct_multi_token_name():
    names = FACTS.names
    assert names.shape == (50, 2)
    assert names.min() >= 0 and names.max() < 8
    assert len({tuple(n) for n in names}) == 50
    # a pool exactly as large as the people still names each once
    tight = FactSet(n_people=27, n_values=(2,), name_tokens=3, syllables=3, seed=0)
    assert sorted(map(tuple, tight.names)) == [
        (a, b, c) for a in range(3) for b in range(3) for c in range(3)
    ]
    with pytest.raises(ValueError, match="cannot name 28 people"):
        FactSet(n_people=28, n_values=(2,), name_tokens=3, syllables=3)


def test_the_vocabulary_does_not_grow_with_the_people():
    small, large = (FactSet(n, (4, 16, 100), 2, 8, seed=3) for n in (10, 60))
    assert len(small.tokenizer) == len(large.tokenizer) == 1 + 8 + 3 + (4 + 16 + 100)
    assert vocab_size((4, 16, 100), 8) == len(FACTS.tokenizer)


def test_values_are_uniform_and_seeded():
    big = FactSet(n_people=20000, n_values=(4, 10), name_tokens=2, syllables=200, seed=0)
    counts = np.bincount(big.values[:, 1], minlength=10) / 20000
    assert np.abs(counts - 0.1).max() < 0.01
    again = FactSet(50, (4, 16, 100), 2, 8, seed=3)
    assert np.array_equal(again.values, FACTS.values)
    assert np.array_equal(again.names, FACTS.names)
    other = FactSet(50, (4, 16, 100), 2, 8, seed=4)
    assert not np.array_equal(other.values, FACTS.values)
    assert not np.array_equal(other.names, FACTS.names)


def test_each_fact_is_name_attribute_value_in_tokens_of_their_own():
    tok = FACTS.tokenizer
    assert FACTS.ids.shape == (150, FACTS.seq_len) == (150, 4)
    pairs = FACTS.pairs()
    assert len(pairs) == 150
    prompt, response = pairs[3 * 7 + 2]  # person 7, attribute 2
    first, last = FACTS.names[7]
    assert tok.decode(prompt) == f"n{first} n{last} a2"
    assert tok.decode(response) == f"v2_{FACTS.values[7, 2]}"
    assert list(FACTS.ids[3 * 7 + 2]) == prompt + response


def test_bits_stored_runs_from_nothing_to_everything():
    prior = FACTS.prior_bits()
    uniform = prior * math.log(2)  # the prior's own cross-entropy, in nats
    assert bits_stored(uniform, prior) == pytest.approx(0.0)
    assert bits_stored(np.zeros_like(prior), prior) == pytest.approx(FACTS.information_bits)
    # worse than the prior counts as nothing, not as negative knowledge
    assert bits_stored(uniform + 5.0, prior) == 0.0
    half = bits_stored(uniform / 2, prior)
    assert half == pytest.approx(FACTS.information_bits / 2)
    with pytest.raises(ValueError, match="losses for"):
        bits_stored([0.0], prior)


def test_bits_stored_on_hand_computed_facts():
    # priors 2, 3 and 5 bits; cross-entropies 0.5, 4 and 1 bits: 1.5 + 0 + 4
    nats = np.array([0.5, 4.0, 1.0]) * math.log(2)
    assert bits_stored(nats, [2.0, 3.0, 5.0]) == pytest.approx(5.5)


def test_exposures_set_the_steps():
    assert steps_for_exposures(150, 1000, 64) == math.ceil(150_000 / 64)
    with pytest.raises(ValueError):
        steps_for_exposures(150, 0, 64)


def test_a_model_that_memorises_the_facts_stores_their_bits():
    facts = FactSet(n_people=12, n_values=(3, 5), name_tokens=2, syllables=4, seed=1)
    x = torch.from_numpy(facts.ids)  # (24, 4): two name tokens, attribute, value
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(facts.tokenizer), 3, 1, 32, 2, 128))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2)
    mask = torch.tensor([[0.0, 0.0, 1.0]] * len(x))  # loss on the value only
    for _ in range(300):
        _, loss = model(x[:, :-1], x[:, 1:], loss_mask=mask)
        opt.zero_grad()
        loss.backward()
        opt.step()
    with torch.no_grad():
        logp = torch.log_softmax(model(x[:, :-1])[0][:, -1], dim=-1)
        nll = -logp.gather(1, x[:, -1:]).squeeze(1)
    stored = bits_stored(nll.numpy(), facts.prior_bits())
    assert stored > 0.95 * facts.information_bits
