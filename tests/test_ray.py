"""Batch prediction and analysis on Ray (`xmer predict --batch --ray`, `xmer analyze --ray`) on a real
local Ray instance of 2 CPUs: the same lines as the local run for a mix of text, audio, image and
video items and bad ones; a worker killed in the middle of a job is replaced and the output is whole,
without a line lost or doubled; a driver killed in the middle is continued with --resume. The
output file's rules (partial lines, resume, cut-short lines) are checked first, without Ray."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from xmer.batch import BatchOutput
from xmer.uris import copy_from, local_copy
from xmer.cli import main
from xmer.errors import DataError

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
TEXTS = ("what a wonderful surprise", "I hate waiting in the rain", "that frightened me", "   ", "fine, I guess")


# ---------------------------------------------------------------------------------------------
# The output file and the options, without Ray


def test_a_stopped_jobs_partial_lines_are_kept_and_resumed_without_doubles(tmp_path):
    out = tmp_path / "pred.jsonl"
    rows = [("a", {}, None), ("b", {}, None), ("a", {}, None), (None, None, "line 4: not valid JSON")]
    with BatchOutput(out) as output:
        output.write(json.dumps({"id": "a", "prediction": "happy"}))
        output.write(json.dumps({"id": "b", "prediction": "sad"}))
    partial = out.with_name("pred.jsonl.partial")
    assert not out.exists() and partial.read_text().count("\n") == 2  # stopped: no output, the lines kept
    with partial.open("a") as f:
        f.write('{"id": "a", "predic')  # a write cut short by a kill
    with pytest.raises(DataError, match="--resume"):  # a stopped job's work is never thrown away unasked
        BatchOutput(out).__enter__()
    with BatchOutput(out, resume=True) as output:
        assert output.kept == 2
        assert output.remaining(rows) == rows[2:]  # "a" twice in the items: one line kept, one to go
        for item_id, _, _ in output.remaining(rows):
            output.write(json.dumps({"id": item_id, "prediction": "x"}))
        output.finish()
    assert [json.loads(line)["id"] for line in out.read_text().splitlines()] == ["a", "b", "a", None]
    assert not partial.exists()
    with BatchOutput(out, resume=True) as output:  # a finished output: nothing left, and it stays whole
        assert output.remaining(rows) == []
        output.finish()
    assert out.read_text().count("\n") == 4 and not list(tmp_path.glob(".*lock"))


def test_resume_refuses_a_file_that_is_not_a_batch_output(tmp_path):
    out = tmp_path / "notes.jsonl"
    out.write_text("my own notes\nmore\n")
    with pytest.raises(DataError, match="notes.jsonl, line 1: not a prediction line"):
        BatchOutput(out, resume=True).__enter__()
    assert out.read_text() == "my own notes\nmore\n"


def test_ray_options_go_with_ray_and_a_missing_ray_names_the_extra(tmp_path, monkeypatch, capsys):
    items = tmp_path / "items.jsonl"
    items.write_text('{"id": 1, "text": "hello"}\n')
    assert main(["predict", "--batch", str(items), "--out", str(tmp_path / "o.jsonl"), "--workers", "2"]) == 2
    assert "--workers go(es) with --ray" in capsys.readouterr().err
    assert main(["predict", "--text", "hello", "--resume"]) == 2
    assert "go with --batch" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    assert main(["predict", "--batch", str(items), "--out", str(tmp_path / "o.jsonl"), "--ray"]) == 2
    assert "pip install 'xmer[ray]'" in capsys.readouterr().err
    assert not (tmp_path / "o.jsonl").exists()


def test_a_uri_is_read_through_pyarrow(tmp_path):
    fs = pytest.importorskip("pyarrow.fs")
    source = tmp_path / "clip.bin"
    source.write_bytes(os.urandom(3 << 20))
    with local_copy(source.as_uri()) as local:  # file://: read in place
        assert local == source
    copy_from(fs.LocalFileSystem(), str(source), tmp_path / "copy.bin", "s3://b/clip.bin")  # how s3://, gs:// are read
    assert (tmp_path / "copy.bin").read_bytes() == source.read_bytes()
    with pytest.raises(DataError, match="s3://b/missing.bin"):
        copy_from(fs.LocalFileSystem(), str(tmp_path / "missing.bin"), tmp_path / "x", "s3://b/missing.bin")
    with pytest.raises(DataError, match="nosuchscheme://x/y.wav: cannot open"):
        with local_copy("nosuchscheme://x/y.wav"):
            pass


# ---------------------------------------------------------------------------------------------
# On a real Ray instance


@pytest.fixture(scope="module")
def ray_instance():
    """A local Ray instance of 2 CPUs for this module; the jobs find it initialised and use it."""
    ray = pytest.importorskip("ray", reason="the ray extra is not installed (pip install 'xmer[ray]')")
    pytest.importorskip("ray.data")
    if ray.is_initialized():
        ray.shutdown()
    ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
    yield ray
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A folder of real media files written here: tones (WAV), a face photo (JPEG), a 1 s video of
    the face, and a file that only pretends to be audio."""
    sf = pytest.importorskip("soundfile")
    pytest.importorskip("av")
    cv2 = pytest.importorskip("cv2")
    from media_writer import write_av

    root = tmp_path_factory.mktemp("ray_media")
    rate = 16_000
    t = np.arange(rate) / rate
    for i, freq in enumerate((220, 330, 440, 660)):
        noise = 0.01 * np.random.default_rng(i).normal(size=t.size)
        sf.write(root / f"tone{i}.wav", (0.3 * np.sin(2 * np.pi * freq * t) + noise).astype(np.float32), rate)
    shutil.copy(PHOTO, root / "face.jpg")
    grey = np.full((240, 320), 120, np.uint8)
    grey[20:220, 80:240] = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (160, 200))
    write_av(root / "face.mp4", [grey] * 10, 10, (320, 240), (0.2 * np.sin(2 * np.pi * 300 * t)).astype(np.float32), rate)
    (root / "broken.wav").write_bytes(b"RIFF but not really" * 50)
    return root


