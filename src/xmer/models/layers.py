"""Transformer building blocks and masked temporal pooling shared by every xmer model.

A small pre-norm transformer encoder built on PyTorch's fused attention
(``torch.nn.functional.scaled_dot_product_attention``), sinusoidal positions (Vaswani et al. 2017,
the paper's ref. 29), and masked pooling over time. Time masks are (B, T) bool, True at real steps;
padding never contributes to an attention output, a mean or a pooled step. Pooling works in *rank*
space (the r-th real step of a row), so it gives the same result however much padding a row has.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def sinusoidal_positions(steps: int, dim: int) -> torch.Tensor:
    """Fixed sinusoidal position embeddings of Vaswani et al. (2017).

    Returns:
        (steps, dim) float32: sin on even channels, cos on odd ones.
    """
    position = torch.arange(steps, dtype=torch.float32)[:, None]  # (T, 1)
    frequency = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(steps, dim)
    table[:, 0::2] = torch.sin(position * frequency)
    table[:, 1::2] = torch.cos(position * frequency[: dim // 2])
    return table


class SelfAttention(nn.Module):
    """Multi-head self-attention on the fused SDPA kernel; padded keys are masked out."""

    def __init__(self, d_model: int, heads: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args: x (B, T, D); mask (B, T) bool, True at real steps, or None (all real).

        Every row needs at least one real step (an all-padding row would softmax over nothing).
        Returns (B, T, D); outputs at padded query steps are finite but meaningless.
        """
        batch, steps, width = x.shape
        q, k, v = self.qkv(x).view(batch, steps, 3, self.heads, width // self.heads).permute(2, 0, 3, 1, 4)
        # q, k, v: (B, H, T, D/H)
        keys = None if mask is None else mask[:, None, None, :]  # (B, 1, 1, T) broadcast over heads, queries
        dropout = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=dropout)  # (B, H, T, D/H)
        return self.out(y.transpose(1, 2).reshape(batch, steps, width))


