"""What a deployer of ``xmer serve`` can cap (enforced by :mod:`xmer.serving.middleware` and
:mod:`xmer.serving.uploads`).

:class:`ServeLimits` is a frozen dataclass like every xmer config: one documented field per limit,
loaded from a YAML file (``xmer serve --config serve.yaml``) and from command-line flags, which are
made from the same fields (``max_body_bytes`` -> ``--max-body-bytes``). Defaults suit one machine
serving people's clips of a few minutes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from xmer.config import doc, from_dict
from xmer.errors import ConfigError
from xmer.features.sniff import MEDIA_TYPES


@dataclass(frozen=True)
class ServeLimits:
    """Per-request limits of ``xmer serve`` and the sizes of its worker pools (per process)."""

    max_body_bytes: int = doc(64 * 1024 * 1024, "largest request body in bytes, uploads included (413 above it)")
    max_media_seconds: float = doc(300.0, "longest video or audio upload in seconds (413 above it)")
    max_frames: int = doc(9000, "most video frames in an upload, counted from its packets before decoding (413 above it)")
    max_audio_samples: int = doc(14_400_000, "most audio samples per channel in an upload (300 s at 48 kHz; 413 above it)")
    max_image_pixels: int = doc(40_000_000, "largest image or video frame, width x height (413 above it)")
    max_text_chars: int = doc(5000, "longest 'text' in characters (413 above it)")
    max_feature_steps: int = doc(10000, "most rows (T) of one modality in a 'features' body (413 above it)")
    request_timeout_s: float = doc(60.0, "a request not answered within this many seconds gets 504 (408 while its body is still arriving)")
    allowed_types: tuple = doc(tuple(MEDIA_TYPES), "upload formats accepted, decided from the content (415 otherwise): " + ", ".join(MEDIA_TYPES))
    media_threads: int = doc(1, "uploads handled at once per worker process (the rest wait their turn)")
    media_processes: int = doc(1, "processes per worker process that decode, read and predict uploads, apart from the worker's "
                                  "Python and at the media_nice priority, so a clip never stalls a text; 0: in the worker's media threads")
    light_threads: int = doc(1, "text batches and feature predictions at once per worker process, in their own pool so clips never "
                                "hold them up (one per process: use --workers for more cores)")
    max_connections: int = doc(512, "open connections and requests per worker process before new ones get 503")
    text_batch: int = doc(32, "most text requests answered in one batch (those waiting while a batch runs form the next; 1 turns batching off)")
    text_bf16: bool = doc(False, "run the text front-end in bfloat16 where the CPU computes it natively (faster; off by default: a few "
                                "labels in a thousand differ from float32's, docs/serving.md, benchmarks/text_precision.py)")
    media_nice: int = doc(19, "how much lower the CPU priority of the work on uploads is (Linux nice, 0-19), so that "
                              "short text requests go first; 0 treats them alike")

    def __post_init__(self):
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, (tuple, bool)):  # allowed_types is checked below; a switch is either
                continue
            low, high = _RANGES.get(f.name, (None, None))
            if low is None and not value > 0:
                raise ConfigError(f"serve limit {f.name} must be positive, got {value!r}")
            if low is not None and not (isinstance(value, int) and value >= low and (high is None or value <= high)):
                span = f"from {low} to {high}" if high is not None else f"{low} or more"
                raise ConfigError(f"serve limit {f.name} must be a whole number {span}, got {value!r}")
        unknown = sorted(set(self.allowed_types) - set(MEDIA_TYPES))
        if unknown:
            raise ConfigError(f"serve limit allowed_types: unknown type(s) {', '.join(unknown)}; known: {', '.join(MEDIA_TYPES)}")


_RANGES = {"media_nice": (0, 19), "media_processes": (0, None)}
"""Limits that may be 0 (and their largest value): whole numbers in the range. Every other number must be positive."""


def load_limits(path: str | Path | None = None, overrides: dict[str, Any] | None = None) -> ServeLimits:
    """Limits from a YAML mapping of field -> value (if given), then ``overrides`` (values not None).

    Raises:
        ConfigError: missing or malformed file, unknown key, wrong type or a non-positive limit.
    """
    raw: dict = {}
    if path is not None:
        path = Path(path)
        if not path.is_file():
            raise ConfigError(f"serve config not found: {path}")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as error:
            raise ConfigError(f"{path}: not valid YAML: {error}") from None
    raw.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return from_dict(ServeLimits, raw)


def flag(name: str) -> str:
    """The command-line flag of a limit: ``max_body_bytes`` -> ``--max-body-bytes``."""
    return "--" + name.replace("_", "-")
