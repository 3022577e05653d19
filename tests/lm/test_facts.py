import math

import numpy as np
import pytest
import torch

from papergrid.lm.data.facts import FactSet, bits_stored, steps_for_exposures
from papergrid.lm.model import GPT, GPTConfig

FACTS = FactSet(n_people=50, n_values=(4, 16, 100), seed=3)


def test_information_content_is_exact():
    assert FACTS.n_facts == 150
    assert FACTS.information_bits == pytest.approx(50 * (2 + 4 + math.log2(100)))
    assert FACTS.prior_bits().sum() == pytest.approx(FACTS.information_bits)


def test_values_are_uniform_and_seeded():
    big = FactSet(n_people=20000, n_values=(4, 10), seed=0)
    counts = np.bincount(big.values[:, 1], minlength=10) / 20000
    assert np.abs(counts - 0.1).max() < 0.01
    assert np.array_equal(FactSet(50, (4, 16, 100), 3).values, FACTS.values)
    assert not np.array_equal(FactSet(50, (4, 16, 100), 4).values, FACTS.values)


def test_pairs_spell_each_fact_with_tokens_of_its_own():
    tok = FACTS.tokenizer
    assert len(tok) == 1 + 50 + 3 + (4 + 16 + 100)
    pairs = FACTS.pairs()
    assert len(pairs) == 150
    prompt, response = pairs[3 * 7 + 2]  # person 7, attribute 2
    assert tok.decode(prompt) == "p7 a2"
    assert tok.decode(response) == f"v2_{FACTS.values[7, 2]}"


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


def test_exposures_set_the_steps():
    assert steps_for_exposures(150, 1000, 64) == math.ceil(150_000 / 64)
    with pytest.raises(ValueError):
        steps_for_exposures(150, 0, 64)


def test_a_model_that_memorises_the_facts_stores_their_bits():
    facts = FactSet(n_people=12, n_values=(3, 5), seed=1)
    pairs = facts.pairs()
    x = torch.tensor([p + r for p, r in pairs])  # (24, 3): person, attribute, value
    torch.manual_seed(0)
    model = GPT(GPTConfig(len(facts.tokenizer), 3, 1, 32, 2, 128))
    opt = torch.optim.AdamW(model.parameters(), lr=3e-2)
    mask = torch.tensor([[0.0, 1.0]] * len(pairs))  # loss on the value only
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
