"""Baselines the paper's recogniser is compared with (experiment ``main``).

Both have the recogniser's interface (see :mod:`xmer.models`) and accept any subset of modalities
per row, deciding presence exactly as the recogniser does (``present`` and a real step in the mask).

``late_fusion``: decision-level fusion. One encoder MM_m per modality (the recogniser's
:class:`~xmer.models.encoders.ModalityEncoder`), masked mean over time, its own feed-forward head,
and the prediction is the mean of the logits of the modalities the row has::

    z_m = Head_m(mean_t MM_m(F_m))                       (B_m, K) for the rows that have m
    logits = sum_m present_m * z_m / sum_m present_m      (B, K)

``mult``: a Multimodal-Transformer-style model (Tsai et al. 2019, the paper's ref. 25). Every
modality is shortened in time, projected to the model width and given positions (X_m). For each
target modality b and each other source a, a cross-modal transformer CM_{a->b} lets b's sequence
query a's sequence (keys/values), ``encoder_layers`` layers deep; the outputs over the sources a row
has are averaged, a self-attention transformer (``fusion_layers`` layers) reads the result, and a
masked mean over time gives the target's state. The three states are concatenated (zeros for a
target the row lacks) and a residual feed-forward head classifies::

    X_m   = LN(Linear(shorten(F_m)) + pos)                       (B, T_m, d)
    Z_a→b = CM_{a->b}(query X_b, keys/values X_a)                (B, T_b, d)
    Z_b   = mean over present a of Z_a→b   (X_b if b is alone)   (B, T_b, d)
    s_b   = mean_t SelfAttn_b(Z_b)                               (B, d)
    h     = [s_v; s_a; s_t];  logits = Out(h + FF(h))            (B, 3d) -> (B, K)

Differences from Tsai et al., and why: sizes are the paper's ModelConfig (d 128, ff 128, 4 heads)
rather than MulT's; the two cross-modal streams of a target are averaged over the sources present
instead of concatenated (2d), so that a missing source drops out instead of feeding zeros; time is
pooled by a masked mean rather than by taking the last step (padding-proof); long inputs are
average-pooled in time to ``max_encoder_steps`` first (the original MulT trains at about 3 samples/s
on unaligned input on a 2-core CPU, see benchmarks/recognizer.py). Speeds: benchmarks/baselines.py.

Rows are never mixed: every attention masks padding and absent modalities, and a modality's modules
run only on the rows that have it, so an absent modality's feature values cannot change the output.
As with the recogniser, modules of a modality that no row of a batch has get no gradient that step
(distributed training then needs ``find_unused_parameters=True``).
"""

from __future__ import annotations

import dataclasses

import torch
import torch.nn.functional as F
from torch import nn

from xmer.config import ModelConfig
from xmer.data.contract import Batch
from xmer.errors import ConfigError
from xmer.modalities import MODALITIES, pair_name
from xmer.models.encoders import ModalityEncoder
from xmer.models.layers import TransformerEncoder, masked_mean
from xmer.models.recognizer import TrimodalRecognizer, _validate


