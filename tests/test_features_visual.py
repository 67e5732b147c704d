"""The visual pipeline: decoding, face detection and cropping, the FER2013 front-end, the ``fer``
extractor, and ``xmer pretrain visual`` on a tiny CSV in FER2013's format. Media are made here: the
real face photo that ships with matplotlib, pasted into 640x480 frames of videos written with PyAV;
plus blank, corrupt and truncated files. A FER2013 PrivateTest slice checks the shipped weights'
accuracy when ../shared/data exists."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import matplotlib
import numpy as np
import pytest
import torch

av = pytest.importorskip("av")
cv2 = pytest.importorskip("cv2")

from xmer.cli import main  # noqa: E402
from xmer.errors import DataError  # noqa: E402
from xmer.features import EXTRACTORS, ModalityAbsent, get_extractor  # noqa: E402
from xmer.features.face import FaceDetector, crop_face, extract_faces, read_frames  # noqa: E402
from xmer.features.visual import VERSION  # noqa: E402
from xmer.features.frontend import (  # noqa: E402
    WEIGHTS_PATH, FaceCNN, file_sha256, load_frontend, load_record, normalise, weights_fingerprint,
)
from xmer.features.visual import VERSION  # noqa: E402

PHOTO = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"


def face_frame(shift: int = 0) -> np.ndarray:
    """(480, 640) uint8: the photo scaled to 240x280, pasted on a grey gradient, moved by ``shift``."""
    photo = cv2.resize(cv2.imread(str(PHOTO), cv2.IMREAD_GRAYSCALE), (240, 280), interpolation=cv2.INTER_AREA)
    frame = blank_frame()
    frame[100 : 100 + 280, 150 + shift : 390 + shift] = photo
    return frame


def blank_frame() -> np.ndarray:
    return np.tile(np.linspace(60, 200, 640, dtype=np.uint8), (480, 1))


def write_video(path: Path, frames: list[np.ndarray], fps: int = 10) -> Path:
    """An MPEG-4 video of grey (480, 640) frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        stream.bit_rate = 4_000_000
        for grey in frames:
            frame = av.VideoFrame.from_ndarray(np.repeat(grey[:, :, None], 3, axis=2), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


@pytest.fixture(scope="module")
def fer():
    return get_extractor("fer")


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("visual_media")
    # 8 frames with the face (moving), then 4 without: 12 frames at 10 fps.
    faces = write_video(root / "face.mp4", [face_frame(4 * i) for i in range(8)] + [blank_frame()] * 4)
    blank = write_video(root / "blank.mp4", [blank_frame()] * 6)
    corrupt = root / "corrupt.mp4"
    corrupt.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, dtype=np.uint8).tobytes())
    truncated = root / "truncated.mp4"
    truncated.write_bytes(faces.read_bytes()[: faces.stat().st_size // 3])
    sequence = root / "frames"
    sequence.mkdir()
    for i, grey in enumerate([face_frame(), blank_frame(), face_frame(8)]):
        cv2.imwrite(str(sequence / f"f{i + 1}.png"), grey)  # natural order: f1, f2, f3 (f10 would follow f3)
    return {"faces": faces, "blank": blank, "corrupt": corrupt, "truncated": truncated, "sequence": sequence}


# -- faces ---------------------------------------------------------------------------------------------


def test_the_photo_has_one_face_cropped_like_fer2013():
    track = extract_faces(PHOTO)
    assert track.found and track.faces.shape == (1, 48, 48) and track.faces.dtype == np.uint8
    x, y, w, h = track.boxes[0]
    assert 100 < x + w / 2 < 400 and 100 < y + h / 2 < 400 and w > 150  # the face is the photo's centre
    assert track.faces.std() > 20  # a face, not a flat patch


def test_crop_pads_a_face_at_the_frame_edge():
    grey = np.arange(100 * 100, dtype=np.uint32).reshape(100, 100).astype(np.uint8)
    crop = crop_face(grey, (80, -5, 30, 30), margin=0.2)
    assert crop.shape == (48, 48) and crop.dtype == np.uint8
    assert FaceDetector().detect(blank_frame()) is None


def test_video_gives_one_row_per_frame_with_a_face(fer, media):
    track = extract_faces(media["faces"], fps=None, detector=fer.detector)
    assert track.frames_examined == 12
    assert list(track.frame_indices) == list(range(8))  # the 4 blank frames give no row
    np.testing.assert_allclose(track.times, np.arange(8) / 10, atol=1e-6)
    # Sampling at 5 fps keeps every second frame of a 10 fps video.
    assert extract_faces(media["faces"], fps=5, detector=fer.detector).frames_examined == 6
    assert len(list(read_frames(media["faces"], fps=None, max_frames=3))) == 3


def test_image_folder_is_a_sequence_in_natural_order(fer, media, tmp_path):
    track = extract_faces(media["sequence"], detector=fer.detector)
    assert track.frames_examined == 3 and list(track.frame_indices) == [0, 2]
    assert fer(sorted(media["sequence"].iterdir())).shape == (2, fer.dim)  # a list of image paths
    with pytest.raises(DataError, match="no images"):
        extract_faces(tmp_path)


# -- the extractor -----------------------------------------------------------------------------------


def test_extractor_is_registered_versioned_by_its_weights(fer):
    assert EXTRACTORS["fer"].modality == "visual" and fer.modality == "visual"
    assert fer.dim == 128 and fer.id == f"fer@{VERSION}+{weights_fingerprint(WEIGHTS_PATH)[:12]}"
    # the shipped weights were converted from the .pt of the same tensors: the id the default model
    # and every feature store were made with is kept
    assert fer.id == "fer@2+5b06f95f77c0"


def test_photo_embedding(fer):
    features = fer(PHOTO)
    assert features.shape == (1, fer.dim) and features.dtype == np.float32
    assert np.isfinite(features).all() and features.std() > 0


def test_video_features(fer, media):
    features = fer(media["faces"])  # 8 fps sampling of a 10 fps video: frames 0-7 hold the face
    track = fer.faces(media["faces"])
    assert features.shape == (len(track.faces), fer.dim) and 5 <= len(track.faces) <= 8
    assert np.isfinite(features).all()
    # The same face in every frame: rows agree far more than they differ.
    assert np.corrcoef(features)[np.triu_indices(len(features), 1)].min() > 0.8


def test_no_face_is_a_clear_result_not_a_crash(fer, media):
    track = fer.faces(media["blank"])
    assert not track.found and track.frames_examined >= 4
    with pytest.raises(ModalityAbsent, match="no face found in .*blank.mp4"):
        fer(media["blank"])


@pytest.mark.parametrize("name, message", [("corrupt", "corrupt"), ("truncated", "corrupt|truncated")])
def test_bad_files_are_data_errors(fer, media, name, message):
    with pytest.raises(DataError, match=message) as error:
        fer(media[name])
    assert name in str(error.value) and not isinstance(error.value, ModalityAbsent)


def test_missing_and_unreadable_images(fer, tmp_path):
    with pytest.raises(DataError, match="not found"):
        fer(tmp_path / "nope.jpg")
    (tmp_path / "bad.png").write_bytes(b"not a png at all")
    with pytest.raises(DataError, match="bad.png"):
        fer(tmp_path / "bad.png")


# -- the front-end and its shipped weights ------------------------------------------------------------


def test_shipped_weights_load_and_match_their_record():
    model = load_frontend()
    assert isinstance(model, FaceCNN) and not model.training
    assert WEIGHTS_PATH.stat().st_size < 5_000_000
    record = load_record()
    assert record["weights"]["sha256"] == file_sha256(WEIGHTS_PATH) and WEIGHTS_PATH.suffix == ".safetensors"
    assert weights_fingerprint(WEIGHTS_PATH) == record["weights"].get("fingerprint", record["weights"]["sha256"])
    # trained without Training's 703 copies of PublicTest and PrivateTest faces
    assert record["data"]["splits"] == {"Training": 28006, "PublicTest": 3589, "PrivateTest": 3589}
    assert record["data"]["training_copies_of_test_faces_dropped"] == 703
    assert record["command"].startswith("xmer pretrain visual") and 0 < record["private_test"]["accuracy"] <= 1
    out = model(normalise(np.zeros((2, 48, 48), np.uint8)))
    assert out.shape == (2, 7)


def test_bad_weights_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_frontend(tmp_path / "none.pt")
    (tmp_path / "bad.pt").write_bytes(b"junk")
    with pytest.raises(DataError, match="cannot load"):
        load_frontend(tmp_path / "bad.pt")
    (tmp_path / "bad.safetensors").write_bytes(b"junk")
    with pytest.raises(DataError, match="not a safetensors file"):
        load_frontend(tmp_path / "bad.safetensors")


def test_legacy_pt_weights_convert_to_the_same_tensors_and_the_same_id(tmp_path):
    """``xmer export visual_frontend.pt --out DIR``: the old pickle format becomes safetensors."""
    model = FaceCNN(channels=(4, 8), embed_dim=16)
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in model.state_dict().items()}
    torch.save({"config": model.config, "state_dict": state}, tmp_path / "visual_frontend.pt")
    (tmp_path / "visual_frontend.json").write_text(json.dumps({"weights": {"file": "visual_frontend.pt", "dtype": "float16"}}))
    assert main(["export", str(tmp_path / "visual_frontend.pt"), "--out", str(tmp_path / "new")]) == 0
    converted = tmp_path / "new" / "visual_frontend.safetensors"
    assert weights_fingerprint(converted) == file_sha256(tmp_path / "visual_frontend.pt")
    a, b = load_frontend(tmp_path / "visual_frontend.pt").state_dict(), load_frontend(converted).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    record = json.loads((tmp_path / "new" / "visual_frontend.json").read_text())
    assert record["weights"]["sha256"] == file_sha256(converted) and record["weights"]["converted_from"]["file"] == "visual_frontend.pt"


@pytest.mark.real_data
def test_fer2013_private_test_slice_accuracy(fer, shared_data):
    """The first 500 PrivateTest faces: chance is 1/7, the majority class ('happy') about 25 %."""
    rows = []
    with gzip.open(shared_data / "fer2013" / "fer2013.csv.gz", "rt") as f:
        for line in f:
            if line.endswith("PrivateTest\n"):
                rows.append(line.split(","))
                if len(rows) == 500:
                    break
    faces = np.stack([np.array(pixels.split(), dtype=np.uint8).reshape(48, 48) for _, pixels, _ in rows])
    labels = np.array([int(emotion) for emotion, _, _ in rows])
    accuracy = (fer.classify(faces).argmax(-1) == labels).mean()
    assert accuracy > 0.6, accuracy  # the shipped weights: 67.9 % on all of PrivateTest


# -- xmer pretrain visual ------------------------------------------------------------------------------


def test_pretrain_cli_on_a_tiny_fer2013_csv(tmp_path, capsys):
    """A CSV in FER2013's exact format (96/32/32 rows) -> weights + record; PrivateTest read at the end."""
    rng = np.random.default_rng(0)
    lines = ["emotion,pixels,Usage"]
    for usage, n in (("Training", 96), ("PublicTest", 32), ("PrivateTest", 32)):
        for i in range(n):
            lines.append(f"{i % 7},{' '.join(map(str, rng.integers(0, 256, 2304)))},{usage}")
    raw = tmp_path / "fer2013"
    raw.mkdir()
    with gzip.open(raw / "fer2013.csv.gz", "wt") as f:
        f.write("\n".join(lines) + "\n")
    out = tmp_path / "out"
    argv = ["pretrain", "visual", "--raw", str(raw), "--out", str(out), "--epochs", "1", "--batch-size", "32", "--cache", str(tmp_path / "cache")]
    assert main(argv) == 0
    assert "PrivateTest (read once)" in capsys.readouterr().out
    record = json.loads((out / "visual_frontend.json").read_text())
    assert record["data"]["splits"] == {"Training": 96, "PublicTest": 32, "PrivateTest": 32}
    assert record["epochs"] == 1 and record["seed"] == 0 and len(record["history"]) == 1
    assert record["weights"]["sha256"] == file_sha256(out / "visual_frontend.safetensors")
    assert load_frontend(out / "visual_frontend.safetensors").embed_dim == 128
    assert list((tmp_path / "cache").glob("fer2013-*.npz"))  # decoded once, cached


def test_pretrain_cli_rejects_a_malformed_csv(tmp_path, capsys):
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n3,1 2 3,Training\n")
    assert main(["pretrain", "visual", "--raw", str(tmp_path), "--out", str(tmp_path / "o"), "--cache", str(tmp_path)]) == 2
    assert "line 2" in capsys.readouterr().err


def test_a_48x48_image_is_taken_as_a_face_crop(tmp_path):
    """FER2013-style crops fill the frame, so the detector would miss them: they are embedded as they are."""
    import cv2

    from xmer.features import get_extractor

    rng = np.random.default_rng(0)
    crop = tmp_path / "face48.png"
    cv2.imwrite(str(crop), rng.integers(0, 255, size=(48, 48), dtype=np.uint8))
    out = get_extractor("fer")(str(crop))
    assert out.shape == (1, 128) and np.isfinite(out).all()


def test_pretraining_leaves_out_training_copies_of_test_faces():
    from xmer.training.frontend import drop_test_copies

    rng = np.random.default_rng(0)
    faces = rng.integers(0, 256, size=(6, 48, 48), dtype=np.uint8)
    data = {"Training": (faces[:4], np.arange(4)), "PublicTest": (faces[[1]], np.array([1])),
            "PrivateTest": (np.stack([faces[3], faces[5]]), np.array([3, 5]))}
    kept, dropped = drop_test_copies(data)
    assert dropped == 2 and kept["Training"][1].tolist() == [0, 2]
    assert kept["PublicTest"] is data["PublicTest"] and kept["PrivateTest"] is data["PrivateTest"]
