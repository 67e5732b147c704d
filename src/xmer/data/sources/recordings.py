"""Sources whose modalities come from the same recording, one feature vector per utterance.

Each writes every modality it has as features as a one-step sequence (T = 1), standardised per
dimension with the mean and standard deviation of its *training* split (a constant dimension becomes
0), so that the translators' squared errors weigh every dimension alike and nothing of the
validation or test splits leaks in. The statistics are listed in the summary's notes.

- ``cmu-mosi-bclstm``: CMU-MOSI (93 videos, one speaker each) as released with the bc-LSTM code
  (Poria et al., ACL 2017). ``--raw`` is the folder holding ``transcripts.csv`` (no header:
  ``<videoID>_<segment>``, transcript, video number 1-93, binary label), ``text_{train,test}.csv``
  (column 0 the 0-based row of ``transcripts.csv``, then 100 text-CNN features),
  ``audio/audio_{train,test}0.csv`` (73 openSMILE features) and ``video/video_{train,test}0.csv``
  (100 3D-CNN features; the last column of both is the label); row i of every file of a split is
  the same utterance. Checked counts: 2199 transcripts over 93 videos, train 1447 utterances of
  videos 1-62, test 752 of videos 63-93, and every file's label agrees with the transcript's.
  Validation: 15 % of the training *videos* (the 62 sorted video numbers permuted by
  ``numpy.random.default_rng(0)``), so no speaker is in two splits. Labels are binary sentiment:
  written as scores +1 / -1, label space ``sentiment2`` (the default and the only one that fits).
  The transcript is kept as the text ``media`` (``xmer extract`` can replace the text features).
- ``ravdess-av``: RAVDESS speech as audio-visual pairs: the OpenFace 2 action units of each clip of
  the audio-visual release (``ravdess_au.npz``: ``clip_id`` ``01-01-EE-II-SS-RR-AA`` and ``au``,
  35 values: 17 intensities then 18 presences, frame means) and the audio-only file of the same
  performance (``03-01-EE-II-SS-RR-AA.flac`` or ``.wav`` in ``Actor_AA``). ``--raw`` is a folder
  holding both, each up to two folders down (e.g. ``../shared/data``, with ``ravdess_au/`` and
  ``ravdess/Audio_Speech_Actors_01-24/``); ``--au FILE`` names the ``.npz`` elsewhere. Visual is the
  AU vector, audio the file (features from ``xmer extract``), text the sentence the actor speaks
  ("Kids are talking by the door" / "Dogs are sitting by the door": it carries no emotion). Checked
  counts: 1440 speech audio files, 1440 AU clips, all 1440 paired, 24 actors. Splits by actor as
  ``ravdess``: 01-16 train, 17-20 valid, 21-24 test. Default label space ``ravdess8``.
"""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np

from xmer.data.sources.base import RawSample, Scan, Source, check_media, find_file, seeded_split, visible_files
from xmer.data.sources.clips import RAVDESS
from xmer.data.sources.composite import SENTENCES
from xmer.data.store import ChunkWriter
from xmer.errors import DataError


def write_standardised(out: Path, samples: list[RawSample], modality: str, extractor: str, scan: Scan) -> int:
    """Write each sample's ``data[modality]`` vector as a (1, D) sequence, standardised with the train
    split's per-dimension mean and std; returns D."""
    having = [s for s in samples if modality in s.data]
    train = np.stack([s.data[modality] for s in having if s.split == "train"] or [s.data[modality] for s in having])
    mean, std = train.mean(0), train.std(0)
    std[std < 1e-8] = 1.0  # a constant dimension (MOSI's video column 0) becomes 0
    scan.notes.append(f"{modality}: standardised with the train split's mean and std over {len(train)} samples "
                      f"(mean |mean| {np.abs(mean).mean():.3g}, mean std {std.mean():.3g})")
    with ChunkWriter(out / "features", modality, train.shape[1], extractor=extractor) as writer:
        for sample in having:
            writer.add(sample.id, ((sample.data[modality] - mean) / std)[None, :])
    return int(train.shape[1])


