"""The text front-end's emotion adapter: low-rank (LoRA) updates of all-MiniLM-L6-v2 for emotion.

all-MiniLM-L6-v2 was trained to tell sentences apart by meaning, not by feeling; fine-tuning it on
labelled emotion texts reads every corpus's validation texts better than a linear probe on its plain
sentence vectors (docs/frontends.md and docs/default_model.md have the figures). Shipping a fine-tuned MiniLM would cost 90 MB; a low-rank update of its
linear layers (Hu et al. 2021, "LoRA") costs 0.3 M parameters, 0.7 MB in float16, and is merged into
the weights at load time, so the adapted model runs exactly as fast as the original.

The adapter file (``xmer/assets/text_adapter.safetensors``, made by ``xmer pretrain text``; no pickle)
holds, for each adapted ``nn.Linear`` named ``N``, ``N.a`` (r, in) and ``N.b`` (out, r), and a
classifier head over the mean-pooled states (``head.weight``, ``head.bias``), with ``rank``, ``alpha``
and ``labels`` in its header. Its provenance record (``text_adapter.json``) sits beside it.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import nn

from xmer.errors import DataError

ASSETS = Path(__file__).resolve().parents[1] / "assets"
ADAPTER_PATH = ASSETS / "text_adapter.safetensors"

TARGETS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")
"""The linear layers of each BERT layer that get a low-rank update: all six of them."""


class LoRALinear(nn.Module):
    """``base(x) + scale * x A^T B^T``: a frozen linear layer plus a trainable rank-r update.

    ``B`` starts at zero, so before training the layer is exactly ``base``.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float):
        super().__init__()
        self.base, self.scale = base, alpha / rank
        self.a = nn.Parameter(torch.randn(rank, base.in_features) / math.sqrt(base.in_features))  # (r, in)
        self.b = nn.Parameter(torch.zeros(base.out_features, rank))  # (out, r)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        return self.base(x) + (x @ self.a.T @ self.b.T) * self.scale

    def delta(self) -> torch.Tensor:
        """The update as a full (out, in) weight matrix."""
        return (self.b @ self.a) * self.scale


def adapted_linears(model: nn.Module) -> dict[str, nn.Linear]:
    """Name -> ``nn.Linear`` of every layer :data:`TARGETS` names in a BERT-style encoder."""
    out = {}
    for i, layer in enumerate(model.encoder.layer):
        for target in TARGETS:
            module = layer.get_submodule(target)
            if isinstance(module, LoRALinear):
                module = module.base
            out[f"encoder.layer.{i}.{target}"] = module
    return out


def attach(model: nn.Module, rank: int = 8, alpha: float = 16.0) -> dict[str, LoRALinear]:
    """Freeze ``model`` and wrap every target layer in a :class:`LoRALinear`, in place; return them by name."""
    for parameter in model.parameters():
        parameter.requires_grad = False
    wrapped = {}
    for name, linear in adapted_linears(model).items():
        parent_name, _, child = name.rpartition(".")
        wrapped[name] = LoRALinear(linear, rank, alpha)
        setattr(model.get_submodule(parent_name), child, wrapped[name])
    return wrapped


def adapter_tensors(wrapped: dict[str, LoRALinear], head: nn.Linear) -> dict[str, torch.Tensor]:
    """The tensors of an adapter file (float16) from trained :class:`LoRALinear` layers and head."""
    tensors = {}
    for name, layer in wrapped.items():
        tensors[f"{name}.a"], tensors[f"{name}.b"] = layer.a.detach(), layer.b.detach()
    tensors["head.weight"], tensors["head.bias"] = head.weight.detach(), head.bias.detach()
    return {k: v.half() for k, v in tensors.items()}


def load_adapter(path: str | Path | None = None) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors as float32, header)`` of an adapter file (default: the shipped one).

    Raises:
        DataError: the file is missing, unreadable, or not an adapter.
    """
    from xmer.export.weights import load_weights

    path = Path(path) if path is not None else ADAPTER_PATH
    if not path.is_file():
        raise DataError(f"text adapter not found at {path}; train one with `xmer pretrain text`")
    tensors, meta = load_weights(path)
    if not {"rank", "alpha", "labels"} <= set(meta) or "head.weight" not in tensors:
        raise DataError(f"{path}: not a text adapter (its header has {sorted(meta)})")
    return {k: v.float() for k, v in tensors.items()}, meta


def merge(model: nn.Module, tensors: dict[str, torch.Tensor], meta: dict, where: str = "adapter") -> None:
    """Add the adapter's low-rank updates into ``model``'s weights, in place (no runtime cost after).

    Raises:
        DataError: the adapter does not fit this model (a layer or a shape differs).
    """
    scale = meta["alpha"] / meta["rank"]
    linears = adapted_linears(model)
    names = {k.rsplit(".", 1)[0] for k in tensors if not k.startswith("head.")}
    if names != set(linears):
        raise DataError(f"{where}: adapts {len(names)} layers, this model has {len(linears)} ({sorted(names ^ set(linears))[:3]} differ)")
    with torch.no_grad():
        for name, linear in linears.items():
            delta = tensors[f"{name}.b"] @ tensors[f"{name}.a"] * scale  # (out, r) @ (r, in)
            if delta.shape != linear.weight.shape:
                raise DataError(f"{where}: {name} is {tuple(delta.shape)}, the model's is {tuple(linear.weight.shape)}")
            linear.weight += delta


def mean_pooled(model: nn.Module, tokenizer, texts: list[str], max_length: int = 512) -> torch.Tensor:
    """(B, D): the mean of the last states over each text's real tokens ([CLS] and [SEP] included),
    texts padded into one batch and cut to ``max_length`` word-pieces: what the adapter's head reads
    (the ``minilm_sentence`` vector is this mean over its norm)."""
    batch = tokenizer.batch(texts, max_length=max_length)  # xmer.features.bert.WordPieces
    states = model(**batch).last_hidden_state  # (B, T, D)
    mask = batch["attention_mask"].unsqueeze(-1).float()  # (B, T, 1)
    return (states * mask).sum(1) / mask.sum(1)
