"""Feature extractors: raw media in, one (T, D) float32 sequence per modality out.

An extractor is a named, versioned component (the paper's FE_m). Every extractor is a subclass of
:class:`Extractor` and is built by name from the registry :data:`EXTRACTORS`, lazily: the registry
holds only import paths, so ``import xmer.features`` never imports torch.stft code, opensmile, PyAV,
OpenCV or a CNN, and building one extractor never imports another's libraries.

The interface (what every extractor provides)::

    class MyExtractor(Extractor):
        name = "fer"            # default name; get_extractor sets it to the registry key used
        version = "1"           # bump whenever the output for the same input changes
        modality = "visual"     # one of xmer.modalities.MODALITIES
        dim = 512               # D; may instead be set per instance in __init__ (e.g. n_mels)

        def __init__(self, **options):   # load weights / vocabularies here (once per process)
            ...

        def __call__(self, source) -> np.ndarray:   # (T, D) float32, T >= 1, all finite
            ...

- ``source`` is one media input: a ``str`` or ``pathlib.Path`` to a file for visual and audio
  (audio extractors also accept a video file and use its audio track, or a 16 kHz mono float32
  waveform as a numpy array; visual ones a video, an image or a folder of images); for text, a
  ``str`` is the transcript itself and a ``pathlib.Path`` is a ``.txt``, ``.srt`` or ``.vtt`` file
  (see :func:`xmer.features.text.read_transcript`).
- Shared helpers for reading files live in :mod:`xmer.features.media`: ``check_file`` (missing /
  empty file -> DataError), ``probe`` (kind, duration, streams, size, frame rate), ``read_audio``,
  and the suffix sets ``VIDEO_SUFFIXES`` and ``IMAGE_SUFFIXES``.
- ``extractor.id`` is ``"<name>@<version>"``; it is recorded in ``features/<modality>/meta.json``
  and in ``dataset.json``, and a re-run refuses to mix two extractors' features in one store.
- Errors: raise :class:`xmer.errors.DataError` naming the file and the reason for an input that
  cannot be read (corrupt, truncated, unsupported format); raise :class:`ModalityAbsent` (a
  ``DataError``) when the file is fine but carries no usable signal for the modality: no face in a
  clip, silent audio, a video without an audio track, empty text. Batch extraction logs both and
  goes on (only DataErrors other than ModalityAbsent make its exit status non-zero);
  ``features_from_media`` turns both into a note and treats the modality as missing.
  Never let a library's own exception escape for bad input (wrap it, ``from None``).
- Extractors run in worker processes (``xmer extract --workers N``, spawned, one torch thread
  each), so construction must not depend on state outside the process, ``__call__`` must be safe
  to call many times, and neither may change global settings (torch threads, seeds, warnings).
  Import heavy libraries inside ``__init__``/``__call__`` and raise ConfigError with
  :data:`INSTALL_HINT` when one is missing.

Registering a new extractor is one line in :data:`EXTRACTORS`::

    "fer": Entry("visual", "xmer.features.visual:FerExtractor", "faces per frame -> FER2013 CNN embedding"),

``Entry.target`` is ``"module:Class"``; keyword options for the class may follow in ``Entry.options``
(so one class can be registered under several names, like ``logmel`` and ``logmel64``).
Then ``get_extractor("fer")`` builds it once per process, ``xmer extract --extractors visual=fer``
uses it, and the sweeping tests pick it up from the registry.

:func:`features_from_media` is the one function that turns a user's media files into model inputs
(``xmer predict`` and the Python API call it).
"""

from __future__ import annotations

import importlib
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from xmer.errors import ConfigError, DataError
from xmer.modalities import MODALITIES

INSTALL_HINT = "pip install 'xmer[media]'"
"""What to tell a user whose install lacks a media library."""


class ModalityAbsent(DataError):
    """The input is readable but holds nothing for this modality (no face, silence, empty text)."""


