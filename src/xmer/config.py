"""Typed, frozen run configuration, loaded from YAML with dotted ``key=value`` overrides.

A config is a tree of frozen dataclasses. Every field has a default and a one-line doc in its
metadata (``xmer train --help-config`` prints them). Loading validates every key, type and value: an
unknown key names the key and lists the valid ones; a choice (a ``Literal`` field) names the allowed
values; a number out of range (:data:`RANGES`) names the range. Mappings inside a config are
:class:`FrozenDict`s, so a loaded config cannot be changed, not even inside ``modality_weights``.
Quantities that come from the data (feature sizes, number of classes) are *not* config; they are read
from the prepared dataset.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Literal, Union

import yaml

from xmer.errors import ConfigError
from xmer.modalities import MODALITIES, parse_subset


class FrozenDict(dict):
    """A dict that refuses every change: the mappings inside a frozen config (``modality_weights``,
    the entries of ``data.sources``). Build a new config (``load_config`` overrides) to change one."""

    def _refuse(self, *args, **kwargs):
        raise TypeError("a config is frozen: its mappings cannot be changed (use load_config overrides)")

    __setitem__ = __delitem__ = clear = pop = popitem = setdefault = update = __ior__ = _refuse

    def __copy__(self) -> "FrozenDict":
        return self

    def __deepcopy__(self, memo) -> "FrozenDict":
        return self  # immutable (its values are numbers, strings or frozen mappings)

    def __reduce__(self):
        return FrozenDict, (dict(self),)


def freeze(value: Any) -> Any:
    """Dicts become :class:`FrozenDict`s and lists tuples, recursively."""
    if isinstance(value, dict):
        return FrozenDict({k: freeze(v) for k, v in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`, for YAML and JSON output: plain dicts and lists."""
    if isinstance(value, dict):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [thaw(v) for v in value]
    return value


