"""The Ekman-7 auxiliary listing: which prepared datasets map onto Ekman-7 and what their training
splits add, and the releases of a data root not yet prepared."""

from __future__ import annotations

import json

from xmer.data.auxiliary import EKMAN7_RELEASES, ekman7_auxiliaries, format_table, main, maps_onto_ekman7, unprepared
from xmer.data.dataset import DatasetInfo
from xmer.data.sources import SOURCES, prepare
from xmer.data.store import write_manifest

from test_prepare_raw_aux import EMORY_HEAD  # noqa: E402


def test_every_listed_release_is_a_source_that_maps_onto_ekman7():
    for source in EKMAN7_RELEASES:
        assert maps_onto_ekman7(SOURCES[source].native_space), source
    assert not maps_onto_ekman7("sentiment2") and maps_onto_ekman7("ekman7") and not maps_onto_ekman7("my-own")


def _sentiment_set(folder):
    folder.mkdir()
    info = DatasetInfo("cmu-mosi", ("negative", "positive"), False, "sentiment2", False)
    (folder / "dataset.json").write_text(json.dumps(info.to_json({"text": {"dim": None, "extractor": None}})))
    write_manifest(folder / "manifest.jsonl", [{"id": "m1", "split": "train", "source": "cmu-mosi", "label": "positive",
                                                "modalities": ["text"], "media": {"text": "good"}}])


def test_lists_the_prepared_ekman7_sets(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(SOURCES["emorynlp"], "EXPECTED", {"train": 3, "valid": 1, "test": 0, "scenes": 2})
    raw = tmp_path / "raw" / "emorynlp"
    raw.mkdir(parents=True)
    (raw / "emorynlp_utterances.tsv").write_text(
        EMORY_HEAD + "1_1_1\t0\ttrain\t0\t0\tJoyful\tOooh!\n1_1_1\t1\ttrain\t1\t2\tPeaceful\tCalm.\n"
        "1_1_1\t2\ttrain\t0\t6\tScared\tEek.\n1_2_1\t0\tvalid\t2\t1\tMad\tNo!\n"
    )
    (tmp_path / "raw" / "isear").mkdir()  # a release not prepared yet
    data = tmp_path / "data"
    prepare("emorynlp", raw, data / "emory")
    prepare("emorynlp", raw, data / "emory-ekman7", label_space="ekman7")
    _sentiment_set(data / "mosi")
    (data / "notes").mkdir()
    found = ekman7_auxiliaries(data)
    assert [a.path.name for a in found] == ["emory", "emory-ekman7"]
    native, ekman = found
    assert native.label_space == "emorynlp7" and native.dropped == {"no ekman7 class for 'peaceful'": 1}
    assert native.train == ekman.train == {"angry": 0, "disgust": 0, "fear": 1, "happy": 1, "sad": 0, "surprise": 0, "neutral": 0}
    assert ekman.dropped == {} and ekman.n_train == 2 and ekman.modalities == {"text": 2} and ekman.extracted == ()
    table = format_table(found).splitlines()
    assert len(table) == 3 and table[1].split()[:2] == ["emory", "emorynlp7"] and "text (not extracted)" in table[1]
    assert unprepared(tmp_path / "raw", found, data) == [
        f"xmer prepare isear --raw {tmp_path / 'raw' / 'isear'} --out {data / 'isear'} --label-space ekman7"
    ]
    assert main([str(data), "--raw", str(tmp_path / "raw")]) == 0
    out = capsys.readouterr().out
    assert "emory-ekman7" in out and "not prepared: xmer prepare isear" in out and "mosi" not in out
