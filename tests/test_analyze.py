"""`xmer analyze` and offline transcription on videos built here: espeak-ng saying known sentences,
muxed with the face photo that ships with matplotlib; a stretch without a face; two faces side by
side. What is checked is what a user would check: the words, segments that tile the recording, the
files written, a missing face shown as imagined, two faces giving two tracks."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import matplotlib
import numpy as np
import pytest

from media_writer import write_av
from xmer.cli import main
from xmer.features.asr import Utterance, speech_available
from xmer.features.tracking import IoUTracker, iou
from xmer.analysis.timeline import plan_segments, read_cues

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
SENTENCES = ("I am so happy to see you today.", "This is terrible, I hate waiting.")

needs_speech = pytest.mark.skipif(not speech_available(), reason="the speech extra is not installed (pip install 'xmer[speech]')")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


# ---------------------------------------------------------------------------------------------
# Building media


def speak(text: str, path: Path) -> tuple[np.ndarray, int]:
    """espeak-ng's voice saying ``text``: (N,) float32 and its rate."""
    sf = pytest.importorskip("soundfile")
    subprocess.run(["espeak-ng", "-w", str(path), text], check=True, capture_output=True)
    wave, rate = sf.read(path, dtype="float32")
    return wave, rate


def write_clip(path: Path, frames, wave: np.ndarray | None = None, rate: int = 22_050, fps: int = 10) -> Path:
    """An MPEG-4 640x480 video of ``frames`` (grey (480, 640) uint8 arrays) with ``wave`` muxed in as AAC."""
    return write_av(path, frames, fps, (640, 480), wave, rate)


