"""The trimodal emotion recogniser of the paper (Fig. 1, eq. 1-3).

    MM_m(F_m)   one transformer encoder per modality m            (B, T_m, D_m) -> (B, T'_m, d)
    resample    masked adaptive pooling to the fusion length L    (B, T'_m, d)  -> (B, L, d)
    WS          sum_m w_m * resampled_m                 (eq. 1)   -> (B, L, d)
    MF          MFM(WS), mean over the L steps          (eq. 2)   -> (B, d)
    P           softmax / sigmoid of FF(MF)             (eq. 3)   -> (B, K)

``forward`` returns the logits FF(MF); :meth:`TrimodalRecognizer.probabilities` applies eq. 3's
softmax (single-label sets) or a per-emotion sigmoid (multi-label sets such as CMU-MOSEI).

Missing modalities: on its own the recogniser fuses the modalities a sample has, with their weights
renormalised to sum to 1 (see :mod:`xmer.models.fusion`); in the full method the translators imagine
the missing ones first. Rows that lack a modality are not run through that modality's encoder at all,
so their (zero, or any) feature values cannot change the output. A modality that no row of a batch
has leaves its encoder without gradient for that step (distributed training then needs
``find_unused_parameters=True``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from xmer.config import ModelConfig
from xmer.data.contract import Batch
from xmer.errors import ConfigError
from xmer.modalities import MODALITIES
from xmer.models.encoders import ModalityEncoder
from xmer.models.fusion import FusionModule, modality_weights, resample, weighted_sum


class TrimodalRecognizer(nn.Module):
    """Per-modality transformers, weighted-sum fusion, fusion transformer, feed-forward head.

    Args:
        input_dims: modality -> feature size D_m, for the modalities the model reads (normally all
            three). Batch modalities outside it are ignored.
        num_classes: K.
        multi_label: per-emotion sigmoid and binary cross-entropy instead of softmax and cross-entropy.
        config: sizes and the fusion weights w_m (:class:`xmer.config.ModelConfig`).

    Raises:
        ConfigError: a size is invalid, or a modality has no positive weight in ``modality_weights``.
    """

    def __init__(self, input_dims: dict[str, int], num_classes: int, multi_label: bool, config: ModelConfig) -> None:
        super().__init__()
        _validate(input_dims, num_classes, config)
        self.config = config
        self.num_classes = num_classes
        self.multi_label = multi_label
        self.modalities = tuple(m for m in MODALITIES if m in input_dims)
        self.weights = {m: float(config.modality_weights[m]) for m in self.modalities}
        self.encoders = nn.ModuleDict(
            {
                m: ModalityEncoder(
                    input_dims[m],
                    config.d_model,
                    config.d_ff,
                    config.heads,
                    config.encoder_layers,
                    config.max_encoder_steps,
                    config.dropout,
                    config.attention_dropout,
                )
                for m in self.modalities
            }
        )
        self.fusion = FusionModule(
            config.d_model, config.d_ff, config.heads, config.fusion_layers, config.dropout, config.attention_dropout
        )
        self.head = nn.Sequential(
            nn.Linear(config.d_model, config.d_model),
            nn.ReLU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.d_model, num_classes),
        )

    def presence(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Which rows have which of the model's modalities.

        A row has modality m when ``batch.present[m]`` is True and its mask has a real step; a
        modality missing from the batch dicts is absent everywhere.

        Returns:
            modality -> (B,) bool, for every modality of the model.

        Raises:
            ValueError: a row has none of the model's modalities; names the sample id(s).
        """
        size = len(batch.ids)
        device = batch.labels.device
        present = {}
        for m in self.modalities:
            if m in batch.present:
                present[m] = batch.present[m].bool() & batch.mask[m].any(1)  # (B,)
            else:
                present[m] = torch.zeros(size, dtype=torch.bool, device=device)
        empty = ~torch.stack(list(present.values())).any(0)  # (B,)
        if bool(empty.any()):
            rows = empty.nonzero().squeeze(1).tolist()
            names = ", ".join(repr(batch.ids[i]) for i in rows[:5]) + (" ..." if len(rows) > 5 else "")
            raise ValueError(
                f"{len(rows)} sample(s) have none of the model's modalities ({', '.join(self.modalities)}): "
                f"{names}"
            )
        return present

    def forward(self, batch: Batch) -> torch.Tensor:
        """Logits for a batch.

        Args:
            batch: features (B, T_m, D_m), mask (B, T_m), present (B,) per modality; any subset of
                modalities per row, at least one of the model's.

        Returns:
            (B, K) logits FF(MF) of eq. 3 (before softmax / sigmoid).
        """
        present = self.presence(batch)  # m -> (B,)
        size, length, width = len(batch.ids), self.config.fusion_length, self.config.d_model
        streams = {}
        for m, encoder in self.encoders.items():
            rows = present[m]
            if not bool(rows.any()):
                continue
            x, mask = batch.features[m], batch.mask[m]  # (B, T, D_m), (B, T)
            if x.shape[-1] != encoder.project.in_features:
                expected = encoder.project.in_features
                raise ValueError(f"{m} features have size {x.shape[-1]}; the model expects {expected}")
            index = None if bool(rows.all()) else rows.nonzero().squeeze(1)  # (B_m,) rows that have m
            if index is not None:
                x, mask = x[index], mask[index]
            h, h_mask = encoder(x, mask)  # (B_m, T', d), (B_m, T')
            stream = resample(h, h_mask, length)  # (B_m, L, d)
            if index is not None:
                stream = stream.new_zeros(size, length, width).index_copy(0, index, stream)  # (B, L, d)
            streams[m] = stream
        fused = weighted_sum(streams, modality_weights(present, self.weights))  # (B, L, d)
        return self.head(self.fusion(fused))  # (B, K)

    def loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy (labels (B,) long) or binary cross-entropy with logits (labels (B, K)).

        Args:
            logits: (B, K).
            labels: (B,) class indices, or (B, K) multi-hot floats for a multi-label model.

        Returns:
            () scalar loss.
        """
        if self.multi_label:
            if labels.shape != logits.shape:
                raise ValueError(
                    f"multi-label model: labels {tuple(labels.shape)} must match logits {tuple(logits.shape)}"
                )
            return F.binary_cross_entropy_with_logits(logits, labels.to(logits.dtype))
        if labels.dim() != 1 or labels.shape[0] != logits.shape[0]:
            raise ValueError(
                f"single-label model: expected labels of shape ({logits.shape[0]},), got {tuple(labels.shape)}"
            )
        return F.cross_entropy(logits, labels.long())

    def probabilities(self, logits: torch.Tensor) -> torch.Tensor:
        """(B, K) logits -> (B, K) class probabilities (softmax) or per-emotion probabilities (sigmoid)."""
        return torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)


def _validate(input_dims: dict[str, int], num_classes: int, config: ModelConfig) -> None:
    if not input_dims:
        raise ConfigError("the model needs at least one input modality")
    unknown = sorted(set(input_dims) - set(MODALITIES))
    if unknown:
        raise ConfigError(f"unknown modality {unknown[0]!r}; expected {', '.join(MODALITIES)}")
    if num_classes < 1:
        raise ConfigError(f"num_classes must be at least 1, got {num_classes}")
    for key in ("d_model", "d_ff", "heads", "fusion_length", "max_encoder_steps"):
        if getattr(config, key) < 1:
            raise ConfigError(f"model.{key} must be at least 1, got {getattr(config, key)}")
    for key in ("encoder_layers", "fusion_layers"):
        if getattr(config, key) < 0:
            raise ConfigError(f"model.{key} must not be negative, got {getattr(config, key)}")
    if config.d_model % config.heads:
        raise ConfigError(f"model.d_model ({config.d_model}) must be divisible by model.heads ({config.heads})")
    for key in ("dropout", "attention_dropout"):
        if not 0.0 <= getattr(config, key) < 1.0:
            raise ConfigError(f"model.{key} must be in [0, 1), got {getattr(config, key)}")
    for m in input_dims:
        weight = config.modality_weights.get(m)
        if not isinstance(weight, (int, float)) or weight <= 0:
            raise ConfigError(
                f"model.modality_weights needs a positive weight for {m!r}, got {weight!r} "
                f"(the paper uses 1/3 for each of {', '.join(MODALITIES)})"
            )
