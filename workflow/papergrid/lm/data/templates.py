"""Chat templates, rendered with Jinja2 as Hugging Face tokenizers do.

Every template uses the same end-of-turn token text, ``<eos>`` (our tokenizers' EOS),
where the original model families used their own (``<|endoftext|>``, ``</s>``). Exact
formats, for a user turn Q and an assistant turn A (``\\n`` is a newline):

- tulu (Tülu 3): ``<|user|>\\nQ\\n<|assistant|>\\nA<eos>``; a non-final assistant turn
  ends ``<eos>\\n``.
- tulu2: as tulu, but every assistant turn ends ``<eos>\\n`` (Tülu 2 kept the newline).
- tulu_eos: as tulu with the newline after each turn replaced by the end token:
  ``<|user|>\\nQ<eos><|assistant|>\\nA<eos>``.
- zephyr: ``<|user|>\\nQ<eos>\\n<|assistant|>\\nA<eos>\\n``.
- chatml: ``<|im_start|>user\\nQ<|im_end|>\\n<|im_start|>assistant\\nA<|im_end|>\\n``;
  its turns end with ``<|im_end|>``, the stop token when generating.
- llama3: ``<|begin_of_text|><|start_header_id|>user<|end_header_id|>\\n\\nQ<|eot_id|>``
  ``<|start_header_id|>assistant<|end_header_id|>\\n\\nA<|eot_id|>``; stop ``<|eot_id|>``.
- alpaca (Stanford Alpaca, no system preamble): ``### Instruction:\\nQ\\n\\n``
  ``### Response:\\nA<eos>``; a non-final assistant turn ends ``<eos>\\n\\n``.

On single-turn data tulu and tulu2 are the same: they differ only after a final end
token, which no single-turn example trains on (:func:`single_turn` shows it).

The generation prompt is what precedes A. The end token after A is the one the model is
trained to emit and decoding stops on (``stop``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import jinja2

EOS = "<eos>"


@dataclass(frozen=True)
class ChatTemplate:
    name: str
    source: str  # Jinja2; sees `messages`, `add_generation_prompt`, `eos`
    generation_prompt: str
    stop: str  # the token that ends an assistant turn
    specials: tuple[str, ...]  # markers the tokenizer must keep atomic

    @cached_property
    def _compiled(self) -> jinja2.Template:
        env = jinja2.Environment(undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
        return env.from_string(self.source)

    def render(self, messages: Sequence[Mapping[str, str]], add_generation_prompt: bool = False):
        for m in messages:
            if m["role"] not in ("system", "user", "assistant"):
                raise ValueError(f"unknown role {m['role']!r}")
        return self._compiled.render(
            messages=messages, add_generation_prompt=add_generation_prompt, eos=EOS
        )

    def prompt(self, user: str) -> str:
        """The text a model sees before answering ``user``."""
        return self.render([{"role": "user", "content": user}], add_generation_prompt=True)


_TULU = (
    "{% for m in messages %}"
    "{% if m.role != 'assistant' %}<|{{ m.role }}|>\n{{ m.content }}\n"
    "{% elif loop.last %}<|assistant|>\n{{ m.content }}{{ eos }}"
    "{% else %}<|assistant|>\n{{ m.content }}{{ eos }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_TULU2 = (
    "{% for m in messages %}"
    "{% if m.role != 'assistant' %}<|{{ m.role }}|>\n{{ m.content }}\n"
    "{% else %}<|assistant|>\n{{ m.content }}{{ eos }}\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_TULU_EOS = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos }}{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_ZEPHYR = (
    "{% for m in messages %}<|{{ m.role }}|>\n{{ m.content }}{{ eos }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
_CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_LLAMA3 = (
    "<|begin_of_text|>{% for m in messages %}"
    "<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}"
    "{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}"
)
_ALPACA = (
    "{% for m in messages %}"
    "{% if m.role == 'system' %}{{ m.content }}\n\n"
    "{% elif m.role == 'user' %}### Instruction:\n{{ m.content }}\n\n"
    "{% elif loop.last %}### Response:\n{{ m.content }}{{ eos }}"
    "{% else %}### Response:\n{{ m.content }}{{ eos }}\n\n{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}### Response:\n{% endif %}"
)
_ROLES = ("<|system|>", "<|user|>", "<|assistant|>")

TEMPLATES: dict[str, ChatTemplate] = {
    t.name: t
    for t in (
        ChatTemplate("tulu", _TULU, "<|assistant|>\n", EOS, (*_ROLES, EOS)),
        ChatTemplate("tulu2", _TULU2, "<|assistant|>\n", EOS, (*_ROLES, EOS)),
        ChatTemplate("tulu_eos", _TULU_EOS, "<|assistant|>\n", EOS, (*_ROLES, EOS)),
        ChatTemplate("zephyr", _ZEPHYR, "<|assistant|>\n", EOS, (*_ROLES, EOS)),
        ChatTemplate(
            "chatml",
            _CHATML,
            "<|im_start|>assistant\n",
            "<|im_end|>",
            ("<|im_start|>", "<|im_end|>", EOS),
        ),
        ChatTemplate(
            "llama3",
            _LLAMA3,
            "<|start_header_id|>assistant<|end_header_id|>\n\n",
            "<|eot_id|>",
            ("<|begin_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", EOS),
        ),
        ChatTemplate("alpaca", _ALPACA, "### Response:\n", EOS, (EOS,)),
    )
}


def single_turn(template: ChatTemplate, user: str = "Q", answer: str = "A") -> str:
    """What one single-turn training example is: the prompt, the answer, the end token."""
    return template.prompt(user) + answer + template.stop


def get_template(name: str) -> ChatTemplate:
    if name not in TEMPLATES:
        raise ValueError(f"unknown chat template {name!r}; allowed: {sorted(TEMPLATES)}")
    return TEMPLATES[name]
