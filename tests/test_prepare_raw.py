"""``xmer prepare`` for raw releases, on small files built here in each release's exact layout.

The release counts (``EXPECTED``) are patched down to the tiny sets so the strict path is tested;
other tests leave them and check that a mismatch is an error, or a report with ``allow_partial``.
"""

from __future__ import annotations

import gzip
import json
import wave
import zlib

import numpy as np
import pytest

from xmer.data.dataset import PreparedDataset
from xmer.data.sources import SOURCES, prepare
from xmer.errors import DataError


# ---------------------------------------------------------------------------------------------------
# tiny media files with real headers


def make_wav(path, frames=160):
    """A short WAV whose samples differ from file to file (two files are one recording only when copied)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    level = zlib.crc32(path.name.encode()) % 30000 + 1
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(np.full(frames, level, "<i2").tobytes())


def make_mp4(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 32 + path.name.encode())


def make_avi(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"RIFF\x00\x01\x00\x00AVI LIST" + b"\x00" * 32 + path.name.encode())


def make_png(path, value=0):
    """An 8x8 grey image of ``value`` with a corner that differs from file to file."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.full((8, 8), value, dtype=np.uint8)
    pixels[0, :4] = np.frombuffer(zlib.crc32(str(path).encode()).to_bytes(4, "little"), np.uint8)
    Image.fromarray(pixels).save(path)


def opens(out):
    dataset = PreparedDataset.open(out)
    for record in dataset.records:
        assert set(record["modalities"]) <= set(record.get("media", {})) | set(dataset.store.modalities)
    return dataset


# ---------------------------------------------------------------------------------------------------
# FER2013


def write_fer(path, rows, gz=False):
    lines = ["emotion,pixels,Usage"] + [f"{e}," + " ".join(str((i * 7 + e) % 256) for i in range(2304)) + f",{u}" for e, u in rows]
    text = "\n".join(lines) + "\n"
    if gz:
        path.with_suffix(".csv.gz").write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)


FER_ROWS = [(0, "Training"), (3, "Training"), (6, "Training"), (5, "PublicTest"), (1, "PrivateTest")]


@pytest.fixture()
def small_fer(monkeypatch):
    monkeypatch.setattr(SOURCES["fer2013"], "EXPECTED", {"Training": 3, "PublicTest": 1, "PrivateTest": 1})


@pytest.mark.parametrize("gz", [False, True])
def test_fer2013_writes_pngs(tmp_path, small_fer, gz):
    from PIL import Image

    raw = tmp_path / "raw"
    raw.mkdir()
    write_fer(raw / "fer2013.csv", FER_ROWS, gz=gz)
    summary = prepare("fer2013", raw, tmp_path / "out")
    assert summary.counts == {"train": 3, "valid": 1, "test": 1}
    assert summary.classes == {"angry": 1, "disgust": 1, "fear": 0, "happy": 1, "sad": 0, "surprise": 1, "neutral": 1}
    dataset = opens(tmp_path / "out")
    record = dataset.records[0]
    assert record["label"] == "angry" and record["media"]["visual"] == "media/fer2013/train/00000.png"
    pixels = np.asarray(Image.open(tmp_path / "out" / record["media"]["visual"]))
    assert pixels.shape == (48, 48) and pixels[0, 1] == 7


