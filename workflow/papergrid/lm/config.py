"""The language model's shape, importable without torch (grids are planned at DAG time)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

# how every projection is built: ``linear`` (nn.Linear, GPT-2) or ``pattention``
# (TokenFormer's parameter attention: tokens attend to learnable key/value tokens)
LAYERS = ("linear", "pattention")
# TokenFormer's score functions Theta over a token's n scores (papers.md, TokenFormer):
# l2_gelu is Eq 16 (L2-normalise, times sqrt(n), then GeLU; the official default),
# gelu_l2 GeLU then L2 (times sqrt(n)), gelu_l1 GeLU then L1 (times n), softmax exp then L1
# (times n): the paper's ablation exp+L1 / GeLU+L1 / GeLU+L2
NORMS = ("l2_gelu", "gelu_l2", "gelu_l1", "softmax")


@dataclass(frozen=True)
class GPTConfig:
    vocab_size: int
    block_size: int  # longest sequence (positions)
    n_layer: int
    d_model: int
    n_head: int
    d_ff: int  # set independently: the depth experiment shrinks it as layers are added
    # pattention only: d_ff is the feed-forward block's count of parameter tokens, and
    # attn_tokens that of each of the Q, K, V and output projections
    layer: str = "linear"
    attn_tokens: int = 0
    norm: str = "l2_gelu"

    def __post_init__(self):
        for name in ("vocab_size", "block_size", "n_layer", "d_model", "n_head", "d_ff"):
            if getattr(self, name) < 1:
                raise ValueError(f"GPTConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.d_model % self.n_head:
            raise ValueError(f"d_model {self.d_model} is not divisible by n_head {self.n_head}")
        if self.layer not in LAYERS:
            raise ValueError(f"GPTConfig.layer must be one of {LAYERS}, got {self.layer!r}")
        if self.norm not in NORMS:
            raise ValueError(f"GPTConfig.norm must be one of {NORMS}, got {self.norm!r}")
        if self.layer == "pattention" and self.attn_tokens < 1:
            raise ValueError(f"GPTConfig.attn_tokens must be >= 1, got {self.attn_tokens}")
        if self.layer == "linear" and self.attn_tokens:
            raise ValueError("GPTConfig.attn_tokens applies to layer 'pattention' only")

    def to_dict(self) -> dict:
        """The fields, without the parameter-attention ones of a linear model (so that a
        standard model's dict, and the run hashes made from it, keep their old form)."""
        d = asdict(self)
        if self.layer == "linear":
            for name in ("layer", "attn_tokens", "norm"):
                del d[name]
        return d

    @property
    def non_embedding_params(self) -> int:
        """N of :meth:`GPT.num_params` (non_embedding=True) from the shape alone, so grids can
        be planned without torch: per block two LayerNorms (4d), qkv and output (4d^2, or
        four parameter attentions of 2 d attn_tokens each) and the feed-forward block
        (2 d d_ff either way), plus the final LayerNorm (2d). A test checks it against the
        model."""
        d = self.d_model
        attention = 4 * d * d if self.layer == "linear" else 8 * d * self.attn_tokens
        return self.n_layer * (4 * d + attention + 2 * d * self.d_ff) + 2 * d
