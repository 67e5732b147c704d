"""A BERT encoder in plain PyTorch: what xmer needs to run all-MiniLM-L6-v2, without ``transformers``.

Why not ``transformers``: importing it and building a model through ``AutoModel.from_pretrained``
costs more than importing torch itself, on every ``xmer predict --text`` (``benchmarks/startup.py``).
A BERT encoder is six small blocks; written out here it loads the same ``model.safetensors`` by the
same parameter names (so the emotion adapter's low-rank updates attach to the same layers) and gives
the same states up to float rounding (``tests/test_text_adapter.py`` compares it with
``transformers.BertModel``). Word-pieces come from the model's own ``tokenizer.json`` through the
``tokenizers`` library, as ``transformers``' fast tokenizer reads it.

Only what all-MiniLM-L6-v2 uses is supported: absolute positions, the exact (erf) GELU, no pooler.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, fields
from pathlib import Path
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from xmer.errors import ConfigError


@dataclass(frozen=True)
class BertConfig:
    """The fields of a BERT ``config.json`` that the encoder reads."""

    vocab_size: int = 30522
    hidden_size: int = 384
    num_hidden_layers: int = 6
    num_attention_heads: int = 12
    intermediate_size: int = 1536
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def read(cls, path: Path) -> "BertConfig":
        raw = json.loads(Path(path).read_text(encoding="utf-8"))
        if raw.get("hidden_act", "gelu") != "gelu" or raw.get("position_embedding_type", "absolute") != "absolute":
            raise ConfigError(f"{path}: xmer's BERT runs the exact GELU and absolute positions only")
        return cls(**{f.name: raw[f.name] for f in fields(cls) if f.name in raw})


class States(NamedTuple):
    last_hidden_state: torch.Tensor
    """(B, T, hidden): the last layer's states."""


class Linear(nn.Linear):
    """A linear layer whose weights a checkpoint always replaces: no random start (it costs start-up time)."""

    def reset_parameters(self) -> None:
        pass


class Embedding(nn.Embedding):
    """An embedding table whose weights a checkpoint always replaces: no random start."""

    def reset_parameters(self) -> None:
        pass


class Embeddings(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.word_embeddings = Embedding(c.vocab_size, c.hidden_size, padding_idx=0)
        self.position_embeddings = Embedding(c.max_position_embeddings, c.hidden_size)
        self.token_type_embeddings = Embedding(c.type_vocab_size, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, ids: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)[None]
        x = self.word_embeddings(ids) + self.position_embeddings(positions) + self.token_type_embeddings(token_types)
        return self.dropout(self.LayerNorm(x))


class SelfAttention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.heads, self.dropout = c.num_attention_heads, c.attention_probs_dropout_prob
        self.query = Linear(c.hidden_size, c.hidden_size)
        self.key = Linear(c.hidden_size, c.hidden_size)
        self.value = Linear(c.hidden_size, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:  # (B, T, H), (B, 1, 1, T) bool
        b, t, h = x.shape

        def split(y: torch.Tensor) -> torch.Tensor:  # (B, T, H) -> (B, heads, T, H / heads)
            return y.view(b, t, self.heads, h // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(split(self.query(x)), split(self.key(x)), split(self.value(x)), attn_mask=keep,
                                             dropout_p=self.dropout if self.training else 0.0, scale=1 / math.sqrt(h // self.heads))
        return out.transpose(1, 2).reshape(b, t, h)


class Residual(nn.Module):
    """``LayerNorm(x + dropout(dense(y)))``: BERT's "output" blocks."""

    def __init__(self, c: BertConfig, inputs: int):
        super().__init__()
        self.dense = Linear(inputs, c.hidden_size)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(x + self.dropout(self.dense(y)))


class Attention(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.self = SelfAttention(c)  # the parameter names of BERT checkpoints: attention.self.query, ...
        self.output = Residual(c, c.hidden_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(x, keep), x)


class Intermediate(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.dense = Linear(c.hidden_size, c.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class Layer(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.attention = Attention(c)
        self.intermediate = Intermediate(c)
        self.output = Residual(c, c.intermediate_size)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        x = self.attention(x, keep)
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, c: BertConfig):
        super().__init__()
        self.layer = nn.ModuleList(Layer(c) for _ in range(c.num_hidden_layers))


class Bert(nn.Module):
    """BERT's encoder: ``model(input_ids, attention_mask)`` -> :class:`States`."""

    def __init__(self, config: BertConfig):
        super().__init__()
        self.config = config
        self.embeddings = Embeddings(config)
        self.encoder = Encoder(config)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None,
                token_type_ids: torch.Tensor | None = None) -> States:
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        keep = attention_mask.bool()[:, None, None, :]  # (B, 1, 1, T): which keys each query may attend to
        x = self.embeddings(input_ids, token_type_ids)
        for layer in self.encoder.layer:
            x = layer(x, keep)
        return States(x)

    @classmethod
    def load(cls, folder: str | Path) -> "Bert":
        """The encoder of a BERT folder (``config.json`` + ``model.safetensors``), in eval mode."""
        from safetensors.torch import load_file

        folder = Path(folder)
        model = cls(BertConfig.read(folder / "config.json"))
        weights = {k: v for k, v in load_file(str(folder / "model.safetensors")).items()
                   if k.startswith(("embeddings.", "encoder.")) and not k.endswith("position_ids")}
        missing, unexpected = model.load_state_dict(weights, strict=False)
        if missing or unexpected:
            raise ConfigError(f"{folder}: not a BERT checkpoint xmer can read (missing {missing[:3]}, unexpected {unexpected[:3]})")
        return model.eval()


class WordPieces:
    """A BERT model's word-piece tokenizer, read from its ``tokenizer.json``."""

    def __init__(self, folder: str | Path):
        from tokenizers import Tokenizer

        self.tokenizer = Tokenizer.from_file(str(Path(folder) / "tokenizer.json"))
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        vocab = self.tokenizer.get_vocab()
        self.cls_token_id, self.sep_token_id, self.pad_token_id = vocab["[CLS]"], vocab["[SEP]"], vocab["[PAD]"]

    def ids(self, text: str) -> list[int]:
        """The text's word-piece ids, without [CLS] and [SEP]."""
        return self.tokenizer.encode(text, add_special_tokens=False).ids

    def batch(self, texts: list[str], max_length: int = 512) -> dict[str, torch.Tensor]:
        """``input_ids`` and ``attention_mask`` (B, T) of texts padded to the longest, each
        ``[CLS] pieces [SEP]`` cut to ``max_length`` tokens: the keyword arguments of :class:`Bert`."""
        rows = [[self.cls_token_id, *self.ids(t)[: max(0, max_length - 2)], self.sep_token_id] for t in texts]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        return {"input_ids": ids, "attention_mask": mask}
