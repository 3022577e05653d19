import pytest
import torch

from papergrid.lm.data.templates import TEMPLATES
from papergrid.lm.model import GPT, GPTConfig
from papergrid.sft.data import (
    base_corpus,
    build_tokenizer,
    eval_examples,
    held_prompts,
    sft_prepared,
    val_examples,
)
from papergrid.sft.jobs import average_weights, sft_texts

CFG = {
    "skills": ["addition", "reverse", "format"],
    "sizes": {"addition": 2, "sort": 4, "reverse": 4, "format": 3},
    "n_base_per_skill": 50,
    "n_sft_per_skill": 30,
    "n_eval_per_skill": 20,
    "n_val_per_skill": 10,
}


def tokenizer():
    train, val = base_corpus(CFG)
    return build_tokenizer(train + val + sft_texts(CFG))


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
    assert set(acc) == names | {f"val_{n}" for n in names}
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
