"""Model registry: every emotion recogniser xmer can train, built by name from ``ModelConfig.name``.

Every registered model has the same interface (timm-style), so one test sweeps them all:

- constructor ``(input_dims: dict[str, int], num_classes: int, multi_label: bool, config: ModelConfig)``;
- ``forward(batch: Batch) -> (B, K) logits``;
- ``loss(logits, labels) -> scalar``; ``probabilities(logits) -> (B, K)``.
"""

from __future__ import annotations

from torch import nn

from xmer.config import ModelConfig
from xmer.errors import ConfigError
from xmer.models.baselines import LateFusion, MulT
from xmer.models.recognizer import TrimodalRecognizer

MODELS: dict[str, type[nn.Module]] = {
    "recognizer": TrimodalRecognizer,
    "late_fusion": LateFusion,
    "mult": MulT,
}
"""Model name (``ModelConfig.name``) -> class."""


def build_model(config: ModelConfig, input_dims: dict[str, int], num_classes: int, multi_label: bool) -> nn.Module:
    """Build the model ``config.name`` names.

    Args:
        config: the model config.
        input_dims: modality -> feature size D_m, read from the prepared dataset.
        num_classes: K, read from the prepared dataset.
        multi_label: whether the dataset's labels are multi-hot.

    Raises:
        ConfigError: ``config.name`` is not registered (the message lists the valid names), or the
            model rejects its configuration.
    """
    if config.name not in MODELS:
        raise ConfigError(f"unknown model.name {config.name!r}; valid names: {', '.join(sorted(MODELS))}")
    return MODELS[config.name](input_dims, num_classes, multi_label, config)


__all__ = ["MODELS", "TrimodalRecognizer", "build_model"]
