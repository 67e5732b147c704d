"""`xmer serve`: the default model behind HTTP, answering text, media and features, and bad input."""

from __future__ import annotations

import base64
import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from xmer.inference import Recognizer
from xmer.serving import PredictionService, make_server

sf = pytest.importorskip("soundfile")


@pytest.fixture(scope="module")
def server():
    service = PredictionService(Recognizer.load())  # the shipped default model
    httpd = make_server(service, "127.0.0.1", 0)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", service
    httpd.shutdown()
    httpd.server_close()


def call(url: str, body: bytes | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def post(url: str, obj) -> tuple[int, dict]:
    return call(url + "/predict", json.dumps(obj).encode())


def test_health_and_model_card(server):
    url, service = server
    assert call(url + "/health") == (200, {"status": "ok"})
    status, card = call(url + "/model")
    assert status == 200 and card["labels"] == service.recognizer.labels and card["label_space"] == "ekman7"


def test_predict_from_text_and_from_audio_media(server, tmp_path):
    url, service = server
    status, out = post(url, {"text": "I am so happy today, this is wonderful"})
    assert status == 200 and out["observed"] == ["text"] and out["imagined"] == ["visual", "audio"]
    assert out["prediction"] in service.recognizer.labels and abs(sum(out["probabilities"].values()) - 1) < 1e-4
    # the same text through the Python API gives the same probabilities
    direct, _ = service.recognizer.predict_media(text="I am so happy today, this is wonderful")
    assert all(abs(direct.probabilities[k] - out["probabilities"][k]) < 1e-5 for k in direct.labels)
    t = np.arange(16000) / 16000
    sf.write(tmp_path / "tone.wav", 0.3 * np.sin(2 * np.pi * 220 * t), 16000)
    audio = {"filename": "tone.wav", "base64": base64.b64encode((tmp_path / "tone.wav").read_bytes()).decode()}
    status, out = post(url, {"audio": audio, "text": "well"})
    assert status == 200 and out["observed"] == ["audio", "text"] and out["imagined"] == ["visual"]


def test_predict_from_features(server):
    url, service = server
    rng = np.random.default_rng(0)
    audio = rng.normal(size=(30, service.recognizer.input_dims["audio"])).round(3).tolist()
    status, out = post(url, {"features": {"audio": audio}})
    assert status == 200 and out["observed"] == ["audio"]


@pytest.mark.parametrize("body, fragment", [
    (b"{not json", "not valid JSON"),
    (b"[1, 2]", "JSON object"),
    (b"{}", "empty request"),
    (json.dumps({"txt": "typo"}).encode(), "unknown field(s) txt"),
    (json.dumps({"audio": {"filename": "a.wav", "base64": "%%%"}}).encode(), "not valid base64"),
    (json.dumps({"audio": {"filename": "a.wav", "base64": base64.b64encode(b"RIFF junk" * 9).decode()}}).encode(), "a.wav"),
    (json.dumps({"features": {"audio": [[1.0, 2.0]]}}).encode(), "audio"),
    (json.dumps({"features": {"audio": [[1.0]]}, "text": "x"}).encode(), "not both"),
])
def test_bad_requests_get_400_naming_the_problem_and_the_server_keeps_serving(server, body, fragment):
    url, _ = server
    status, out = call(url + "/predict", body)
    assert status == 400 and fragment in out["error"]
    assert call(url + "/health")[0] == 200


def test_an_internal_failure_is_a_json_500_and_the_server_keeps_serving(server, monkeypatch):
    url, service = server

    def broken(features):
        raise RuntimeError("simulated bug")

    monkeypatch.setattr(service.recognizer, "predict", broken)
    status, out = post(url, {"features": {"audio": [[0.0] * service.recognizer.input_dims["audio"]]}})
    assert status == 500 and "RuntimeError: simulated bug" in out["error"]
    assert call(url + "/health")[0] == 200


def test_unknown_endpoint_and_wrong_method(server):
    url, _ = server
    assert call(url + "/nope")[0] == 404
    assert call(url + "/predict")[0] == 405


def test_xmer_serve_command_answers_until_stopped():
    import signal
    import subprocess
    import sys

    process = subprocess.Popen([sys.executable, "-m", "xmer", "serve", "--port", "0"], stdout=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert "serving the default model on http://127.0.0.1:" in line
        url = line.split(" on ")[1].split(" ")[0]
        assert call(url + "/health") == (200, {"status": "ok"})
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=30) == 0
