"""``xmer prepare composite``: trimodal pairs of one emotion from FER2013, RAVDESS and GoEmotions/MELD.

A tiny data root in the exact layouts of the four releases is built in tmp_path (the sources' known
counts are patched to its sizes); the pairing rules are checked against what each file was made to
be. One test builds a small composite from the real ../shared/data (skipped when absent).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from xmer.cli import main
from xmer.data.dataset import PreparedDataset
from xmer.data.labels import EKMAN7
from xmer.data.sources import SOURCES, prepare
from xmer.data.sources.composite import SENTENCES
from xmer.data.store import read_manifest
from xmer.errors import ConfigError, DataError

CLASSES = EKMAN7.labels  # angry disgust fear happy sad surprise neutral (= FER2013 ids 0..6)
GO_IDS = {"angry": 2, "disgust": 11, "fear": 14, "happy": 17, "sad": 25, "surprise": 26, "neutral": 27}
MELD_NAMES = {"angry": "anger", "disgust": "disgust", "fear": "fear", "happy": "joy", "sad": "sadness", "surprise": "surprise", "neutral": "neutral"}
RAVDESS_CODES = {"01": "neutral", "02": None, "03": "happy", "04": "sad", "05": "angry", "06": "fear", "07": "disgust", "08": "surprise"}
ACTOR_SPLITS = {1: "train", 2: "train", 17: "valid", 21: "test"}


@pytest.fixture
def root(tmp_path, monkeypatch):
    """A data root with fer2013/, ravdess/, goemotions/, meld/; returns (root, truth: id -> (class, split))."""
    root, truth = tmp_path / "data", {}
    # FER2013: per class 4 Training, 2 PublicTest, 2 PrivateTest rows.
    lines, row = ["emotion,pixels,Usage"], 0
    for usage, split, n in (("Training", "train", 4), ("PublicTest", "valid", 2), ("PrivateTest", "test", 2)):
        for e, cls in enumerate(CLASSES):
            for _ in range(n):
                lines.append(f"{e},{' '.join([str(row % 256)] * 2304)},{usage}")
                truth[f"fer2013-{row:05d}"] = (cls, split)
                row += 1
    (root / "fer2013").mkdir(parents=True)
    (root / "fer2013" / "fer2013.csv").write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(SOURCES["fer2013"], "EXPECTED", {"Training": 28, "PublicTest": 14, "PrivateTest": 14})
    # RAVDESS speech: 4 actors, intensity normal (+ strong except neutral), both statements: 30 clips each.
    for actor, split in ACTOR_SPLITS.items():
        folder = root / "ravdess" / "Audio_Speech_Actors_01-24" / f"Actor_{actor:02d}"
        folder.mkdir(parents=True)
        for code, cls in RAVDESS_CODES.items():
            for intensity in ("01",) if code == "01" else ("01", "02"):
                for statement in ("01", "02"):
                    name = f"03-01-{code}-{intensity}-{statement}-01-{actor:02d}"
                    (folder / f"{name}.flac").write_bytes(b"fLaC" + bytes(16))
                    if cls:
                        truth[f"ravdess-{name[3:]}"] = (cls, split)
    monkeypatch.setattr(SOURCES["ravdess"], "EXPECTED_FILES", {"speech": 120, "song": 0})
    monkeypatch.setattr(SOURCES["ravdess"], "EXPECTED_ACTORS", {"speech": 4, "song": 0})
    # GoEmotions: per class 3 train, 2 dev, 2 test comments, plus one anger+joy comment a split (dropped).
    (root / "goemotions").mkdir()
    for part, split, n in (("train", "train", 3), ("dev", "valid", 2), ("test", "test", 2)):
        rows = []
        for cls in CLASSES:
            for i in range(n):
                rows.append(f"go {part} {cls} {i}\t{GO_IDS[cls]}\tg{part}{cls}{i}")
                truth[f"goemotions-g{part}{cls}{i}"] = (cls, split)
        rows.append(f"angry and glad\t2,17\tg{part}mixed")
        (root / "goemotions" / f"{part}.tsv").write_text("\n".join(rows) + "\n")
    monkeypatch.setattr(SOURCES["goemotions"], "EXPECTED", {"train": 22, "dev": 15, "test": 15})
    # MELD: per class 2 train, 1 dev, 1 test utterances.
    (root / "meld").mkdir()
    head = "Sr No.,Utterance,Speaker,Emotion,Sentiment,Dialogue_ID,Utterance_ID,Season,Episode,StartTime,EndTime\n"
    for part, split, n in (("train", "train", 2), ("dev", "valid", 1), ("test", "test", 1)):
        rows = []
        for d, cls in enumerate(CLASSES):
            for u in range(n):
                rows.append(f'{len(rows) + 1},"meld {part} {cls}, {u}",Ross,{MELD_NAMES[cls]},neutral,{d},{u},1,1,"00:00:01,000","00:00:02,000"')
                truth[f"meld-{part}-dia{d}_utt{u}"] = (cls, split)
        (root / "meld" / f"{part}_sent_emo.csv").write_text(head + "\n".join(rows) + "\n")
    monkeypatch.setattr(SOURCES["meld"], "EXPECTED", {"train": 14, "dev": 7, "test": 7})
    return root, truth


def build(root, out, **options):
    summary = prepare("composite", root, out, **options)
    return summary, read_manifest(out / "manifest.jsonl")


def test_pairs_share_one_emotion_and_one_split_and_nothing_is_reused(root, tmp_path):
    root, truth = root
    summary, records = build(root, tmp_path / "c", train_per_class=2, aux_fer2013=-1, aux_goemotions=-1, aux_meld=-1)
    pairs = [r for r in records if r["source"] == "composite"]
    # train: 2 a class (cap) + aux 14 faces, 38 clips, 21 texts; valid/test: 2 a class (2 faces a class)
    assert summary.counts == {"train": 14 + 14 + 38 + 21, "valid": 14, "test": 14}
    assert all(r["split"] == "train" for r in records if r["source"] != "composite")  # valid/test: pairs only
    for r in pairs:
        assert r["modalities"] == ["visual", "audio", "text"] and set(r["parts"]) == {"visual", "audio", "text"}
        assert {truth[part] for part in r["parts"].values()} == {(r["label"], r["split"])}  # same emotion, same split
        assert r["media"]["text"].split(" ")[2].rstrip(",") == r["label"]  # the text is the part's own text
    used = [part for r in pairs for part in r["parts"].values()] + [r["id"] for r in records if r["source"] != "composite"]
    assert len(used) == len(set(used))  # no source item twice
    # the auxiliary data are exactly the train items the pairs left over
    train_items = {i for i, (_, split) in truth.items() if split == "train"}
    assert set(used) - {i for i in used if truth[i][1] != "train"} == train_items
    for r in records:
        if r["source"] != "composite":
            assert truth[r["id"]][0] == r["label"]
    dataset = PreparedDataset.open(tmp_path / "c")
    assert len(dataset.split("valid", subsets="trimodal")) == len(dataset.split("valid")) == 14


def test_media_resolve_and_auxiliary_modalities(root, tmp_path):
    root, _ = root
    summary, records = build(root, tmp_path / "c", train_per_class=1)
    out = tmp_path / "c"
    for r in records:
        if "visual" in r["media"]:
            assert (out / r["media"]["visual"]).is_file() and r["media"]["visual"].startswith("media/fer2013/")
        if "audio" in r["media"]:
            assert Path(r["media"]["audio"]).is_absolute() and Path(r["media"]["audio"]).is_file()
    by_source = {}
    for r in records:
        by_source.setdefault(r["source"], []).append(r)
    assert {s: {tuple(r["modalities"]) for r in rs} for s, rs in by_source.items()} == {
        "composite": {("visual", "audio", "text")}, "fer2013": {("visual",)}, "ravdess": {("audio", "text")},
        "goemotions": {("text",)}, "meld": {("text",)},
    }
    assert {r["media"]["text"] for r in by_source["ravdess"]} == set(SENTENCES.values())
    assert all(r["media"]["text"] == SENTENCES[r["id"].split("-")[4]] for r in by_source["ravdess"])
    composition = json.loads((out / "composition.json").read_text())
    assert composition["options"]["train_per_class"] == 1 and composition["options"]["seed"] == 0
    assert composition["splits"]["train"]["trimodal"] == 7 and composition["splits"]["test"]["auxiliary"] == {}
    assert composition["splits"]["train"]["auxiliary"] == {s: len(by_source[s]) for s in ("fer2013", "ravdess", "goemotions", "meld")}
    assert summary.notes[0].startswith("train: 7 trimodal pairs")
    meta = json.loads((out / "dataset.json").read_text())
    assert meta["name"] == "composite" and meta["label_space"] == "ekman7" and set(meta["modalities"]) == {"visual", "audio", "text"}


def test_seeded_and_reproducible(root, tmp_path):
    root, _ = root
    _, first = build(root, tmp_path / "a", train_per_class=2, aux_goemotions=3)
    _, again = build(root, tmp_path / "b", train_per_class=2, aux_goemotions=3)
    _, other = build(root, tmp_path / "c", train_per_class=2, aux_goemotions=3, seed=1)
    assert first == again
    assert [r.get("parts") for r in first] != [r.get("parts") for r in other]
    # the pairs do not depend on the auxiliary caps
    _, capped = build(root, tmp_path / "d", train_per_class=2, aux_goemotions=0, aux_fer2013=0)
    assert [r for r in capped if r["source"] == "composite"] == [r for r in first if r["source"] == "composite"]


def test_caps_and_drops_are_counted(root, tmp_path):
    root, _ = root
    summary, _ = build(root, tmp_path / "c", train_per_class=1, eval_per_class=1, aux_fer2013=5, aux_meld=0)
    meld_in_pairs = json.loads((tmp_path / "c" / "composition.json").read_text())["splits"]["train"]["trimodal_text_sources"].get("meld", 0)
    assert summary.counts["valid"] == summary.counts["test"] == 7
    assert summary.modalities["visual"] == 5 and summary.modalities["visual+audio+text"] == 21 and "text" in summary.modalities
    assert summary.dropped["fer2013 train: over the auxiliary cap (aux_fer2013=5)"] == 28 - 7 - 5
    assert summary.dropped["meld train: over the auxiliary cap (aux_meld=0)"] == 14 - meld_in_pairs
    assert summary.dropped["ravdess: no ekman7 class for 'calm'"] == 16
    assert summary.dropped["goemotions: several ekman7 classes"] == 3
    assert summary.dropped["fer2013 valid: not in a trimodal pair (valid and test hold pairs only)"] == 7
    assert all(c.ok for c in summary.checks) and any(c.what == "ravdess: speech actors" for c in summary.checks)
    assert summary.to_json()["source"] == "composite"


def test_bad_options_and_missing_release(root, tmp_path):
    root, _ = root
    with pytest.raises(ConfigError, match="aux_meld=-5"):
        prepare("composite", root, None, dry_run=True, aux_meld=-5)
    with pytest.raises(ConfigError, match="takes no option"):
        prepare("composite", root, None, dry_run=True, per_class=3)
    with pytest.raises(ConfigError, match="expected an integer"):
        prepare("composite", root, None, dry_run=True, seed="x")
    (root / "meld").rename(root / "MELD.Raw")
    with pytest.raises(DataError, match=r"meld not found.*fer2013/, ravdess/, goemotions/, meld/"):
        prepare("composite", root, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_cli_json(root, tmp_path, capsys):
    root, _ = root
    assert main(["prepare", "composite", "--raw", str(root), "--out", str(tmp_path / "c"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["source"] == "composite" and summary["counts"] == {"train": 28 + 24 + 7, "valid": 14, "test": 14}
    assert set(summary["classes"]) == set(CLASSES) and "ravdess: no ekman7 class for 'calm'" in summary["dropped"]


@pytest.mark.real_data
def test_real_data_small_composite(shared_data, tmp_path):
    options = dict(train_per_class=4, eval_per_class=2, aux_fer2013=30, aux_ravdess=10, aux_goemotions=20, aux_meld=20)
    summary, records = build(shared_data, tmp_path / "c", **options)
    assert summary.counts == {"train": 7 * 4 + 80, "valid": 14, "test": 14}
    assert all(c.ok for c in summary.checks)
    assert summary.dropped["ravdess: no ekman7 class for 'calm'"] == 192
    assert summary.dropped["goemotions: several ekman7 classes"] == 4794
    assert summary.modalities == {"visual": 30, "text": 40, "visual+audio+text": 28 + 14 + 14, "audio+text": 10}
    for r in (r for r in records if r["source"] == "composite"):
        audio = r["parts"]["audio"].split("-")  # ravdess-01-EE-II-SS-RR-AA
        assert RAVDESS_CODES[audio[2]] == r["label"]
        assert {"train": 1 <= int(audio[6]) <= 16, "valid": 17 <= int(audio[6]) <= 20, "test": int(audio[6]) >= 21}[r["split"]]
        assert (tmp_path / "c" / r["media"]["visual"]).is_file() and Path(r["media"]["audio"]).is_file()
    assert PreparedDataset.open(tmp_path / "c").labels == CLASSES
