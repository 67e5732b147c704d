"""The composite trimodal benchmark: a real face, voice and text of the same emotion, paired.

No real trimodal (video + audio + text) emotion set can be had here (DESIGN.md section 5), so
``xmer prepare composite --raw DATA_ROOT --out DIR`` composes one, the way MultiBench builds
AV-MNIST from two unimodal sets, from four real releases found under ``DATA_ROOT`` in their own
layouts (as ``../shared/data`` holds them): ``fer2013/`` (faces), ``ravdess/`` (speech),
``goemotions/`` and ``meld/`` (texts). Each release is scanned and checked by its own source (its
counts must match the release unless ``--allow-partial``) and mapped onto ``ekman7``; what does not
map is dropped and counted (RAVDESS calm; GoEmotions comments spanning several Ekman classes).

Construction:

- **Trimodal pairs** (``source: composite``): for each split and each Ekman class, a FER2013 face,
  a RAVDESS speech clip and a text drawn from GoEmotions and MELD together, all three of that class
  and from that split of their release (FER2013 Usage; RAVDESS by actor, 01-16 / 17-20 / 21-24, as
  the ``ravdess`` source splits it; GoEmotions and MELD official splits). Each pool, sorted by id,
  is permuted by a local ``numpy.random.default_rng((seed, split index))`` and cut:
  ``min(faces, clips, texts, cap)`` pairs per class, the cap being ``train_per_class`` for train and
  ``eval_per_class`` for valid and test. No source item is in two pairs, or in a pair and the
  auxiliary data. A pair's record names its three items in ``parts`` (modality -> source id).
- **Auxiliary data** (train split only): what the train pairs left over stays in the set under its
  own ``source``: FER2013 faces (visual only), GoEmotions and MELD texts (text only), and RAVDESS
  clips with the sentence the actor spoke as text (audio + text: a real bimodal set whose text
  carries no emotion, every clip says "Kids are talking by the door" or "Dogs are sitting by the
  door"). Each source keeps a seeded random subset of at most ``aux_<source>`` samples, in its
  natural class balance. Valid and test hold only trimodal pairs, because the trainer and the
  evaluation score every sample of those splits; the valid/test items left out of pairs are not
  used (counted under ``dropped``).
- **Media**: faces are written as PNGs under ``DIR/media/fer2013/<split>/`` (by the ``fer2013``
  source's own writer), audio is the absolute path of the RAVDESS FLAC, text is the string. Features
  come from ``xmer extract --data DIR --extractors visual=fer,audio=logmel,text=glove``.
- ``DIR/composition.json`` records the options and, per split, the pairs (and which text source
  they drew on) and the auxiliary samples per source; the same lines are the summary's notes.

Default sizes (options, :data:`DEFAULTS`) and why. Train: 48 pairs per class (336), a trimodal part
small next to its auxiliary data, as real trimodal sets are, that still leaves RAVDESS train clips
of every class (16 of its 64 neutral ones) to the auxiliary audio. Valid and test: every pair RAVDESS
allows (4 actors per split give 32 clips per class, 16 neutral: 208 pairs each). Auxiliary: 2000
faces, 1000 GoEmotions and 1000 MELD texts, and all 496 RAVDESS clips left over (4496, about 13 times
the trimodal train part). Training cost grows with the number of train samples (about 4 ms of CPU
per sample per epoch for the default model), and the experiment suite trains some 50 runs with
auxiliary data on 2 cores in about 2 hours; 8000 faces + 8000 texts (16,832 train samples) took a
minute of CPU per epoch, too slow for that. Extraction of the default set takes under a minute.

Limits (what this benchmark tests and what it does not): the three parts of a pair are independent
given the emotion (the face, the voice and the text are of three different people and never
co-occurred), so there is no cross-modal timing or congruence to learn and a translator can only
learn class-conditional mappings; RAVDESS actors speak two fixed sentences, so RAVDESS's own text
carries no emotion; FER2013 faces are single 48x48 grey images, not video; valid and test are small
(208 pairs), so differences of a few points need several seeds. It tests whether auxiliary data
through translators helps a trimodal recogniser on real signals, not real multimodal co-occurrence.
The visual front-end (``xmer pretrain visual``) was fitted on FER2013 Training and selected on
PublicTest, so its embedding separates train and valid faces better than test faces.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np

from xmer.data.labels import EKMAN7, map_sample
from xmer.data.sources.base import RawSample, Scan, Source, drop_shared_items
from xmer.data.sources.images import FER2013
from xmer.data.store import SPLITS
from xmer.errors import ConfigError, DataError
from xmer.modalities import MODALITIES

PARTS = ("fer2013", "ravdess", "goemotions", "meld")
"""The releases the composite is made of; each is read from ``DATA_ROOT/<name>/`` by its own source."""

TEXT_PARTS = ("goemotions", "meld")

DEFAULTS: dict[str, int] = {
    "seed": 0,
    "train_per_class": 48,
    "eval_per_class": -1,
    "aux_fer2013": 2000,
    "aux_ravdess": -1,
    "aux_goemotions": 1000,
    "aux_meld": 1000,
}
"""Default value of every option (``-1``: no cap)."""

SENTENCES = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
"""RAVDESS statement code -> the sentence every actor speaks."""


class Composite(Source):
    name = "composite"
    title = "composite trimodal benchmark (FER2013 face + RAVDESS voice + GoEmotions/MELD text of one emotion)"
    modalities = ("visual", "audio", "text")
    native_space = "ekman7"
    default_space = "ekman7"
    url = "composed from the fer2013, ravdess, goemotions and meld releases (see their rows)"
    raw_help = "the data root holding fer2013/, ravdess/, goemotions/ and meld/ in their release layouts"
    split_note = (
        "trimodal pairs from one split of every release (FER2013 Usage; RAVDESS by actor 01-16/17-20/21-24; "
        "GoEmotions, MELD official); auxiliary samples in train only"
    )
    options = {
        "seed": "seed of the pairing and of the auxiliary subsets (default 0)",
        "train_per_class": "trimodal train pairs per class at most (default 48; -1: as many as possible)",
        "eval_per_class": "trimodal valid and test pairs per class at most (default -1: as many as possible)",
        "aux_fer2013": "auxiliary FER2013 faces at most (default 2000; -1: all left over)",
        "aux_ravdess": "auxiliary RAVDESS clips (audio + sentence) at most (default -1: all left over)",
        "aux_goemotions": "auxiliary GoEmotions texts at most (default 1000; -1: all left over)",
        "aux_meld": "auxiliary MELD texts at most (default 1000; -1: all left over)",
    }

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        settings = resolve_options(options)
        pools = {part: self._scan_part(raw, part, scan) for part in PARTS}
        by_class: dict[tuple[str, str, str], list[RawSample]] = defaultdict(list)
        for part, samples in pools.items():
            for sample in samples:
                by_class[part, sample.split, sample.label].append(sample)

        used: set[str] = set()
        for i, split in enumerate(SPLITS):
            rng = np.random.default_rng((settings["seed"], i))
            cap = settings["train_per_class" if split == "train" else "eval_per_class"]
            for cls in EKMAN7.labels:
                faces = _permuted(rng, by_class["fer2013", split, cls])
                clips = _permuted(rng, by_class["ravdess", split, cls])
                texts = _permuted(rng, [s for part in TEXT_PARTS for s in by_class[part, split, cls]])
                n = min(len(faces), len(clips), len(texts))
                n = n if cap < 0 else min(n, cap)
                if n == 0 and cap != 0:
                    scan.notes.append(f"no {split} pair for {cls}: {len(faces)} faces, {len(clips)} clips, {len(texts)} texts")
                for k, (face, clip, text) in enumerate(zip(faces[:n], clips[:n], texts[:n])):
                    scan.add(_pair(f"composite-{split}-{cls}-{k:04d}", split, cls, face, clip, text))
                    used.update((face.id, clip.id, text.id))

        for j, part in enumerate(PARTS):
            rng = np.random.default_rng((settings["seed"], len(SPLITS) + j))
            for split in SPLITS:
                rest = sorted((s for s in pools[part] if s.split == split and s.id not in used), key=lambda s: s.id)
                if split != "train":
                    if rest:
                        scan.dropped[f"{part} {split}: not in a trimodal pair (valid and test hold pairs only)"] += len(rest)
                    continue
                cap = settings[f"aux_{part}"]
                if 0 <= cap < len(rest):
                    scan.dropped[f"{part} train: over the auxiliary cap (aux_{part}={cap})"] += len(rest) - cap
                    rest = [rest[k] for k in np.sort(rng.choice(len(rest), size=cap, replace=False))]
                for sample in rest:
                    scan.add(_auxiliary(part, sample))
        scan.context["settings"] = settings
        scan.notes[:0] = composition_lines(composition(scan.samples, settings))

    def _scan_part(self, raw: Path, part: str, scan: Scan) -> list[RawSample]:
        """One release's samples with their ``ekman7`` label set; its checks, drops and notes go to ``scan``."""
        from xmer.data.sources import SOURCES  # here, not at import: the registry imports this module

        folder = raw / part
        if not folder.is_dir():
            raise DataError(f"composite: {folder} not found; {raw} must hold {', '.join(p + '/' for p in PARTS)} (the release layouts)")
        source = SOURCES[part]
        sub = Scan(source, folder, scan.allow_partial)
        source.scan(folder, sub, {})
        for check in sub.checks:
            scan.expect(f"{part}: {check.what}", check.expected, check.found)
        for reason, n in sub.dropped.items():
            scan.dropped[f"{part}: {reason}"] += n
        scan.notes += [f"{part}: {note}" for note in sub.notes]
        kept = []
        for sample in sub.samples:
            if part == "ravdess" and ((sample.extra or {}).get("channel") != "speech" or "audio" not in (sample.media or {})):
                scan.dropped["ravdess: song or video-only recording (speech audio is used)"] += 1
                continue
            label, reason = map_sample(sample.labels, sub.native_space, EKMAN7)
            if reason is not None:
                scan.dropped[f"{part}: {reason}"] += 1
                continue
            sample.label = label
            kept.append(sample)
        if not kept:
            raise DataError(f"composite: no {part} sample under {folder} has an ekman7 label")
        shared: Counter = Counter()
        kept = drop_shared_items(kept, scan, shared)
        for reason, n in shared.items():
            scan.dropped[f"{part}: {reason}"] += n
        return kept

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        FER2013().write(out, [s for s in samples if "visual" in s.modalities], scan)
        settings = scan.context.get("settings", dict(DEFAULTS))
        (out / "composition.json").write_text(json.dumps(composition(samples, settings), indent=2) + "\n")
        return super().write(out, samples, scan)