class Extractor:
    """Base class of every feature extractor; see the module docstring for the contract."""

    name: str = ""
    """The registry key it was built under (set by :func:`get_extractor`)."""
    version: ClassVar[str] = "1"
    modality: ClassVar[str] = ""
    dim: int = 0
    pooled: bool = False
    """True when every input gives a single step (a clip- or sentence-level vector), not a sequence."""

    @property
    def id(self) -> str:
        """``"<name>@<version>"``, the string recorded in the feature store and ``dataset.json``."""
        return f"{self.name}@{self.version}"

    def __call__(self, source: Any) -> np.ndarray:  # (T, D) float32
        raise NotImplementedError

    def many(self, sources: list, bf16: bool = False) -> list[np.ndarray]:
        """``[self(s) for s in sources]``; an extractor whose model runs faster on a batch overrides
        it, for reading many inputs at once (a corpus in a benchmark). Each result must equal what
        ``self(s)`` gives, up to float rounding. Predictions do not use it: they read one input at a
        time, so that an answer never depends, even in its last digit, on what came with it.
        ``bf16`` asks for bfloat16 arithmetic where the extractor offers it (others ignore it).

        Raises:
            DataError: the first input that cannot be read (callers that must survive one bad
                input fall back to one call per input).
        """
        return [self(source) for source in sources]

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id} {self.modality} dim={self.dim}>"


@dataclass(frozen=True)
class Entry:
    """One registered extractor: which modality it serves and where its class lives."""

    modality: str
    target: str
    """``"package.module:ClassName"``, imported only when the extractor is first built."""
    help: str
    options: dict = field(default_factory=dict)
    """Keyword arguments for the class (lets one class be registered under several names)."""


EXTRACTORS: dict[str, Entry] = {
    "logmel": Entry("audio", "xmer.features.audio:LogMel", "80 log-mel filterbanks, 25 ms / 10 ms, per-utterance normalised", {"n_mels": 80}),
    "logmel64": Entry("audio", "xmer.features.audio:LogMel", "64 log-mel filterbanks, 25 ms / 10 ms, per-utterance normalised", {"n_mels": 64}),
    "egemaps": Entry("audio", "xmer.features.audio:EGeMAPS", "25 eGeMAPSv02 low-level descriptors (openSMILE), 10 ms hop, per-utterance normalised"),
    "egemaps_raw": Entry("audio", "xmer.features.audio:EGeMAPS", "25 eGeMAPSv02 low-level descriptors as openSMILE gives them", {"normalize": False}),
    "egemaps_stats": Entry("audio", "xmer.features.audio:EGeMAPS", "the 88 eGeMAPSv02 functionals of the clip (openSMILE; one step)", {"functionals": True}),
    "fer": Entry("visual", "xmer.features.visual:FerExtractor", "largest face per frame (Haar, 8 fps) -> FER2013 CNN 128-d embedding"),
    "glove": Entry("text", "xmer.features.text:GloVe", "GloVe 6B 50-d word vectors (+1 out-of-vocabulary flag)"),
    "minilm": Entry("text", "xmer.features.text:MiniLM", "all-MiniLM-L6-v2 token states (384-d), offline"),
    "minilm_sentence": Entry("text", "xmer.features.text:MiniLMSentence", "all-MiniLM-L6-v2 sentence embedding (mean of token states, L2-normalised; one 384-d step), offline"),
    "minilm_emotion": Entry("text", "xmer.features.text:MiniLMEmotion", "all-MiniLM-L6-v2 with xmer's emotion adapter (LoRA, trained on the Ekman-7 text corpora) merged in; sentence embedding, one 384-d step, offline"),
    "whisper": Entry("audio", "xmer.features.whisper:WhisperStates", "Whisper tiny.en encoder states over the clip's own length (384-d, 20 ms), offline"),
    "whisper_stats": Entry("audio", "xmer.features.whisper:WhisperStates", "mean and std over time of Whisper tiny.en encoder states (one 768-d step per clip), offline", {"pooled": True}),
    "whisper_egemaps": Entry("audio", "xmer.features.whisper:WhisperEGeMAPS", "whisper_stats and egemaps_stats side by side (one 856-d step per clip), offline"),
}
"""Extractor name -> :class:`Entry`. The CLI's choices, ``get_extractor`` and the tests read this."""

_BUILT: dict[str, Extractor] = {}
_LOCK = threading.Lock()


