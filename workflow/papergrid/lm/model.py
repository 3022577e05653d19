"""A decoder-only transformer in the nanoGPT style, with the hooks later experiments need.

- Every linear layer is built by ``linear_factory(d_in, d_out, role)``, so the precision
  experiment can pass fake-quantised linears without touching this file. ``role`` is one
  of ``LINEAR_ROLES``.
- ``cfg.layer == "pattention"`` builds TokenFormer's variant from the config alone (so a
  saved model reloads as what it was): separate Q, K, V and output parameter attentions
  of ``cfg.attn_tokens`` tokens each, and a feed-forward block that is one parameter
  attention of ``cfg.d_ff`` tokens (:mod:`papergrid.lm.pattention`).
- ``kv_transform`` is applied to attention keys and values (KV-cache quantisation).
- ``forward(..., return_hidden=True)`` exposes the last hidden state (temperature heads).
- ``token_logprobs`` gives per-token log-probabilities of given tokens (DPO, RLVR).
- ``generate`` samples with temperature, top-k and an end token (temperature 0 is greedy);
  :mod:`papergrid.lm.sampling` samples left-padded prompts of different lengths with a
  temperature per row and per step, through ``attention_mask`` and ``decode_step``.

N means one thing everywhere: :meth:`GPT.num_params` with ``non_embedding=True``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from papergrid.lm.config import GPTConfig
from papergrid.lm.pattention import Pattention, SplitProjection

__all__ = ["GPT", "GPTConfig", "LINEAR_ROLES", "default_linear"]

LINEAR_ROLES = ("attn_qkv", "attn_out", "mlp_in", "mlp_out")
LinearFactory = Callable[[int, int, str], nn.Module]


def default_linear(d_in: int, d_out: int, role: str) -> nn.Module:
    return nn.Linear(d_in, d_out, bias=False)


def pattention_factory(cfg: GPTConfig) -> LinearFactory:
    """TokenFormer's projections: Q, K and V as three parameter attentions."""

    def build(d_in: int, d_out: int, role: str) -> nn.Module:
        def one(width: int) -> Pattention:
            return Pattention(d_in, width, cfg.attn_tokens, cfg.norm)

        if role == "attn_qkv":
            return SplitProjection({p: one(d_out // 3) for p in ("q", "k", "v")})
        if role == "attn_out":
            return one(d_out)
        raise ValueError(f"pattention builds no {role!r} layer")

    return build


def feed_forward(cfg: GPTConfig, linear: LinearFactory) -> nn.Module:
    if cfg.layer == "pattention":
        return Pattention(cfg.d_model, cfg.d_model, cfg.d_ff, cfg.norm)
    return MLP(cfg, linear)


class CausalSelfAttention(nn.Module):
    def __init__(self, cfg: GPTConfig, linear: LinearFactory, kv_transform=None):
        super().__init__()
        self.n_head = cfg.n_head
        self.qkv = linear(cfg.d_model, 3 * cfg.d_model, "attn_qkv")
        self.out = linear(cfg.d_model, cfg.d_model, "attn_out")
        self.kv_transform = kv_transform

    def forward(
        self, x: torch.Tensor, cache: dict | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """``cache`` (generation only) holds this layer's keys and values so far; new
        positions attend to all of them and are appended. ``mask`` (B, 1, T, T_keys), True
        where a query may attend, replaces the causal mask (padded batches)."""
        B, T, C = x.shape
        q, k, v = self.qkv(x).split(C, dim=2)
        if self.kv_transform is not None:
            k, v = self.kv_transform(k), self.kv_transform(v)
        hs = C // self.n_head
        q = q.view(B, T, self.n_head, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, hs).transpose(1, 2)
        v = v.view(B, T, self.n_head, hs).transpose(1, 2)
        extending = cache is not None and "k" in cache
        if extending:
            if T > 1:
                raise ValueError("a cached step takes one new position at a time")
            k = torch.cat([cache["k"], k], dim=2)
            v = torch.cat([cache["v"], v], dim=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v
        if mask is not None:
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        else:
            # one new query may see every cached position: no mask then
            y = F.scaled_dot_product_attention(q, k, v, is_causal=not extending)
        y = y.transpose(1, 2).contiguous().view(B, T, C)  # (B, T, C)
        return self.out(y)


class MLP(nn.Module):
    def __init__(self, cfg: GPTConfig, linear: LinearFactory):
        super().__init__()
        self.fc = linear(cfg.d_model, cfg.d_ff, "mlp_in")
        self.proj = linear(cfg.d_ff, cfg.d_model, "mlp_out")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(F.gelu(self.fc(x)))


class Block(nn.Module):
    def __init__(self, cfg: GPTConfig, linear: LinearFactory, kv_transform=None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg, linear, kv_transform)
        self.ln_2 = nn.LayerNorm(cfg.d_model)
        self.mlp = feed_forward(cfg, linear)

    def forward(
        self, x: torch.Tensor, cache: dict | None = None, mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x), cache, mask)  # pre-norm residual block
        return x + self.mlp(self.ln_2(x))


def padded_positions(attention_mask: torch.Tensor) -> torch.Tensor:
    """Position of each token counted from its row's first real token (B, T); padding
    before it sits at 0 (it is masked out of attention anyway)."""
    return (attention_mask.long().cumsum(dim=1) - 1).clamp_min(0)


def padded_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, 1, T, T) attention mask: causal, real keys only; a padded query attends to
    itself so that no row of the softmax is empty."""
    T = attention_mask.size(1)
    causal = torch.ones(T, T, dtype=torch.bool, device=attention_mask.device).tril()
    keys = attention_mask.bool()[:, None, None, :]
    eye = torch.eye(T, dtype=torch.bool, device=attention_mask.device)
    return (causal & keys) | eye


class GPT(nn.Module):
    def __init__(
        self,
        cfg: GPTConfig,
        linear_factory: LinearFactory = default_linear,
        kv_transform: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        if cfg.layer == "pattention":
            if linear_factory is not default_linear:
                raise ValueError("a linear_factory applies to layer 'linear' only")
            linear_factory = pattention_factory(cfg)
        self.cfg = cfg
        self.wte = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.wpe = nn.Embedding(cfg.block_size, cfg.d_model)
        self.blocks = nn.ModuleList(
            Block(cfg, linear_factory, kv_transform) for _ in range(cfg.n_layer)
        )
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.apply(self._init_weights)
        # GPT-2: residual projections scaled by 1/sqrt(2 * n_layer)
        for name, p in self.named_parameters():
            if name.endswith(("attn.out.weight", "mlp.proj.weight", "attn.out.value", "mlp.value")):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * cfg.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def num_params(self, non_embedding: bool = True) -> int:
        """Parameter count. With ``non_embedding`` the token and position embeddings are
        excluded; the output head is tied to the token embedding, so it is excluded too.
        This is the N of every scaling law in papergrid (Kaplan et al. 2020's convention).
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.wte.weight.numel() + self.wpe.weight.numel()
        return n

    def flops_per_token(self, seq_len: int | None = None) -> float:
        """Training FLOPs per token (forward and backward), counting every matmul that runs.

        6 * (N + d_model * vocab) for the weight matmuls, the tied output head included,
        plus 12 * n_layer * d_model * seq_len for attention scores and values (PaLM,
        Chowdhery et al. 2022, App. B). Layer norms and softmax are not counted.
        """
        t = self.cfg.block_size if seq_len is None else seq_len
        dense = 6 * (self.num_params() + self.cfg.d_model * self.cfg.vocab_size)
        return float(dense + 12 * self.cfg.n_layer * self.cfg.d_model * t)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        loss_mask: torch.Tensor | None = None,
        reduction: str = "mean",
        return_hidden: bool = False,
        attention_mask: torch.Tensor | None = None,
    ):
        """Logits (B, T, vocab); with ``targets`` also the cross-entropy.

        ``loss_mask`` (B, T) selects the target positions that count; ``reduction`` is
        ``mean`` over counted tokens or ``sum`` (Tülu 3's summed-token SFT loss).
        With ``return_hidden`` the final hidden state (B, T, d_model) is returned too.
        ``attention_mask`` (B, T), 1 for real tokens and 0 for padding on either side,
        keeps padding out of attention and numbers positions from each row's first real
        token, so a left-padded prompt gives the logits it gives alone.
        """
        B, T = idx.shape
        if T > self.cfg.block_size:
            raise ValueError(f"sequence of {T} tokens exceeds block_size {self.cfg.block_size}")
        if attention_mask is None:
            pos, mask = torch.arange(T, device=idx.device), None
        else:
            pos, mask = padded_positions(attention_mask), padded_mask(attention_mask)
        x = self.wte(idx) + self.wpe(pos)  # (B, T, d)
        for block in self.blocks:
            x = block(x, mask=mask)
        h = self.ln_f(x)
        logits = F.linear(h, self.wte.weight)  # tied head, (B, T, vocab)
        loss = None
        if targets is not None:
            nll = F.cross_entropy(
                logits.float().reshape(-1, logits.size(-1)), targets.reshape(-1), reduction="none"
            ).view(B, T)
            mask_ = torch.ones_like(nll) if loss_mask is None else loss_mask.to(nll.dtype)
            total = (nll * mask_).sum()
            loss = total if reduction == "sum" else total / mask_.sum().clamp_min(1)
        if return_hidden:
            return logits, loss, h
        return logits, loss

    def token_logprobs(
        self, idx: torch.Tensor, attention_mask: torch.Tensor | None = None
    ) -> torch.Tensor:
        """log p(idx[:, t] | idx[:, :t]) for t >= 1: shape (B, T - 1).

        Sum them under a response mask for a sequence log-probability (DPO, RLVR).
        """
        mask = None if attention_mask is None else attention_mask[:, :-1]
        logits, _ = self(idx[:, :-1], attention_mask=mask)
        logp = F.log_softmax(logits.float(), dim=-1)
        return logp.gather(-1, idx[:, 1:].unsqueeze(-1)).squeeze(-1)

    def decode_step(
        self, idx: torch.Tensor, pos: torch.Tensor, caches: list[dict], mask: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Feed (B, T) new tokens at positions ``pos`` (T or (B, T)) through the key/value
        caches; ``mask`` (B, 1, T, keys so far) as in :class:`CausalSelfAttention`. Returns
        the logits and the final hidden state of the new positions."""
        x = self.wte(idx) + self.wpe(pos)
        for block, cache in zip(self.blocks, caches, strict=True):
            x = block(x, cache, mask)
        h = self.ln_f(x)
        return F.linear(h, self.wte.weight), h

    @torch.no_grad()
    def generate(
        self,
        idx: torch.Tensor,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int | None = None,
        eos_id: int | None = None,
        generator: torch.Generator | None = None,
        use_cache: bool = True,
    ) -> torch.Tensor:
        """Extend (B, T) prompts of equal length; temperature 0 decodes greedily.

        Sequences that produced ``eos_id`` keep emitting it, so rows stay aligned. With
        ``use_cache`` each step feeds only the new token and reuses earlier keys and values
        (the same logits up to float rounding), and generation stops at ``block_size``;
        without it the whole window is recomputed and slides past ``block_size``.
        """
        done = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        budget = max_new_tokens
        if use_cache:  # positions cannot slide past block_size with a cache
            budget = min(max_new_tokens, self.cfg.block_size - idx.size(1))
        caches = [{} for _ in self.blocks] if use_cache else None
        step_in = idx
        for _ in range(budget):
            if use_cache:
                start = idx.size(1) - step_in.size(1)
                pos = torch.arange(start, idx.size(1), device=idx.device)
                logits, _ = self.decode_step(step_in, pos, caches, None)
            else:
                logits, _ = self(idx[:, -self.cfg.block_size :])
            logits = logits[:, -1, :]  # (B, vocab)
            if temperature == 0:
                nxt = logits.argmax(dim=-1)
            else:
                logits = logits / temperature
                if top_k is not None:
                    kth = torch.topk(logits, min(top_k, logits.size(-1))).values[:, -1:]
                    logits = logits.masked_fill(logits < kth, float("-inf"))
                probs = F.softmax(logits.float(), dim=-1)
                nxt = torch.multinomial(probs, 1, generator=generator).squeeze(-1)
            if eos_id is not None:
                nxt = torch.where(done, torch.full_like(nxt, eos_id), nxt)
                done |= nxt == eos_id
            idx = torch.cat([idx, nxt[:, None]], dim=1)
            step_in = nxt[:, None]
            if eos_id is not None and bool(done.all()):
                break
        return idx