def resolve_options(options: dict) -> dict[str, int]:
    """:data:`DEFAULTS` updated by ``options`` (ints, or strings from a command line; ``"all"`` is -1)."""
    settings = dict(DEFAULTS)
    for key, value in options.items():
        if value is None:
            continue
        try:
            number = -1 if str(value).strip().lower() == "all" else int(value)
        except ValueError:
            raise ConfigError(f"composite option {key}={value!r}: expected an integer (or 'all')") from None
        if number < -1 or (key == "seed" and number < 0):
            raise ConfigError(f"composite option {key}={number}: expected {'>= 0' if key == 'seed' else '>= 0, or -1 for no cap'}")
        settings[key] = number
    return settings


def _permuted(rng: np.random.Generator, samples: list[RawSample]) -> list[RawSample]:
    ordered = sorted(samples, key=lambda s: s.id)
    return [ordered[k] for k in rng.permutation(len(ordered))]


def _pair(pair_id: str, split: str, cls: str, face: RawSample, clip: RawSample, text: RawSample) -> RawSample:
    return RawSample(
        pair_id, split, cls, MODALITIES,
        media={"visual": face.media["visual"], "audio": clip.media["audio"], "text": text.media["text"]},
        extra={"parts": {"visual": face.id, "audio": clip.id, "text": text.id}},
        data=face.data,
    )


