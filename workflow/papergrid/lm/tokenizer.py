"""Character-, word- and symbol-level tokenizers whose vocabulary is saved beside the data.

Special tokens (chat-template markers, end and separator tokens) are atomic: text is
split on them first, the rest by characters or whitespace-separated words.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from papergrid.io import write_text

KINDS = ("char", "word", "symbol")
PAD, EOS, SEP = "<pad>", "<eos>", "<sep>"


@dataclass(frozen=True)
class Tokenizer:
    kind: str
    tokens: tuple[str, ...]  # id -> token; specials first
    specials: tuple[str, ...] = ()
    _index: dict = field(init=False, repr=False, compare=False)
    _pattern: re.Pattern | None = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.kind not in KINDS:
            raise ValueError(f"tokenizer kind must be one of {KINDS}, got {self.kind!r}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError("tokenizer vocabulary has duplicate tokens")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})
        pattern = None
        if self.specials:
            alts = "|".join(re.escape(s) for s in sorted(self.specials, key=len, reverse=True))
            pattern = re.compile(f"({alts})")
        object.__setattr__(self, "_pattern", pattern)

    @classmethod
    def build(cls, kind: str, texts: Iterable[str], specials: Sequence[str] = (PAD, EOS, SEP)):
        """Vocabulary: ``specials`` (so <pad> is id 0), then every other unit in sorted order."""
        specials = tuple(dict.fromkeys(specials))  # de-duplicated, order kept
        probe = cls(kind, specials, specials)
        units = sorted({u for text in texts for u in probe._units(text)} - set(specials))
        return cls(kind, specials + tuple(units), specials)

    def _units(self, text: str) -> list[str]:
        parts = self._pattern.split(text) if self._pattern else [text]
        out: list[str] = []
        for part in parts:
            if not part:
                continue
            if part in self.specials:
                out.append(part)
            elif self.kind == "char":
                out.extend(part)
            else:
                out.extend(part.split())
        return out

    def __len__(self) -> int:
        return len(self.tokens)

    def id(self, token: str) -> int:
        return self._index[token]

    def encode(self, text: str) -> list[int]:
        try:
            return [self._index[u] for u in self._units(text)]
        except KeyError as err:
            raise ValueError(f"token {err.args[0]!r} is not in the vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        sep = "" if self.kind == "char" else " "
        return sep.join(self.tokens[i] for i in ids)

    def save(self, path: str | os.PathLike) -> None:
        payload = {"kind": self.kind, "tokens": list(self.tokens), "specials": list(self.specials)}
        write_text(json.dumps(payload, indent=1), path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        with open(path) as fh:
            d = json.load(fh)
        return cls(d["kind"], tuple(d["tokens"]), tuple(d["specials"]))
