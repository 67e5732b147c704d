"""The bad-input corpus: what a new user might type, each case run through ``xmer.cli.main`` in this
process, and what must come back.

A refused case must exit with status 2 and one stderr line (argparse's: the last line) that names the
culprit (file, key, value or option), with no traceback, and leave its folder exactly as it was:
nothing half-written, nothing lost. An accepted case (kinds that already pass, kept so they stay
passing) must exit 0 and leave what its check asks for. Most cases need no training: one tiny run
is trained once for the module. ``summary`` at the end counts the corpus (see issue 14).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import socket
import subprocess
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import yaml

from xmer.cli import main
from xmer.config import load_config
from xmer.data.dataset import DatasetInfo
from xmer.data.store import ChunkWriter, write_manifest
from xmer.data.sources import SOURCES
from xmer.io import host
from xmer.training.trainer import Trainer

from test_prepare_raw import make_wav, ravdess_tree
from test_training import TINY

SMALL = ["data.toy.trimodal=48", "data.toy.bimodal=8", "data.toy.unimodal=8", "data.toy.valid=16", "data.toy.test=16",
         "data.batch_size=16", "model.d_model=16", "model.d_ff=16", "model.fusion_length=4", "train.progress=false",
         "train.epochs=1", "train.patience=100"]


@dataclass
class Case:
    argv: list[str]
    code: int = 2
    culprit: str = ""
    """A fragment the error line must contain (refused cases)."""
    cwd: Path | None = None
    check: Callable[[], None] | None = None
    """Accepted cases: what must hold afterwards."""
    usage: bool = False
    """argparse refuses it (usage lines, then the one error line)."""


@dataclass
class Shared:
    root: Path
    run: Path
    cache: Path
    dead_pid: int
    keep: list = field(default_factory=list)  # sockets held open until the module ends


CASES: dict[str, Callable[[Path, Shared], Case]] = {}


def case(function: Callable[[Path, Shared], Case]) -> Callable[[Path, Shared], Case]:
    CASES[function.__name__] = function
    return function


@pytest.fixture(scope="module")
def shared(tmp_path_factory) -> Shared:
    root = tmp_path_factory.mktemp("corpus")
    mp = pytest.MonkeyPatch()
    mp.setenv("XMER_CACHE", str(root / "cache"))
    Trainer(load_config(None, SMALL), root / "run").fit()
    done = subprocess.Popen(["true"])
    done.wait()
    yield Shared(root, root / "run", root / "cache", done.pid)
    mp.undo()


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> content hash of every file and folder under ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        key = str(path.relative_to(folder))
        out[key] = "dir" if path.is_dir() else hashlib.sha1(path.read_bytes()).hexdigest()
    return out


def run_cli(argv: list[str], capsys) -> tuple[int | str, str, str]:
    try:
        code: int | str = main(argv)
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 2
    except Exception as error:  # noqa: BLE001 - a traceback is what the corpus counts
        code = f"traceback: {type(error).__name__}: {error}"
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------------------------------------
# helpers that build inputs


def tone_wav(path: Path, seconds: float = 0.3, freq: float = 440.0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(16000 * seconds)) / 16000
    samples = (0.3 * np.sin(2 * math.pi * freq * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1), w.setsampwidth(2), w.setframerate(16000)
        w.writeframes(samples.tobytes())


def media_dataset(root: Path, count: int = 3) -> Path:
    """A prepared dataset (no features yet) whose manifest names ``count`` tone files."""
    for i in range(count):
        tone_wav(root / "media" / f"t{i}.wav", freq=220 + 40 * i)
    records = [{"id": f"s{i}", "split": ["train", "valid", "test"][i % 3], "source": "unit",
                "label": ["happy", "sad"][i % 2], "modalities": ["audio"], "media": {"audio": f"media/t{i}.wav"}}
               for i in range(count)]
    info = DatasetInfo(name="unit", labels=("happy", "sad"), multi_label=False, label_space="unit", synthetic=True)
    (root / "dataset.json").write_text(json.dumps(info.to_json({})))
    write_manifest(root / "manifest.jsonl", records)
    return root


def user_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "thesis.tex").write_text("three years of work\n")
    return path


def lock_file(path: Path, pid: int, **extra) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"host": host(), "pid": pid, "since": "2026-01-01T00:00:00", "command": "xmer ...", **extra}))


def train_args(out, *sets: str, resume: bool = False) -> list[str]:
    argv = ["train", "--out", str(out)] + (["--resume"] if resume else [])
    for item in [*SMALL, *sets]:
        argv += ["--set", item]
    return argv


def copy_run(shared: Shared, work: Path) -> Path:
    shutil.copytree(shared.run, work / "run")
    return work / "run"


def npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def prepared(work: Path, name: str = "prepared") -> Path:
    """A RAVDESS release and an xmer dataset prepared from it (the refused cases must keep both)."""
    ravdess_tree(work / "raw", video=False, song=False)
    assert main(["prepare", "ravdess", "--raw", str(work / "raw"), "--out", str(work / name), "--allow-partial"]) == 0
    return work / name


def ravdess(work: Path) -> Path:
    ravdess_tree(work / "raw", video=False, song=False)
    return work / "raw"


PREPARE = ["prepare", "ravdess", "--allow-partial"]


# ---------------------------------------------------------------------------------------------------
# prepare: never destroy the input, the current folder, or a folder xmer did not make


@case
def prepare_out_is_raw(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw), "--out", str(raw), "--overwrite"], culprit=str(raw))


@case
def prepare_out_inside_raw(work, shared):
    raw = ravdess(work)
    inside = raw / "Audio_Speech_Actors_01-24" / "Actor_01"
    return Case([*PREPARE, "--raw", str(raw), "--out", str(inside), "--overwrite"], culprit="input")


@case
def prepare_out_above_raw(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw / "Audio_Speech_Actors_01-24"), "--out", str(work), "--overwrite"],
                culprit="current folder")


@case
def prepare_out_holds_raw(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw / "Audio_Speech_Actors_01-24"), "--out", str(raw), "--overwrite"],
                culprit="input")


@case
def prepare_overwrite_user_folder(work, shared):
    raw = ravdess(work)
    folder = user_folder(work / "mine")
    return Case([*PREPARE, "--raw", str(raw), "--out", str(folder), "--overwrite"], culprit="not a folder xmer made")


@case
def prepare_overwrite_current_folder(work, shared):
    raw = ravdess(work)
    here = user_folder(work / "here")
    return Case([*PREPARE, "--raw", str(raw), "--out", ".", "--overwrite"], culprit="current folder", cwd=here)


@case
def prepare_overwrite_a_run(work, shared):
    raw = ravdess(work)
    run = copy_run(shared, work)
    return Case([*PREPARE, "--raw", str(raw), "--out", str(run), "--overwrite"], culprit="holds an xmer run")


@case
def prepare_out_is_a_file(work, shared):
    raw = ravdess(work)
    (work / "notes.txt").write_text("x")
    return Case([*PREPARE, "--raw", str(raw), "--out", str(work / "notes.txt")], culprit="is a file")


@case
def prepare_out_is_a_file_overwrite(work, shared):
    raw = ravdess(work)
    (work / "notes.txt").write_text("x")
    return Case([*PREPARE, "--raw", str(raw), "--out", str(work / "notes.txt"), "--overwrite"], culprit="is a file")


@case
def prepare_existing_dataset_without_overwrite(work, shared):
    out = prepared(work)
    return Case([*PREPARE, "--raw", str(work / "raw"), "--out", str(out)], culprit="already exists")


@case
def prepare_overwrites_its_own_dataset(work, shared):
    out = prepared(work)
    (out / "manifest.jsonl").write_text("")  # to see it replaced

    def check():
        assert len((out / "manifest.jsonl").read_text().splitlines()) == 9 and (out / ".xmer").is_file()
        assert len(list((work / "raw").rglob("*.wav"))) == 9  # the release is intact
        assert [p.name for p in work.iterdir() if p.name.startswith(".")] == []  # no temporaries left

    return Case([*PREPARE, "--raw", str(work / "raw"), "--out", str(out), "--overwrite"], code=0, check=check)


@case
def prepare_overwrites_a_dataset_from_before_the_marker(work, shared):
    out = prepared(work)
    (out / ".xmer").unlink()  # written by an xmer without markers: dataset.json says it is xmer's

    def check():
        assert (out / ".xmer").is_file() and len(list((work / "raw").rglob("*.wav"))) == 9

    return Case([*PREPARE, "--raw", str(work / "raw"), "--out", str(out), "--overwrite"], code=0, check=check)


@case
def prepare_removes_the_temporaries_of_a_killed_run(work, shared):
    raw = ravdess(work)
    stale = work / f".out.{host()}-{shared.dead_pid}-abcdef.building"
    (stale / "features").mkdir(parents=True)
    (stale / "features" / "big.f32").write_bytes(b"\0" * 4096)
    live = work / f".out.{host()}-{os.getpid()}-abcdef.building"  # a live process's: left alone
    live.mkdir()

    def check():
        assert not stale.exists() and live.exists() and (work / "out" / "dataset.json").is_file()

    return Case([*PREPARE, "--raw", str(raw), "--out", str(work / "out")], code=0, check=check)


@case
def prepare_raw_missing(work, shared):
    return Case([*PREPARE, "--raw", str(work / "nowhere"), "--out", str(work / "out")], culprit="nowhere")


@case
def prepare_unknown_source(work, shared):
    return Case(["prepare", "ravdes", "--raw", str(work), "--out", str(work / "out")], culprit="ravdes", usage=True)


@case
def prepare_tess_known_quirk_is_accepted(work, shared):
    words = ["back", "bar", "base", "bath", "bean"]
    raw = work / "TESS Toronto emotional speech set data"
    for speaker in ("OAF", "YAF"):
        for word in words:
            make_wav(raw / f"{speaker}_neutral" / f"{speaker}_{word}_neutral.wav")
    make_wav(raw / "OAF_neutral" / "OA_bite_neutral.wav")  # as in the release as distributed

    def check():
        summary = json.loads((work / "out" / "dataset.json").read_text())["sources"]["tess"]
        assert summary["counts"]["train"] + summary["counts"]["valid"] + summary["counts"]["test"] == 11
        assert sum(summary["quirks"].values()) == 1 and summary["dropped"] == {}

    SOURCES["tess"].EXPECTED = {"files": 11, "speakers": 2, "words": 6}  # restored by the fixture below
    return Case(["prepare", "tess", "--raw", str(raw), "--out", str(work / "out")], code=0, check=check)


@case
def prepare_tess_aiff_named_wav_is_read_by_its_content(work, shared):
    import soundfile

    raw = work / "TESS Toronto emotional speech set data"
    for speaker in ("OAF", "YAF"):
        for word in ["back", "bar", "base", "bath", "bean"]:
            make_wav(raw / f"{speaker}_neutral" / f"{speaker}_{word}_neutral.wav")
    aiff = raw / "YAF_neutral" / "YAF_germ_neutral.wav"  # AIFF bytes behind a .wav name, as two files of the release
    soundfile.write(str(aiff), np.zeros(1600, np.float32) + 0.1, 16000, format="AIFF")

    def check():
        summary = json.loads((work / "out" / "dataset.json").read_text())["sources"]["tess"]
        assert summary["quirks"] == {"audio named .wav holding AIFF (read by its content)": 1} and summary["dropped"] == {}
        assert summary["counts"]["train"] + summary["counts"]["valid"] + summary["counts"]["test"] == 11

    SOURCES["tess"].EXPECTED = {"files": 11, "speakers": 2, "words": 6}  # restored by the fixture below
    return Case(["prepare", "tess", "--raw", str(raw), "--out", str(work / "out")], code=0, check=check)


@case
def prepare_tess_bad_name(work, shared):
    raw = work / "tess"
    make_wav(raw / "OAF_back_neutral.wav")
    make_wav(raw / "XYZ_back_neutral.wav")
    return Case(["prepare", "tess", "--raw", str(raw), "--out", str(work / "out")], culprit="XYZ_back_neutral.wav")


@case
def prepare_corrupt_media_file(work, shared):
    raw = ravdess(work)
    bad = next(iter(sorted(raw.rglob("*.wav"))))
    bad.write_bytes(b"not a wav at all")
    return Case(["prepare", "ravdess", "--raw", str(raw), "--out", str(work / "out")], culprit=bad.name)


@case
def prepare_option_of_another_source(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw), "--out", str(work / "out"), "--fold", "2"], culprit="fold")


@case
def prepare_bad_csd_option(work, shared):
    return Case(["prepare", "cmu-mosi", "--raw", str(work), "--out", str(work / "out"), "--csd", "audio"], culprit="--csd")


@case
def prepare_extract_with_dry_run(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw), "--dry-run", "--extract", "audio=logmel"], culprit="--dry-run")


@case
def prepare_without_out(work, shared):
    raw = ravdess(work)
    return Case([*PREPARE, "--raw", str(raw)], culprit="--out")


# ---------------------------------------------------------------------------------------------------
# export: never into its own run; replaces only an earlier export


@case
def export_into_its_own_run(work, shared):
    run = copy_run(shared, work)
    return Case(["export", str(run), "--out", str(run)], culprit="the run folder")


@case
def export_inside_its_own_run(work, shared):
    run = copy_run(shared, work)
    return Case(["export", str(run), "--out", str(run / "checkpoints")], culprit="the run folder")


@case
def export_above_its_own_run(work, shared):
    run = copy_run(shared, work)
    return Case(["export", str(run), "--out", str(work)], culprit="the run folder")


@case
def export_into_a_new_folder(work, shared):
    run = copy_run(shared, work)

    def check():
        assert json.loads((work / "slim" / ".xmer").read_text())["kind"] == "export"
        assert (work / "slim" / "model.json").is_file() and (run / "checkpoints" / "last.pt").is_file()

    return Case(["export", str(run), "--out", str(work / "slim")], code=0, check=check)


@case
def export_over_an_export_without_overwrite(work, shared):
    run = copy_run(shared, work)
    assert main(["export", str(run), "--out", str(work / "slim")]) == 0
    return Case(["export", str(run), "--out", str(work / "slim")], culprit="already exists")


@case
def export_over_an_export_with_overwrite(work, shared):
    run = copy_run(shared, work)
    assert main(["export", str(run), "--out", str(work / "slim")]) == 0
    (work / "slim" / "model.json").write_text("{}")

    def check():
        assert json.loads((work / "slim" / "model.json").read_text())["labels"]

    return Case(["export", str(run), "--out", str(work / "slim"), "--overwrite"], code=0, check=check)


@case
def export_over_a_user_folder(work, shared):
    run = copy_run(shared, work)
    folder = user_folder(work / "mine")
    return Case(["export", str(run), "--out", str(folder), "--overwrite"], culprit="not a folder xmer made")


@case
def export_over_another_run(work, shared):
    run = copy_run(shared, work)
    other = shutil.copytree(run, work / "other")
    return Case(["export", str(run), "--out", str(other), "--overwrite"], culprit="holds an xmer run")


@case
def export_out_is_a_file(work, shared):
    run = copy_run(shared, work)
    (work / "notes.txt").write_text("x")
    return Case(["export", str(run), "--out", str(work / "notes.txt")], culprit="is a file")


@case
def export_of_a_folder_that_is_not_a_run(work, shared):
    folder = user_folder(work / "mine")
    return Case(["export", str(folder), "--out", str(work / "slim")], culprit="checkpoint not found")


# ---------------------------------------------------------------------------------------------------
# train: resume that checks, one writer per run folder


@case
def resume_a_missing_folder(work, shared):
    return Case(train_args(work / "nope", resume=True), culprit="is not a run folder")


@case
def resume_a_folder_that_is_not_a_run(work, shared):
    folder = user_folder(work / "mine")
    return Case(train_args(folder, resume=True), culprit="is not a run folder")


@case
def resume_with_another_model_size(work, shared):
    run = copy_run(shared, work)
    return Case(train_args(run, "model.d_model=32", resume=True), culprit="model.d_model 16 -> 32")


@case
def resume_with_another_learning_rate(work, shared):
    run = copy_run(shared, work)
    return Case(train_args(run, "train.lr=0.01", resume=True), culprit="train.lr")


@case
def resume_with_another_batch_size(work, shared):
    run = copy_run(shared, work)
    return Case(train_args(run, "data.batch_size=8", resume=True), culprit="data.batch_size")


@case
def resume_with_more_epochs_records_the_change(work, shared):
    run = copy_run(shared, work)

    def check():
        assert yaml.safe_load((run / "config.yaml").read_text())["train"]["epochs"] == 2
        history = json.loads((run / "history.json").read_text())
        assert [e["epoch"] for e in history] == [1, 2] and history[1]["config_changes"] == {"train.epochs": [1, 2]}
        assert not (run / ".lock").exists()

    return Case(train_args(run, "train.epochs=2", resume=True), code=0, check=check)


@case
def resume_with_fewer_epochs_than_done(work, shared):
    run = copy_run(shared, work)
    assert main(train_args(run, "train.epochs=2", resume=True)) == 0
    return Case(train_args(run, "train.epochs=1", resume=True), culprit="train.epochs")


@case
def train_over_a_run_without_resume(work, shared):
    run = copy_run(shared, work)
    return Case(train_args(run), culprit="--resume")


@case
def train_into_a_user_folder(work, shared):
    folder = user_folder(work / "mine")
    return Case(train_args(folder), culprit="xmer did not write")


@case
def train_out_is_a_file(work, shared):
    (work / "notes.txt").write_text("x")
    return Case(train_args(work / "notes.txt"), culprit="is a file")


@case
def train_while_another_process_trains(work, shared):
    run = copy_run(shared, work)
    lock_file(run / ".lock", os.getppid())  # a live process
    return Case(train_args(run, "train.epochs=2", resume=True), culprit=f"in use by process {os.getppid()}")


@case
def train_takes_over_a_stale_lock(work, shared):
    run = copy_run(shared, work)
    lock_file(run / ".lock", shared.dead_pid)

    def check():
        assert not (run / ".lock").exists()

    return Case(train_args(run, resume=True), code=0, check=check)  # nothing left to train: the lock is the point


@case
def train_without_out(work, shared):
    return Case(["train"], culprit="--out")


@case
def train_missing_config_file(work, shared):
    return Case(["train", "--config", str(work / "nope.yaml"), "--out", str(work / "run")], culprit="nope.yaml")


@case
def train_dataset_missing(work, shared):
    return Case(train_args(work / "run", f"data.dataset={work / 'nodata'}"), culprit="nodata")


@case
def train_on_a_store_holding_a_sample_twice(work, shared):
    root = media_dataset(work / "data", count=3)
    for chunk in ("a", "b"):  # what two extract processes without a lock wrote
        with ChunkWriter(root / "features", "audio", 4, chunk=chunk) as writer:
            writer.add("s0", np.ones((2, 4), np.float32))
    return Case(train_args(work / "run", f"data.dataset={root}"), culprit="stored twice")


@case
def prepare_out_where_nothing_can_be_made(work, shared):
    return Case([*PREPARE, "--raw", str(ravdess(work)), "--out", "/proc/xmer-no/such"], culprit="cannot create /proc/xmer-no/such")


@case
def experiment_on_a_missing_dataset_writes_nothing(work, shared):
    return Case(["experiment", "main", "--data", str(work / "nosuch"), "--quick", "--out", str(work / "exp")],
                culprit="nosuch")


CONFIG_ERRORS = {
    "negative_lr": ("train.lr=-0.001", "train.lr"),
    "zero_lr": ("train.lr=0", "train.lr"),
    "nan_lr": ("train.lr=.nan", "train.lr"),
    "batch_size_zero": ("data.batch_size=0", "data.batch_size"),
    "batch_size_negative": ("data.batch_size=-4", "data.batch_size"),
    "negative_threads": ("train.threads=-2", "train.threads"),
    "epochs_zero": ("train.epochs=0", "train.epochs"),
    "patience_negative": ("train.patience=-1", "train.patience"),
    "k_zero": ("method.k=0", "method.k"),
    "grad_clip_negative": ("train.grad_clip=-1", "train.grad_clip"),
    "max_steps_negative": ("data.max_steps=-1", "data.max_steps"),
    "usage_zero": ("data.usage=0", "data.usage"),
    "usage_above_one": ("data.usage=1.5", "data.usage"),
    "selection_metric_typo": ("train.selection_metric=macro-f1", "macro_f1"),
    "strategy_typo": ("method.strategy=end-to-end", "method.strategy"),
    "combinations_typo": ("method.combinations=some", "method.combinations"),
    "train_subsets_typo": ("data.train_subsets=bimodal", "data.train_subsets"),
    "model_name_typo": ("model.name=transformer", "model.name"),
    "device_typo": ("train.device=gpu", "train.device"),
    "heads_not_dividing": ("model.heads=3", "model.heads"),
    "dropout_one": ("model.dropout=1", "model.dropout"),
    "weight_negative": ("model.modality_weights.visual=-1", "model.modality_weights.visual"),
    "weight_unknown_modality": ("model.modality_weights.smell=1", "smell"),
    "augment_unknown_modality": ("method.augment_modalities=smell", "method.augment_modalities"),
    "ratio_zero": ("method.recognizer_steps_per_translator_step=0", "recognizer_steps_per_translator_step"),
    "loss_weight_negative": ("method.losses.kl=-1", "method.losses.kl"),
    "seed_negative": ("train.seed=-1", "train.seed"),
    "toy_one_class": ("data.toy.classes=1", "data.toy.classes"),
    "unknown_key": ("train.learning_rate=0.1", "train.learning_rate"),
    "wrong_type": ("train.epochs=many", "train.epochs"),
}


def _config_case(override: str, culprit: str) -> Callable[[Path, Shared], Case]:
    def make(work, shared):
        return Case(train_args(work / "run", override), culprit=culprit)

    return make


for _name, (_override, _culprit) in CONFIG_ERRORS.items():
    CASES[f"config_{_name}"] = _config_case(_override, _culprit)


@case
def config_override_without_equals(work, shared):
    return Case(["train", "--out", str(work / "run"), "--set", "train.lr"], culprit="key=value")


@case
def config_device_that_is_not_here(work, shared):
    return Case(train_args(work / "run", "train.device=cuda:7"), culprit="train.device")


@case
def config_mapping_is_frozen(work, shared):
    config = load_config(None, SMALL)
    with pytest.raises(TypeError, match="frozen"):
        config.model.modality_weights["visual"] = 1.0  # type: ignore[index]
    return Case(train_args(work / "run", "model.modality_weights.visual=-0.5"), culprit="modality_weights")


# ---------------------------------------------------------------------------------------------------
# experiment


@case
def experiment_repeated_seed(work, shared):
    return Case(["experiment", "main", "--data", "toy", "--quick", "--seeds", "1", "1", "--out", str(work / "exp")],
                culprit="given twice")


@case
def experiment_out_is_a_file(work, shared):
    (work / "notes.txt").write_text("x")
    return Case(["experiment", "main", "--data", "toy", "--quick", "--out", str(work / "notes.txt")], culprit="is a file")


@case
def experiment_out_is_a_user_folder(work, shared):
    folder = user_folder(work / "mine")
    return Case(["experiment", "main", "--data", "toy", "--quick", "--out", str(folder)], culprit="not an xmer experiment")


@case
def experiment_unknown_name(work, shared):
    return Case(["experiment", "mian", "--data", "toy", "--out", str(work / "exp")], culprit="mian", usage=True)


# ---------------------------------------------------------------------------------------------------
# extract: one writer per manifest range


EXTRACT = ["extract", "--extractors", "audio=logmel"]


@case
def extract_while_another_process_extracts(work, shared):
    root = media_dataset(work / "data")
    lock_file(root / ".extract-0of1.lock", os.getppid(), range=[0, 3])
    return Case([*EXTRACT, "--data", str(root)], culprit=f"in use by process {os.getppid()}")


@case
def extract_overlapping_shard_of_another_process(work, shared):
    root = media_dataset(work / "data")
    lock_file(root / ".extract-1of2.lock", os.getppid(), range=[1, 3])
    return Case([*EXTRACT, "--data", str(root), "--shard", "0/1"], culprit="in use")


@case
def extract_disjoint_shards_run_side_by_side(work, shared):
    root = media_dataset(work / "data", count=4)
    lock_file(root / ".extract-1of2.lock", os.getppid(), range=[2, 4])

    def check():
        index = [line for p in (root / "features" / "audio").glob("*.idx.tsv") for line in p.read_text().splitlines()]
        assert sorted(line.split("\t")[0] for line in index) == ["s0", "s1"]  # rows 0-1: its own shard only

    return Case([*EXTRACT, "--data", str(root), "--shard", "0/2"], code=0, check=check)


@case
def extract_takes_over_a_stale_lock_and_its_temporaries(work, shared):
    root = media_dataset(work / "data")
    lock_file(root / ".extract-0of1.lock", shared.dead_pid, range=[0, 3])
    stale = root / "features" / "audio" / f".logmel-old.f32.{host()}-{shared.dead_pid}-abcdef.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 1024)

    def check():
        assert not (root / ".extract-0of1.lock").exists() and not stale.exists()
        assert json.loads((root / "dataset.json").read_text())["modalities"]["audio"]["dim"] == 80

    return Case([*EXTRACT, "--data", str(root)], code=0, check=check)


@case
def extract_bad_shard(work, shared):
    root = media_dataset(work / "data")
    return Case([*EXTRACT, "--data", str(root), "--shard", "3/2"], culprit="--shard 3/2")


@case
def extract_missing_dataset(work, shared):
    return Case([*EXTRACT, "--data", str(work / "nodata")], culprit="nodata")


@case
def extract_data_is_a_file(work, shared):
    (work / "notes.txt").write_text("x")
    return Case([*EXTRACT, "--data", str(work / "notes.txt")], culprit="notes.txt")


@case
def extract_zero_workers(work, shared):
    root = media_dataset(work / "data")
    return Case([*EXTRACT, "--data", str(root), "--workers", "0"], culprit="--workers")


@case
def extract_unknown_extractor(work, shared):
    root = media_dataset(work / "data")
    return Case(["extract", "--data", str(root), "--extractors", "audio=mfcc"], culprit="mfcc")


# ---------------------------------------------------------------------------------------------------
# predict, evaluate, serve, pretrain, demo


@case
def predict_one_dimensional_features(work, shared):
    path = npz(work / "x.npz", audio=np.zeros(24, np.float32))
    return Case(["predict", str(shared.run), "--features", str(path)], culprit="x.npz, modality 'audio': a 1-d array")


@case
def predict_nan_features(work, shared):
    path = npz(work / "x.npz", audio=np.full((3, 24), np.nan, np.float32))
    return Case(["predict", str(shared.run), "--features", str(path)], culprit="NaN")


@case
def predict_wrong_feature_size(work, shared):
    path = npz(work / "x.npz", audio=np.zeros((3, 7), np.float32))
    return Case(["predict", str(shared.run), "--features", str(path)], culprit="(T, 24)")


@case
def predict_unknown_modality_key(work, shared):
    path = npz(work / "x.npz", smell=np.zeros((3, 7), np.float32))
    return Case(["predict", str(shared.run), "--features", str(path)], culprit="smell")


@case
def predict_missing_features_file(work, shared):
    return Case(["predict", str(shared.run), "--features", str(work / "x.npz")], culprit="x.npz")


@case
def predict_features_and_media(work, shared):
    path = npz(work / "x.npz", audio=np.zeros((3, 24), np.float32))
    return Case(["predict", str(shared.run), "--features", str(path), "--text", "hi"], culprit="either --features")


@case
def predict_good_features(work, shared):
    path = npz(work / "x.npz", audio=np.zeros((3, 24), np.float32))
    return Case(["predict", str(shared.run), "--features", str(path), "--json"], code=0)


@case
def evaluate_missing_run(work, shared):
    return Case(["evaluate", str(work / "nope")], culprit="nope")


@case
def evaluate_unknown_split(work, shared):
    return Case(["evaluate", str(shared.run), "--split", "dev"], culprit="dev", usage=True)


@case
def serve_port_out_of_range(work, shared):
    return Case(["serve", str(shared.run), "--port", "70000"], culprit="70000", usage=True)


@case
def serve_negative_port(work, shared):
    return Case(["serve", str(shared.run), "--port", "-1"], culprit="-1", usage=True)


@case
def serve_port_not_a_number(work, shared):
    return Case(["serve", str(shared.run), "--port", "http"], culprit="http", usage=True)


@case
def serve_unknown_host(work, shared):
    return Case(["serve", str(shared.run), "--host", "no-such-host.invalid", "--port", "0"], culprit="no-such-host.invalid")


@case
def serve_port_in_use(work, shared):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen()
    shared.keep.append(busy)
    port = busy.getsockname()[1]
    return Case(["serve", str(shared.run), "--port", str(port)], culprit=f"127.0.0.1:{port}")


@case
def pretrain_zero_epochs(work, shared):
    return Case(["pretrain", "visual", "--raw", str(work), "--out", str(work / "fe"), "--epochs", "0"], culprit="--epochs 0")


@case
def pretrain_out_is_a_file(work, shared):
    (work / "notes.txt").write_text("x")
    return Case(["pretrain", "visual", "--raw", str(work), "--out", str(work / "notes.txt")], culprit="is a file")


@case
def demo_into_the_current_folder(work, shared):
    here = user_folder(work / "here")
    return Case(["demo", "--out", "."], culprit="current folder", cwd=here)


@case
def demo_into_a_user_folder(work, shared):
    folder = user_folder(work / "mine")
    return Case(["demo", "--out", str(folder)], culprit="not a folder xmer made")


@case
def unknown_command(work, shared):
    return Case(["trian"], culprit="trian", usage=True)


@pytest.fixture(autouse=True)
def _restore_tess_counts():
    expected = SOURCES["tess"].EXPECTED
    yield
    SOURCES["tess"].EXPECTED = expected


def test_the_corpus_is_large_enough():
    assert len(CASES) >= 60, len(CASES)


def test_config_choices_are_the_registries():
    """The ``Literal`` choices in the config are the registries' keys (no drift)."""
    import typing

    from xmer.config import ModelConfig, TrainConfig
    from xmer.evaluation.metrics import compute_metrics
    from xmer.models import MODELS

    assert set(typing.get_args(typing.get_type_hints(ModelConfig)["name"])) == set(MODELS)
    metrics = compute_metrics(np.array([0, 1]), np.array([[0.9, 0.1], [0.2, 0.8]]), ["a", "b"], False)
    for metric in typing.get_args(typing.get_type_hints(TrainConfig)["selection_metric"]):
        assert isinstance(metrics[metric], float), metric


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, shared, monkeypatch, capsys):
    monkeypatch.setenv("XMER_CACHE", str(shared.cache))
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    c = CASES[name](work, shared)
    if c.cwd is not None:
        monkeypatch.chdir(c.cwd)
    before = snapshot(work)
    code, out, err = run_cli(c.argv, capsys)
    assert "Traceback" not in out + err and not str(code).startswith("traceback"), (code, err)
    assert code == c.code, err
    if c.code == 0:
        if c.check:
            c.check()
        return
    lines = [line for line in err.splitlines() if line.strip()]
    assert lines and (c.usage or len(lines) == 1), err
    assert lines[-1].startswith("xmer") and "error:" in lines[-1], err
    assert c.culprit in lines[-1], (c.culprit, lines[-1])
    assert snapshot(work) == before  # nothing written, nothing lost


def test_an_image_too_large_to_decode_is_refused_from_its_header(tmp_path):
    """A PNG whose header says 10,000 x 10,000 pixels: refused before decoding (the server refuses it too)."""
    import struct
    import zlib

    from xmer.errors import DataError
    from xmer.features.face import read_image

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    path = tmp_path / "huge.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 10_000, 10_000, 8, 0, 0, 0, 0)) + chunk(b"IEND", b""))
    with pytest.raises(DataError, match=r"huge.png: 10000x10000 pixels is more than the 40,000,000 xmer reads"):
        read_image(path)


def test_training_on_finite_but_huge_features_stops_with_one_line(tmp_path, capsys, monkeypatch):
    """Features near 3e38 are finite, so they pass every check, but float32 arithmetic overflows:
    the run stops after its first epoch with a line saying so, not with a traceback."""
    root = media_dataset(tmp_path / "data", count=6)
    with ChunkWriter(root / "features", "audio", 4) as writer:
        for i in range(6):
            writer.add(f"s{i}", np.full((2, 4), 3e38, np.float32))
    code, out, err = run_cli(train_args(tmp_path / "run", f"data.dataset={root}"), capsys)
    assert code == 2 and "Traceback" not in err and "training diverged" in err, err