def test_fer2013_count_mismatch_is_an_error_and_writes_nothing(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_fer(raw / "fer2013.csv", FER_ROWS)
    with pytest.raises(DataError) as error:
        prepare("fer2013", raw, tmp_path / "out")
    assert "Training rows: expected 28709, found 3" in str(error.value) and "--allow-partial" in str(error.value)
    assert not (tmp_path / "out").exists() and list(tmp_path.iterdir()) == [raw]
    summary = prepare("fer2013", raw, tmp_path / "out", allow_partial=True)
    assert sum(summary.counts.values()) == 5
    assert summary.to_json()["mismatches"] == ["Training rows", "PublicTest rows", "PrivateTest rows"]


def test_fer2013_malformed_row_names_the_line(tmp_path, small_fer):
    raw = tmp_path / "raw"
    raw.mkdir()
    write_fer(raw / "fer2013.csv", FER_ROWS)
    text = (raw / "fer2013.csv").read_text().splitlines()
    text[2] = "3,1 2 3,Training"
    (raw / "fer2013.csv").write_text("\n".join(text) + "\n")
    with pytest.raises(DataError, match=r"fer2013.csv, line 3: pixels are not 2304"):
        prepare("fer2013", raw, tmp_path / "out")
    summary = prepare("fer2013", raw, tmp_path / "out", allow_partial=True)
    assert summary.dropped == {"malformed row": 1} and summary.counts["train"] == 2


def test_missing_raw_folder_and_existing_output(tmp_path, small_fer):
    with pytest.raises(DataError, match="raw data not found"):
        prepare("fer2013", tmp_path / "nowhere", tmp_path / "out")
    with pytest.raises(DataError, match="FER2013 CSV not found"):
        prepare("fer2013", tmp_path, tmp_path / "out")
    raw = tmp_path / "raw"
    raw.mkdir()
    write_fer(raw / "fer2013.csv", FER_ROWS)
    (tmp_path / "out").mkdir()
    with pytest.raises(DataError, match="already exists"):
        prepare("fer2013", raw, tmp_path / "out")
    prepare("fer2013", raw, tmp_path / "out", overwrite=True)
    assert (tmp_path / "out" / "dataset.json").is_file()


# ---------------------------------------------------------------------------------------------------
# RAVDESS (speech and song, audio-only and audio-visual)


def ravdess_tree(root, actors=(1, 17, 21), song=True, video=True):
    for a in actors:
        for emotion in (1, 2, 5):
            for channel in (1, 2) if song else (1,):
                name = f"{channel:02d}-{emotion:02d}-01-01-01-{a:02d}"
                make_wav(root / "Audio_Speech_Actors_01-24" / f"Actor_{a:02d}" / f"03-{name}.wav")
                if video:
                    make_mp4(root / f"Video_Speech_Actor_{a:02d}" / f"Actor_{a:02d}" / f"01-{name}.mp4")
                    make_mp4(root / f"Video_Speech_Actor_{a:02d}" / f"Actor_{a:02d}" / f"02-{name}.mp4")


def test_ravdess_groups_files_of_one_recording(tmp_path):
    ravdess_tree(tmp_path / "raw")
    summary = prepare("ravdess", tmp_path / "raw", tmp_path / "out", allow_partial=True)
    assert summary.counts == {"train": 6, "valid": 6, "test": 6}
    assert summary.modalities == {"visual+audio": 18}
    checks = {c.what: (c.expected, c.found) for c in summary.checks}
    assert checks["speech audio-only files"] == (1440, 9) and checks["song audio-visual files"] == (1012, 9)
    assert checks["speech actors"] == (24, 3)
    record = next(r for r in opens(tmp_path / "out").records if r["id"] == "ravdess-01-05-01-01-01-17")
    assert record["label"] == "angry" and record["split"] == "valid" and record["speaker"] == "ravdess-actor17"
    assert record["media"]["audio"].endswith("03-01-05-01-01-01-17.wav")
    assert record["media"]["visual"].endswith("01-01-05-01-01-01-17.mp4")
    assert record["channel"] == "speech"


def test_ravdess_unexpected_and_unreadable_files(tmp_path):
    raw = tmp_path / "raw"
    ravdess_tree(raw, video=False, song=False)
    actor = raw / "Audio_Speech_Actors_01-24" / "Actor_01"
    (actor / ".DS_Store").write_text("ignored")
    (actor / "notes.txt").write_text("x")
    with pytest.raises(DataError, match=r"notes.txt: not a RAVDESS name"):
        prepare("ravdess", raw, tmp_path / "out", allow_partial=False)
    (actor / "notes.txt").unlink()
    (actor / "03-01-05-01-01-01-02.wav").write_bytes(b"RIFF\x00\x00\x00\x00WAVE")  # actor 02 in Actor_01
    with pytest.raises(DataError, match="actor 02 in the name, but the file is in Actor_01"):
        prepare("ravdess", raw, tmp_path / "out")
    (actor / "03-01-05-01-01-01-02.wav").unlink()
    (actor / "03-01-02-01-01-01-01.wav").write_bytes(b"")  # truncated to nothing
    with pytest.raises(DataError, match="empty file"):
        prepare("ravdess", raw, tmp_path / "out", allow_partial=False)
    summary = prepare("ravdess", raw, tmp_path / "out", allow_partial=True)
    assert summary.dropped == {"unreadable or malformed file": 1}
    assert sum(summary.counts.values()) == 8
    assert not list(tmp_path.glob(".out.*"))  # no leftovers of the temporary build folder


def test_ravdess_no_actor_folders(tmp_path):
    (tmp_path / "raw").mkdir()
    with pytest.raises(DataError, match="no Actor_NN folders"):
        prepare("ravdess", tmp_path / "raw", tmp_path / "out")


# ---------------------------------------------------------------------------------------------------
# TESS, EMO-DB, AFEW


def test_tess(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["tess"], "EXPECTED", {"files": 20, "speakers": 2, "words": 10})
    raw = tmp_path / "TESS Toronto emotional speech set data"
    words = ["back", "bar", "base", "bath", "bean", "beg", "bite", "boat", "bone", "book"]
    for speaker, folder_case in (("OAF", "OAF_Pleasant_surprise"), ("YAF", "YAF_pleasant_surprised")):
        for i, word in enumerate(words):
            emotion = "ps" if i % 2 else "Fear"
            folder = folder_case if emotion == "ps" else f"{speaker}_{emotion}"
            make_wav(raw / folder / f"{speaker}_{word}_{emotion}.wav")
    make_wav(tmp_path / "TESS Toronto emotional speech set data" / "copy" / "OAF_bar_ps.wav")  # a nested duplicate
    summary = prepare("tess", raw, tmp_path / "out")
    assert summary.classes["surprise"] == 10 and summary.classes["fear"] == 10
    assert summary.dropped == {"duplicate copy of a file": 1}
    dataset = opens(tmp_path / "out")
    words_by_split = {s: {r["id"].split("_")[1] for r in dataset.split(s)} for s in ("train", "valid", "test")}
    assert not words_by_split["train"] & words_by_split["test"] and not words_by_split["train"] & words_by_split["valid"]


def test_emodb(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["emodb"], "EXPECTED", {"files": 7, "speakers": 5})
    wav = tmp_path / "emodb" / "wav"
    for name in ("03a01Fa", "03a01Wa", "12b02Lb", "13a05Tc", "15a07Ea", "16b10Na", "16b10Aa"):
        make_wav(wav / f"{name}.wav")
    (tmp_path / "emodb" / "erkennung.txt").write_text("other release files are ignored")
    summary = prepare("emodb", tmp_path / "emodb", tmp_path / "out")
    assert summary.counts == {"train": 2, "valid": 2, "test": 3}
    assert summary.classes["boredom"] == 1 and summary.label_space.name == "emodb7"
    ekman = prepare("emodb", tmp_path / "emodb", None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no ekman7 class for 'boredom'": 1} and ekman.classes["happy"] == 1
    make_wav(wav / "03a01Xa.wav")
    with pytest.raises(DataError, match="03a01Xa.wav: not an EMO-DB name"):
        prepare("emodb", tmp_path / "emodb", tmp_path / "out2")


def test_afew(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["afew"], "EXPECTED", {"train": 14, "val": 7})
    for folder, count in (("Train_AFEW", 2), ("Val_AFEW", 1)):
        for emotion in ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise"):
            for i in range(count):
                make_avi(tmp_path / "raw" / folder / emotion / f"{emotion[:2]}{i:07d}.avi")
    (tmp_path / "raw" / "Test_AFEW").mkdir()
    summary = prepare("afew", tmp_path / "raw", tmp_path / "out")
    assert summary.counts["test"] == 7 and summary.counts["train"] + summary.counts["valid"] == 14
    assert summary.counts["valid"] == 1
    record = opens(tmp_path / "out").records[0]
    assert record["modalities"] == ["visual", "audio"] and record["media"]["visual"] == record["media"]["audio"]


# ---------------------------------------------------------------------------------------------------
# CK+ (release layout and CK+48)


def test_ckplus_release_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["ckplus"], "EXPECTED", {"sequences": 12, "subjects": 10, "emotion labels": 10, "CK+48 images": 0})
    raw = tmp_path / "CK+"
    for s in range(10):
        for seq in (1, 2) if s < 2 else (1,):
            subject, number = f"S{100 + s:03d}", f"{seq:03d}"
            for frame in (1, 2, 3):
                make_png(raw / "cohn-kanade-images" / subject / number / f"{subject}_{number}_{frame:08d}.png", frame)
            if seq == 1:
                label = raw / "Emotion" / subject / number / f"{subject}_{number}_00000003_emotion.txt"
                label.parent.mkdir(parents=True, exist_ok=True)
                label.write_text(f"   {s % 7 + 1}.0000000e+00\n")
    summary = prepare("ckplus", raw, tmp_path / "out")
    assert sum(summary.counts.values()) == 10 and summary.classes["contempt"] == 2
    dataset = opens(tmp_path / "out")
    record = next(r for r in dataset.records if r["id"] == "ckplus-S100_001")
    assert record["label"] == "anger" and record["frames"] == 3 and record["media"]["visual"].endswith("S100/001")
    subjects = {s: {r["speaker"] for r in dataset.split(s)} for s in ("train", "valid", "test")}
    assert len(subjects["train"]) == 8 and not subjects["train"] & (subjects["valid"] | subjects["test"])
    ekman = prepare("ckplus", raw, None, label_space="ekman7", dry_run=True)
    assert ekman.dropped == {"no ekman7 class for 'contempt'": 2}


def test_ckplus48_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["ckplus"], "EXPECTED", {"CK+48 images": 21})
    for e, emotion in enumerate(("anger", "contempt", "disgust", "fear", "happy", "sadness", "surprise")):
        for frame in range(3):
            make_png(tmp_path / "CK+48" / emotion / f"S{10 + e:03d}_004_{frame + 15:08d}.png")
    summary = prepare("ckplus", tmp_path, tmp_path / "out")
    assert sum(summary.counts.values()) == 21 and set(summary.classes.values()) == {3}
    make_png(tmp_path / "CK+48" / "anger" / "face.png")
    with pytest.raises(DataError, match="face.png: not a CK\\+ frame name"):
        prepare("ckplus", tmp_path, tmp_path / "out2")


