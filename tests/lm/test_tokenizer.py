import pytest

from papergrid.lm.data.templates import get_template
from papergrid.lm.tokenizer import EOS, PAD, Tokenizer


def test_char_round_trip_keeps_specials_atomic(tmp_path):
    t = get_template("chatml")
    text = t.render([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}])
    tok = Tokenizer.build("char", [text], specials=(PAD, EOS, *t.specials))
    ids = tok.encode(text)
    assert tok.decode(ids) == text
    assert tok.id("<|im_start|>") in ids and tok.id(PAD) == 0
    assert len(ids) == text.count("<|im_start|>") + text.count("<|im_end|>") + len(
        text.replace("<|im_start|>", "").replace("<|im_end|>", "")
    )
    tok.save(tmp_path / "vocab.json")
    assert Tokenizer.load(tmp_path / "vocab.json") == tok


def test_word_tokenizer_and_unknown_token():
    tok = Tokenizer.build("word", ["jump twice", "I_JUMP I_JUMP"])
    assert tok.decode(tok.encode("jump twice <sep>")) == "jump twice <sep>"
    with pytest.raises(ValueError, match="'walk' is not in the vocabulary"):
        tok.encode("walk")
    with pytest.raises(ValueError, match="kind"):
        Tokenizer("bytes", ("a",))