def face_frame(faces: int = 1) -> np.ndarray:
    """A grey 640x480 frame holding the face photo once (centred) or twice (side by side, one mirrored)."""
    cv2 = pytest.importorskip("cv2")
    grey = np.full((480, 640), 120, np.uint8)
    if faces == 1:
        grey[100:380, 200:440] = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (240, 280))
    elif faces == 2:
        face = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (200, 234))
        grey[120:354, 40:240], grey[120:354, 400:600] = face, face[:, ::-1]
    return grey


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory):
    """7-8 s: sentence 1 with the face, 1 s of silence (the face leaves at 3 s), sentence 2 without a
    face, then 2 s of silence without a face. Returns (path, time the face leaves, sentence 2's end)."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    root = tmp_path_factory.mktemp("speech")
    first, rate = speak(SENTENCES[0], root / "1.wav")
    second, _ = speak(SENTENCES[1], root / "2.wav")
    silence = lambda s: np.zeros(int(s * rate), np.float32)
    lead = 0.3 + len(first) / rate + 1.0
    wave = np.concatenate([silence(0.3), first, silence(1.0), second, silence(2.0)])
    face_until = lead - 0.3
    frames = [face_frame(1 if i / 10 < face_until else 0) for i in range(int(len(wave) / rate * 10))]
    return write_clip(root / "clip.mp4", frames, wave, rate), face_until, lead + len(second) / rate


# ---------------------------------------------------------------------------------------------
# Units: segments, tracking, subtitles (no extra needed)


def test_segments_tile_the_recording_in_order():
    speech = [Utterance(1.0, 3.0, "one"), Utterance(3.2, 5.0, "two"), Utterance(9.0, 12.5, "three")]
    segments = plan_segments(speech, duration=12.8, window=2.0, hop=1.0)
    assert segments[0].start == 0 and segments[-1].end == 12.8
    for a, b in zip(segments, segments[1:]):
        assert a.end == b.start and a.start < a.end  # in order, no gap, no overlap
    assert [s.text for s in segments if s.kind == "speech"] == ["one", "two", "three"]
    # the 0.2 s pause is shared by its neighbours; the final 0.3 s joins the last utterance
    assert segments[1].end == segments[2].start == 3.1 and segments[-1].kind == "speech"
    windows = [s for s in segments if s.kind == "window"]
    assert [(s.start, s.end) for s in windows] == [(0, 1.0), (5.0, 6.0), (6.0, 7.0), (7.0, 8.0), (8.0, 9.0)]
    assert windows[1].context == (5.0, 6.5)  # 2 s of context centred on the cell, clipped to the silence
    only_windows = plan_segments([], duration=3.5, window=2.0, hop=1.0)
    assert len(only_windows) == 4 and only_windows[-1].end == 3.5


def test_iou_tracker_keeps_identities():
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)
    tracker = IoUTracker()
    left, right = (40, 100, 100, 100), (400, 100, 100, 100)
    assert tracker.update(0.0, [left, right]) == [1, 2]
    assert tracker.update(0.25, [(408, 104, 100, 100), (45, 98, 100, 100)]) == [2, 1]  # moved a little, order swapped
    assert tracker.update(0.5, [(45, 98, 100, 100)]) == [1]
    assert tracker.update(3.0, [(400, 100, 100, 100)]) == [3]  # gone too long: a new track


def test_subtitle_cues_keep_their_times(tmp_path):
    srt = tmp_path / "a.srt"
    srt.write_text("1\n00:00:00,500 --> 00:00:02,000\nHello <i>there</i>\n\n2\n00:00:03,000 --> 00:00:04,250\nGoodbye now\n")
    assert read_cues(srt) == [Utterance(0.5, 2.0, "Hello there"), Utterance(3.0, 4.25, "Goodbye now")]
    plain = tmp_path / "a.txt"
    plain.write_text("no times here")
    with pytest.raises(Exception, match="no timed cues"):
        read_cues(plain)


# ---------------------------------------------------------------------------------------------
# Transcription


@needs_speech
@needs_espeak
def test_transcription_holds_the_spoken_words_also_across_block_edges(tmp_path):
    from xmer.features.asr import get_transcriber, join_text
    from xmer.features.stream import audio_blocks

    wave, rate = speak(" ".join(SENTENCES), tmp_path / "s.wav")
    transcriber = get_transcriber()
    whole = join_text(transcriber.transcribe_stream(audio_blocks(tmp_path / "s.wav")))
    assert {"happy", "terrible", "waiting"} <= set(whole.lower().replace(",", " ").replace(".", " ").split()), whole
    # blocks of 1.5 s cut words in half; the carried utterance is decoded again whole
    pieces = list(transcriber.transcribe_stream(audio_blocks(tmp_path / "s.wav", seconds=1.5)))
    chopped = join_text(pieces).lower()
    assert "happy" in chopped and "waiting" in chopped, chopped
    assert all(a.end <= b.start + 0.05 for a, b in zip(pieces, pieces[1:]))  # in time order


# ---------------------------------------------------------------------------------------------
# End to end


@needs_speech
def test_analyze_a_video_with_speech_and_a_stretch_without_a_face(speech_clip, tmp_path, capsys):
    clip, face_until, speech_end = speech_clip
    out = tmp_path / "out"
    assert main(["analyze", str(clip), "--out", str(out)]) == 0
    timeline = json.loads((out / "timeline.json").read_text())
    assert {"source", "duration", "labels", "segments"} <= set(timeline)
    segments = timeline["segments"]
    assert segments[0]["start"] == 0 and segments[-1]["end"] == pytest.approx(timeline["duration"])
    assert all(a["end"] == b["start"] for a, b in zip(segments, segments[1:]))
    for s in segments:
        assert {"start", "end", "text", "prediction", "probabilities", "observed", "imagined", "face"} <= set(s)
    assert timeline["text_source"] == "asr" and "happy" in timeline["transcript"].lower()
    spoken = [s for s in segments if s["kind"] == "speech"]
    assert len(spoken) == 2 and "happy" in spoken[0]["text"].lower() and "waiting" in spoken[1]["text"].lower()
    first, second = spoken
    assert first["observed"] == ["visual", "audio", "text"] and first["face"]["track"] == 1
    assert set(first["by_modality"]) == {"visual", "audio", "text"}
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-4
    # the second sentence is spoken after the face left: its visual is imagined, and no face is named
    assert second["start"] >= face_until and second["face"] is None
    assert "visual" in second["imagined"] and {"audio", "text"} <= set(second["observed"])
    # the end is silent and faceless: nothing to read, so no prediction rather than a guess
    assert segments[-1]["kind"] == "window" and segments[-1]["prediction"] is None and segments[-1]["observed"] == []
    rows = list(csv.DictReader((out / "timeline.csv").open()))
    assert len(rows) == len(segments) and set(timeline["labels"]) <= set(rows[0])
    image = matplotlib.image.imread(out / "timeline.png")
    assert image.shape[0] > 200 and image.shape[1] > 600
    from xmer.analysis.report import COLOURS

    rgb = (image[..., :3] * 255).round().astype(int).reshape(-1, 3)
    for label in {first["prediction"], second["prediction"]}:  # their bars are drawn, in their label's colour
        colour = [int(COLOURS[label][i : i + 2], 16) for i in (1, 3, 5)]
        assert (np.abs(rgb - colour).sum(1) <= 6).sum() > 100, label
    summary = (out / "summary.md").read_text()
    assert "Dominant emotion" in summary and "share of time" in summary


@needs_speech
def test_predict_a_video_is_trimodal_by_itself(speech_clip, tmp_path, capsys):
    clip, _, _ = speech_clip
    capsys.readouterr()
    assert main(["predict", "--video", str(clip), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text_source"] == "asr" and "waiting" in out["text"].lower() and "text" in out["observed"]
    assert main(["predict", "--video", str(clip), "--json", "--no-asr"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert "text" not in out["observed"] and "text_source" not in out
    srt = tmp_path / "words.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:02,000\nwhat a lovely day\n")
    assert main(["predict", "--video", str(clip), "--transcript", str(srt), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text_source"] == "transcript" and out["text"] == "what a lovely day"
    assert main(["predict", "--audio", str(clip), "--text", "fine", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["text_source"] == "given" and out["observed"] == ["audio", "text"]


def test_two_faces_give_two_tracks(tmp_path):
    pytest.importorskip("av")
    from xmer.inference import Recognizer

    clip = write_clip(tmp_path / "two.mp4", [face_frame(2)] * 25)
    timeline = Recognizer.load().analyze(clip, faces="all", asr=False)
    assert [t.id for t in timeline.tracks] == [1, 2]
    left, right = timeline.tracks
    assert left.boxes[0][1] < 320 < right.boxes[0][1]  # box paths: [time, x, y, w, h]
    assert left.frames >= 8 and right.frames >= 8 and left.boxes[-1][0] > 2.0
    assert timeline.main_face in (1, 2) and timeline.text_source is None
    for track in timeline.tracks:
        assert len(track.segments) == len(timeline.segments)
        assert all(s.face["track"] == track.id and s.observed == ["visual"] for s in track.segments)
    # the files: one CSV row per segment per timeline (main, face 1, face 2), one panel each in the picture
    from xmer.analysis.report import write_timeline

    write_timeline(timeline, tmp_path / "out")
    rows = list(csv.DictReader((tmp_path / "out" / "timeline.csv").open()))
    assert {r["face_timeline"] for r in rows} == {"main", "face 1", "face 2"} and len(rows) == 3 * len(timeline.segments)
    assert len(json.loads((tmp_path / "out" / "timeline.json").read_text())["tracks"][1]["boxes"]) == right.frames


def test_a_folder_with_a_bad_file_is_reported_and_the_rest_analysed(tmp_path, capsys):
    pytest.importorskip("av")
    folder = tmp_path / "in"
    folder.mkdir()
    write_clip(folder / "good.mp4", [face_frame(1)] * 15)
    (folder / "broken.mp4").write_bytes(b"not a video" * 100)
    (folder / "notes.txt").write_text("not media, not picked up")
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "--out", str(out), "--no-asr", "--video-out"]) == 1
    err = capsys.readouterr().err
    assert "broken.mp4" in err and "Traceback" not in err
    assert (out / "good.mp4" / "timeline.json").is_file() and not (out / "broken.mp4").exists()
    from xmer.features.media import probe

    annotated = probe(out / "good.mp4" / "annotated.mp4")  # the copy with the box and label burnt in
    assert annotated.has_video and annotated.width == 640 and abs(annotated.duration_s - 1.5) < 0.2
    assert main(["analyze", str(folder / "broken.mp4"), "--out", str(out / "x")]) == 2  # one input: an error
    assert "broken.mp4" in capsys.readouterr().err and not (out / "x" / "timeline.json").exists()
    assert main(["analyze", str(folder / "good.mp4"), "--out", str(out / "x"), "--hop", "0"]) == 2
    assert "--hop must be a positive" in capsys.readouterr().err


def test_analyze_without_out_writes_a_new_folder_in_the_working_folder(tmp_path, capsys, monkeypatch):
    pytest.importorskip("av")
    (tmp_path / "in").mkdir()
    clip = write_clip(tmp_path / "in" / "talk.mp4", [face_frame(1)] * 10)
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    assert main(["analyze", str(clip), "--no-asr"]) == 0
    assert "writing to talk.mp4.xmer" in capsys.readouterr().err
    first = (work / "talk.mp4.xmer" / "timeline.json").read_bytes()
    assert main(["analyze", str(clip), "--no-asr"]) == 0  # the name is taken: a new folder, the first untouched
    assert (work / "talk.mp4.xmer-2" / "timeline.json").is_file()
    assert (work / "talk.mp4.xmer" / "timeline.json").read_bytes() == first
    assert main(["analyze", str(clip.parent), "--no-asr", "--resume"]) == 0  # several: analysis.xmer/<file>/
    assert (work / "analysis.xmer" / "talk.mp4" / "timeline.json").is_file()


def test_batch_predictions_keep_order_and_report_bad_items(tmp_path, capsys):
    pytest.importorskip("av")
    write_clip(tmp_path / "face.mp4", [face_frame(1)] * 10)
    items = tmp_path / "items.jsonl"
    lines = [{"id": "a", "text": "what a wonderful surprise"},
             {"id": "b", "video": "face.mp4", "text": "so sad"},
             {"id": "c", "audio": "missing.wav"},
             {"id": 4, "image": str(PHOTO)},
             {"id": "e", "colour": "red"}]
    items.write_text("\n".join(json.dumps(l) for l in lines) + "\n{not json\n")
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--batch", str(items), "--out", str(out)]) == 0
    assert "6 predictions written" in capsys.readouterr().err
    rows = [json.loads(l) for l in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["a", "b", "c", 4, "e", None]
    assert rows[0]["observed"] == ["text"] and rows[0]["text_source"] == "given"
    assert rows[1]["observed"] == ["visual", "text"] and "error" not in rows[1]
    assert set(rows[1]["by_modality"]) == {"visual", "text"} and list(rows[0]["by_modality"]) == ["text"]
    assert "missing.wav" in rows[2]["error"] and "colour" in rows[4]["error"] and "line 6" in rows[5]["error"]
    assert rows[3]["observed"] == ["visual"]
    # the same object as xmer predict --json, plus the id
    capsys.readouterr()
    assert main(["predict", "--text", "what a wonderful surprise", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == {k: v for k, v in rows[0].items() if k != "id"}


@pytest.mark.parametrize("bad", [False, True])
def test_batch_texts_predicted_together_equal_one_at_a_time(tmp_path, capsys, monkeypatch, bad):
    """Items with text alone are predicted in batches; each answer is its own, and a text that
    fails gets its error while the others of its batch keep theirs."""
    from xmer.inference import Recognizer

    batches = []
    original = Recognizer.predict_texts
    monkeypatch.setattr(Recognizer, "predict_texts", lambda self, texts, **kw: batches.append(len(texts)) or original(self, texts, **kw))
    texts = ["what a wonderful surprise", "I hate waiting in the rain", "   " if bad else "fine", "that frightened me", "okay"]
    items = tmp_path / "items.jsonl"
    items.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in enumerate(texts)))
    out = tmp_path / "predictions.jsonl"
    assert main(["predict", "--batch", str(items), "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == [0, 1, 2, 3, 4] and batches == [5]  # one batch for the five
    assert ("empty text" in rows[2].get("error", "")) == bad
    for row, text in zip(rows, texts):
        if "error" in row:
            continue
        capsys.readouterr()
        assert main(["predict", "--text", text, "--json"]) == 0
        alone = json.loads(capsys.readouterr().out)
        assert row["prediction"] == alone["prediction"] and row["text"] == text and row["notes"] == {}
        assert max(abs(row["probabilities"][k] - alone["probabilities"][k]) for k in alone["probabilities"]) < 1e-5


@pytest.mark.real_data
@needs_speech
def test_analyze_real_ravdess_speech(shared_data, tmp_path):
    """A RAVDESS clip (an actor saying "Kids are talking by the door" or "Dogs are sitting by the door")."""
    from xmer.inference import Recognizer

    clip = next((shared_data / "ravdess").rglob("03-01-05-02-01-01-*.flac"))
    timeline = Recognizer.load().analyze(clip)
    assert "door" in timeline.transcript.lower() and timeline.text_source == "asr"
    assert any(s.kind == "speech" and s.observed == ["audio", "text"] for s in timeline.segments)


def test_a_subtitle_file_gives_the_words_and_their_times(tmp_path):
    pytest.importorskip("av")
    from xmer.inference import Recognizer

    clip = write_clip(tmp_path / "face.mp4", [face_frame(1)] * 40)  # 4 s, no audio track
    srt = tmp_path / "face.srt"
    srt.write_text("1\n00:00:01,000 --> 00:00:02,500\nWhat a <b>wonderful</b> day\n")
    timeline = Recognizer.load().analyze(clip, transcript=srt)
    assert timeline.text_source == "transcript" and timeline.transcript == "What a wonderful day"
    assert [(s.start, s.end, s.kind) for s in timeline.segments] == [(0, 1.0, "window"), (1.0, 2.5, "speech"),
                                                                    (2.5, 3.25, "window"), (3.25, 4.0, "window")]
    spoken = timeline.segments[1]
    assert spoken.text == "What a wonderful day" and spoken.observed == ["visual", "text"] and spoken.imagined == ["audio"]
    assert set(spoken.by_modality) == {"visual", "text"}
    assert all("audio" in s.imagined for s in timeline.segments)  # the clip has no audio track


def test_without_the_speech_extra_there_are_no_words_and_a_note_says_why(tmp_path, monkeypatch, capsys):
    pytest.importorskip("av")
    import xmer.features.asr

    monkeypatch.setattr(xmer.features.asr, "speech_available", lambda: False)
    t = np.arange(16_000 * 2) / 16_000
    clip = write_clip(tmp_path / "tone.mp4", [face_frame(1)] * 20, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), 16_000)
    capsys.readouterr()
    assert main(["predict", "--video", str(clip), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["observed"] == ["visual", "audio"] and "xmer[speech]" in out["notes"]["text"]
    assert main(["analyze", str(clip), "--out", str(tmp_path / "out")]) == 0
    timeline = json.loads((tmp_path / "out" / "timeline.json").read_text())
    assert timeline["text_source"] is None and any("xmer[speech]" in n for n in timeline["notes"])
    assert all(s["kind"] == "window" for s in timeline["segments"])


def test_a_face_that_comes_back_elsewhere_is_followed_again(tmp_path):
    pytest.importorskip("av")
    from xmer.inference import Recognizer

    moved = np.roll(face_frame(1), 150, axis=1)  # the same face, 150 pixels to the right
    clip = write_clip(tmp_path / "back.mp4", [face_frame(1)] * 15 + [face_frame(0)] * 10 + [moved] * 15)  # 1.5 s, 1 s away, 1.5 s
    timeline = Recognizer.load().analyze(clip, asr=False)
    assert len(timeline.tracks) == 2  # tracking by overlap: a new track after the gap
    assert timeline.tracks[1].first <= 3.0  # found again within a second (a full-frame search every second)
    used = [s.face["track"] if s.face else None for s in timeline.segments]
    assert used == [1, 1, 2, 2], used  # the main timeline follows whichever face is in view, and says which


def test_the_summary_lists_changes_of_the_predicted_emotion_only():
    from xmer.analysis.timeline import Segment, Timeline
    from xmer.analysis.report import summary

    def seg(start, label, p):
        probabilities = {"happy": p if label == "happy" else 1 - p, "sad": p if label == "sad" else 1 - p}
        return Segment(start=start, end=start + 1, kind="window", context=(start, start + 1), prediction=label,
                       probabilities=probabilities)

    # happy 0.95 -> happy 0.55 is the largest move of the probabilities, but not a change of emotion
    segments = [seg(0, "happy", 0.95), seg(1, "happy", 0.55), seg(2, "sad", 0.6)]
    text = summary(Timeline(source="clip.mp4", duration=3.0, labels=["happy", "sad"], segments=segments))
    assert "- 0:02.0: happy → sad" in text and "happy → happy" not in text
    calm = summary(Timeline(source="clip.mp4", duration=2.0, labels=["happy", "sad"], segments=segments[:2]))
    assert "Strongest changes" not in calm


def test_an_analysis_runs_on_half_the_threads_and_gives_them_back():
    import torch
    from xmer.analysis.run import _threads_per_pass, analyze_media

    assert analyze_media.__wrapped__  # the audio and video passes share the cores
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert _threads_per_pass(torch.get_num_threads)() == 1 and torch.get_num_threads() == 2
        with pytest.raises(ZeroDivisionError):
            _threads_per_pass(lambda: 1 / 0)()
        assert torch.get_num_threads() == 2
        # torch's setting is the calling thread's: an analysis in another thread leaves this one's alone
        import threading

        inside, go_on, seen = threading.Event(), threading.Event(), []

        def elsewhere():
            inside.set()
            go_on.wait(10)

        runner = threading.Thread(target=_threads_per_pass(elsewhere))
        runner.start()
        inside.wait(10)
        seen.append(torch.get_num_threads())
        go_on.set()
        runner.join(10)
        assert seen == [2] and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


@needs_speech
def test_voice_and_words_read_beside_the_video_pass_equal_those_read_after_it(speech_clip, monkeypatch):
    import threading

    from xmer.analysis import run
    from xmer.inference import Recognizer

    clip, *_ = speech_clip
    recognizer = Recognizer.load(None)
    audio_side, video_pass = run._audio_side, run._video_pass
    finished, read_early = threading.Event(), []

    def audio_first(*args, **kwargs):  # the audio side reads every segment before the video pass starts
        try:
            return audio_side(*args, **kwargs)
        finally:
            read_early.append(len(args[3].ready))
            finished.set()

    def video_after(*args, **kwargs):
        finished.wait(120)
        return video_pass(*args, **kwargs)

    monkeypatch.setattr(run, "_audio_side", audio_first)
    monkeypatch.setattr(run, "_video_pass", video_after)
    early = recognizer.analyze(clip)
    monkeypatch.setattr(run, "_audio_side", lambda *args, **kwargs: audio_first(*args, **{**kwargs, "ahead": 0}))
    finished.clear()
    late = recognizer.analyze(clip)
    assert read_early == [len(early.segments), 0]
    assert [s.probabilities for s in early.segments] == [s.probabilities for s in late.segments]
    assert [s.observed for s in early.segments] == [s.observed for s in late.segments]
