import pytest

from papergrid.lm.data.templates import TEMPLATES, get_template

CONVERSATION = [
    {"role": "user", "content": "Q1"},
    {"role": "assistant", "content": "A1"},
    {"role": "user", "content": "Q2"},
    {"role": "assistant", "content": "A2"},
]

EXPECTED = {
    "tulu": "<|user|>\nQ1\n<|assistant|>\nA1<eos>\n<|user|>\nQ2\n<|assistant|>\nA2<eos>",
    "tulu2": "<|user|>\nQ1\n<|assistant|>\nA1<eos>\n<|user|>\nQ2\n<|assistant|>\nA2<eos>\n",
    "tulu_eos": "<|user|>\nQ1<eos><|assistant|>\nA1<eos><|user|>\nQ2<eos><|assistant|>\nA2<eos>",
    "zephyr": (
        "<|user|>\nQ1<eos>\n<|assistant|>\nA1<eos>\n<|user|>\nQ2<eos>\n<|assistant|>\nA2<eos>\n"
    ),
    "chatml": (
        "<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n"
        "<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\nA2<|im_end|>\n"
    ),
    "llama3": (
        "<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nQ1<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nA1<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\nQ2<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\nA2<|eot_id|>"
    ),
    "alpaca": (
        "### Instruction:\nQ1\n\n### Response:\nA1<eos>\n\n### Instruction:\nQ2\n\n"
        "### Response:\nA2<eos>"
    ),
}


def test_every_template_is_covered():
    assert set(EXPECTED) == set(TEMPLATES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_exact_rendering(name):
    assert get_template(name).render(CONVERSATION) == EXPECTED[name]


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_generation_prompt_precedes_the_answer_and_stop_ends_it(name):
    t = get_template(name)
    prompt = t.prompt("Q")
    assert prompt.endswith(t.generation_prompt)
    full = t.render([{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}])
    assert full.startswith(prompt + "A" + t.stop)


def test_system_turn_and_unknown_template():
    sys_turn = [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"}]
    assert get_template("tulu").render(sys_turn) == "<|system|>\nS\n<|user|>\nQ\n"
    with pytest.raises(ValueError, match="allowed"):
        get_template("vicuna")


def test_single_turn_rendering_tells_templates_apart():
    from papergrid.lm.data.templates import single_turn
    from papergrid.sft.grid import same_renderings

    assert single_turn(get_template("tulu")) == single_turn(get_template("tulu2"))
    assert len({single_turn(t) for t in TEMPLATES.values()}) == len(TEMPLATES) - 1
    (problem,) = same_renderings(["tulu", "zephyr", "tulu2"])
    assert "'tulu2' renders single-turn examples exactly as 'tulu'" in problem
