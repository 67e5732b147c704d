"""Label spaces, and how each source's labels map onto them.

A :class:`LabelSpace` is a named, ordered set of class names, single- or multi-label. The registry
:data:`LABEL_SPACES` holds the target spaces the literature uses (``ekman7``, ``iemocap4``,
``mosei6``, ``sentiment2``, ``sentiment3``) and one *native* space per source whose labels are not
one of them (``ravdess8``, ``goemotions28``, ...), so that a source can be prepared without losing
a label. A user declares a space of their own in a YAML or JSON file
(``{name, labels, multi_label, aliases?}``, see :func:`load_label_space`).

How labels map (never guessed):

- Every built-in emotion space lists, for each of its labels, the Ekman-7 class it *is* or ``None``
  (:data:`TO_EKMAN7`): RAVDESS and Indian EmoSpeech ``calm``, CK+ ``contempt``, EMO-DB ``boredom``, IEMOCAP
  ``frustrated``/``other`` and SemEval ``anticipation``/``love``/``optimism``/``pessimism``/``trust``
  have no Ekman class and are dropped, as are EmoryNLP ``peaceful``/``powerful``, ISEAR
  ``shame``/``guilt`` and XED ``anticipation``/``trust``; IEMOCAP ``excited`` is ``happy`` (the 4-class protocol);
  GoEmotions follows the release's ``ekman_mapping.json``. A fixed table (:data:`FROM_EKMAN7`) then
  takes an Ekman class to ``iemocap4`` and ``mosei6``. ``neutral`` in ``mosei6`` is
  :data:`NO_CLASS`: the sample is kept with none of the six emotions present (as in MOSEI itself).
- A user space maps a label by exact (case-insensitive) name or through its ``aliases``.
- Sentiment spaces take a sentiment score, not a label (:func:`sentiment_label`).

:func:`map_label` maps one label; :func:`map_sample` applies the rules for a whole sample (several
labels, multi- or single-label target) and says why a sample is dropped. The trainer uses the same
two functions to bring prepared datasets with different label spaces into one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from xmer.errors import ConfigError

NO_CLASS = ""
"""What :func:`map_label` returns for a label that means "none of this space's classes" (neutral in
a multi-label space without a neutral class). Not ``None``: the sample is kept, with an empty label."""


@dataclass(frozen=True)
class LabelSpace:
    """A named, ordered set of classes.

    Attributes:
        name: registry key, also written to ``dataset.json`` as ``label_space``.
        labels: class names in index order.
        multi_label: a sample may have any subset of the classes (sigmoid per class), else exactly one.
        aliases: only for user spaces: class -> other names that mean it, either plain (``"joy"``) or
            qualified by a source space (``"iemocap10:exc"``).
        description: one line for ``--help`` and docs.
    """

    name: str
    labels: tuple[str, ...]
    multi_label: bool
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    description: str = ""

    def __post_init__(self):
        if len(set(self.labels)) != len(self.labels) or not self.labels:
            raise ConfigError(f"label space {self.name!r}: labels must be non-empty and distinct, got {list(self.labels)}")
        unknown = [k for k in self.aliases if k not in self.labels]
        if unknown:
            raise ConfigError(f"label space {self.name!r}: aliases for unknown class(es) {unknown}; classes: {list(self.labels)}")

    def index(self, label: str) -> int:
        return self.labels.index(label)

    def to_json(self) -> dict:
        out = {"name": self.name, "labels": list(self.labels), "multi_label": self.multi_label}
        if self.aliases:
            out["aliases"] = {k: list(v) for k, v in self.aliases.items()}
        return out


def _space(name: str, labels: str, multi_label: bool, description: str) -> LabelSpace:
    return LabelSpace(name, tuple(labels.split()), multi_label, description=description)


EKMAN7 = _space("ekman7", "angry disgust fear happy sad surprise neutral", False, "Ekman's six basic emotions plus neutral")

LABEL_SPACES: dict[str, LabelSpace] = {
    s.name: s
    for s in (
        EKMAN7,
        _space("iemocap4", "angry happy sad neutral", False, "the IEMOCAP 4-class protocol (excited merged into happy)"),
        _space("mosei6", "happy sad anger surprise disgust fear", True, "CMU-MOSEI's six emotions, present when intensity > 0"),
        _space("sentiment2", "negative positive", False, "sentiment score < 0 / > 0 (a score of exactly 0 is dropped)"),
        _space("sentiment3", "negative neutral positive", False, "sentiment score < 0 / = 0 / > 0"),
        # Native spaces: a source's own labels, so that preparing it drops nothing.
        _space("ravdess8", "neutral calm happy sad angry fearful disgust surprised", False, "RAVDESS's eight emotions"),
        _space("ckplus7", "anger contempt disgust fear happy sadness surprise", False, "CK+'s seven emotion labels"),
        _space("emodb7", "anger boredom disgust fear happiness sadness neutral", False, "EMO-DB's seven emotions (W L E A F T N)"),
        _space("tess7", "angry disgust fear happy neutral pleasant_surprise sad", False, "TESS's seven emotions"),
        _space("meld7", "anger disgust fear joy neutral sadness surprise", False, "MELD's seven emotions"),
        _space("iemocap10", "ang hap exc sad neu fru sur fea dis oth", False, "IEMOCAP's categorical labels (majority vote; 'xxx' has none)"),
        _space("emorynlp7", "joyful mad peaceful neutral sad powerful scared", False, "EmoryNLP's seven emotions (Willcox's wheel)"),
        _space("dailydialog7", "neutral happiness anger surprise sadness disgust fear", False, "DailyDialog's seven emotion labels"),
        _space("isear7", "joy fear anger sadness disgust shame guilt", False, "ISEAR's seven emotions"),
        _space("wassa4", "anger fear joy sadness", False, "WASSA-2017 EmoInt's four emotions"),
        _space("nemo6", "anger fear happiness sadness surprised neutral", False, "nEMO's six emotions (acted Polish speech)"),
        _space("emospeech4", "happy angry fearful calm", False, "Indian EmoSpeech Command Dataset's four emotions"),
        _space(
            "xed9",
            "anger anticipation disgust fear joy sadness surprise trust neutral",
            True,
            "XED's eight Plutchik emotions plus its neutral lines",
        ),
        _space(
            "semeval11",
            "anger anticipation disgust fear joy love optimism pessimism sadness surprise trust",
            True,
            "SemEval-2018 Task 1 E-c's eleven emotions",
        ),
        _space(
            "goemotions28",
            "admiration amusement anger annoyance approval caring confusion curiosity desire disappointment "
            "disapproval disgust embarrassment excitement fear gratitude grief joy love nervousness optimism "
            "pride realization relief remorse sadness surprise neutral",
            True,
            "GoEmotions' 27 emotions plus neutral (the order of the release's emotions.txt)",
        ),
    )
}
"""Built-in label spaces by name. ``xmer prepare --label-space`` accepts these names or a file."""

SENTIMENT_SPACES = ("sentiment2", "sentiment3")

GOEMOTIONS_EKMAN: dict[str, tuple[str, ...]] = {
    "anger": ("anger", "annoyance", "disapproval"),
    "disgust": ("disgust",),
    "fear": ("fear", "nervousness"),
    "joy": ("joy", "amusement", "approval", "excitement", "gratitude", "love", "optimism", "relief", "pride",
            "admiration", "desire", "caring"),
    "sadness": ("sadness", "disappointment", "embarrassment", "grief", "remorse"),
    "surprise": ("surprise", "realization", "confusion", "curiosity"),
}
"""The GoEmotions release's ``ekman_mapping.json`` (Ekman group -> GoEmotions labels); the
``goemotions`` source checks the release's own file against it."""