class CMUMOSIBCLSTM(Source):
    name = "cmu-mosi-bclstm"
    title = "CMU-MOSI utterance features of the bc-LSTM release (text CNN, openSMILE, 3D-CNN; binary sentiment)"
    modalities = ("visual", "audio", "text")
    native_space = None
    default_space = "sentiment2"
    url = "https://github.com/declare-lab/contextual-utterance-level-multimodal-sentiment-analysis (data of Poria et al. 2017)"
    raw_help = "the folder with transcripts.csv, text_{train,test}.csv, audio/ and video/"
    split_note = "by video: 1-62 train (15 % of them, seeded, valid), 63-93 test"
    FILES = {"text": "text_{split}.csv", "audio": "audio/audio_{split}0.csv", "visual": "video/video_{split}0.csv"}
    DIMS = {"text": 100, "audio": 73, "visual": 100}
    EXPECTED = {"transcripts": 2199, "videos": 93, "train": 1447, "test": 752, "train videos": 62, "test videos": 31}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        transcripts = self._read(raw / "transcripts.csv")
        scan.expect("transcripts", self.EXPECTED["transcripts"], len(transcripts))
        scan.expect("videos", self.EXPECTED["videos"], len({row[2] for row in transcripts if len(row) == 4}))
        per_split: dict[str, list[tuple[list, dict]]] = {}
        for part in ("train", "test"):
            tables = {m: self._read(raw / name.format(split=part)) for m, name in self.FILES.items()}
            lengths = {m: len(t) for m, t in tables.items()}
            if len(set(lengths.values())) != 1:
                raise DataError(f"{self.name}: the {part} files have different row counts {lengths} (row i of each is one utterance)")
            scan.expect(f"{part} utterances", self.EXPECTED[part], lengths["text"])
            rows = []
            for i in range(lengths["text"]):
                vectors, where = {}, f"{raw / self.FILES['text'].format(split=part)}, row {i + 1}"
                try:
                    index = int(float(tables["text"][i][0]))
                    if not 0 <= index < len(transcripts):
                        raise IndexError(f"transcript row {index} is not in transcripts.csv")
                    transcript = transcripts[index]
                    vectors["text"] = np.array(tables["text"][i][1:], dtype=np.float64)
                    label = int(transcript[3])
                    for m in ("audio", "visual"):
                        values = np.array(tables[m][i], dtype=np.float64)
                        vectors[m] = values[:-1]
                        if int(values[-1]) != label:
                            raise ValueError(f"{self.FILES[m].format(split=part)} row {i + 1} has label {int(values[-1])}, "
                                             f"the transcript {transcript[0]} has {label}")
                except (ValueError, IndexError) as error:
                    scan.problem("malformed row", f"{where}: {error}")
                    continue
                bad = [m for m, v in vectors.items() if v.shape != (self.DIMS[m],) or not np.isfinite(v).all()]
                if bad or label not in (0, 1):
                    scan.problem("malformed row", f"{where}: expected {self.DIMS} finite features and a 0/1 label; bad: {bad or 'label'}")
                    continue
                rows.append((transcript, vectors))
            per_split[part] = rows
        videos = {part: sorted({int(t[2]) for t, _ in rows}) for part, rows in per_split.items()}
        scan.expect("train videos", self.EXPECTED["train videos"], len(videos["train"]))
        scan.expect("test videos", self.EXPECTED["test videos"], len(videos["test"]))
        if set(videos["train"]) & set(videos["test"]):
            raise DataError(f"{self.name}: videos {sorted(set(videos['train']) & set(videos['test']))[:5]} are in both train and test")
        valid = seeded_split([f"{v:03d}" for v in videos["train"]], {"train": 0.85, "valid": 0.15}, 0)
        for part, rows in per_split.items():
            for transcript, vectors in rows:
                video = int(transcript[2])
                split = valid[f"{video:03d}"] if part == "train" else "test"
                scan.add(RawSample(
                    f"{self.name}-{transcript[0]}", split, None, ("visual", "audio", "text"), speaker=f"mosi-video{video:02d}",
                    media={"text": transcript[1]}, sentiment=1.0 if transcript[3] == "1" else -1.0,
                    extra={"video": video}, data=vectors,
                ))
        duplicates = [k for k, n in Counter(s.id for s in scan.samples).items() if n > 1]
        if duplicates:
            raise DataError(f"{self.name}: utterance {duplicates[0]} occurs twice in {raw}")

    def _read(self, path: Path) -> list[list[str]]:
        if not path.is_file():
            raise DataError(f"{self.name}: {path} not found (expected {self.raw_help})")
        with open(path, newline="", encoding="utf-8") as f:
            return [row for row in csv.reader(f) if row]

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        extractors = {"visual": "bclstm-3dcnn", "audio": "bclstm-opensmile", "text": "bclstm-textcnn"}
        return {m: {"dim": write_standardised(out, samples, m, e, scan), "extractor": e} for m, e in extractors.items()}


