"""The language model's shape, importable without torch (grids are planned at DAG time)."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int  # longest sequence (positions)
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int  # set independently: the depth experiment shrinks it as layers are added

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "d_model", "n_head", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def non_embedding_params(self) -> int:
        """N of :meth:`GPT.num_params` (non_embedding=True) from the shape alone, so grids can
        be planned without torch: per block two LayerNorms (4d), qkv and output (4d^2) and
        the MLP (2 d d_ff), plus the final LayerNorm (2d). A test checks it against the model."""
        d = self.d_model
        return self.n_layer * (4 * d + 4 * d * d + 2 * d * self.d_ff) + 2 * d