def _auxiliary(part: str, sample: RawSample) -> RawSample:
    # "source" in extra overrides the record's default ("composite"): an auxiliary sample keeps its release's name.
    extra = {"source": part}
    if part == "ravdess":
        statement = sample.id.split("-")[4]  # ravdess-VV-EE-II-SS-RR-AA
        media = {"audio": sample.media["audio"], "text": SENTENCES[statement]}
        extra["intensity"] = (sample.extra or {}).get("intensity")
        modalities = ("audio", "text")
    elif part == "fer2013":
        media, modalities = {"visual": sample.media["visual"]}, ("visual",)
    else:
        media, modalities = {"text": sample.media["text"]}, ("text",)
    return RawSample(sample.id, sample.split, sample.label, modalities, speaker=sample.speaker, media=media, extra=extra, data=sample.data)


def composition(samples: list[RawSample], settings: dict) -> dict:
    """Per split: trimodal pairs (per class, and which text source they drew on) and auxiliary samples per source."""
    out: dict = {"options": settings, "splits": {}}
    for split in SPLITS:
        pairs = [s for s in samples if s.split == split and "parts" in (s.extra or {})]
        aux = Counter((s.extra or {}).get("source") for s in samples if s.split == split and "parts" not in (s.extra or {}))
        out["splits"][split] = {
            "trimodal": len(pairs),
            "trimodal_classes": {c: n for c in EKMAN7.labels if (n := sum(s.label == c for s in pairs))},
            "trimodal_text_sources": {p: n for p in TEXT_PARTS if (n := sum(s.extra["parts"]["text"].startswith(p + "-") for s in pairs))},
            "auxiliary": {part: aux[part] for part in PARTS if aux[part]},
        }
    return out


def composition_lines(comp: dict) -> list[str]:
    """:func:`composition` as one line per split, for the summary's notes."""
    lines = []
    for split, c in comp["splits"].items():
        texts = ", ".join(f"{k} {v}" for k, v in c["trimodal_text_sources"].items()) or "none"
        aux = ", ".join(f"{k} {v}" for k, v in c["auxiliary"].items()) or "none"
        lines.append(f"{split}: {c['trimodal']} trimodal pairs (texts from {texts}); auxiliary: {aux}")
    return lines
