"""``xmer prepare`` for the speech corpora with their own words: nEMO and the Indian EmoSpeech Command
Dataset, on tiny audio files written here (soundfile: WAV as the releases ship, Ogg Opus as the copies
in ../shared/data) in each release's exact layout; then the real copies, scanned without decoding.

As in test_prepare_raw_aux.py, the release counts are patched down to the tiny sets so the strict
path is tested.
"""

from __future__ import annotations

import hashlib
from collections import Counter

import numpy as np
import pytest

from xmer.data.labels import map_sample
from xmer.data.sources import SOURCES, Scan, prepare
from xmer.errors import DataError

from test_prepare_raw import opens  # noqa: E402

sf = pytest.importorskip("soundfile")

SPLITS = ("train", "valid", "test")


def write_clip(path, seed: int) -> None:
    """0.1 s of 16 kHz noise, different for every seed (clips that sound alike would be shared items)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    wave = (0.1 * np.random.default_rng(seed).standard_normal(1600)).astype(np.float32)
    if path.suffix == ".opus":
        sf.write(str(path), wave, 16_000, format="OGG", subtype="OPUS")
    else:
        sf.write(str(path), wave, 16_000)


def speakers_by_split(records) -> dict[str, set]:
    return {split: {r.get("speaker") for r in records if r["split"] == split} for split in SPLITS}


def assert_speaker_independent(records) -> None:
    by_split = speakers_by_split(records)
    for a, b in (("train", "valid"), ("train", "test"), ("valid", "test")):
        assert not (by_split[a] - {None}) & (by_split[b] - {None}), (a, b)


# ---------------------------------------------------------------------------------------------------
# nEMO


NEMO_HEAD = "file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage\n"
NEMO_SENTENCES = {"1": ("Interesuje mnie historia Polski.", "interesuje mnie historia polski"),
                  "2": ("Ucho wykrywa dźwięki o różnej częstotliwości.", "ucho wykrywa dźwięki o różnej częstotliwości")}
NEMO_SPEAKERS = {"EB0": ("female", 27), "IC0": ("female", 28), "KS0": ("male", 23), "WR0": ("male", 23)}


def nemo_row(speaker, emotion, sentence):
    gender, age = NEMO_SPEAKERS[speaker]
    raw, normalized = NEMO_SENTENCES[sentence]
    return f"{speaker}_{emotion}_{sentence}.wav\t{emotion}\t{raw}\t{normalized}\t        {speaker}\t{gender}\t{age}\n"


def make_nemo(root, folder="samples", suffix=".wav"):
    """The release: data.tsv (speaker ids padded with spaces) and one audio file per row in samples/."""
    rows = [(s, e, "1") for s in NEMO_SPEAKERS for e in ("anger", "surprised")] + [("EB0", "neutral", "2")]
    root.mkdir(parents=True)
    (root / "data.tsv").write_text(NEMO_HEAD + "".join(nemo_row(*row) for row in rows), encoding="utf-8")
    for i, (speaker, emotion, sentence) in enumerate(rows):
        write_clip(root / folder / f"{speaker}_{emotion}_{sentence}{suffix}", i)
    (root / "README.md").write_text("release files beside data.tsv are ignored")
    return root


@pytest.fixture()
def nemo_counts(monkeypatch):
    per_class = {"anger": 4, "fear": 0, "happiness": 0, "sadness": 0, "surprised": 4, "neutral": 1}
    monkeypatch.setattr(SOURCES["nemo"], "EXPECTED", {"clips": 9, "speakers": 4, "per class": per_class})


def test_nemo_release_layout(tmp_path, nemo_counts):
    raw = make_nemo(tmp_path / "nEMO")
    summary = prepare("nemo", tmp_path, tmp_path / "out")  # one above the release folder
    assert summary.label_space.name == "ekman7" and summary.dropped == {} and all(c.ok for c in summary.checks)
    assert summary.counts == {"train": 5, "valid": 2, "test": 2}
    assert {c: n for c, n in summary.classes.items() if n} == {"angry": 4, "surprise": 4, "neutral": 1}
    assert summary.modalities == {"audio+text": 9}
    records = opens(tmp_path / "out").records
    by_split = speakers_by_split(records)
    assert by_split == {"train": {"nemo-EB0", "nemo-WR0"}, "valid": {"nemo-IC0"}, "test": {"nemo-KS0"}}
    record = next(r for r in records if r["id"] == "nemo-EB0_neutral_2")
    assert record["modalities"] == ["audio", "text"] and record["label"] == "neutral" and record["speaker"] == "nemo-EB0"
    assert record["media"] == {"audio": str(raw / "samples" / "EB0_neutral_2.wav"),
                               "text": "Ucho wykrywa dźwięki o różnej częstotliwości."}
    assert record["normalized_text"] == "ucho wykrywa dźwięki o różnej częstotliwości"
    assert record["sentence"] == "2" and record["gender"] == "female"


def test_nemo_label_spaces(tmp_path, nemo_counts):
    raw = make_nemo(tmp_path / "nEMO")
    native = prepare("nemo", raw, None, label_space="nemo6", dry_run=True)
    assert {c: n for c, n in native.classes.items() if n} == {"anger": 4, "surprised": 4, "neutral": 1}
    four = prepare("nemo", raw, None, label_space="iemocap4", dry_run=True)
    assert four.dropped == {"no iemocap4 class for 'surprised'": 4}
    assert {c: n for c, n in four.classes.items() if n} == {"angry": 4, "neutral": 1}
    mapped = {e: map_sample(e, "nemo6", "ekman7")[0] for e in ("anger", "fear", "happiness", "sadness", "surprised", "neutral")}
    assert mapped == {"anger": "angry", "fear": "fear", "happiness": "happy", "sadness": "sad",
                      "surprised": "surprise", "neutral": "neutral"}


def test_nemo_opus_copy(tmp_path, nemo_counts):
    """The copy in ../shared/data: audio/<stem>.opus, Ogg Opus."""
    raw = make_nemo(tmp_path / "nemo", folder="audio", suffix=".opus")
    assert (raw / "audio" / "EB0_anger_1.opus").read_bytes()[:4] == b"OggS"
    summary = prepare("nemo", raw, tmp_path / "out")
    assert summary.counts == {"train": 5, "valid": 2, "test": 2} and summary.dropped == {}
    record = next(r for r in opens(tmp_path / "out").records if r["id"] == "nemo-KS0_anger_1")
    assert record["media"]["audio"].endswith("audio/KS0_anger_1.opus") and record["split"] == "test"
    (raw / "audio" / "WR0_anger_1.opus").write_bytes(b"RIFF0000WAVE")  # not Ogg inside
    with pytest.raises(DataError, match=r"WR0_anger_1.opus is not a OPUS file \(bad header\)"):
        prepare("nemo", raw, None, dry_run=True)


def test_nemo_counts_and_bad_rows(tmp_path, nemo_counts):
    raw = make_nemo(tmp_path / "nEMO")
    (raw / "samples" / "WR0_surprised_1.wav").unlink()
    with pytest.raises(DataError, match=r"line 9: no audio file WR0_surprised_1.wav\|flac\|opus\|ogg"):
        prepare("nemo", raw, None, dry_run=True)
    partial = prepare("nemo", raw, None, dry_run=True, allow_partial=True)
    assert partial.dropped == {"missing audio file": 1} and partial.counts["train"] == 4
    assert [c.what for c in partial.checks if not c.ok] == ["surprised clips", "clips"]
    write_clip(raw / "samples" / "WR0_surprised_1.wav", 99)
    with open(raw / "data.tsv", "a", encoding="utf-8") as f:
        f.write(nemo_row("WR0", "anger", "2"))
    write_clip(raw / "samples" / "WR0_anger_2.wav", 98)
    with pytest.raises(DataError, match="does not match the release: anger clips: expected 4, found 5; clips: expected 9, found 10"):
        prepare("nemo", raw, None, dry_run=True)
    with open(raw / "data.tsv", "a", encoding="utf-8") as f:
        f.write("KS0_fear_1.wav\tfear\tTekst.\ttekst\t   WR0\tmale\t23\n")  # the name's speaker is not the row's
    with pytest.raises(DataError, match=r"line 12: file_id 'KS0_fear_1.wav' is not \{speaker_id\}_\{emotion\}_\{sentence\}.wav"):
        prepare("nemo", raw, None, dry_run=True)
    (raw / "data.tsv").write_text("file_id,emotion\nEB0_anger_1.wav,anger\n")
    with pytest.raises(DataError, match="expected the header file_id"):
        prepare("nemo", raw, None, dry_run=True)


def test_nemo_split_table_covers_the_nine_speakers():
    nemo = SOURCES["nemo"]
    groups = [set(nemo.TRAIN), set(nemo.VALID), set(nemo.TEST)]
    assert sum(len(g) for g in groups) == len(set().union(*groups)) == nemo.EXPECTED["speakers"] == 9


# ---------------------------------------------------------------------------------------------------
# Indian EmoSpeech


UNKNOWN = SOURCES["emospeech"].UNKNOWN_USER
USERS = [hashlib.sha224(str(i).encode()).hexdigest() for i in range(7)]  # 56 hex digits, as the release's hashes
EMOTIONS = ["happy", "fearful", "angry", "calm"] * 2 + ["happy", "fearful", "happy", "fearful", "angry", "calm"]  # 4 each with the unknown user's
KEYWORDS = ["help", "bacho", "stop", "no", "go", "yes", "Help", "unknown", "go", "stop", "no", "yes", "bacho", "help"]


def emospeech_names() -> list[tuple[str, str]]:
    """(place folder, file stem): the unknown user in House/, seven known users (two clips each) in webservice/."""
    names = [("House", f"bacho-safe-angry-1562907046662-{UNKNOWN}"),
             ("House", f"background-safe-calm-20190701193438-{UNKNOWN}"),
             ("House", f"background-safe-None-20190701193439-{UNKNOWN}")]  # no emotion: dropped
    for i, (emotion, keyword) in enumerate(zip(EMOTIONS, KEYWORDS)):
        environment = "glass break" if i == 3 else "safe"
        stamp = "??" if i == 5 else str(1563453731932 + i)
        names.append(("webservice", f"{keyword}-{environment}-{emotion}-{stamp}-{USERS[i // 2]}"))
    return names


def make_emospeech(root, suffix=".wav"):
    for i, (place, stem) in enumerate(emospeech_names()):
        write_clip(root / place / f"{stem}{suffix}", 100 + i)
    return root


@pytest.fixture()
def emospeech_counts(monkeypatch):
    monkeypatch.setattr(SOURCES["emospeech"], "EXPECTED", {"clips": 16, "per class": 4, "users": 8, "unknown-user clips": 2})


def test_emospeech_release_layout(tmp_path, emospeech_counts):
    raw = make_emospeech(tmp_path / "emospeech-dataset-v1")  # the place folders at the top
    (raw / "README.md").write_text("not audio")
    summary = prepare("emospeech", raw, tmp_path / "out")
    assert summary.label_space.name == "emospeech4" and all(c.ok for c in summary.checks)
    assert summary.dropped == {"no emotion labelled (None)": 1}
    assert summary.counts == {"train": 12, "valid": 2, "test": 2}  # 2 unknown-user clips + 5 users; 1 user; 1 user
    assert summary.classes == {"happy": 4, "angry": 4, "fearful": 4, "calm": 4}
    assert summary.modalities == {"audio+text": 14, "audio": 2}
    records = opens(tmp_path / "out").records
    assert_speaker_independent(records)
    unknown = [r for r in records if "speaker" not in r]
    assert len(unknown) == 2 and {r["split"] for r in unknown} == {"train"}
    assert [len(speakers_by_split(records)[s] - {None}) for s in SPLITS] == [5, 1, 1]
    by_id = {r["id"]: r for r in records}
    help_ = by_id[f"emospeech-Help-safe-angry-1563453731938-{USERS[3]}"]
    assert help_["media"]["text"] == "help" and help_["modalities"] == ["audio", "text"] and help_["speaker"] == f"emospeech-{USERS[3]}"
    assert help_["keyword"] == "help" and help_["place"] == "webservice" and help_["label"] == "angry"
    no_word = by_id[f"emospeech-unknown-safe-calm-1563453731939-{USERS[3]}"]
    assert no_word["modalities"] == ["audio"] and "text" not in no_word["media"]
    background = by_id[f"emospeech-background-safe-calm-20190701193438-{UNKNOWN}"]
    assert background["modalities"] == ["audio"] and background["place"] == "House"
    spaced = by_id[f"emospeech-no-glass_break-calm-1563453731935-{USERS[1]}"]
    assert spaced["environment"] == "glass break" and spaced["media"]["audio"].endswith(f"no-glass break-calm-1563453731935-{USERS[1]}.wav")
    assert f"emospeech-yes-safe-fearful-??-{USERS[2]}" in by_id


def test_emospeech_label_spaces(tmp_path, emospeech_counts):
    raw = make_emospeech(tmp_path / "indian_emospeech" / "audio", suffix=".opus")  # the copy: audio/<place>/*.opus
    ekman = prepare("emospeech", raw.parent, None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no emotion labelled (None)": 1, "no ekman7 class for 'calm'": 4}
    assert {c: n for c, n in ekman.classes.items() if n} == {"angry": 4, "fear": 4, "happy": 4}
    four = prepare("emospeech", raw.parent, None, label_space="iemocap4", dry_run=True)
    assert {c: n for c, n in four.classes.items() if n} == {"angry": 4, "happy": 4}
    # calm as neutral is one user label space away
    space = tmp_path / "calm-as-neutral.yaml"
    space.write_text("name: calm-as-neutral\nlabels: [angry, fear, happy, neutral]\n"
                     "aliases: {fear: [fearful], neutral: ['emospeech4:calm']}\n")
    mine = prepare("emospeech", raw.parent, None, label_space=space, dry_run=True)
    assert mine.dropped == {"no emotion labelled (None)": 1}
    assert mine.classes == {"angry": 4, "fear": 4, "happy": 4, "neutral": 4}


def test_emospeech_counts_and_bad_files(tmp_path, emospeech_counts):
    raw = make_emospeech(tmp_path / "raw")
    write_clip(raw / "Misc" / f"stop-safe-angry-1563453731999-{USERS[0]}.wav", 1)
    with pytest.raises(DataError, match="does not match the release: angry clips: expected 4, found 5; clips: expected 16, found 17"):
        prepare("emospeech", raw, None, dry_run=True)
    partial = prepare("emospeech", raw, None, dry_run=True, allow_partial=True)
    assert sum(partial.counts.values()) == 17 and [c.what for c in partial.checks if not c.ok] == ["angry clips", "clips"]
    (raw / "Misc" / f"stop-safe-angry-1563453731999-{USERS[0]}.wav").unlink()
    write_clip(raw / "Misc" / f"help-safe-calm-20190701193438-{USERS[0]}.flac", 2)
    write_clip(raw / "Roads" / f"help-safe-calm-20190701193438-{USERS[0]}.wav", 3)
    with pytest.raises(DataError, match="a second file of clip help-safe-calm"):
        prepare("emospeech", raw, None, dry_run=True)
    (raw / "Misc" / f"help-safe-calm-20190701193438-{USERS[0]}.flac").unlink()
    (raw / "Roads" / f"help-safe-calm-20190701193438-{USERS[0]}.wav").unlink()
    write_clip(raw / "House" / "help-safe-angry.wav", 4)
    with pytest.raises(DataError, match="help-safe-angry.wav: not an EmoSpeech name"):
        prepare("emospeech", raw, None, dry_run=True)
    (raw / "House" / "help-safe-angry.wav").unlink()
    write_clip(raw / "House" / f"help-safe-sad-1-{USERS[0]}.wav", 5)
    with pytest.raises(DataError, match="emotion 'sad' is not one of calm, fearful, angry, happy"):
        prepare("emospeech", raw, None, dry_run=True)
    (tmp_path / "empty" / "House").mkdir(parents=True)
    with pytest.raises(DataError, match="no audio files"):
        prepare("emospeech", tmp_path / "empty", None, dry_run=True)


def test_emospeech_split_is_seeded_and_grouped_by_user(tmp_path, emospeech_counts):
    raw = make_emospeech(tmp_path / "raw")
    first = prepare("emospeech", raw, None, dry_run=True)
    again = prepare("emospeech", raw, None, dry_run=True)
    assert first.split_classes == again.split_classes


# ---------------------------------------------------------------------------------------------------
# The real copies in ../shared/data: scanned (the checks and splits of ``xmer prepare``), no audio decoded


def _scan(name, raw):
    source = SOURCES[name]
    scan = Scan(source, raw, allow_partial=False)
    source.scan(raw, scan, {})
    return scan


@pytest.mark.real_data
def test_real_nemo(shared_data):
    scan = _scan("nemo", shared_data / "nemo")
    assert all(c.ok for c in scan.checks) and not scan.dropped and not scan.notes
    assert scan.found() == {"train": 3401, "valid": 540, "test": 540}
    records = [{"split": s.split, "speaker": s.speaker} for s in scan.samples]
    assert_speaker_independent(records)
    assert speakers_by_split(records)["valid"] == {"nemo-IC0"} and speakers_by_split(records)["test"] == {"nemo-KS0"}
    assert len(speakers_by_split(records)["train"]) == 7
    assert all(s.media["audio"].endswith(".opus") and s.media["text"] for s in scan.samples)
    per_split = Counter((s.split, map_sample(s.labels, "nemo6", "ekman7")[0]) for s in scan.samples)
    assert all(per_split[(split, c)] == 90 for split in ("valid", "test") for c in ("angry", "fear", "happy", "sad", "surprise", "neutral"))


@pytest.mark.real_data
def test_real_emospeech(shared_data):
    scan = _scan("emospeech", shared_data / "indian_emospeech")
    assert all(c.ok for c in scan.checks) and not scan.dropped
    assert scan.found() == {"train": 1752, "valid": 396, "test": 252}
    records = [{"split": s.split, "speaker": s.speaker} for s in scan.samples]
    assert_speaker_independent(records)
    assert [len(speakers_by_split(records)[s] - {None}) for s in SPLITS] == [75, 16, 16]
    unknown = [s for s in scan.samples if s.speaker is None]
    assert len(unknown) == 559 and {s.split for s in unknown} == {"train"}
    assert sum("text" in s.modalities for s in scan.samples) == 2400 - 101  # 75 unknown + 26 background keywords
    ekman = Counter(map_sample(s.labels, "emospeech4", "ekman7")[0] for s in scan.samples)
    assert ekman == {"angry": 600, "fear": 600, "happy": 600, None: 600}


# ---------------------------------------------------------------------------------------------------
# --transcribe: the words xmer hears, in place of the release's


def test_transcribe_gives_each_clip_the_words_xmer_hears(tmp_path, nemo_counts, monkeypatch):
    """A stand-in recogniser that understands the clips of speaker EB0 only: theirs keep its words,
    the others lose their text, and the release's words stay as corpus_text."""
    import xmer.features.asr as asr
    from xmer.features.asr import Utterance, judge

    class Hears:
        def hear(self, wave):
            clear = float(np.abs(wave).max()) > 0.45  # EB0's clips are written louder below
            return judge([Utterance(0.0, 0.1, "we waited for the bus", avg_logprob=-0.3 if clear else -1.1)])

    monkeypatch.setattr(asr, "speech_available", lambda: True)
    monkeypatch.setattr(asr, "get_transcriber", lambda: Hears())
    raw = make_nemo(tmp_path / "nEMO")
    for path in (raw / "samples").glob("EB0_*.wav"):
        sf.write(str(path), 0.5 * np.sin(np.arange(1600) / 5.0).astype(np.float32), 16_000)
    summary = prepare("nemo", raw, tmp_path / "out", transcribe=True)
    assert summary.modalities == {"audio+text": 3, "audio": 6}
    assert any("2 keep" not in n and "3 keep" in n and "6 drop" in n for n in summary.notes)
    records = {r["id"]: r for r in opens(tmp_path / "out").records}
    heard = records["nemo-EB0_neutral_2"]
    assert heard["media"]["text"] == "we waited for the bus" and heard["modalities"] == ["audio", "text"]
    assert heard["corpus_text"] == "Ucho wykrywa dźwięki o różnej częstotliwości." and heard["asr"]["decision"] == "keep"
    foreign = records["nemo-KS0_anger_1"]
    assert foreign["modalities"] == ["audio"] and "text" not in foreign["media"]
    assert foreign["asr"]["decision"] == "drop" and "not English" in foreign["asr"]["reason"]
    assert foreign["corpus_text"] == "Interesuje mnie historia Polski."


