"""Face-image sources: FER2013 and CK+ (the release's image sequences, or the common CK+48 folders).

- ``fer2013``: ``--raw`` is the folder with ``fer2013.csv`` or ``fer2013.csv.gz`` (or the file).
  Rows ``emotion,pixels,Usage``: 48x48 grey pixels as 2304 space-separated integers; emotion
  0..6 = angry, disgust, fear, happy, sad, surprise, neutral (exactly ``ekman7``, the default label
  space). Splits by Usage: Training -> train (28709), PublicTest -> valid (3589), PrivateTest ->
  test (3589). Every image is written as a PNG under ``DIR/media/fer2013/<split>/`` (Pillow), so the
  visual extractor reads FER2013 like any other image.
- ``ckplus``: ``--raw`` is the folder holding ``cohn-kanade-images/`` and ``Emotion/`` (the release's
  two archives unpacked side by side), or a CK+48 folder (``anger/ contempt/ disgust/ fear/ happy/
  sadness/ surprise/`` of 48x48 PNGs), or one above either. Release layout: one sample per
  sequence that has an emotion label (327 of 593; the others are noted, not used); its visual
  media is the sequence folder, frames in name order, neutral onset to peak. CK+48: one sample per
  image (981). Default label space ``ckplus7`` (with ``ekman7``, contempt is dropped). Splits are
  subject-independent: the sorted subject ids are permuted by ``numpy.random.default_rng(0)`` and
  cut 80 / 10 / 10 % into train / valid / test.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from xmer.data.labels import LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source, check_media, find_file, open_text, seeded_split, visible_files
from xmer.errors import DataError

SUBJECT_FRACTIONS = {"train": 0.8, "valid": 0.1, "test": 0.1}
SUBJECT_SEED = 0


class FER2013(Source):
    name = "fer2013"
    title = "FER2013 (ICML 2013 facial expression challenge, 48x48 grey faces)"
    modalities = ("visual",)
    native_space = "ekman7"
    default_space = "ekman7"
    url = "https://www.kaggle.com/c/challenges-in-representation-learning-facial-expression-recognition-challenge (fer2013.tar.gz)"
    raw_help = "the folder with fer2013.csv or fer2013.csv.gz (or the file itself)"
    accepts_file = True
    split_note = "official Usage: Training -> train / PublicTest -> valid / PrivateTest -> test"
    USAGE = {"Training": "train", "PublicTest": "valid", "PrivateTest": "test"}
    EXPECTED = {"Training": 28709, "PublicTest": 3589, "PrivateTest": 3589}
    SIDE = 48

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        path = find_file(raw, ["fer2013.csv", "fer2013.csv.gz"], "FER2013 CSV", depth=2)
        labels = LABEL_SPACES["ekman7"].labels
        found = dict.fromkeys(self.USAGE, 0)
        try:
            with open_text(path) as f:
                header = f.readline().strip()
                if header.split(",") != ["emotion", "pixels", "Usage"]:
                    raise DataError(f"{path}: header {header!r}, expected 'emotion,pixels,Usage'")
                for row, line in enumerate(f):
                    line_no = row + 2
                    parts = line.strip().split(",")
                    if len(parts) != 3:
                        scan.problem("malformed row", f"{path}, line {line_no}: expected 3 comma-separated fields")
                        continue
                    emotion, pixels, usage = parts
                    if usage not in self.USAGE or emotion not in {str(i) for i in range(7)}:
                        message = f"{path}, line {line_no}: emotion {emotion!r} (0..6) or Usage {usage!r} ({', '.join(self.USAGE)}) invalid"
                        scan.problem("malformed row", message)
                        continue
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        values = np.fromstring(pixels, dtype=np.int32, sep=" ")
                    if values.size != self.SIDE * self.SIDE or values.min() < 0 or values.max() > 255:
                        scan.problem("malformed row", f"{path}, line {line_no}: pixels are not {self.SIDE * self.SIDE} integers 0..255")
                        continue
                    found[usage] += 1
                    split = self.USAGE[usage]
                    scan.add(
                        RawSample(
                            f"fer2013-{row:05d}",
                            split,
                            labels[int(emotion)],
                            ("visual",),
                            media={"visual": f"media/fer2013/{split}/{row:05d}.png"},
                            data=values.astype(np.uint8).reshape(self.SIDE, self.SIDE),
                        )
                    )
        except (OSError, EOFError, UnicodeDecodeError) as error:
            raise DataError(f"{path}: cannot be read ({error})") from None
        for usage, n in self.EXPECTED.items():
            scan.expect(f"{usage} rows", n, found[usage])

    def write(self, out: Path, samples: list[RawSample], scan: Scan) -> dict[str, dict]:
        try:
            from PIL import Image
        except ImportError:
            raise DataError("writing FER2013 images needs Pillow: pip install pillow") from None
        for split in {s.split for s in samples}:
            (out / "media" / "fer2013" / split).mkdir(parents=True, exist_ok=True)
        for sample in samples:
            Image.fromarray(sample.data).save(out / sample.media["visual"], format="PNG")
        return {"visual": {"dim": None, "extractor": None}}


class CKPlus(Source):
    name = "ckplus"
    title = "CK+ (Extended Cohn-Kanade: posed expression sequences, or the CK+48 crops)"
    modalities = ("visual",)
    native_space = "ckplus7"
    default_space = "ckplus7"
    url = "https://www.jeffcohn.net/Resources/ (CK+ by request; CK+48 is a common crop of its peak frames)"
    raw_help = "the folder with cohn-kanade-images/ and Emotion/, or a CK+48 folder of emotion folders"
    split_note = "subject-independent: sorted subject ids permuted by numpy.random.default_rng(0), cut 80/10/10 %"
    CODES = {1: "anger", 2: "contempt", 3: "disgust", 4: "fear", 5: "happy", 6: "sadness", 7: "surprise"}
    EXPECTED = {"sequences": 593, "subjects": 123, "emotion labels": 327, "CK+48 images": 981}
    FRAME = re.compile(r"^(S\d{3})_(\d{3})_(\d{8})\.png$")

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        images = _find_dir(raw, "cohn-kanade-images")
        if images is not None:
            emotion = _find_dir(raw, "Emotion") or _find_dir(raw, "Emotion_labels")
            if emotion is None:
                raise DataError(f"CK+ at {raw}: found {images} but no Emotion/ folder of label files beside it")
            self._scan_release(images, emotion, scan)
            return
        for folder in (raw, *sorted(p for p in raw.iterdir() if p.is_dir())):
            if any((folder / name).is_dir() for name in self.CODES.values()):
                self._scan_48(folder, scan)
                return
        raise DataError(
            f"CK+ not found under {raw}: expected cohn-kanade-images/ with Emotion/, or CK+48 folders "
            f"{', '.join(self.CODES.values())}"
        )

    def _scan_release(self, images: Path, emotion_dir: Path, scan: Scan) -> None:
        sequences = sorted(p for p in images.glob("S*/*") if p.is_dir())
        subjects = sorted({p.parent.name for p in sequences})
        scan.expect("sequences in cohn-kanade-images", self.EXPECTED["sequences"], len(sequences))
        scan.expect("subjects", self.EXPECTED["subjects"], len(subjects))
        assign = seeded_split(subjects, SUBJECT_FRACTIONS, SUBJECT_SEED)
        labelled = 0
        for seq in sequences:
            subject, number = seq.parent.name, seq.name
            frames = visible_files(seq)
            bad = [f for f in frames if not self.FRAME.match(f.name) or not f.name.startswith(f"{subject}_{number}_")]
            if bad:
                scan.problem("unexpected file name", f"{bad[0]}: not a frame name {subject}_{number}_NNNNNNNN.png")
                continue
            if not frames:
                scan.problem("empty sequence", f"{seq}: no frames")
                continue
            label_files = sorted((emotion_dir / subject / number).glob("*_emotion.txt"))
            if not label_files:
                continue
            labelled += 1
            try:
                code = int(float(label_files[-1].read_text().split()[0]))
            except (OSError, ValueError, IndexError):
                scan.problem("malformed label file", f"{label_files[-1]}: not an emotion code 1..7")
                continue
            if code not in self.CODES:
                scan.problem("malformed label file", f"{label_files[-1]}: emotion code {code} is not 1..7")
                continue
            if not check_media(scan, frames[-1]):
                continue
            scan.add(
                RawSample(
                    f"ckplus-{subject}_{number}", assign[subject], self.CODES[code], ("visual",),
                    speaker=subject, media={"visual": str(seq)}, extra={"frames": len(frames)},
                )
            )
        scan.expect("sequences with an emotion label", self.EXPECTED["emotion labels"], labelled)
        scan.notes.append(
            f"{len(sequences) - labelled} sequences have no emotion label and are not used; "
            "a sample's visual media is its sequence folder (frames in name order)"
        )

    def _scan_48(self, folder: Path, scan: Scan) -> None:
        entries = []
        for name in self.CODES.values():
            sub = folder / name
            if not sub.is_dir():
                scan.problem("missing folder", f"CK+48 folder {sub} is missing")
                continue
            for path in visible_files(sub):
                match = self.FRAME.match(path.name)
                if not match:
                    scan.problem("unexpected file name", f"{path}: not a CK+ frame name SNNN_NNN_NNNNNNNN.png")
                    continue
                if check_media(scan, path):
                    entries.append((match.group(1), name, path))
        scan.expect("CK+48 images", self.EXPECTED["CK+48 images"], len(entries))
        assign = seeded_split({s for s, _, _ in entries}, SUBJECT_FRACTIONS, SUBJECT_SEED)
        for subject, name, path in entries:
            scan.add(RawSample(f"ckplus48-{path.stem}", assign[subject], name, ("visual",), speaker=subject, media={"visual": str(path)}))


def _find_dir(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, *sorted(raw.glob(f"*/{name}"))):
        if candidate.is_dir():
            return candidate
    return None