# ---------------------------------------------------------------------------------------------------
# IEMOCAP release folders


def iemocap_tree(root):
    """Two dialogues per session; utterances with hap/exc/fru/xxx/neu labels."""
    labels = ["hap", "exc", "fru", "xxx", "neu", "ang"]
    for s in range(1, 6):
        session = root / "IEMOCAP_full_release" / f"Session{s}"
        for dialog in (f"Ses0{s}F_impro01", f"Ses0{s}M_script02_1"):
            evals, trans = [f"% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""], []
            for u, label in enumerate(labels):
                utt = f"{dialog}_{'F' if u % 2 else 'M'}{u:03d}"
                evals.append(f"[{u * 2 + 1.5:.4f} - {u * 2 + 2.5:.4f}]\t{utt}\t{label}\t[2.5000, 2.5000, 2.5000]")
                evals.append(f"C-E1:\tNeutral;\t()")
                trans.append(f"{utt} [{u * 2 + 1.5:08.4f}-{u * 2 + 2.5:08.4f}]: words {u}.")
                make_wav(session / "sentences" / "wav" / dialog / f"{utt}.wav")
            for sub, text in (("EmoEvaluation", evals), ("transcriptions", trans)):
                path = session / "dialog" / sub / f"{dialog}.txt"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text("\n".join(text) + "\n")
            make_avi(session / "dialog" / "avi" / "DivX" / f"{dialog}.avi")
        (session / "dialog" / "EmoEvaluation" / "Categorical").mkdir()


def test_iemocap_four_classes_and_folds(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["iemocap"], "EXPECTED", {"sessions": 5, "utterances": 60})
    iemocap_tree(tmp_path)
    summary = prepare("iemocap", tmp_path, tmp_path / "out", fold=2)
    assert summary.classes == {"angry": 10, "happy": 20, "sad": 0, "neutral": 10}  # excited merged into happy
    assert summary.dropped == {"no majority label (xxx)": 10, "no iemocap4 class for 'fru'": 10}
    assert summary.counts == {"train": 24, "valid": 8, "test": 8}
    dataset = opens(tmp_path / "out")
    test_speakers = {r["speaker"] for r in dataset.split("test")}
    assert test_speakers == {"Ses02F", "Ses02M"} and {r["speaker"][:5] for r in dataset.split("valid")} == {"Ses03"}
    record = next(r for r in dataset.records if r["id"] == "iemocap-Ses01F_impro01_F001")
    assert record["label"] == "happy" and record["media"]["text"] == "words 1."
    assert record["modalities"] == ["visual", "audio", "text"] and record["media_span"] == {"visual": [3.5, 4.5]}
    native = prepare("iemocap", tmp_path, None, label_space="iemocap10", dry_run=True)
    assert native.classes["exc"] == 10 and native.classes["fru"] == 10


def test_iemocap_missing_audio_and_bad_fold(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["iemocap"], "EXPECTED", {"sessions": 5, "utterances": 60})
    iemocap_tree(tmp_path)
    wav = tmp_path / "IEMOCAP_full_release" / "Session3" / "sentences" / "wav" / "Ses03F_impro01" / "Ses03F_impro01_M000.wav"
    wav.unlink()
    with pytest.raises(DataError, match="Ses03F_impro01_M000.wav is missing"):
        prepare("iemocap", tmp_path, tmp_path / "out")
    summary = prepare("iemocap", tmp_path, tmp_path / "out", allow_partial=True)
    assert summary.dropped["missing audio"] == 1
    from xmer.errors import ConfigError

    with pytest.raises(ConfigError, match="1..5"):
        prepare("iemocap", tmp_path, tmp_path / "out2", fold=7)
    with pytest.raises(ConfigError, match="takes no option"):
        prepare("ravdess", tmp_path, tmp_path / "out2", fold=1)


# ---------------------------------------------------------------------------------------------------
# the text sources on tiny files (the real copies are tested in test_prepare_real.py)


def test_goemotions_small_and_release_tables(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["goemotions"], "EXPECTED", {"train": 2, "dev": 1, "test": 1})
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.tsv").write_text('a "quoted" text\t17,0\tc1\nsecond\t27\tc2\n')
    (data / "dev.tsv").write_text("x\t2,3\tc3\n")
    (data / "test.tsv").write_text("y\t14\tc4\n")
    summary = prepare("goemotions", tmp_path, tmp_path / "out", label_space="ekman7")
    assert summary.counts == {"train": 2, "valid": 1, "test": 1}  # joy + admiration are both happy
    record = opens(tmp_path / "out").records[0]
    assert record["media"]["text"] == 'a "quoted" text' and record["label"] == "happy"
    (data / "ekman_mapping.json").write_text(json.dumps({"anger": ["anger"]}))
    with pytest.raises(DataError, match="differs from the GoEmotions Ekman mapping"):
        prepare("goemotions", tmp_path, tmp_path / "out2")
    (data / "ekman_mapping.json").unlink()
    (data / "test.tsv").write_text("y\t99\tc4\n")
    with pytest.raises(DataError, match="test.tsv, line 1: label ids '99'"):
        prepare("goemotions", tmp_path, tmp_path / "out2")


def test_semeval_with_gold_test_file(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["semeval2018-ec"], "EXPECTED", {"train": 3, "dev": 1, "test-gold": 1})
    header = "ID\tTweet\tanger\tanticipation\tdisgust\tfear\tjoy\tlove\toptimism\tpessimism\tsadness\tsurprise\ttrust\n"
    row = lambda i, v: f"2018-En-{i:05d}\ttweet {i}\t" + "\t".join(v) + "\n"
    zeros = ["0"] * 11
    joy = ["0"] * 4 + ["1"] + ["0"] * 6
    (tmp_path / "2018-E-c-En-train.txt").write_text(header + row(1, zeros) + row(2, joy) + row(3, joy))
    (tmp_path / "2018-E-c-En-dev.txt").write_text(header + row(4, joy))
    (tmp_path / "2018-E-c-En-test.txt").write_text(header + row(5, ["NONE"] * 11))
    summary = prepare("semeval2018-ec", tmp_path, None, dry_run=True)
    assert summary.counts == {"train": 3, "valid": 0, "test": 1}  # 10 % of 3 tweets rounds to none
    assert summary.no_class == 1
    (tmp_path / "2018-E-c-En-test-gold.txt").write_text(header + row(6, joy))
    summary = prepare("semeval2018-ec", tmp_path, tmp_path / "out")
    assert summary.counts == {"train": 3, "valid": 1, "test": 1}
    assert opens(tmp_path / "out").records[0]["label"] == []


def test_meld_with_clips(tmp_path, monkeypatch):
    monkeypatch.setattr(SOURCES["meld"], "EXPECTED", {"train": 2, "dev": 1, "test": 1})
    head = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    rows = {
        "train": '1,"Oh, my God!",Rachel,surprise,positive,0,0,1,1,"00:00:01,000","00:00:02,000"\n2,Hi.,Ross,joy,positive,0,1,1,1,"0","0"\n',
        "dev": "1,No.,Joey,anger,negative,3,0,1,1,0,0\n",
        "test": "1,Yes.,Monica,neutral,neutral,5,2,1,1,0,0\n",
    }
    clips = {"train": "train_splits", "dev": "dev_splits_complete", "test": "output_repeated_splits_test"}
    for part, text in rows.items():
        (tmp_path / part).mkdir()
        (tmp_path / part / f"{part}_sent_emo.csv").write_text(head + text)
    make_mp4(tmp_path / "train" / clips["train"] / "dia0_utt0.mp4")
    (tmp_path / "train" / clips["train"] / "._dia0_utt1.mp4").write_bytes(b"")
    summary = prepare("meld", tmp_path, tmp_path / "out")
    assert summary.modalities == {"text": 3, "visual+audio+text": 1}
    assert any("no clip" in note for note in summary.notes)
    record = opens(tmp_path / "out").records[0]
    assert record["media"]["text"] == "Oh, my God!" and record["label"] == "surprise" and record["speaker"] == "Rachel"
    assert record["media"]["visual"].endswith("dia0_utt0.mp4")