class _Baseline(nn.Module):
    """What every baseline shares with the recogniser: validation, presence, loss, probabilities."""

    # The recogniser's own methods; they read only ``self.modalities`` and ``self.multi_label``.
    presence = TrimodalRecognizer.presence
    loss = TrimodalRecognizer.loss
    probabilities = TrimodalRecognizer.probabilities

    def __init__(self, input_dims: dict[str, int], num_classes: int, multi_label: bool, config: ModelConfig) -> None:
        super().__init__()
        # The baselines do not use the fusion weights w_m; everything else is checked as for the recogniser.
        _validate(input_dims, num_classes, dataclasses.replace(config, modality_weights=dict.fromkeys(input_dims, 1.0)))
        self.config = config
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.modalities = tuple(m for m in MODALITIES if m in input_dims)

    def encode(self, encoders: nn.ModuleDict, batch: Batch, present: dict[str, torch.Tensor]) -> dict:
        """Run each modality's encoder on the rows that have it.

        Returns:
            modality -> ``(index, h, mask)``: (B_m,) long rows of the batch, (B_m, T', d) encodings
            and their (B_m, T') bool mask; only for modalities some row has.
        """
        out = {}
        for m, encoder in encoders.items():
            rows = present[m]  # (B,)
            if not bool(rows.any()):
                continue
            x = batch.features[m]  # (B, T, D_m)
            if x.shape[-1] != encoder.project.in_features:
                expected = encoder.project.in_features
                raise ValueError(f"{m} features have size {x.shape[-1]}; the model expects {expected}")
            index = rows.nonzero().squeeze(1)  # (B_m,)
            h, mask = encoder(_take(x, index), _take(batch.mask[m], index))  # (B_m, T', d), (B_m, T')
            out[m] = (index, h, mask)
        return out


