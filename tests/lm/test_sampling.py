import torch

from papergrid.lm.model import GPT, GPTConfig
from papergrid.lm.sampling import generator_for, sample

CFG = GPTConfig(vocab_size=12, block_size=24, n_layer=2, d_model=16, n_head=2, d_ff=32)
PAD, EOS = 0, 1


def model(seed=0):
    torch.manual_seed(seed)
    m = GPT(CFG)
    m.eval()
    return m


PROMPTS = [[2, 3, 4, 5, 6], [7, 8], [3], [9, 10, 11, 2]]


def test_a_prompt_gets_the_same_greedy_response_in_any_padded_batch():
    m = model()
    batch = sample(m, PROMPTS, max_new=8, eos_id=EOS, pad_id=PAD, temperature=0.0)
    for i, p in enumerate(PROMPTS):
        alone = sample(m, [p], max_new=8, eos_id=EOS, pad_id=PAD, temperature=0.0)
        assert batch.responses[i] == alone.responses[0]
        ref = m.generate(torch.tensor([p]), 8, temperature=0, eos_id=EOS)[0, len(p) :].tolist()
        assert batch.responses[i] == ref[: len(batch.responses[i])]


def test_logprobs_are_the_policys_at_temperature_one():
    m = model(1)
    out = sample(
        m,
        PROMPTS,
        max_new=6,
        eos_id=EOS,
        pad_id=PAD,
        temperature=0.7,
        generator=generator_for(0, 0),
    )
    for p, r, lp in zip(PROMPTS, out.responses, out.logprobs, strict=True):
        seq = torch.tensor([p + r])
        want = m.token_logprobs(seq)[0, len(p) - 1 :]
        assert torch.allclose(torch.tensor(lp), want, atol=1e-5)


def test_draws_are_a_function_of_the_seed():
    m = model(2)

    def draw(seed):
        g = generator_for(seed, 3)
        return sample(m, PROMPTS, max_new=6, eos_id=EOS, pad_id=PAD, generator=g).responses

    assert draw(0) == draw(0) and draw(0) != draw(1)


def test_a_temperature_per_row_and_per_step():
    m = model(3)
    temps = torch.tensor([0.0, 1.0, 0.0, 2.0])
    out = sample(
        m,
        PROMPTS,
        max_new=5,
        eos_id=EOS,
        pad_id=PAD,
        temperature=temps,
        generator=generator_for(1, 1),
    )
    greedy = sample(m, PROMPTS, max_new=5, eos_id=EOS, pad_id=PAD, temperature=0.0)
    assert out.responses[0] == greedy.responses[0] and out.responses[2] == greedy.responses[2]
    assert all(t == 2.0 for t in out.temperatures[3])
    seen = []

    def head(step, hidden):
        seen.append(hidden.shape)
        return torch.full((hidden.size(0),), 0.0 if step < 2 else 1.0)

    per_step = sample(
        m,
        PROMPTS,
        max_new=5,
        eos_id=EOS,
        pad_id=PAD,
        temperature=head,
        generator=generator_for(2, 2),
    )
    assert seen[0] == (4, CFG.d_model)
    assert all(t[:2] == [0.0, 0.0][: len(t)] for t in per_step.temperatures)


def test_rows_stop_at_the_end_token_and_the_budget():
    m = model(4)
    with torch.no_grad():
        m.wte.weight[EOS] *= 0  # a flat end-token logit: some rows stop, some do not
    out = sample(m, PROMPTS, max_new=4, eos_id=EOS, pad_id=PAD, generator=generator_for(0, 0))
    for r, f in zip(out.responses, out.finished, strict=True):
        assert len(r) <= 4 and (f == (r[-1] == EOS if r else False))
        assert EOS not in r[:-1]
    # the context bounds the budget
    long = sample(m, [[2] * 22], max_new=10, eos_id=EOS, pad_id=PAD, temperature=0.0)
    assert len(long.responses[0]) <= 2
