"""The ``xmer prepare`` command: registered, its choices read SOURCES, --json prints one object, errors exit 2."""

from __future__ import annotations

import json

import pytest

from xmer.cli import COMMANDS, main
from xmer.data.sources import SOURCES, sources_table

ISSUE_SOURCES = {
    "cmu-mosei", "cmu-mosi", "mult-pkl", "mmsa-pkl", "iemocap", "ravdess", "ckplus", "fer2013", "afew",
    "semeval2018-ec", "goemotions", "meld", "tess", "emodb", "urdu", "xed", "emorynlp", "dailydialog", "isear",
    "wassa2017", "composite",
}
ISSUE_SOURCES |= {"cmu-mosi-bclstm", "ravdess-av"}  # issue 13: modalities of one recording
ISSUE_SOURCES |= {"nemo", "emospeech"}  # speech with its own words


def test_registered_with_every_source():
    assert "prepare" in COMMANDS
    assert set(SOURCES) == ISSUE_SOURCES
    for name, source in SOURCES.items():
        assert source.name == name and source.raw_help and source.title and source.modalities


def test_readme_table_lists_every_source():
    table = sources_table().splitlines()
    assert len(table) == 2 + len(SOURCES)
    assert all(f"`xmer prepare {name} --raw PATH" in table[i + 2] for i, name in enumerate(SOURCES))


def test_help_lists_sources(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["prepare", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert all(name in out for name in SOURCES) and "ekman7" in out


def _fer(raw, n=3):
    raw.mkdir()
    pixels = " ".join(["128"] * 2303)  # every image differs in its first pixel
    usages = ["Training"] * n + ["PublicTest", "PrivateTest"]
    (raw / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "".join(f"{i % 7},{i} {pixels},{u}\n" for i, u in enumerate(usages)))


def test_json_summary_is_one_object(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(SOURCES["fer2013"], "EXPECTED", {"Training": 3, "PublicTest": 1, "PrivateTest": 1})
    _fer(tmp_path / "raw")
    code = main(["prepare", "fer2013", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--json"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)  # exactly one JSON document
    assert summary["source"] == "fer2013" and summary["counts"] == {"train": 3, "valid": 1, "test": 1}
    assert summary["classes"]["angry"] == 1 and summary["dropped"] == {} and summary["written"]
    assert (tmp_path / "out" / "manifest.jsonl").is_file()


def test_human_summary_and_label_space(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(SOURCES["fer2013"], "EXPECTED", {"Training": 3, "PublicTest": 1, "PrivateTest": 1})
    _fer(tmp_path / "raw")
    code = main(["prepare", "fer2013", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--label-space", "iemocap4"])
    assert code == 0
    out = capsys.readouterr().out
    assert "label space iemocap4" in out and "dropped 2:" in out and "no iemocap4 class for 'disgust'" in out
    assert "check Training rows: expected 3, found 3 (ok)" in out


def test_errors_exit_2_with_one_line(tmp_path, capsys):
    _fer(tmp_path / "raw")
    code = main(["prepare", "fer2013", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "expected 28709, found 3" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()
    code = main(["prepare", "fer2013", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "out"), "--allow-partial", "--json"])
    summary = json.loads(capsys.readouterr().out)
    assert code == 0 and summary["mismatches"] == ["Training rows", "PublicTest rows", "PrivateTest rows"]
    assert main(["prepare", "fer2013", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "o2"), "--label-space", "nope"]) == 2
    assert "unknown label space" in capsys.readouterr().err
    assert main(["prepare", "fer2013", "--raw", str(tmp_path / "raw")]) == 2
    assert "--out DIR is required" in capsys.readouterr().err