def write_items(root: Path, name: str, copies: int = 1) -> Path:
    """An items file of ``copies`` rounds of: texts (one empty), tones, the photo, the video (with
    and without words), a tone as a file:// URI, and bad items (missing file, broken file, unknown
    key, a line that is not JSON)."""
    lines = []
    for c in range(copies):
        lines += [{"id": f"{c}-t{i}", "text": text} for i, text in enumerate(TEXTS)]
        lines += [{"id": f"{c}-a{i}", "audio": f"tone{i}.wav"} for i in range(4)]
        lines += [{"id": f"{c}-img", "image": "face.jpg"}, {"id": f"{c}-vid", "video": "face.mp4"},
                  {"id": f"{c}-vid-words", "video": "face.mp4", "text": "so sad"},
                  {"id": f"{c}-uri", "audio": (root / "tone1.wav").as_uri()},
                  {"id": f"{c}-missing", "audio": "missing.wav"}, {"id": f"{c}-broken", "audio": "broken.wav"},
                  {"id": f"{c}-colour", "colour": "red"}]
    text = "".join(json.dumps(line) + "\n" for line in lines) + "{not json\n"
    (root / name).write_text(text)
    return root / name


@pytest.fixture(scope="module")
def local_rows(media):
    """The local run's lines for one round of items: id -> row."""
    items = write_items(media, "items.jsonl")
    out = media / "local.jsonl"
    assert main(["predict", "--batch", str(items), "--out", str(out), "--no-asr"]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def assert_same(rows: list[dict], local: list[dict], copies: int = 1) -> None:
    """``rows`` are ``copies`` rounds of the local lines (ids with their round), within 1e-6."""
    expected = []
    for c in range(copies):
        expected += [{**row, "id": f"{c}-{row['id'].split('-', 1)[1]}"} for row in local if row["id"] is not None]
    expected += [row for row in local if row["id"] is None]
    assert [r["id"] for r in rows] == [r["id"] for r in expected]  # input order, nothing lost or doubled
    for got, want in zip(rows, expected):
        assert set(got) == set(want), got["id"]
        for key in want:
            if key == "probabilities":  # rounded to 6 decimals: texts batched otherwise may flip the last digit
                assert max(abs(got[key][k] - want[key][k]) for k in want[key]) <= 1e-6 + 1e-12, got["id"]
            elif key == "by_modality":  # each modality's own reading, the same way
                assert set(got[key]) == set(want[key]), got["id"]
                for m, reading in want[key].items():
                    assert got[key][m]["prediction"] == reading["prediction"], (got["id"], m)
                    assert max(abs(got[key][m]["probabilities"][k] - p) for k, p in reading["probabilities"].items()) <= 1e-6 + 1e-12
            elif got["id"] is None and key == "error":  # the line that is not JSON: its file and line number differ
                assert "not valid JSON" in got[key]
            else:
                assert got[key] == want[key], (got["id"], key)


def test_the_local_lines_cover_every_kind_of_item(local_rows):
    by_id = {row["id"]: row for row in local_rows}
    assert by_id["0-t0"]["observed"] == ["text"] and by_id["0-a0"]["observed"] == ["audio"]
    assert by_id["0-img"]["observed"] == ["visual"] and set(by_id["0-vid-words"]["observed"]) == {"visual", "audio", "text"}
    assert by_id["0-uri"]["observed"] == ["audio"]
    assert "empty" in by_id["0-t3"]["error"] and "missing.wav" in by_id["0-missing"]["error"]
    assert "broken.wav" in by_id["0-broken"]["error"] and "colour" in by_id["0-colour"]["error"]
    assert "not valid JSON" in by_id[None]["error"]


def test_ray_predictions_equal_the_local_run(ray_instance, media, local_rows, capsys):
    items = write_items(media, "items.jsonl")
    out = media / "ray.jsonl"
    assert main(["predict", "--batch", str(items), "--out", str(out), "--no-asr", "--ray", "--workers", "2"]) == 0
    err = capsys.readouterr().err
    assert f"{len(local_rows)} predictions written" in err and "predict (ray, 2 workers)" in err
    assert_same([json.loads(line) for line in out.read_text().splitlines()], local_rows)


def _alive_predictors(ray) -> list[dict]:
    from ray._private.state import actors

    return [a for a in actors(actor_state_name="ALIVE").values() if "_Predict" in a["ActorClassName"]]


def test_a_killed_worker_is_replaced_and_no_line_is_lost_or_doubled(ray_instance, media, local_rows):
    copies = 4
    items = write_items(media, "items4.jsonl", copies)
    out = media / "killed.jsonl"
    partial = out.with_name(out.name + ".partial")
    status = []
    job = threading.Thread(target=lambda: status.append(main(["predict", "--batch", str(items), "--out", str(out),
                                                                "--no-asr", "--ray", "--workers", "2"])))
    job.start()
    killed, deadline, working_since = None, time.time() + 120, None
    while killed is None and job.is_alive() and time.time() < deadline:
        workers = _alive_predictors(ray_instance)
        if len(workers) == 2 and partial.exists():
            working_since = working_since or time.time()
            # mid-job: once a line is written, or (lines come in input order, so the first may wait
            # for a slow batch) once both workers have been at it for a second
            if partial.read_text().count("\n") >= 1 or time.time() - working_since > 1.0:
                killed = workers[0]
                os.kill(killed["Pid"], signal.SIGKILL)
                lines_then = partial.read_text().count("\n")
        time.sleep(0.02)
    job.join(300)
    assert killed is not None, "the job ended before a worker could be killed"
    assert lines_then < len(local_rows) * copies
    assert status == [0]
    from ray._private.state import actors

    assert actors(actor_id=killed["ActorID"])["NumRestarts"] >= 1  # Ray replaced the worker and retried its batches
    assert_same([json.loads(line) for line in out.read_text().splitlines()], local_rows, copies)


def test_a_job_whose_driver_is_killed_goes_on_with_resume(ray_instance, media, local_rows, capsys):
    copies = 3
    items = write_items(media, "items3.jsonl", copies)
    out = media / "resumed.jsonl"
    partial = out.with_name(out.name + ".partial")
    address = ray_instance.get_runtime_context().gcs_address  # the driver joins this module's instance
    command = [sys.executable, "-m", "xmer", "predict", "--batch", str(items), "--out", str(out), "--no-asr",
               "--ray", address, "--workers", "1"]
    driver = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while driver.poll() is None and time.time() < deadline:
        if partial.exists() and partial.read_text().count("\n") >= 5:
            driver.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    driver.wait(30)
    assert driver.returncode == -signal.SIGKILL, driver.stderr.read()[-2000:]
    assert not out.exists()
    with partial.open("a") as f:
        f.write('{"id": "0-a')  # as if the kill had cut a line short
    kept = partial.read_text().count("\n")
    capsys.readouterr()
    assert main(["predict", "--batch", str(items), "--out", str(out), "--no-asr", "--ray", "--workers", "1"]) == 2
    assert "--resume" in capsys.readouterr().err  # never started over unasked
    assert main(["predict", "--batch", str(items), "--out", str(out), "--no-asr", "--ray", "--workers", "1", "--resume"]) == 0
    assert f"{kept} kept from before" in capsys.readouterr().err
    assert not partial.exists()
    assert_same([json.loads(line) for line in out.read_text().splitlines()], local_rows, copies)


def test_ray_analysis_equals_the_local_run_and_resumes(ray_instance, media, tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("face.mp4", "tone0.wav", "broken.wav"):
        shutil.copy(media / name, folder / name)
    listing = tmp_path / "list.txt"
    listing.write_text("in/broken.wav\nin/face.mp4\nin/tone0.wav\n")  # the folder's order
    capsys.readouterr()
    assert main(["analyze", str(folder), "--out", str(tmp_path / "local"), "--no-asr"]) == 1
    local = capsys.readouterr()
    assert main(["analyze", str(listing), "--out", str(tmp_path / "ray"), "--no-asr", "--ray", "--workers", "1"]) == 1
    remote = capsys.readouterr()
    assert "skipped" in remote.err and "broken.wav" in remote.err and "Traceback" not in remote.err
    assert [line.split(" -> ")[0] for line in remote.out.splitlines()] == [line.split(" -> ")[0] for line in local.out.splitlines()]
    for name in ("face.mp4", "tone0.wav"):
        a = json.loads((tmp_path / "local" / name / "timeline.json").read_text())
        b = json.loads((tmp_path / "ray" / name / "timeline.json").read_text())
        assert a["source"] == b["source"] and len(a["segments"]) == len(b["segments"]) > 0
        for s, t in zip(a["segments"], b["segments"]):
            assert (s["start"], s["end"], s["observed"], s["prediction"]) == (t["start"], t["end"], t["observed"], t["prediction"])
            assert max([abs(s["probabilities"][k] - t["probabilities"][k]) for k in s["probabilities"]], default=0) <= 1e-6 + 1e-12
        assert (tmp_path / "ray" / name / "summary.md").is_file()
    assert not (tmp_path / "ray" / "broken.wav").exists()
    before = (tmp_path / "ray" / "face.mp4" / "timeline.json").stat().st_mtime_ns
    assert main(["analyze", str(listing), "--out", str(tmp_path / "ray"), "--no-asr", "--ray", "--workers", "1", "--resume"]) == 1
    again = capsys.readouterr()
    assert "2 file(s) already analysed" in again.err and again.out == ""  # only the broken file is tried again
    assert (tmp_path / "ray" / "face.mp4" / "timeline.json").stat().st_mtime_ns == before


class _DiesOn:
    """A worker that dies, as one whose decoder crashes would, on every batch holding the item "boom"."""

    def __init__(self, **_):
        pass

    def __call__(self, batch: dict) -> dict:
        if "boom" in [str(item) for item in batch["item"]]:
            os._exit(1)
        return {"index": batch["index"], "line": batch["item"]}


def test_an_item_that_kills_every_worker_stops_the_job_and_says_where(ray_instance):
    from ray import cloudpickle

    from xmer.scaling.ray_jobs import RayOptions, _in_order

    cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import this test module
    payloads = [f"item{i}" for i in range(6)] + ["boom"] + [f"item{i}" for i in range(7, 10)]
    delivered = []
    started = time.time()
    with pytest.raises(DataError, match=r"workers kept dying on a batch at or after item .*--resume") as stopped:
        for line in _in_order(ray_instance, payloads, _DiesOn, {}, RayOptions(workers=1), 2, "test", "item", False):
            delivered.append(line)
    assert time.time() - started < 120  # no endless restarts
    done = len(delivered)
    assert delivered == payloads[:done] and done <= 6  # in order, up to the bad item at most
    assert f"stopped after {done} of 10 items" in str(stopped.value) and f"at or after item {done + 1}" in str(stopped.value)


def test_a_collection_read_as_one_source_on_ray_equals_the_local_run(ray_instance, media, local_rows, capsys):
    """``--one-source``: the collection's speech moments are computed before the job and every
    worker reads with them: the lines equal the local run's."""
    from xmer.inference import Recognizer

    if "audio" not in Recognizer.load().moments:
        pytest.skip("the default model does not standardise speech per source")
    items = write_items(media, "items_source.jsonl", copies=3)  # 21 readable clips: enough to stand for a source
    rows = {}
    for where, flags in (("local", []), ("ray", ["--ray", "--workers", "2"])):
        out = media / f"source_{where}.jsonl"
        assert main(["predict", "--batch", str(items), "--out", str(out), "--no-asr", "--one-source", *flags]) == 0
        assert "read as 1 source(s), with the speech of 21 of their clips" in capsys.readouterr().err
        rows[where] = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows["ray"]) == len(rows["local"])
    alone = {row["id"]: row for row in local_rows}
    tones = [row for row in rows["local"] if row["id"] in ("0-a0", "0-a1", "0-a2", "0-a3")]
    assert len(tones) == 4 and any(row["probabilities"] != alone[row["id"]]["probabilities"] for row in tones)
    for got, want in zip(rows["ray"], rows["local"]):
        assert got["id"] == want["id"] and got.get("error", "")[:20] == want.get("error", "")[:20]
        if "probabilities" in want:
            assert max(abs(got["probabilities"][k] - p) for k, p in want["probabilities"].items()) <= 1e-6 + 1e-12