_GROUP_TO_EKMAN7 = {"anger": "angry", "disgust": "disgust", "fear": "fear", "joy": "happy", "sadness": "sad", "surprise": "surprise"}


def _table(pairs: str) -> dict[str, str | None]:
    """``"calm:- happy:happy"`` -> {"calm": None, "happy": "happy"}; a bare name maps to itself."""
    out: dict[str, str | None] = {}
    for item in pairs.split():
        native, _, target = item.partition(":")
        out[native] = None if target == "-" else (target or native)
    return out


TO_EKMAN7: dict[str, dict[str, str | None]] = {
    "ekman7": _table("angry disgust fear happy sad surprise neutral"),
    "iemocap4": _table("angry happy sad neutral"),
    "mosei6": _table("happy sad anger:angry surprise disgust fear"),
    "ravdess8": _table("neutral calm:- happy sad angry fearful:fear disgust surprised:surprise"),
    "ckplus7": _table("anger:angry contempt:- disgust fear happy sadness:sad surprise"),
    "emodb7": _table("anger:angry boredom:- disgust fear happiness:happy sadness:sad neutral"),
    "tess7": _table("angry disgust fear happy neutral pleasant_surprise:surprise sad"),
    "meld7": _table("anger:angry disgust fear joy:happy neutral sadness:sad surprise"),
    "iemocap10": _table("ang:angry hap:happy exc:happy sad:sad neu:neutral fru:- sur:surprise fea:fear dis:disgust oth:-"),
    "semeval11": _table(
        "anger:angry anticipation:- disgust fear joy:happy love:- optimism:- pessimism:- sadness:sad surprise trust:-"
    ),
    "emorynlp7": _table("joyful:happy mad:angry peaceful:- neutral sad powerful:- scared:fear"),
    "dailydialog7": _table("neutral happiness:happy anger:angry surprise sadness:sad disgust fear"),
    "isear7": _table("joy:happy fear anger:angry sadness:sad disgust shame:- guilt:-"),
    "wassa4": _table("anger:angry fear joy:happy sadness:sad"),
    "nemo6": _table("anger:angry fear happiness:happy sadness:sad surprised:surprise neutral"),
    "emospeech4": _table("happy angry fearful:fear calm:-"),
    "xed9": _table("anger:angry anticipation:- disgust fear joy:happy sadness:sad surprise trust:- neutral"),
    "goemotions28": {
        **{label: _GROUP_TO_EKMAN7[group] for group, labels in GOEMOTIONS_EKMAN.items() for label in labels},
        "neutral": "neutral",
    },
}
"""Built-in emotion space -> {its label: the Ekman-7 class it is, or None}."""