def test_transcribe_without_the_speech_extra_says_how_to_install_it(tmp_path, nemo_counts, monkeypatch):
    import xmer.features.asr as asr
    from xmer.errors import ConfigError

    monkeypatch.setattr(asr, "speech_available", lambda: False)
    with pytest.raises(ConfigError, match=r"--transcribe needs speech transcription: pip install 'xmer\[speech\]'"):
        prepare("nemo", make_nemo(tmp_path / "nEMO"), tmp_path / "out", transcribe=True)
    assert not (tmp_path / "out").exists()


def test_transcribe_goes_on_past_a_clip_it_cannot_read_and_names_it(tmp_path, nemo_counts, monkeypatch, capsys):
    import xmer.features.asr as asr
    from xmer.features.asr import Utterance, judge

    class Hears:
        def hear(self, wave):
            return judge([Utterance(0.0, 0.1, "we waited for the bus", avg_logprob=-0.3)])

    monkeypatch.setattr(asr, "speech_available", lambda: True)
    monkeypatch.setattr(asr, "get_transcriber", lambda: Hears())
    raw = make_nemo(tmp_path / "nEMO")
    broken = sorted((raw / "samples").glob("KS0_*.wav"))[0]
    broken.write_bytes(b"RIFF....WAVEfmt not really")
    summary = prepare("nemo", raw, tmp_path / "out", transcribe=True)
    assert any("8 keep" in n and "1 unreadable" in n for n in summary.notes), summary.notes
    err = capsys.readouterr().err
    assert "1 clip(s) could not be read" in err and broken.name in err
    records = {r["id"]: r for r in opens(tmp_path / "out").records}
    lost = records[f"nemo-{broken.stem}"]
    assert lost["modalities"] == ["audio"] and lost["asr"]["decision"] == "drop" and broken.name in lost["asr"]["reason"]
