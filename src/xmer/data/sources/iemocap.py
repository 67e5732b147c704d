"""IEMOCAP from its release folders (``IEMOCAP_full_release/Session1..5``).

``--raw`` is ``IEMOCAP_full_release`` (the folder holding ``Session1`` .. ``Session5``) or one above.
Per session it reads:

- ``dialog/EmoEvaluation/<dialog>.txt``: one line per utterance,
  ``[START - END]<TAB><utterance id><TAB><label><TAB>[V, A, D]``; the label is the majority vote
  (``ang hap exc sad neu fru sur fea dis oth``; ``xxx`` = no majority, dropped and counted);
- ``dialog/transcriptions/<dialog>.txt``: ``<utterance id> [START-END]: words`` -> the text;
- ``sentences/wav/<dialog>/<utterance id>.wav`` -> the audio;
- ``dialog/avi/DivX/<dialog>.avi`` -> the visual, one video per dialogue: the record's
  ``media_span`` gives the utterance's ``[start, end]`` seconds inside it.

The release has 10039 evaluated utterances in 5 sessions (checked). Default label space ``iemocap4``
(the 4-class protocol of the literature: angry, happy with excited merged in, sad, neutral; the
other labels are dropped and counted). Splits are leave-one-session-out: ``--fold k`` (1..5,
default 5) puts session k in test, session k+1 (5 -> 1) in valid and the other three in train, so
no speaker is in two splits.
"""

from __future__ import annotations

import re
from pathlib import Path

from xmer.data.labels import LABEL_SPACES
from xmer.data.sources.base import RawSample, Scan, Source
from xmer.errors import ConfigError, DataError

EVAL_LINE = re.compile(r"^\[(\d+(?:\.\d+)?) - (\d+(?:\.\d+)?)\]\t(Ses0[1-5][FM]_\S+)\t(\w+)\t\[")
TRANSCRIPT_LINE = re.compile(r"^(Ses0[1-5][FM]_\S+) \[[^\]]*\]:\s?(.*)$")


class IEMOCAP(Source):
    name = "iemocap"
    title = "IEMOCAP (interactive emotional dyadic motion capture database)"
    modalities = ("visual", "audio", "text")
    native_space = "iemocap10"
    default_space = "iemocap4"
    url = "https://sail.usc.edu/iemocap/ (by request: IEMOCAP_full_release)"
    raw_help = "IEMOCAP_full_release (the folder holding Session1..Session5) or one above it"
    options = {"fold": "IEMOCAP leave-one-session-out fold 1..5: that session is test, the next one valid (default 5)"}
    EXPECTED = {"sessions": 5, "utterances": 10039}

    def scan(self, raw: Path, scan: Scan, options: dict) -> None:
        fold = int(options.get("fold") or 5)
        if fold not in range(1, 6):
            raise ConfigError(f"iemocap: --fold must be 1..5, got {fold}")
        valid_session = fold % 5 + 1
        scan.split_note = f"leave-one-session-out fold {fold}: Session{fold} test, Session{valid_session} valid, the others train"
        sessions = self._sessions(raw)
        scan.expect("sessions", self.EXPECTED["sessions"], len(sessions))
        labels = set(LABEL_SPACES["iemocap10"].labels)
        evaluated = 0
        for number, session in sessions:
            split = "test" if number == fold else "valid" if number == valid_session else "train"
            eval_dir = session / "dialog" / "EmoEvaluation"
            if not eval_dir.is_dir():
                raise DataError(f"IEMOCAP: {eval_dir} is missing (the label files of Session{number})")
            for eval_file in sorted(p for p in eval_dir.glob("Ses*.txt") if not p.name.startswith(".")):
                dialog = eval_file.stem
                texts = self._transcripts(session / "dialog" / "transcriptions" / f"{dialog}.txt", scan)
                video = session / "dialog" / "avi" / "DivX" / f"{dialog}.avi"
                for start, end, utterance, label in self._evaluations(eval_file, scan):
                    evaluated += 1
                    if label == "xxx":
                        scan.dropped["no majority label (xxx)"] += 1
                        continue
                    if label not in labels:
                        message = f"{eval_file}: utterance {utterance} has label {label!r}, not one of {sorted(labels)} or xxx"
                        scan.problem("malformed label", message)
                        continue
                    wav = session / "sentences" / "wav" / dialog / f"{utterance}.wav"
                    media, extra = {}, {}
                    if video.is_file():
                        media["visual"] = str(video)
                        extra["media_span"] = {"visual": [start, end]}
                    if wav.is_file():
                        media["audio"] = str(wav)
                    else:
                        scan.problem("missing audio", f"IEMOCAP: {wav} is missing (utterance {utterance} of {eval_file})")
                        continue
                    if utterance in texts:
                        media["text"] = texts[utterance]
                    else:
                        scan.problem("missing transcript", f"IEMOCAP: no transcript line for {utterance} in the transcriptions of {dialog}")
                        continue
                    speaker = f"{utterance[:5]}{utterance.rsplit('_', 1)[1][0]}"
                    modalities = tuple(m for m in ("visual", "audio", "text") if m in media)
                    scan.add(RawSample(f"iemocap-{utterance}", split, label, modalities, speaker=speaker, media=media, extra=extra))
        scan.expect("evaluated utterances", self.EXPECTED["utterances"], evaluated)
        if not any("visual" in s.media for s in scan.samples):
            scan.notes.append("no dialog/avi/DivX videos found: samples have audio and text only")

    @staticmethod
    def _sessions(raw: Path) -> list[tuple[int, Path]]:
        for base in (raw, *sorted(p for p in raw.iterdir() if p.is_dir())):
            found = sorted((int(p.name[-1]), p) for p in base.glob("Session[1-5]") if p.is_dir())
            if found:
                return found
        raise DataError(f"IEMOCAP: no Session1..Session5 folders in {raw} or the folders below it")

    @staticmethod
    def _evaluations(path: Path, scan: Scan) -> list[tuple[float, float, str, str]]:
        try:
            lines = path.read_text(errors="strict").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            scan.problem("unreadable file", f"IEMOCAP: cannot read {path} ({error})")
            return []
        out = []
        for line in lines:
            match = EVAL_LINE.match(line)
            if match:
                out.append((float(match.group(1)), float(match.group(2)), match.group(3), match.group(4)))
        if not out:
            scan.problem("malformed label file", f"IEMOCAP: {path} has no '[START - END]<TAB>utterance<TAB>label<TAB>[V, A, D]' lines")
        return out

    @staticmethod
    def _transcripts(path: Path, scan: Scan) -> dict[str, str]:
        if not path.is_file():
            return {}
        try:
            lines = path.read_text(errors="replace").splitlines()
        except OSError as error:
            scan.problem("unreadable file", f"IEMOCAP: cannot read {path} ({error.strerror})")
            return {}
        return {m.group(1): m.group(2).strip() for m in map(TRANSCRIPT_LINE.match, lines) if m}