def extractor_names(modality: str | None = None) -> list[str]:
    """Registered names, optionally only those of one modality."""
    return [name for name, entry in EXTRACTORS.items() if modality in (None, entry.modality)]


def get_extractor(name: str) -> Extractor:
    """The extractor registered as ``name``, built on first use and then reused in this process.

    Raises:
        ConfigError: ``name`` is not registered (the message lists the valid names), or its
            module cannot be imported (the message carries the install hint).
    """
    with _LOCK:
        if name in _BUILT:
            return _BUILT[name]
        entry = EXTRACTORS.get(name)
        if entry is None:
            valid = ", ".join(f"{n} ({e.modality})" for n, e in EXTRACTORS.items())
            raise ConfigError(f"unknown extractor {name!r}; valid names: {valid}")
        module_name, _, class_name = entry.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise ConfigError(
                f"extractor {name!r} needs a library that is not installed ({error}); install it with: {INSTALL_HINT}"
            ) from None
        extractor = getattr(module, class_name)(**entry.options)
        extractor.name = name
        if extractor.modality != entry.modality or extractor.modality not in MODALITIES:
            raise ConfigError(f"extractor {name!r}: class says modality {extractor.modality!r}, registry says {entry.modality!r}")
        _BUILT[name] = extractor
        return extractor


def parse_extractors(spec: str) -> dict[str, str]:
    """``"audio=logmel,text=glove"`` -> ``{"audio": "logmel", "text": "glove"}``, checked.

    Raises:
        ConfigError: malformed spec, unknown modality or name, or a name of another modality.
    """
    chosen: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in spec.split(","))):
        modality, sep, name = (s.strip() for s in part.partition("="))
        if not sep or not name:
            raise ConfigError(f"--extractors: expected MODALITY=NAME, got {part!r} (e.g. audio=logmel,text=glove)")
        if modality not in MODALITIES:
            raise ConfigError(f"--extractors: unknown modality {modality!r}; expected one of {', '.join(MODALITIES)}")
        if name not in EXTRACTORS:
            raise ConfigError(f"--extractors: unknown extractor {name!r}; for {modality}: {', '.join(extractor_names(modality)) or 'none registered'}")
        if EXTRACTORS[name].modality != modality:
            raise ConfigError(f"--extractors: {name!r} is a {EXTRACTORS[name].modality} extractor, not a {modality} one")
        if modality in chosen:
            raise ConfigError(f"--extractors: {modality} given twice")
        chosen[modality] = name
    if not chosen:
        raise ConfigError("--extractors: name at least one, e.g. audio=logmel,text=glove")
    return chosen


DEFAULT_EXTRACTORS: dict[str, str] = {"audio": "logmel", "text": "glove"}
"""Used by :func:`features_from_media` when the caller names none (a visual default joins when one
is registered)."""


def features_from_media(
    video: str | Path | None = None,
    audio: str | Path | None = None,
    image: str | Path | None = None,
    text: str | Path | None = None,
    extractors: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Features for one input given as media files, for ``xmer predict`` and the Python API.

    Args:
        video: a video file; gives visual features (faces) and, unless ``audio`` is given, audio
            features from its audio track.
        audio: an audio file (any format soundfile or FFmpeg reads), or a video whose track to use.
        image: a single face image (used for visual when ``video`` is not given).
        text: the transcript as a ``str``, or a ``Path`` to a ``.txt`` / ``.srt`` file.
        extractors: modality -> extractor name (``"logmel"``) or id (``"logmel@1"``, as
            ``dataset.json`` of the model's training set records it; the version must match);
            defaults to :data:`DEFAULT_EXTRACTORS`.

    Returns:
        ``(features, notes)``: ``features`` maps each usable modality to a (T, D) float32 array;
        ``notes`` maps each modality that was given but could not be used to one line saying why
        (e.g. ``"no face found in clip.mp4"``). A modality given no input appears in neither.

    Raises:
        ConfigError: an extractor name is unknown, of the wrong modality or of another version,
            or a library it needs is not installed.
        DataError: a file given does not exist or is empty (a typo is not a missing modality).
    """
    from xmer.features.media import collect_features

    return collect_features(video=video, audio=audio, image=image, text=text, extractors=extractors)
