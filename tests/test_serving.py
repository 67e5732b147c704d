"""`xmer serve`: the FastAPI service on the default model: what it answers, and every bad request of
issue 12 (each of these tests fails on the standard-library server it replaced)."""

from __future__ import annotations

import base64
import io
import json
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the serve extra is not installed (pip install 'xmer[serve]')")
pytest.importorskip("uvicorn", reason="the serve extra is not installed (pip install 'xmer[serve]')")
sf = pytest.importorskip("soundfile", reason="the media extra is not installed")
av = pytest.importorskip("av", reason="the media extra is not installed")

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from xmer.errors import ConfigError, DataError  # noqa: E402
from xmer.inference import DEFAULT_MODEL, Recognizer  # noqa: E402
from xmer.serving.app import create_app  # noqa: E402
from xmer.serving.limits import ServeLimits  # noqa: E402
from xmer.serving.protocol import JsonErrorsH11Protocol  # noqa: E402

TEXT = "I am so happy today, this is wonderful"


@pytest.fixture(scope="module")
def recognizer():
    return Recognizer.load()  # the shipped default model


@pytest.fixture(scope="module")
def client(recognizer):
    with TestClient(create_app(recognizer, ServeLimits(), DEFAULT_MODEL)) as c:
        yield c


def wav_bytes(seconds: float = 1.0, rate: int = 16000, volume: float = 0.3) -> bytes:
    buffer = io.BytesIO()
    t = np.arange(int(seconds * rate)) / rate
    sf.write(buffer, volume * np.sin(2 * np.pi * 220 * t), rate, format="WAV")
    return buffer.getvalue()


def b64(data: bytes, filename: str) -> dict:
    return {"filename": filename, "base64": base64.b64encode(data).decode()}