class RAVDESSAV(Source):
    name = "ravdess-av"
    title = "RAVDESS speech as audio-visual pairs (OpenFace action units + the audio file of the same performance)"
    modalities = ("visual", "audio", "text")
    native_space = "ravdess8"
    default_space = "ravdess8"
    url = "https://zenodo.org/record/1188976 (audio); action units: OpenFace 2 on the audio-visual release"
    raw_help = "a folder holding ravdess_au.npz and the Actor_NN folders of the speech audio (each up to two folders down)"
    split_note = RAVDESS.split_note
    options = {"au": "the action-unit file (ravdess_au.npz) when it is not under --raw"}
    AU_DIM = 35
    EXPECTED = {"audio files": 1440, "action-unit clips": 1440, "paired clips": 1440, "actors": 24}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        au_path = Path(options["au"]) if options.get("au") else find_file(raw, ["ravdess_au.npz"], "the action-unit file")
        units = self._units(au_path)
        scan.expect("action-unit clips", self.EXPECTED["action-unit clips"], len(units))
        audio = self._audio(raw, scan)
        scan.expect("speech audio files", self.EXPECTED["audio files"], len(audio))
        paired = set(units) & set(audio)
        scan.expect("paired clips", self.EXPECTED["paired clips"], len(paired))
        scan.expect("actors", self.EXPECTED["actors"], len({key[-2:] for key in set(units) | set(audio)}))
        for key in sorted(set(units) | set(audio)):
            _, emotion, intensity, statement, _, actor = key.split("-")
            media = {"text": SENTENCES[statement]}
            data = {}
            if key in audio:
                media["audio"] = str(audio[key])
            if key in units:
                data["visual"] = units[key]
            modalities = tuple(m for m in ("visual", "audio", "text") if m in media or m in data)
            scan.add(RawSample(
                f"{self.name}-{key}", RAVDESS.split_of(int(actor)), RAVDESS.EMOTIONS[emotion], modalities,
                speaker=f"ravdess-actor{actor}", media=media, data=data,
                extra={"intensity": "strong" if intensity == "02" else "normal", "statement": statement},
            ))

    def _units(self, path: Path) -> dict[str, np.ndarray]:
        """``01-EE-II-SS-RR-AA`` (vocal channel onwards) -> (35,) action units."""
        try:
            archive = np.load(path, allow_pickle=False)
            ids, au = archive["clip_id"], np.asarray(archive["au"], dtype=np.float64)
        except (OSError, ValueError, KeyError) as error:
            raise DataError(f"{path}: not a readable action-unit file with clip_id and au arrays ({error})") from None
        if au.shape != (len(ids), self.AU_DIM) or not np.isfinite(au).all():
            raise DataError(f"{path}: au has shape {au.shape} (finite: {np.isfinite(au).all()}), expected ({len(ids)}, {self.AU_DIM}) finite values")
        units = {}
        for clip, vector in zip(ids.tolist(), au):
            match = RAVDESS.NAME.match(f"{clip}.mp4")
            if not match or match.group(1) != "01" or match.group(2) != "01":
                raise DataError(f"{path}: clip_id {clip!r} is not an audio-visual speech clip 01-01-EE-II-SS-RR-AA")
            if clip[3:] in units:
                raise DataError(f"{path}: clip_id {clip!r} occurs twice")
            units[clip[3:]] = vector
        return units

    def _audio(self, raw: Path, scan: Scan) -> dict[str, Path]:
        """``01-EE-II-SS-RR-AA`` -> the audio-only speech file, from the Actor_NN folders under ``raw``."""
        folders = sorted({p for pattern in ("Actor_[0-9][0-9]", "*/Actor_[0-9][0-9]", "*/*/Actor_[0-9][0-9]")
                          for p in raw.glob(pattern) if p.is_dir()})
        if not folders:
            raise DataError(f"{self.name}: no Actor_NN folders in {raw} or up to two folders below it")
        ravdess, audio = RAVDESS(), {}
        for folder in folders:
            for path in visible_files(folder):
                if path.suffix.lower() not in (".wav", ".flac"):
                    continue  # the video files of the release: the action units stand for them
                fields = ravdess._parse(path, folder, scan)
                if fields is None or fields[0] != "03" or fields[1] != "01" or not check_media(scan, path):
                    continue  # a bad name (counted by _parse) or a song clip (no action units)
                key = "-".join(fields[1:])
                if key in audio:
                    scan.problem("duplicate file", f"{path}: a second audio file of clip {key} (first: {audio[key]})")
                    continue
                audio[key] = path
        return audio

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        info = {"visual": {"dim": write_standardised(out, samples, "visual", "openface2-au", scan), "extractor": "openface2-au"}}
        return info | {m: {"dim": None, "extractor": None} for m in ("audio", "text")}