class TransformerBlock(nn.Module):
    """Pre-norm transformer layer: x + Drop(Attn(LN(x))), then x + Drop(FF(LN(x)))."""

    def __init__(self, d_model: int, d_ff: int, heads: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(d_model)
        self.attention = SelfAttention(d_model, heads, attention_dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), mask (B, T) bool or None -> (B, T, D)."""
        x = x + self.dropout(self.attention(self.norm1(x), mask))
        return x + self.dropout(self.feed_forward(self.norm2(x)))


class TransformerEncoder(nn.Module):
    """A stack of :class:`TransformerBlock` plus the final LayerNorm a pre-norm stack needs."""

    def __init__(
        self, layers: int, d_model: int, d_ff: int, heads: int, dropout: float = 0.0, attention_dropout: float = 0.0
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            TransformerBlock(d_model, d_ff, heads, dropout, attention_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """x (B, T, D), mask (B, T) bool or None -> (B, T, D)."""
        if mask is not None and bool(mask.all()):
            mask = None  # no padding: the unmasked kernel is faster
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


# ---------------------------------------------------------------------------------------------------
# Masked pooling over time


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over the real steps of each row.

    Args:
        x: (B, T, D).
        mask: (B, T) bool, True at real steps.

    Returns:
        (B, D); zero for a row without real steps.
    """
    weight = mask.to(x.dtype).unsqueeze(-1)  # (B, T, 1)
    return (x * weight).sum(1) / weight.sum(1).clamp(min=1.0)


def segment_mean(x: torch.Tensor, mask: torch.Tensor, starts: torch.Tensor, ends: torch.Tensor) -> torch.Tensor:
    """Average the real steps of each row over segments given in rank space.

    Segment s of row b averages the real steps whose rank r (0 for the first real step of the row,
    padding skipped) satisfies ``starts[b, s] <= r < ends[b, s]``. An empty segment gives zeros.

    Args:
        x: (B, T, D).
        mask: (B, T) bool, True at real steps.
        starts: (B, S) long, first rank of each segment.
        ends: (B, S) long, one past the last rank of each segment.

    Returns:
        (B, S, D), in the dtype of ``x``.
    """
    rank = mask.long().cumsum(1) - 1  # (B, T): rank of each real step
    rank = rank.masked_fill(~mask, -1)[:, None, :]  # (B, 1, T); padding never inside a segment
    inside = (rank >= starts[..., None]) & (rank < ends[..., None])  # (B, S, T)
    weight = inside.to(x.dtype)
    weight = weight / weight.sum(-1, keepdim=True).clamp(min=1.0)
    return torch.bmm(weight, x)  # (B, S, D)


def shorten(x: torch.Tensor, mask: torch.Tensor, max_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shorten long sequences in time by masked average pooling, before attention.

    A row with n > ``max_steps`` real steps is average-pooled with stride s = ceil(n / max_steps)
    into ceil(n / s) <= ``max_steps`` steps (the last one may average fewer than s steps); a row
    with n <= ``max_steps`` keeps its steps unchanged. The stride depends on the row's own length, not
    on the padded length, so padding changes nothing. Padding beyond the longest row is cut first.

    Args:
        x: (B, T, D).
        mask: (B, T) bool, True at real steps (real steps first, as :func:`xmer.data.contract.collate`
            makes them; other masks work too, their real steps are packed to the front).

    Returns:
        ``(x', mask')``: (B, T', D) and (B, T') bool, T' <= ``max_steps``; values where ``mask'`` is
        False are unspecified (the caller masks them).
    """
    steps = torch.arange(1, x.shape[1] + 1, device=x.device)  # (T,)
    extent = int((mask * steps).amax()) if mask.numel() else 0  # last real step + 1 over the batch
    x, mask = x[:, : max(extent, 1)], mask[:, : max(extent, 1)]
    if x.shape[1] <= max_steps:
        return x, mask
    length = mask.sum(1)  # (B,)
    stride = ((length + max_steps - 1) // max_steps).clamp(min=1)  # (B,)
    pooled = (length + stride - 1) // stride  # (B,) steps after pooling
    index = torch.arange(int(pooled.max()), device=x.device)[None, :]  # (1, T')
    if bool((mask[:, 1:] <= mask[:, :-1]).all()):  # real steps first: the fast path
        return _stride_pool(x, length, stride, index.shape[1]), index < pooled[:, None]
    starts = (index * stride[:, None]).clamp(max=length[:, None])  # (B, T')
    ends = ((index + 1) * stride[:, None]).clamp(max=length[:, None])
    return segment_mean(x, mask, starts, ends), index < pooled[:, None]


def _stride_pool(x: torch.Tensor, length: torch.Tensor, stride: torch.Tensor, steps: int) -> torch.Tensor:
    """Average pooling of left-aligned rows with stride[b] for row b: (B, T, D) -> (B, steps, D).

    The same result as :func:`segment_mean` over stride segments, at O(B T D) cost and without a
    (B, T, D) temporary: strided sums come from a reshaped view, and only each row's last segment,
    the one that may reach into padding, is recomputed from its real steps. Steps past a row's end
    hold sums of padding; the caller masks them.
    """
    batch, time, width = x.shape
    out = None
    for value in torch.unique(stride).tolist():  # a handful of distinct strides
        full = min(time // value, steps)
        sums = x[:, : full * value].reshape(batch, full, value, width).sum(2)  # (B, full, D), x is not copied
        sums = F.pad(sums, (0, 0, 0, steps - full))  # (B, T', D)
        out = sums if out is None else torch.where((stride == value)[:, None, None], sums, out)
    last = (length - 1).clamp(min=0) // stride  # (B,) each row's last segment
    position = last[:, None] * stride[:, None] + torch.arange(int(stride.max()), device=x.device)  # (B, s_max)
    real = position < length[:, None]  # (B, s_max)
    tail = x.gather(1, position.clamp(max=time - 1)[..., None].expand(-1, -1, width))  # (B, s_max, D)
    tail = torch.where(real[..., None], tail, 0.0).sum(1, keepdim=True)  # (B, 1, D)
    index = torch.arange(steps, device=x.device)[None, :]  # (1, T')
    out = torch.where((index == last[:, None])[..., None], tail, out)
    count = torch.minimum(stride[:, None], length[:, None] - index * stride[:, None]).clamp(min=1)  # (B, T')
    return out / count[..., None].to(out.dtype)