class LiveServer:
    """uvicorn serving an app on 127.0.0.1 in a thread (what `xmer serve` runs), for raw HTTP tests."""

    def __init__(self, app):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_level="warning", timeout_keep_alive=5, backlog=2048, http=JsonErrorsH11Protocol)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        for _ in range(1200):  # start-up loads the model and its front-ends: up to a minute on a busy 2-core machine
            if self.server.started:
                return self
            time.sleep(0.05)
        raise RuntimeError("uvicorn did not start within 60 s")

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def raw(self, request: bytes, wait: float = 10.0) -> bytes:
        """Send raw bytes, return what comes back until the server closes or ``wait`` passes."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=wait) as s:
            s.sendall(request)
            chunks = []
            try:
                while chunk := s.recv(65536):
                    chunks.append(chunk)
                    if b"\r\n\r\n" in b"".join(chunks) and _complete(b"".join(chunks)):
                        break
            except socket.timeout:
                pass
            return b"".join(chunks)


def _complete(response: bytes) -> bool:
    head, _, body = response.partition(b"\r\n\r\n")
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return len(body) >= int(line.split(b":")[1])
    return False


def status_of(response: bytes) -> int:
    assert response.startswith(b"HTTP/1.1 "), response[:200]
    return int(response.split()[1])


# -- what it answers -------------------------------------------------------------------------------


def test_health_model_card_docs_and_page(client, recognizer):
    assert client.get("/health").json() == {"status": "ok", "runtime": "torch"}
    card = client.get("/model").json()
    assert card["labels"] == recognizer.labels and card["label_space"] == "ekman7"
    assert card["model_card"]["license"] and card["limits"]["max_body_bytes"] == ServeLimits().max_body_bytes
    assert "/predict" in client.get("/openapi.json").json()["paths"]
    docs = client.get("/docs")  # Swagger UI served from here: it works offline
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()
    assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css|png))"', docs.text)
    assert len(assets) >= 3 and all(a.startswith("/docs-assets/") and client.get(a).status_code == 200 for a in assets)
    page = client.get("/")
    assert page.status_code == 200 and "<title>xmer" in page.text and "/static/app.js" in page.text
    assert "http" not in client.get("/static/app.js").text.replace("https or localhost", "")  # nothing from elsewhere


def test_predict_text_json_and_multipart_agree_with_the_python_api(client, recognizer):
    out = client.post("/predict", json={"text": TEXT}).json()
    assert out["observed"] == ["text"] and out["imagined"] == ["visual", "audio"]
    form = client.post("/predict", data={"text": TEXT}).json()
    direct = recognizer.predict_media(text=TEXT)
    for label in recognizer.labels:
        assert abs(out["probabilities"][label] - direct.probabilities[label]) < 1e-5
        assert abs(form["probabilities"][label] - direct.probabilities[label]) < 1e-5


def test_predict_uploads_by_field_and_by_content(client, recognizer):
    wav = wav_bytes()
    out = client.post("/predict", files={"file": ("speech.bin", wav)}, data={"text": "well"}).json()
    assert out["observed"] == ["audio", "text"] and out["imagined"] == ["visual"] and out["sources"] == {"audio": "speech.bin"}
    assert set(out["by_modality"]) == {"audio", "text"}  # the voice's and the words' own readings
    assert set(out["by_modality"]["text"]["probabilities"]) == set(recognizer.labels)
    out = client.post("/predict", json={"audio": b64(wav, "tone.wav"), "text": "well"}).json()
    assert out["observed"] == ["audio", "text"]
    rng = np.random.default_rng(0)
    features = {"audio": rng.normal(size=(30, recognizer.input_dims["audio"])).round(3).tolist()}
    assert client.post("/predict", json={"features": features}).json()["observed"] == ["audio"]


def test_analyze_takes_the_options_of_xmer_analyze_and_names_the_clients_file(client):
    out = client.post("/analyze", files={"file": ("my talk.wav", wav_bytes(3.0))}).json()
    assert out["kind"] == "timeline" and out["segments"] and out["source"] == "my talk.wav"
    assert out["schema_version"] == 1 and out["model"]["id"].startswith("default@")
    srt = "1\n00:00:00,500 --> 00:00:02,000\nwhat a lovely day\n"
    options = {"asr": "false", "window": "1.5", "hop": "0.5", "faces": "all"}
    shorter = client.post("/analyze", files={"file": ("a.wav", wav_bytes(3.0))}, data=options).json()
    assert len(shorter["segments"]) > len(out["segments"]) and shorter["text_source"] is None
    heard = client.post("/analyze", files={"file": ("a.wav", wav_bytes(3.0)), "transcript": ("a.srt", srt.encode())}).json()
    assert heard["text_source"] == "transcript" and "lovely" in heard["transcript"]
    as_json = client.post("/analyze", json={"audio": b64(wav_bytes(3.0), "a.wav"), "transcript": srt, "asr": False}).json()
    assert as_json["transcript"] == heard["transcript"]
    for bad, fragment in (({"hop": "0"}, "'hop' must be a number"), ({"faces": "some"}, "'faces' must be main or all"),
                          ({"asr": "maybe"}, "'asr' must be true or false"), ({"speed": "2"}, "unknown form field(s) speed")):
        r = client.post("/analyze", files={"file": ("a.wav", wav_bytes())}, data=bad)
        assert r.status_code == 422 and fragment in r.json()["error"], r.text
    r = client.post("/analyze", data={"text": "hi"})
    assert r.status_code == 422 and "exactly one video or audio file" in r.json()["error"]


# -- bad requests: each gets the right status and a message naming the problem ---------------------


@pytest.mark.parametrize("kwargs, status, fragment", [
    ({"content": b"{not json", "headers": {"content-type": "application/json"}}, 400, "not valid JSON"),
    ({"content": b"[1, 2]", "headers": {"content-type": "application/json"}}, 400, "JSON object"),
    ({"content": b"[" * 100_000 + b"]" * 100_000, "headers": {"content-type": "application/json"}}, 400, "nested too deeply"),
    ({"json": {}}, 422, "empty request"),
    ({"json": {"txt": "typo"}}, 422, "unknown field(s) txt"),
    ({"json": {"text": 5}}, 422, "'text' must be a string"),
    ({"json": {"audio": {"filename": "a.wav", "base64": "%%%"}}}, 400, "not valid base64"),
    ({"json": {"audio": b64(b"RIFF junk" * 9, "a.wav")}}, 415, "a.wav"),
    ({"json": {"features": {"audio": [[1.0, 2.0]]}}}, 422, "audio"),
    ({"json": {"features": {"audio": [[1.0]]}, "text": "x"}}, 422, "not both"),
    ({"json": {"text": "x" * 5001}}, 413, "5001 characters"),
    ({"content": b"text=hi", "headers": {"content-type": "text/plain"}}, 415, "multipart/form-data or application/json"),
    ({"data": {"colour": "red"}}, 422, "unknown form field(s) colour"),
    ({"content": b"text=hi"}, 415, "no Content-Type: send JSON"),
    ({"files": {"audio": ("quiet.wav", wav_bytes(volume=0.0))}}, 422, "no usable modality"),  # read: silence, nothing to use
    ({"files": {"image": ("a.wav", wav_bytes())}}, 415, "an audio file (wav), not an image"),
    ({"files": {"file": ("notes.txt", b"hello, not media at all")}}, 415, "not a media file"),
    ({"files": {"file": ("e.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)}}, 400, "not a readable png image"),
])
def test_bad_requests_get_the_right_status_and_say_why(client, kwargs, status, fragment):
    r = client.post("/predict", **kwargs)
    assert r.status_code == status and fragment in r.json()["error"], (r.status_code, r.text)
    assert client.get("/health").status_code == 200


def test_json_without_its_content_type_is_read_as_json(client):
    """curl -d '{...}' sends JSON as a URL-encoded form; a bare body has no Content-Type at all."""
    expected = client.post("/predict", json={"text": "what a lovely day"}).json()
    for headers in ({}, {"content-type": "application/x-www-form-urlencoded"}):
        r = client.post("/predict", content=b'{"text": "what a lovely day"}', headers=headers)
        assert r.status_code == 200 and r.json() == expected, r.text


def test_unknown_endpoint_and_wrong_method_are_json(client):
    r = client.get("/nope")
    assert r.status_code == 404 and "no endpoint GET /nope" in r.json()["error"]
    r = client.get("/predict")
    assert r.status_code == 405 and "not allowed" in r.json()["error"]


def test_a_nul_byte_in_a_file_name_is_not_a_server_error(client):
    wav = wav_bytes()
    out = client.post("/predict", json={"audio": b64(wav, "a\x00b.wav")})
    assert out.status_code == 200 and out.json()["sources"] == {"audio": "a?b.wav"}
    out = client.post("/predict", files={"file": ("a\x00b.wav", wav)})
    assert out.status_code == 200


def test_a_playlist_is_never_opened_whatever_it_is_called(client, tmp_path):
    """An HLS playlist that names another local file: FFmpeg would read that file for the attacker."""
    secret = tmp_path / "secret.ts"
    with av.open(str(secret), "w") as out:  # a real media file the playlist points at
        stream = out.add_stream("mp2", rate=16000)
        frame = av.AudioFrame.from_ndarray((0.3 * np.sin(np.arange(16000) / 5)).astype(np.float32)[None], format="flt", layout="mono")
        frame.sample_rate = 16000
        for packet in [*stream.encode(frame), *stream.encode(None)]:
            out.mux(packet)
    playlist = f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{secret}\n#EXT-X-ENDLIST\n".encode()
    for name in ("x.m3u8", "x.mp4", "x.wav"):
        r = client.post("/predict", json={"audio": b64(playlist, name)})
        assert r.status_code == 415 and "playlist" in r.json()["error"], r.text
        r = client.post("/predict", files={"audio": (name, playlist)})
        assert r.status_code == 415 and "playlist" in r.json()["error"]
    concat = f"ffconcat version 1.0\nfile {secret}\n".encode()
    assert client.post("/predict", files={"file": ("x.mp4", concat)}).status_code == 415


def test_media_over_the_limits_is_refused_before_extraction(recognizer, monkeypatch):
    calls, original = [], recognizer.predict_media
    monkeypatch.setattr(recognizer, "predict_media", lambda **kw: (calls.append(kw), original(**kw))[1])
    limits = ServeLimits(max_media_seconds=2.0, max_audio_samples=10**9, max_frames=20, max_image_pixels=10_000, max_body_bytes=1_000_000)
    with TestClient(create_app(recognizer, limits, warm_up=False)) as c:
        r = c.post("/predict", files={"audio": ("long.wav", wav_bytes(seconds=3))})
        assert r.status_code == 413 and "longer than 2 s" in r.json()["error"]
        r = c.post("/predict", files={"audio": ("hi.wav", wav_bytes(seconds=1.5, rate=48000))})
        assert r.status_code == 200  # within every limit: reaches the recogniser
        big = io.BytesIO()
        from PIL import Image

        Image.new("L", (200, 100)).save(big, format="PNG")
        r = c.post("/predict", files={"image": ("big.png", big.getvalue())})
        assert r.status_code == 413 and "200x100 pixels" in r.json()["error"]
        r = c.post("/predict", files={"video": ("clip.mp4", _video_bytes(frames=30))})
        assert r.status_code == 413 and "over 20 video frames" in r.json()["error"]
        r = c.post("/predict", files={"audio": ("big.wav", b"RIFF" + b"\x00" * 1_100_000)})
        assert r.status_code == 413 and "limit of 1000000 bytes" in r.json()["error"]
    with TestClient(create_app(recognizer, ServeLimits(max_audio_samples=8000), warm_up=False)) as c:
        r = c.post("/predict", files={"audio": ("one-second.wav", wav_bytes(seconds=1))})
        assert r.status_code == 413 and "over 8000 audio samples" in r.json()["error"]
    assert len(calls) == 1


def _video_bytes(frames: int, size: int = 64) -> bytes:
    buffer = io.BytesIO()
    with av.open(buffer, "w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(np.full((size, size, 3), i * 8 % 255, np.uint8), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return buffer.getvalue()


def test_an_internal_failure_is_a_json_500_with_the_traceback_only_in_the_log(recognizer, monkeypatch, caplog):
    def broken(features):
        raise RuntimeError("simulated bug with a secret path /srv/x")

    monkeypatch.setattr(recognizer, "predict", broken)
    with TestClient(create_app(recognizer, warm_up=False), raise_server_exceptions=False) as c:
        r = c.post("/predict", json={"features": {"audio": [[0.0] * recognizer.input_dims["audio"]]}})
        assert r.status_code == 500 and "RuntimeError" in r.json()["error"] and "secret" not in r.json()["error"]
        assert c.get("/health").status_code == 200
    assert "simulated bug" in caplog.text and "Traceback" in caplog.text


def test_temporary_files_are_removed_whatever_happens(recognizer, monkeypatch, tmp_path):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    with TestClient(create_app(recognizer, warm_up=False)) as c:
        assert c.post("/predict", files={"file": ("a.wav", wav_bytes())}).status_code == 200
        assert c.post("/predict", files={"file": ("a.txt", b"not media")}).status_code == 415
        assert c.post("/predict", files={"audio": ("bad.wav", b"RIFF\x10\x00\x00\x00WAVEjunkjunkjunk")}).status_code == 400
        assert c.post("/analyze", files={"file": ("a.wav", wav_bytes())}).status_code == 200
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith("xmer-")]


def test_a_slow_clip_does_not_hold_up_text_requests(recognizer, monkeypatch):
    """Clips run in their own pool, outside any lock: a text answers while a clip is still running."""
    original, started, release = recognizer.predict_media, threading.Event(), threading.Event()

    def slow(**media):
        if media.get("audio") is not None:
            started.set()
            release.wait(20)
        return original(**media)

    monkeypatch.setattr(recognizer, "predict_media", slow)
    with LiveServer(create_app(recognizer, warm_up=False)) as server:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            clip = threading.Thread(target=lambda: http.post("/predict", files={"file": ("a.wav", wav_bytes())}))
            clip.start()
            assert started.wait(20)
            t0 = time.perf_counter()
            r = http.post("/predict", json={"text": TEXT})
            waited = time.perf_counter() - t0
            release.set()
            clip.join(30)
    assert r.status_code == 200 and waited < 5.0, waited


# -- HTTP-level abuse, on a real uvicorn server ----------------------------------------------------


@pytest.fixture(scope="module")
def live(recognizer):
    limits = ServeLimits(request_timeout_s=1.5, max_body_bytes=100_000)
    with LiveServer(create_app(recognizer, limits, warm_up=False)) as server:
        yield server


def test_a_negative_or_non_numeric_content_length_is_a_400_not_a_read_to_the_end(live):
    for value in (b"-1", b"abc", b"1e3"):
        t0 = time.perf_counter()
        response = live.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + value + b"\r\n\r\n{}", wait=5)
        assert status_of(response) == 400 and time.perf_counter() - t0 < 4, (value, response[:200])
        head, _, body = response.partition(b"\r\n\r\n")
        assert b"application/json" in head.lower() and "malformed HTTP request" in json.loads(body)["error"], response[:300]


def test_a_client_that_goes_away_mid_body_is_not_a_server_error(live, caplog):
    with socket.create_connection(("127.0.0.1", live.port)) as s:
        s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 50\r\n\r\n{\"te")
        time.sleep(0.3)
    time.sleep(0.5)
    assert "Traceback" not in caplog.text and "failed" not in caplog.text
    assert httpx.get(live.url + "/health", timeout=5).status_code == 200


def test_a_body_over_the_limit_is_a_413_declared_or_chunked(live):
    big = b"x" * 200_000
    response = live.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200000\r\n\r\n" + big[:1000])
    assert status_of(response) == 413 and b"limit of 100000 bytes" in response
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(big[i:i + 50_000]), big[i:i + 50_000]) for i in range(0, len(big), 50_000)) + b"0\r\n\r\n"
    response = live.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked)
    assert status_of(response) == 413


def test_a_client_that_stops_sending_gets_408_and_idle_connections_hold_nothing(live):
    idle = [socket.create_connection(("127.0.0.1", live.port)) for _ in range(20)]
    try:
        t0 = time.perf_counter()
        response = live.raw(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"te", wait=10)
        assert status_of(response) == 408 and time.perf_counter() - t0 < 6
        t0 = time.perf_counter()
        assert httpx.get(live.url + "/health", timeout=5).status_code == 200
        assert time.perf_counter() - t0 < 1.0
    finally:
        for s in idle:
            s.close()


def test_many_concurrent_clients_are_all_answered(recognizer):
    """The old server's listen queue held 5: more clients at once were reset."""
    results = []

    def one(url):
        try:
            results.append(httpx.post(url + "/predict", json={"text": TEXT}, timeout=60).status_code)
        except httpx.HTTPError as error:
            results.append(repr(error))

    with LiveServer(create_app(recognizer, warm_up=False)) as server:
        threads = [threading.Thread(target=one, args=(server.url,)) for _ in range(60)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(90)
    assert results == [200] * 60, results


# -- the command ------------------------------------------------------------------------------------


def _serve(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "xmer", "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_xmer_serve_command_answers_until_stopped():
    import signal

    process = _serve("--port", "0", "--max-text-chars", "10")
    try:
        line = process.stdout.readline()
        assert "serving the default model on http://127.0.0.1:" in line, line + process.stderr.read()
        url = line.split(" on ")[1].split(" ")[0]
        deadline = time.time() + 120  # the socket listens before uvicorn has started: wait for it on a busy machine
        while True:
            try:
                assert httpx.get(url + "/health", timeout=10).json()["status"] == "ok"
                break
            except httpx.TransportError:
                if time.time() > deadline:
                    raise
                time.sleep(0.5)
        r = httpx.post(url + "/predict", json={"text": "far too long a text"}, timeout=30)
        assert r.status_code == 413 and "limit of 10" in r.json()["error"]  # the flag reached the worker
        host, port = url.split("//")[1].rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=30) as s:  # uvicorn runs xmer's protocol
            s.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n")
            answer = b""
            while chunk := s.recv(65536):  # the server closes the connection after it
                answer += chunk
        assert answer.startswith(b"HTTP/1.1 400") and b'"error": "malformed HTTP request' in answer, answer
    finally:
        process.send_signal(signal.SIGTERM)  # what a service manager sends
        # uvicorn shuts down gracefully, then lets the signal end the process as it would have (-15)
        assert process.wait(timeout=60) in (0, -signal.SIGTERM)
    stderr = process.stderr.read()
    assert "leaked semaphore" not in stderr and "Traceback" not in stderr, stderr[-2000:]  # a clean shutdown


@pytest.mark.parametrize("args, fragment", [
    (("--port", "99999"), "not a port number"),
    (("--port", "http"), "not a port number"),
    (("--host", "no.such.host.invalid"), "not an address this machine can listen on"),
    (("--workers", "0"), "at least 1"),
    (("--max-body-bytes", "-5"), "must be positive"),
    (("--allowed-types", "exe"), "unknown type(s) exe"),
])
def test_bad_serve_options_are_one_line_errors(args, fragment):
    process = _serve(*args)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and fragment in err and "Traceback" not in err, err


def test_a_port_in_use_is_a_one_line_error():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        process = _serve("--port", str(taken.getsockname()[1]))
        out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "cannot listen on 127.0.0.1" in err and "Traceback" not in err, err


def test_serve_config_file_sets_limits(tmp_path):
    from xmer.serving.limits import load_limits

    (tmp_path / "serve.yaml").write_text("max_text_chars: 100\nallowed_types: [wav, png]\n")
    limits = load_limits(tmp_path / "serve.yaml", {"max_frames": 50, "max_media_seconds": None})
    assert (limits.max_text_chars, limits.allowed_types, limits.max_frames) == (100, ("wav", "png"), 50)
    (tmp_path / "bad.yaml").write_text("max_txt_chars: 1\n")
    with pytest.raises(ConfigError, match="unknown config key 'max_txt_chars'"):
        load_limits(tmp_path / "bad.yaml")
    assert json.loads(json.dumps(ServeLimits().__dict__, default=list))  # limits are JSON for GET /model


def test_every_limit_is_documented_with_its_default():
    import dataclasses
    from pathlib import Path

    from xmer.serving.limits import flag

    doc = (Path(__file__).resolve().parents[1] / "docs" / "serving.md").read_text()
    for f in dataclasses.fields(ServeLimits):
        default = ",".join(f.default) if isinstance(f.default, tuple) else f"{f.default:g}" if isinstance(f.default, float) else str(f.default)
        assert f"| `{f.name}` | `{flag(f.name)}` | {default}" in doc, f.name


# -- batching and priorities ------------------------------------------------------------------------


def test_batched_text_answers_equal_one_at_a_time(recognizer):
    """Recognizer.predict_texts (what the server runs on a batch) gives each text its own answer."""
    texts = [TEXT, "This is terrible, I hate waiting in the rain.", "ok", "I am scared of what comes next " * 20]
    batched = recognizer.predict_texts(texts)
    for text, prediction in zip(texts, batched):
        alone = recognizer.predict_media(text=text)
        assert prediction.to_json() == alone.to_json() and prediction.text_source == "given"  # to the last digit
    fast = recognizer.predict_texts(texts, bf16=True)
    assert [f.to_json() for f in fast] == [recognizer.predict_texts([t], bf16=True)[0].to_json() for t in texts]
    assert max(abs(f.probabilities[k] - b.probabilities[k]) for f, b in zip(fast, batched) for k in b.probabilities) < 0.05


def test_concurrent_texts_are_batched_and_each_gets_its_own_answer(recognizer):
    texts = [f"{TEXT} {i}" if i % 2 else f"I hate this, number {i}" for i in range(24)]
    expected = {t: recognizer.predict_media(text=t).to_json() for t in texts}
    app = create_app(recognizer, ServeLimits(), warm_up=False)  # the defaults, as xmer serve runs
    answers = {}

    with LiveServer(app) as server:
        def one(text):
            answers[text] = httpx.post(server.url + "/predict", json={"text": text}, timeout=60).json()

        threads = [threading.Thread(target=one, args=(t,)) for t in texts]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert answers == expected  # each the text's own answer, to the last digit, alone or batched
    assert all(a["text"] == t and a["notes"] == {} for t, a in answers.items())
    sizes = app.state.service.texts.sizes
    assert sum(sizes) == len(texts) and max(sizes) > 1, sizes  # some were answered together


def test_a_text_that_fails_in_a_batch_fails_alone(recognizer, monkeypatch):
    app = create_app(recognizer, warm_up=False)
    service = app.state.service
    original = recognizer.predict_texts

    def picky(texts, bf16=False):
        if "bad" in texts:
            raise DataError("text: no words in 'bad'")
        return original(texts, bf16=bf16)

    monkeypatch.setattr(recognizer, "predict_texts", picky)
    good, bad = service.predict_texts([TEXT, "bad"])
    assert good == original([TEXT])[0].to_json()
    assert isinstance(bad, DataError) and "no words" in str(bad)


def test_media_threads_run_at_a_lower_priority(recognizer):
    if not sys.platform.startswith("linux"):
        pytest.skip("thread priorities are set on Linux only")
    import os

    app = create_app(recognizer, ServeLimits(media_nice=7), warm_up=False)
    service = app.state.service
    mine = os.getpriority(os.PRIO_PROCESS, 0)
    nice_of = lambda: os.getpriority(os.PRIO_PROCESS, threading.get_native_id())  # noqa: E731
    try:
        assert service.media_pool.submit(nice_of).result(10) == min(19, mine + 7)
        assert service.light_pool.submit(nice_of).result(10) == mine
    finally:
        service.close()


@pytest.mark.parametrize("value", [-1, 20, 2.5])
def test_media_nice_must_be_a_nice_value(value):
    with pytest.raises(ConfigError, match="media_nice"):
        ServeLimits(media_nice=value)


def test_serve_flags_set_the_batching_and_priority_settings():
    import dataclasses

    import argparse

    from xmer.cli.serve import add_arguments
    from xmer.serving.limits import load_limits

    def limits(*argv):
        parser = argparse.ArgumentParser()
        add_arguments(parser)
        args = parser.parse_args(list(argv))
        return load_limits(None, {f.name: getattr(args, f.name) for f in dataclasses.fields(ServeLimits)})

    assert limits() == ServeLimits() and not ServeLimits().text_bf16 and ServeLimits().media_nice == 19
    assert not limits("--no-text-bf16").text_bf16 and limits("--text-bf16").text_bf16
    assert limits("--text-batch", "1", "--media-nice", "0") == ServeLimits(text_batch=1, media_nice=0)


def test_start_up_loads_the_front_ends_and_freezes_them_out_of_the_garbage_collector(recognizer):
    import gc

    loaded = recognizer.load_front_ends()
    assert set(loaded) == {"visual", "audio", "text", "asr"}  # the model's three media front-ends, and Whisper for words
    text_extractor = recognizer.card["extractors"]["text"].split("@")[0]  # e.g. minilm_emotion
    assert loaded["text"] == text_extractor or loaded["text"].startswith("not loaded")
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    with TestClient(create_app(recognizer, ServeLimits(media_processes=0))):
        assert gc.get_freeze_count() > 0  # the full passes no longer walk the model's objects