def _take(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """Rows ``index`` (sorted, unique) of x; x itself when they are all its rows (saves a copy)."""
    return x if index.numel() == x.shape[0] else x[index]


def _put(x: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """Inverse of :func:`_take`: (len(index), ...) rows into a (size, ...) tensor of zeros."""
    return x if index.numel() == size else x.new_zeros(size, *x.shape[1:]).index_copy(0, index, x)


def _encoders(input_dims: dict[str, int], config: ModelConfig, layers: int) -> nn.ModuleDict:
    return nn.ModuleDict(
        {
            m: ModalityEncoder(
                input_dims[m],
                config.d_model,
                config.d_ff,
                config.heads,
                layers,
                config.max_encoder_steps,
                config.dropout,
                config.attention_dropout,
            )
            for m in MODALITIES
            if m in input_dims
        }
    )


# ---------------------------------------------------------------------------------------------------
# Late fusion


class LateFusion(_Baseline):
    """Per-modality encoder and classifier; the prediction averages the present modalities' logits.

    Loss: the recogniser's loss (cross-entropy, or binary cross-entropy for multi-label sets) of the
    *averaged* logits, so training optimises the very prediction the model makes, and a modality's
    head learns what it adds to the others rather than to stand alone. (Training each head on its own
    logits is the other common choice; on unimodal rows the two coincide.) The softmax of averaged
    logits is the normalised geometric mean of the per-modality softmaxes.

    Args: as :class:`~xmer.models.recognizer.TrimodalRecognizer` (``fusion_layers``,
    ``fusion_length`` and ``modality_weights`` are unused).
    """

    def __init__(self, input_dims: dict[str, int], num_classes: int, multi_label: bool, config: ModelConfig) -> None:
        super().__init__(input_dims, num_classes, multi_label, config)
        self.encoders = _encoders(input_dims, config, config.encoder_layers)
        self.heads = nn.ModuleDict(
            {
                m: nn.Sequential(
                    nn.Linear(config.d_model, config.d_model),
                    nn.ReLU(),
                    nn.Dropout(config.dropout),
                    nn.Linear(config.d_model, num_classes),
                )
                for m in self.modalities
            }
        )

    def forward(self, batch: Batch) -> torch.Tensor:
        """Batch (any subset of modalities per row) -> (B, K) mean of the present modalities' logits."""
        present = self.presence(batch)  # m -> (B,)
        total = count = None
        for m, (index, h, mask) in self.encode(self.encoders, batch, present).items():
            logits = self.heads[m](masked_mean(h, mask))  # (B_m, K)
            if total is None:
                total = logits.new_zeros(len(batch.ids), self.num_classes)
                count = logits.new_zeros(len(batch.ids), 1)
            total = total + _put(logits, index, len(batch.ids))  # (B, K)
            count = count + present[m].to(logits.dtype)[:, None]
        return total / count  # presence() guarantees count >= 1


# ---------------------------------------------------------------------------------------------------
# Multimodal-Transformer-style cross-modal attention


class CrossAttention(nn.Module):
    """Multi-head attention of a query sequence over a context sequence, on the fused SDPA kernel.

    Args:
        d_model: width of queries, context and output.
        heads: attention heads.
        attention_dropout: dropout on the attention weights (training only).
    """

    def __init__(self, d_model: int, heads: int, attention_dropout: float = 0.0) -> None:
        super().__init__()
        if d_model % heads:
            raise ValueError(f"d_model ({d_model}) must be divisible by heads ({heads})")
        self.heads = heads
        self.attention_dropout = attention_dropout
        self.query = nn.Linear(d_model, d_model)
        self.key_value = nn.Linear(d_model, 2 * d_model)
        self.out = nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attend from ``x`` to ``context``.

        Args:
            x: (B, T, D) queries.
            context: (B, S, D) keys and values.
            context_mask: (B, S) bool, True at real context steps, or None (all real).

        Returns:
            (B, T, D). A row whose context has no real step gets exactly zero (not the NaN a softmax
            over no keys gives), so a residual connection passes its queries through unchanged.
        """
        batch, steps, width = x.shape
        size = width // self.heads
        q = self.query(x).view(batch, steps, self.heads, size).transpose(1, 2)  # (B, H, T, D/H)
        k, v = self.key_value(context).view(batch, context.shape[1], 2, self.heads, size).permute(2, 0, 3, 1, 4)
        # k, v: (B, H, S, D/H)
        has_keys = None
        keys = None
        if context_mask is not None and not bool(context_mask.all()):
            has_keys = context_mask.any(1)  # (B,)
            # a row without keys attends to all of them (finite), and its output is zeroed below
            keys = (context_mask | ~has_keys[:, None])[:, None, None, :]  # (B, 1, 1, S)
        dropout = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=keys, dropout_p=dropout)  # (B, H, T, D/H)
        y = self.out(y.transpose(1, 2).reshape(batch, steps, width))  # (B, T, D)
        if has_keys is not None and not bool(has_keys.all()):
            y = torch.where(has_keys[:, None, None], y, 0.0)
        return y


class CrossModalBlock(nn.Module):
    """One pre-norm cross-modal transformer layer (MulT eq. 4-6):
    z + Drop(CrossAttn(LN(z), LN(x_source))), then z + Drop(FF(LN(z)))."""

    def __init__(self, d_model: int, d_ff: int, heads: int, dropout: float, attention_dropout: float) -> None:
        super().__init__()
        self.norm_query = nn.LayerNorm(d_model)
        self.norm_context = nn.LayerNorm(d_model)
        self.attention = CrossAttention(d_model, heads, attention_dropout)
        self.norm2 = nn.LayerNorm(d_model)
        self.feed_forward = nn.Sequential(nn.Linear(d_model, d_ff), nn.ReLU(), nn.Linear(d_ff, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, z: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor | None) -> torch.Tensor:
        """z (B, T, D) target stream, context (B, S, D) source, context_mask (B, S) bool or None -> (B, T, D)."""
        z = z + self.dropout(self.attention(self.norm_query(z), self.norm_context(context), context_mask))
        return z + self.dropout(self.feed_forward(self.norm2(z)))


class CrossModalTransformer(nn.Module):
    """CM_{a->b}: a stack of :class:`CrossModalBlock` reading one source, plus a final LayerNorm."""

    def __init__(self, layers: int, d_model: int, d_ff: int, heads: int, dropout: float, attention_dropout: float):
        super().__init__()
        self.layers = nn.ModuleList(
            CrossModalBlock(d_model, d_ff, heads, dropout, attention_dropout) for _ in range(layers)
        )
        self.norm = nn.LayerNorm(d_model)

    def forward(self, z: torch.Tensor, context: torch.Tensor, context_mask: torch.Tensor) -> torch.Tensor:
        """z (B, T, D) target, context (B, S, D) source, context_mask (B, S) bool -> (B, T, D)."""
        if bool(context_mask.all()):
            context_mask = None  # no padding: the unmasked kernel is faster
        for layer in self.layers:
            z = layer(z, context, context_mask)
        return self.norm(z)


class MulT(_Baseline):
    """Multimodal-Transformer-style baseline: cross-modal attention per target modality (module doc).

    Args: as :class:`~xmer.models.recognizer.TrimodalRecognizer`. ``encoder_layers`` (at least 1) is
    the depth of each cross-modal transformer, ``fusion_layers`` that of each target's self-attention
    transformer; ``fusion_length`` and ``modality_weights`` are unused.
    """

    def __init__(self, input_dims: dict[str, int], num_classes: int, multi_label: bool, config: ModelConfig) -> None:
        super().__init__(input_dims, num_classes, multi_label, config)
        if config.encoder_layers < 1:
            raise ConfigError("model.encoder_layers (cross-modal layers of 'mult') must be at least 1")
        d = config.d_model
        # X_m: shorten, project, positions, LayerNorm (a ModalityEncoder without transformer layers)
        self.embed = _encoders(input_dims, config, 0)
        self.cross = nn.ModuleDict(
            {
                pair_name(source, target): CrossModalTransformer(
                    config.encoder_layers, d, config.d_ff, config.heads, config.dropout, config.attention_dropout
                )
                for target in self.modalities
                for source in self.modalities
                if source != target
            }
        )
        self.self_attention = nn.ModuleDict(
            {
                m: TransformerEncoder(
                    config.fusion_layers, d, config.d_ff, config.heads, config.dropout, config.attention_dropout
                )
                for m in self.modalities
            }
        )
        width = d * len(self.modalities)
        self.head = nn.Sequential(
            nn.Linear(width, width), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(width, width)
        )  # residual MLP of MulT's output layer
        self.out = nn.Linear(width, num_classes)

    def forward(self, batch: Batch) -> torch.Tensor:
        """Batch (any subset of modalities per row) -> (B, K) logits."""
        present = self.presence(batch)  # m -> (B,)
        size, d = len(batch.ids), self.config.d_model
        encoded = self.encode(self.embed, batch, present)  # m -> (index, X_m (B_m, T_m, d), mask)
        # Sources in batch coordinates, zero and masked out for the rows that lack them.
        sources = {m: (_put(x, index, size), _put(mask, index, size)) for m, (index, x, mask) in encoded.items()}
        zeros = next(iter(encoded.values()))[1].new_zeros(size, d)  # presence() guarantees one modality
        states = []
        for target in self.modalities:
            if target not in encoded:
                states.append(zeros)  # no row has the target
                continue
            index, x, mask = encoded[target]  # (B_t,), (B_t, T, d), (B_t, T)
            total, count = torch.zeros_like(x), x.new_zeros(len(index))
            for source in encoded:
                if source == target:
                    continue
                both = present[source][index]  # (B_t,) rows of the target that also have the source
                if not bool(both.any()):
                    continue
                rows = both.nonzero().squeeze(1)  # (B_ts,)
                context, context_mask = sources[source]
                context_rows = _take(index, rows)  # (B_ts,) rows of the batch
                z = self.cross[pair_name(source, target)](
                    _take(x, rows), _take(context, context_rows), _take(context_mask, context_rows)
                )  # (B_ts, T, d)
                total = total + _put(z, rows, len(index))
                count = count + both.to(x.dtype)
            # mean over the sources each row has; a row with the target alone keeps X_target
            z = torch.where((count > 0)[:, None, None], total / count.clamp(min=1.0)[:, None, None], x)
            state = masked_mean(self.self_attention[target](z, mask), mask)  # (B_t, d)
            states.append(_put(state, index, size))  # (B, d), zero where absent
        h = torch.cat(states, dim=-1)  # (B, M d)
        return self.out(h + self.head(h))  # (B, K)