FROM_EKMAN7: dict[str, dict[str, str | None]] = {
    "iemocap4": _table("angry disgust:- fear:- happy sad surprise:- neutral"),
    "mosei6": {**_table("angry:anger disgust fear happy sad surprise"), "neutral": NO_CLASS},
}
"""Ekman-7 class -> the class of another built-in target space (``NO_CLASS``: none of its classes)."""


# ---------------------------------------------------------------------------------------------------
# Looking spaces up


def load_label_space(path: str | Path) -> LabelSpace:
    """Read a user-declared label space from YAML or JSON.

    Format::

        name: my5
        labels: [angry, happy, sad, neutral, calm]
        multi_label: false
        aliases:                 # optional: class -> other names meaning it
          happy: [joy, happiness, "iemocap10:exc"]
          calm: ["ravdess8:calm"]

    A source label maps onto a class of the space when its name equals the class (ignoring case) or
    one of the class's aliases (plain, or ``space:label`` to match one source space only).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"label space file not found: {path}")
    try:
        raw = json.loads(path.read_text()) if path.suffix == ".json" else yaml.safe_load(path.read_text())
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise ConfigError(f"{path}: not valid {'JSON' if path.suffix == '.json' else 'YAML'} ({error})") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping with keys name, labels, multi_label, aliases")
    unknown = set(raw) - {"name", "labels", "multi_label", "aliases", "description"}
    missing = {"name", "labels"} - set(raw)
    if unknown or missing:
        raise ConfigError(
            f"{path}: " + "; ".join(
                ([f"unknown key(s) {sorted(unknown)}"] if unknown else []) + ([f"missing key(s) {sorted(missing)}"] if missing else [])
            ) + " (valid keys: name, labels, multi_label, aliases, description)"
        )
    name, labels = raw["name"], raw["labels"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}: 'name' must be a non-empty string")
    if name in LABEL_SPACES:
        raise ConfigError(f"{path}: name {name!r} is a built-in label space; choose another name")
    if not isinstance(labels, list) or not all(isinstance(x, str) and x for x in labels):
        raise ConfigError(f"{path}: 'labels' must be a list of class names")
    aliases = raw.get("aliases") or {}
    if not isinstance(aliases, dict) or not all(isinstance(v, list) for v in aliases.values()):
        raise ConfigError(f"{path}: 'aliases' must map a class name to a list of names")
    multi_label = raw.get("multi_label", False)
    if not isinstance(multi_label, bool):
        raise ConfigError(f"{path}: 'multi_label' must be true or false")
    return LabelSpace(
        name, tuple(labels), multi_label, {k: tuple(str(x) for x in v) for k, v in aliases.items()},
        description=str(raw.get("description", f"user label space from {path.name}")),
    )


def get_label_space(spec: str | Path | LabelSpace) -> LabelSpace:
    """A :class:`LabelSpace` from a registry name, a ``.yaml``/``.yml``/``.json`` file, or itself."""
    if isinstance(spec, LabelSpace):
        return spec
    if str(spec) in LABEL_SPACES:
        return LABEL_SPACES[str(spec)]
    if Path(spec).suffix in (".yaml", ".yml", ".json"):
        return load_label_space(spec)
    raise ConfigError(f"unknown label space {str(spec)!r}; built-in: {', '.join(LABEL_SPACES)}; or a .yaml/.json file")


def is_builtin(space: LabelSpace) -> bool:
    """True for a space of :data:`LABEL_SPACES` (a user space may not reuse a built-in name)."""
    return LABEL_SPACES.get(space.name) == space


# ---------------------------------------------------------------------------------------------------
# Mapping


def map_label(label: str, source: str | LabelSpace, target: str | LabelSpace) -> str | None:
    """The class of ``target`` that ``label`` (a class of ``source``) is.

    Returns the class name, :data:`NO_CLASS` when the label means "none of the target's classes"
    (neutral into ``mosei6``), or ``None`` when it has no equivalent (the sample is dropped, never
    guessed). Raises :class:`~xmer.errors.ConfigError` when no mapping between the two spaces exists
    (a sentiment space and an emotion space) or ``label`` is not a class of ``source``.

    Example: ``map_label("calm", "ravdess8", "ekman7") -> None``;
    ``map_label("exc", "iemocap10", "iemocap4") -> "happy"``.
    """
    src, tgt = get_label_space(source), get_label_space(target)
    if label not in src.labels:
        raise ConfigError(f"{label!r} is not a class of label space {src.name!r} ({', '.join(src.labels)})")
    if src.name == tgt.name:
        return label
    if not is_builtin(tgt):
        return _map_by_name(label, src, tgt)
    if src.name in SENTIMENT_SPACES or tgt.name in SENTIMENT_SPACES:
        raise ConfigError(f"no mapping from label space {src.name!r} to {tgt.name!r} (sentiment and emotion classes do not map)")
    if not is_builtin(src):
        return _map_by_name(label, src, tgt)
    ekman = TO_EKMAN7[src.name][label]
    if tgt.name == "ekman7" or ekman is None:
        return ekman
    if tgt.name in FROM_EKMAN7:
        return FROM_EKMAN7[tgt.name][ekman]
    raise ConfigError(
        f"no mapping from label space {src.name!r} to the native space {tgt.name!r}; map onto "
        f"{', '.join(['ekman7', *FROM_EKMAN7])} or a user-declared space"
    )


def _map_by_name(label: str, src: LabelSpace, tgt: LabelSpace) -> str | None:
    wanted = {f"{src.name}:{label}".lower(), label.lower()}
    for cls in tgt.labels:
        if cls.lower() == label.lower() or wanted & {a.lower() for a in tgt.aliases.get(cls, ())}:
            return cls
    return None


def map_sample(
    labels: str | Sequence[str],
    source: str | LabelSpace,
    target: str | LabelSpace,
) -> tuple[str | list[str] | None, str | None]:
    """Map a whole sample's label(s) from ``source`` onto ``target``.

    Args:
        labels: one class name (single-label source) or a list (multi-label source; may be empty).
        source, target: label spaces (names, files or :class:`LabelSpace`).

    Returns:
        ``(label, None)`` with a class name (single-label target) or a list of class names in the
        target's order (multi-label target, possibly empty); or ``(None, reason)`` when the sample
        does not map, ``reason`` a short phrase for the "dropped" counts.

    Rules: a single-label sample is dropped when its label has no equivalent. For a multi-label
    sample, labels with no equivalent are left out (they say nothing about the target's classes);
    it is dropped when none of several labels maps, and, in a single-label target, when the rest
    does not come to exactly one class.
    """
    src, tgt = get_label_space(source), get_label_space(target)
    natives = [labels] if isinstance(labels, str) else list(labels)
    mapped = [map_label(x, src, tgt) for x in natives]
    classes = [c for c in tgt.labels if c in set(mapped)]
    if isinstance(labels, str) and mapped[0] is None:
        return None, f"no {tgt.name} class for {labels!r}"
    if natives and all(m is None for m in mapped):
        return None, f"no {tgt.name} class for any of its labels"
    if tgt.multi_label:
        return classes, None
    if not classes:
        return None, f"no {tgt.name} class (no emotion labelled)" if not natives else f"no {tgt.name} class"
    if len(classes) > 1:
        return None, f"several {tgt.name} classes"
    return classes[0], None


def sentiment_label(score: float, target: str | LabelSpace) -> tuple[str | None, str | None]:
    """A sentiment score (MOSI/MOSEI: -3..3) as a class of ``sentiment2`` or ``sentiment3``.

    ``sentiment2`` is the "non-zero" binary convention of the Multimodal Transformer: negative < 0 <
    positive, and a score of exactly 0 is dropped. Returns ``(class, None)`` or ``(None, reason)``.
    """
    tgt = get_label_space(target)
    if tgt.name not in SENTIMENT_SPACES:
        raise ConfigError(f"sentiment scores map only onto {', '.join(SENTIMENT_SPACES)}, not {tgt.name!r}")
    if score != score:  # NaN
        return None, "sentiment score is NaN"
    if score == 0:
        return ("neutral", None) if tgt.name == "sentiment3" else (None, "sentiment score 0 (neither negative nor positive)")
    return ("positive" if score > 0 else "negative"), None


def describe(spaces: Iterable[LabelSpace] | None = None) -> str:
    """One line per label space, for ``--help``."""
    return "\n".join(
        f"{s.name:13s} {'multi' if s.multi_label else 'single'}-label: {', '.join(s.labels)}"
        for s in (spaces or LABEL_SPACES.values())
    )