def doc(default: Any, text: str) -> Any:
    """A dataclass field with a default and a one-line description."""
    if isinstance(default, (dict, list)):
        return field(default_factory=lambda: freeze(default), metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class ToyConfig:
    """The synthetic toy dataset (see :mod:`xmer.data.toy`)."""

    seed: int = doc(0, "seed of the generator; the same seed always gives the same dataset")
    classes: int = doc(4, "number of emotion classes")
    trimodal: int = doc(600, "trimodal training samples")
    bimodal: int = doc(300, "training samples for each of the three modality pairs")
    unimodal: int = doc(300, "training samples for each single modality")
    valid: int = doc(300, "validation samples (trimodal)")
    test: int = doc(600, "test samples (trimodal)")
    noise: float = doc(1.5, "observation noise; higher makes every modality less reliable")


@dataclass(frozen=True)
class DataConfig:
    dataset: str = doc("toy", "prepared dataset folder, or 'toy' for the embedded synthetic set")
    sources: tuple = doc((), "several prepared datasets in one run: a list of {dataset, role: primary|auxiliary, weight}; replaces 'dataset' (see xmer.data.mixing)")
    toy: ToyConfig = doc(ToyConfig(), "settings of the synthetic toy set (used when dataset is 'toy')")
    batch_size: int = doc(64, "samples per batch")
    train_subsets: Literal["all", "trimodal"] = doc("all", "which training samples to use: 'all', or 'trimodal' for those with all three modalities")
    usage: float = doc(1.0, "fraction of the trimodal (primary) training samples kept, drawn once with a fixed seed (paper Tables 5-6)")
    complete_fraction: float = doc(1.0, "missing-rate protocol (MMIN): fraction p of the trimodal training samples left complete; each other one loses one or two modalities, a fixed seeded draw (xmer.data.missing)")
    max_steps: int = doc(0, "crop sequences longer than this many steps when loading (0: keep all)")
    compose_per_epoch: int = doc(0, "with data.sources: trimodal training samples composed each epoch from unimodal ones of the same class (a face, a voice and a text of different people; xmer.data.mixing.compose). Only where modalities are independent given the emotion, as in the composite benchmark")
    compose_neutral: float = doc(0.0, "with data.compose_per_epoch: the share of composed triples of an emotion whose other modalities (one or two, drawn) come from neutral samples, the label staying the emotion's, as in real recordings where the words or the face show nothing (xmer.data.mixing.compose)")
    standardise: tuple = doc((), "modalities whose features are standardised per source: each prepared folder with the mean and spread of its own training split, and an input of unknown source with the training folders' pooled ones, kept in the model card (xmer.data.moments). For speech from many corpora: [audio]")
    unknown_source: float = doc(0.0, "with data.standardise and data.sources: the share of each epoch's training samples read with the pooled moments instead of their folder's, as an input of unknown source (a single clip) is read at prediction time")

    def __post_init__(self):
        object.__setattr__(self, "sources", freeze(self.sources))
        object.__setattr__(self, "standardise", freeze(self.standardise))


@dataclass(frozen=True)
class ModelConfig:
    """The recogniser of the paper (Fig. 1, eq. 1-3). Defaults are the paper's sizes."""

    name: Literal["recognizer", "late_fusion", "mult"] = doc("recognizer", "model architecture, a key of xmer.models.MODELS (a test keeps the two equal)")
    d_model: int = doc(128, "width of every transformer (paper: 128)")
    d_ff: int = doc(128, "feed-forward width of every transformer (paper: 128)")
    heads: int = doc(4, "attention heads (paper: 4)")
    encoder_layers: int = doc(1, "transformer layers per modality encoder MM_m (mult baseline: cross-modal layers)")
    fusion_layers: int = doc(1, "transformer layers of the fusion module MFM (mult baseline: self-attention layers per target)")
    dropout: float = doc(0.1, "dropout on residual branches and the head")
    attention_dropout: float = doc(0.0, "dropout inside attention (off by default: it is the largest CPU training cost)")
    fusion_length: int = doc(16, "length L every modality's sequence is resampled to before the weighted sum")
    max_encoder_steps: int = doc(64, "longer inputs are average-pooled in time to at most this many steps before attention")
    modality_weights: dict = doc({"visual": 1 / 3, "audio": 1 / 3, "text": 1 / 3}, "w_m of eq. 1")

    def __post_init__(self):
        object.__setattr__(self, "modality_weights", freeze(self.modality_weights))


@dataclass(frozen=True)
class TranslatorConfig:
    """The cross-modal translators (paper III.B, Fig. 2, eq. 9-14; DESIGN.md 1-2)."""

    enabled: bool = doc(False, "train and use the six cross-modal translators (the paper's method)")
    hidden: int = doc(64, "hidden width of the step-wise encoders Enc_m and decoders Dec_m (64, the latent size; 128 made an end-to-end step about 30% slower, benchmarks/translators.py)")
    latent: int = doc(64, "size of the shared Gaussian latent space")
    step_disc_hidden: int = doc(64, "hidden width of the per-step discriminators Dis_m")
    seqdis_layers: int = doc(1, "transformer layers of each sequence discriminator SeqDis_m (paper: 1, width 128, ff 128, 4 heads)")
    seqdis_max_steps: int = doc(16, "SeqDis_m average-pools longer sequences in time to this many steps before attention")
    aligned: bool = doc(False, "data are step-aligned across modalities: enables the paired GAN loss of eq. 10")
    seqdis_one_source: bool = doc(True, "SeqDis_j judges, per sample, the translation from one randomly chosen source (not all), an unbiased and cheaper estimate")
    loss_steps: int = doc(8, "translator updates see at most this many evenly spaced steps of each sequence, random phase (0: all)")


@dataclass(frozen=True)
class LossWeights:
    """Weights of the translator losses (eq. 9-13). 0 switches a term off (e.g. seqdis=0: no SeqDis).

    The defaults keep UNIT's ratios (reconstruction and cycle 10x the adversarial terms, KL 1/1000
    of reconstruction): with reconstruction and cycle at 1 and SeqDis at 1, the discriminators won
    and the translators' reconstruction got worse during training (tests/test_translators.py
    ``test_translators_learn_the_toy_mapping`` fails with those weights)."""

    reconstruction: float = doc(10.0, "VAE reconstruction ||Dec_i(Enc_i(x_i)) - x_i||^2 (eq. 9)")
    kl: float = doc(0.01, "KL(q(z|x) || N(0, I)) of every encoding (eq. 9)")
    adversarial: float = doc(1.0, "per-step adversarial terms against Dis_m (eq. 9, 10, 12)")
    gan: float = doc(1.0, "paired translation loss against aligned ground truth (eq. 10; only with translator.aligned)")
    seqdis: float = doc(1.0, "SeqDis: translated sequences must be recognised as the source's emotion (eq. 11, 14)")
    cycle: float = doc(10.0, "cycle reconstruction i -> j -> i (eq. 12)")


@dataclass(frozen=True)
class MethodConfig:
    """How translators and recogniser train together (Algorithm 1, Table 9)."""

    strategy: Literal["end_to_end", "pipeline"] = doc("end_to_end", "'end_to_end' (translators and recogniser together) or 'pipeline' (translators first, then frozen)")
    recognizer_steps_per_translator_step: int = doc(7, "n of the paper's 1:n: recogniser steps per translator-only update (paper best: 7 on MOSEI, 5 on IEMOCAP)")
    combinations: Literal["all", "sampled"] = doc("sampled", "Algorithm 1 candidates: 'all' (every combination, up to 27 per trimodal sample) or 'sampled' (k per sample per step)")
    k: int = doc(2, "combinations per sample per step when combinations='sampled'")
    augment_modalities: str = doc("visual+audio+text", "modalities Algorithm 1 may imagine in training, e.g. 'audio+text' (Tables 7/8); the others stay real or absent")
    include_observed: bool = doc(True, "with 'sampled', one of the k is always the sample's observed modalities (missing ones imagined)")
    pipeline_translator_epochs: int = doc(10, "with strategy='pipeline', epochs of translator training before the recogniser")
    modality_dropout: float = doc(0.0, "in each recogniser step, withhold each present modality of a multimodal sample with this probability (at least one stays); with translators the withheld one is imagined (fusion that a weak modality cannot drag down)")
    translator_lr: float = doc(1e-3, "Adam learning rate of the translators' own updates")
    discriminator_lr: float = doc(1e-3, "Adam learning rate of the discriminators (their own optimiser)")
    losses: LossWeights = doc(LossWeights(), "weights of the translator losses")


@dataclass(frozen=True)
class TrainConfig:
    seed: int = doc(0, "seed of model initialisation, data order and dropout")
    epochs: int = doc(40, "maximum number of epochs (0: with the pipeline strategy, train the translators only)")
    lr: float = doc(1e-3, "Adam learning rate (the paper's 0.01 is reachable but unstable for transformers)")
    weight_decay: float = doc(0.0, "AdamW weight decay")
    warmup_steps: int = doc(50, "linear learning-rate warm-up steps")
    grad_clip: float | None = doc(1.0, "clip the gradient norm to this value (0 or null: off)")
    patience: int = doc(6, "stop after this many epochs without a better validation score (0: never stop early)")
    selection_metric: Literal["accuracy", "unweighted_accuracy", "macro_f1", "weighted_f1", "wa"] = doc("macro_f1", "validation metric that picks the best checkpoint (higher is better)")
    select_on_subsets: bool = doc(False, "score a checkpoint by the selection metric averaged over the 7 modality subsets of the validation split (for a model that must serve any subset, like the default model)")
    device: str = doc("auto", "'auto' (CUDA when available, else CPU), 'cpu' or 'cuda[:N]'")
    threads: int = doc(0, "torch CPU threads (0: torch's default)")
    progress: bool = doc(True, "show a progress bar")


@dataclass(frozen=True)
class Config:
    data: DataConfig = doc(DataConfig(), "what to train on")
    model: ModelConfig = doc(ModelConfig(), "the model")
    translator: TranslatorConfig = doc(TranslatorConfig(), "the cross-modal translators")
    method: MethodConfig = doc(MethodConfig(), "how translators and recogniser train together")
    train: TrainConfig = doc(TrainConfig(), "the optimisation")

    def to_dict(self) -> dict:
        """Plain nested dicts and lists (for YAML, JSON and checkpoints)."""
        return thaw(dataclasses.asdict(self))


# ---------------------------------------------------------------------------------------------------
# Loading and validation


def load_config(path: str | Path | None = None, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Load a YAML config (or the defaults when ``path`` is None) and apply ``key=value`` overrides.

    Raises:
        ConfigError: the file is missing or not YAML, a key is unknown, or a value has the wrong type.
    """
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
        if not isinstance(raw, dict):
            raise ConfigError(f"{path}: expected a mapping at the top level, got {type(raw).__name__}")
    for override in overrides:
        key, sep, value = override.partition("=")
        if not sep or not key:
            raise ConfigError(f"override {override!r} is not of the form key=value (e.g. train.lr=0.001)")
        try:
            parsed = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            raise ConfigError(f"override {override!r}: the value is not valid YAML (quote it?)") from None
        _set_dotted(raw, key.strip(), parsed)
    config = from_dict(Config, raw)
    check(config)
    return config


def from_dict(cls: type, raw: dict, prefix: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, validating keys and types."""
    if not isinstance(raw, dict):
        raise ConfigError(f"'{prefix.rstrip('.') or 'config'}' must be a mapping, got {raw!r}")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(raw) - set(fields))
    if unknown:
        where = f" under '{prefix.rstrip('.')}'" if prefix else ""
        raise ConfigError(
            f"unknown config key '{prefix}{unknown[0]}'; valid keys{where}: {', '.join(fields)}"
        )
    hints = typing.get_type_hints(cls)
    values = {}
    for name, value in raw.items():
        values[name] = _coerce(hints[name], value, f"{prefix}{name}")
    return cls(**values)


def _coerce(kind: Any, value: Any, key: str) -> Any:
    if dataclasses.is_dataclass(kind):
        if dataclasses.is_dataclass(value):
            return value
        return from_dict(kind, value, key + ".")
    origin = typing.get_origin(kind)
    if origin is Literal:
        allowed = typing.get_args(kind)
        if value in allowed and not isinstance(value, bool):
            return value
        raise ConfigError(f"config key '{key}': {value!r} is not allowed; expected one of {', '.join(map(repr, allowed))}")
    if origin in (Union, types.UnionType):
        for option in typing.get_args(kind):
            if option is type(None) and value is None:
                return None
            try:
                return _coerce(option, value, key)
            except ConfigError:
                continue
        raise ConfigError(f"config key '{key}': {value!r} is not a valid {kind}")
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif kind is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
    elif kind is dict or origin is dict:
        if isinstance(value, dict):
            return freeze(value)
    elif kind in (list, tuple) or origin in (list, tuple):
        if isinstance(value, (list, tuple)):
            return freeze(value)
    else:
        return value
    type_name = getattr(kind, "__name__", str(kind))
    raise ConfigError(f"config key '{key}': expected {type_name}, got {value!r}")


# ---------------------------------------------------------------------------------------------------
# Value checks


def _at_least(low: float) -> tuple[Callable[[Any], bool], str]:
    return (lambda v: v >= low), f">= {low:g}"


_POSITIVE = ((lambda v: v > 0), "> 0")
_FRACTION = ((lambda v: 0 <= v < 1), "in [0, 1)")

RANGES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "data.batch_size": _at_least(1),
    "data.usage": ((lambda v: 0 < v <= 1), "in (0, 1]"),
    "data.max_steps": _at_least(0),
    "data.compose_per_epoch": _at_least(0),
    "data.compose_neutral": ((lambda v: 0 <= v <= 1), "in [0, 1]"),
    "data.unknown_source": ((lambda v: 0 <= v <= 1), "in [0, 1]"),
    "data.toy.classes": _at_least(2),
    "data.toy.trimodal": _at_least(0),
    "data.toy.bimodal": _at_least(0),
    "data.toy.unimodal": _at_least(0),
    "data.toy.valid": _at_least(1),
    "data.toy.test": _at_least(1),
    "data.toy.noise": _at_least(0),
    "model.d_model": _at_least(1),
    "model.d_ff": _at_least(1),
    "model.heads": _at_least(1),
    "model.encoder_layers": _at_least(1),
    "model.fusion_layers": _at_least(1),
    "model.dropout": _FRACTION,
    "model.attention_dropout": _FRACTION,
    "model.fusion_length": _at_least(1),
    "model.max_encoder_steps": _at_least(1),
    "translator.hidden": _at_least(1),
    "translator.latent": _at_least(1),
    "translator.step_disc_hidden": _at_least(1),
    "translator.seqdis_layers": _at_least(1),
    "translator.seqdis_max_steps": _at_least(1),
    "translator.loss_steps": _at_least(0),
    "method.recognizer_steps_per_translator_step": _at_least(1),
    "method.k": _at_least(1),
    "method.modality_dropout": _FRACTION,
    "method.pipeline_translator_epochs": _at_least(0),
    "method.translator_lr": _POSITIVE,
    "method.discriminator_lr": _POSITIVE,
    **{f"method.losses.{f.name}": _at_least(0) for f in dataclasses.fields(LossWeights)},
    "train.seed": _at_least(0),
    "train.epochs": _at_least(0),
    "train.lr": _POSITIVE,
    "train.weight_decay": _at_least(0),
    "train.warmup_steps": _at_least(0),
    "train.grad_clip": ((lambda v: v is None or v >= 0), "> 0, or 0 or null for no clipping"),
    "train.patience": _at_least(0),
    "train.threads": _at_least(0),
}
"""Dotted key -> (test, what is allowed) for every numeric config value with a range."""

DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")


def check(config: Config) -> None:
    """Check every value's range and the cross-field rules; a ConfigError names key, value and what
    is allowed. (Types and choices are checked while loading, by :func:`from_dict`.)"""
    flat = _flatten(config.to_dict())
    for key, value in flat.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"config key '{key}': {value!r} is not allowed; expected a finite number")
    for key, (test, allowed) in RANGES.items():
        if not test(flat[key]):
            raise ConfigError(f"config key '{key}': {flat[key]!r} is not allowed; expected {allowed}")
    model, train = config.model, config.train
    translators_only = config.translator.enabled and config.method.strategy == "pipeline" and config.method.pipeline_translator_epochs
    if train.epochs < 1 and not translators_only:
        raise ConfigError(f"config key 'train.epochs': {train.epochs} is not allowed; expected >= 1 (0 only to train "
                          "the translators alone: translator.enabled=true, method.strategy=pipeline)")
    if model.d_model % model.heads:
        raise ConfigError(f"config key 'model.heads': {model.heads} does not divide model.d_model={model.d_model}; "
                          "expected a divisor of d_model")
    for m, weight in model.modality_weights.items():
        if m not in MODALITIES:
            raise ConfigError(f"config key 'model.modality_weights': unknown modality {m!r}; expected any of {', '.join(MODALITIES)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight >= 0:
            raise ConfigError(f"config key 'model.modality_weights.{m}': {weight!r} is not allowed; expected a number >= 0")
    for m in config.data.standardise:
        if m not in MODALITIES:
            raise ConfigError(f"config key 'data.standardise': unknown modality {m!r}; expected any of {', '.join(MODALITIES)}")
    try:
        parse_subset(config.method.augment_modalities)
    except ValueError as error:
        raise ConfigError(f"config key 'method.augment_modalities': {error}") from None
    if not DEVICE.match(train.device):
        raise ConfigError(f"config key 'train.device': {train.device!r} is not allowed; expected auto, cpu, mps, cuda or cuda:N")


def flatten_config(config: Config) -> dict[str, Any]:
    """Dotted key -> value of every leaf (``model.modality_weights`` is one leaf)."""
    return _flatten(config.to_dict())


def _flatten(tree: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict) and f"{prefix}{key}" not in ("model.modality_weights",):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def _set_dotted(raw: dict, key: str, value: Any) -> None:
    node = raw
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"override '{key}': '{part}' is a value, not a section")
        node = child
    node[parts[-1]] = value


def describe(cls: type = Config, prefix: str = "") -> list[tuple[str, str, str]]:
    """(dotted key, default, doc) for every leaf field: the reference ``--help-config`` prints."""
    rows = []
    for f in dataclasses.fields(cls):
        hints = typing.get_type_hints(cls)
        if dataclasses.is_dataclass(hints[f.name]):
            rows += describe(hints[f.name], f"{prefix}{f.name}.")
        else:
            default = f.default if f.default is not dataclasses.MISSING else f.default_factory()
            rows.append((f"{prefix}{f.name}", repr(default), f.metadata.get("doc", "")))
    return rows


def save_config(config: Config, path: Path) -> None:
    from xmer.io import atomic_write_text

    atomic_write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))
