import pytest
import torch

from papergrid.lm.data.templates import TEMPLATES
from papergrid.lm.model import GPT, GPTConfig
from papergrid.sft.data import (
    EpochBatches,
    base_corpus,
    base_prepared,
    base_stream,
    build_tokenizer,
    eval_examples,
    held_prompts,
    sft_prepared,
    template_markers,
    val_examples,
)
from papergrid.sft.jobs import average_weights, sft_texts

CFG = {
    "skills": ["addition", "reverse", "format"],
    "sizes": {"addition": 2, "sort": 4, "reverse": 4, "format": 3},
    "n_base_per_skill": 50,
    "marker_share": 0.5,
    "n_sft_per_skill": 30,
    "n_eval_per_skill": 20,
    "n_val_per_skill": 10,
}


def tokenizer():
    train, val = base_corpus(CFG)
    return build_tokenizer(train + val + sft_texts(CFG))


def test_an_epoch_sees_every_example_once():
    pairs = [([i], [i, i]) for i in range(50)]
    b = EpochBatches(pairs, 8, seed=1, pad_id=99)
    seen = [int(i) for step in range(6) for i in b.indices(step)]  # 6 whole batches
    assert len(seen) == len(set(seen)) == 48
    second = [int(i) for step in range(6, 12) for i in b.indices(step)]
    assert len(set(second)) == 48 and second != seen  # reshuffled each epoch
    with pytest.raises(ValueError, match="do not fill one batch"):
        EpochBatches(pairs[:5], 8, seed=1, pad_id=99)


def test_every_marker_ends_some_base_texts():
    tok = tokenizer()
    stream, starts = base_stream(CFG, tok, seed=0)
    text = tok.decode(stream.tolist())
    assert all(m in text for m in template_markers())
    separators = [tok.decode([int(stream[i])]) for i in starts]
    share = 1 - separators.count("<eos>") / len(separators)
    assert 0.35 < share < 0.65  # marker_share 0.5, some draws of the end token itself
    assert len(starts) == 3 * 50  # one window start per plain text


def test_base_windows_span_the_context():
    tok = tokenizer()
    seq = 120
    data = base_prepared(CFG, tok, batch_size=64, seed=0, seq_len=seq)
    batch = data.batches.get(0)
    assert batch.x.shape == (64, seq) and batch.mask is None  # every token is a target
    markers = {tok.id(m) for m in template_markers()}
    assert all(int(t) in markers for t in batch.x[:, 0])  # every window starts at a text
    # texts follow each other past the length of one plain example: late positions train
    # on task text too, not only on padding
    late = batch.x[:, -20:]
    assert (~torch.isin(late, torch.tensor(sorted(markers)))).float().mean() > 0.8


def test_training_data_never_contains_evaluation_prompts():
    test = {e.prompt for e in eval_examples(CFG["skills"], 20, CFG["sizes"])}
    val = {e.prompt for e in val_examples(CFG["skills"], 10, CFG["sizes"])}
    assert len(val) == 30 and not test & val
    assert held_prompts(CFG) == test | val
    train, _ = base_corpus(CFG)
    assert len(train) == 3 * 50
    assert not any(t.split("\n")[0] in test | val for t in train)


def test_an_ablation_sees_the_same_examples_of_the_kept_skills():
    tok = tokenizer()
    full = sft_prepared(CFG, tok, "tulu", CFG["skills"], CFG["skills"], 8, 3)
    ablated = sft_prepared(CFG, tok, "tulu", ["addition", "format"], CFG["skills"], 8, 3)
    for step in range(5):
        a, b = full.batches.get(step), ablated.batches.get(step)

        def rows(batch):
            return [
                tok.decode(x[: int(m.nonzero()[-1]) + 2].tolist())
                for x, m in zip(batch.x, batch.mask, strict=True)
            ]

        kept = [r for r in rows(a) if "Reverse" not in r]
        assert [r for r in rows(b)] == kept
    assert ablated.meta["n_train"] == 2 * 30 and full.meta["n_train"] == 3 * 30


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_loss_covers_the_assistant_turn_and_its_end_token_only(template):
    tok = tokenizer()
    data = sft_prepared(CFG, tok, template, ["addition", "reverse"], CFG["skills"], 4, 0)
    batch = data.batches.get(0)
    tpl = TEMPLATES[template]
    for x, y, m in zip(batch.x, batch.y, batch.mask, strict=True):
        counted = tok.decode(y[m.bool()].tolist())
        assert counted.endswith(tpl.stop) and counted.count(tpl.stop) == 1
        first = int(m.nonzero()[0])  # x up to here is the rendered prompt
        assert tok.decode(x[: first + 1].tolist()).endswith(tpl.generation_prompt)
    assert set(data.meta) >= {"template", "n_train"}


def test_evaluation_scores_each_skill_with_its_verifier():
    tok = tokenizer()
    data = sft_prepared(CFG, tok, "tulu", CFG["skills"], CFG["skills"], 4, 0)
    model = GPT(
        GPTConfig(vocab_size=len(tok), block_size=128, n_layer=1, d_model=16, n_head=2, d_ff=16)
    )
    model.eval()
    with torch.no_grad():
        acc = data.final(model)
    names = {"acc_addition", "acc_reverse", "acc_format", "acc_mean"}
    assert set(acc) == names | {f"val_{n}" for n in names} | {"acc_mean_a", "acc_mean_b"}
    # the halves are the even and odd test prompts of each skill
    assert acc["acc_mean"] == pytest.approx((acc["acc_mean_a"] + acc["acc_mean_b"]) / 2)
    assert all(0 <= v <= 1 for v in acc.values())


def test_average_weights_is_the_elementwise_mean():
    a = {"w": torch.tensor([1.0, 3.0]), "b": torch.tensor([0.0])}
    b = {"w": torch.tensor([3.0, 5.0]), "b": torch.tensor([2.0])}
    out = average_weights([a, b])
    assert torch.equal(out["w"], torch.tensor([2.0, 4.0])) and torch.equal(
        out["b"], torch.tensor([1.0])
    )
    with pytest.raises(ValueError, match="different parameter names"):
        average_weights([a, {"w": a["w"]}])
