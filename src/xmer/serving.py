"""``xmer serve``: the recogniser behind a small JSON-over-HTTP API (standard library only).

Endpoints::

    GET  /health    {"status": "ok"}
    GET  /model     the model card (model.json): labels, input sizes, extractors, label space
    POST /predict   one input -> the object `xmer predict --json` prints

A ``/predict`` body is one JSON object with any non-empty subset of::

    "text":     "the transcript"
    "video":    {"filename": "clip.mp4", "base64": "..."}    (faces, and its audio track unless "audio")
    "audio":    {"filename": "speech.wav", "base64": "..."}
    "image":    {"filename": "face.jpg", "base64": "..."}
    "features": {"audio": [[...], ...], ...}                 ((T, D) lists per modality, instead of media)

Media go through the same extractors as ``xmer predict`` (the file name's suffix tells the format).
Bad input is answered with status 400 and ``{"error": "..."}`` naming what is wrong, a failure of
xmer itself with 500 and the same shape (and a traceback in the server's log); the server keeps
serving. Requests are answered one at a time (one model, one lock): run several processes
behind a load balancer to use more cores.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import tempfile
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

from xmer.errors import DataError, XmerError
from xmer.inference import Recognizer

log = logging.getLogger(__name__)

MAX_BODY_BYTES = 200 * 1024 * 1024
MEDIA_FIELDS = ("video", "audio", "image")


class PredictionService:
    """What the server does, without the HTTP: ``handle(method, path, body) -> (status, object)``."""

    def __init__(self, recognizer: Recognizer):
        self.recognizer = recognizer
        self._lock = threading.Lock()

    def handle(self, method: str, path: str, body: bytes = b"") -> tuple[int, dict]:
        route = path.split("?", 1)[0].rstrip("/") or "/"
        if method == "GET" and route == "/health":
            return HTTPStatus.OK, {"status": "ok"}
        if method == "GET" and route == "/model":
            return HTTPStatus.OK, dict(self.recognizer.card)
        if route == "/predict":
            if method != "POST":
                return HTTPStatus.METHOD_NOT_ALLOWED, {"error": "use POST /predict with a JSON body"}
            try:
                return HTTPStatus.OK, self.predict(_parse(body))
            except XmerError as error:
                return HTTPStatus.BAD_REQUEST, {"error": str(error)}
            except Exception as error:  # a bug, not bad input: answer in JSON and keep serving
                log.exception("POST /predict failed")
                return HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"internal error ({type(error).__name__}: {error})"}
        return HTTPStatus.NOT_FOUND, {"error": f"no endpoint {method} {route}; try GET /health, GET /model, POST /predict"}

    def predict(self, request: dict) -> dict:
        unknown = set(request) - {"text", "features", *MEDIA_FIELDS}
        if unknown:
            raise DataError(f"unknown field(s) {', '.join(sorted(unknown))}; expected text, video, audio, image or features")
        if "features" in request:
            if set(request) != {"features"}:
                raise DataError("give either 'features' or media fields (text, video, audio, image), not both")
            features = _features(request["features"])
            with self._lock:
                return {**self.recognizer.predict(features).to_json(), "notes": {}}
        if not request:
            raise DataError("empty request: give text, video, audio, image or features")
        text = request.get("text")
        if text is not None and not isinstance(text, str):
            raise DataError("'text' must be a string")
        with tempfile.TemporaryDirectory(prefix="xmer-serve-") as tmp:
            media = {name: _write_media(name, request[name], Path(tmp)) for name in MEDIA_FIELDS if name in request}
            with self._lock:
                prediction, notes = self.recognizer.predict_media(**media, text=text)
        return {**prediction.to_json(), "notes": notes}


def _parse(body: bytes) -> dict:
    try:
        request = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise DataError(f"the request body is not valid JSON ({error})") from None
    if not isinstance(request, dict):
        raise DataError("the request body must be a JSON object")
    return request


def _write_media(name: str, item, folder: Path) -> Path:
    if not isinstance(item, dict) or not isinstance(item.get("base64"), str):
        raise DataError(f"'{name}' must be an object {{\"filename\": ..., \"base64\": ...}}")
    filename = Path(str(item.get("filename") or name)).name  # a name only, never a path on the server
    try:
        data = base64.b64decode(item["base64"], validate=True)
    except (binascii.Error, ValueError):
        raise DataError(f"'{name}' ({filename}): base64 field is not valid base64") from None
    path = folder / f"{name}-{filename}"
    path.write_bytes(data)
    return path


def _features(raw) -> dict[str, np.ndarray]:
    if not isinstance(raw, dict):
        raise DataError("'features' must be an object: modality -> (T, D) list of lists")
    try:
        return {m: np.asarray(v, dtype=np.float32) for m, v in raw.items()}
    except (TypeError, ValueError) as error:
        raise DataError(f"'features' must hold numbers only, (T, D) per modality ({error})") from None


def make_server(service: PredictionService, host: str = "127.0.0.1", port: int = 8000) -> ThreadingHTTPServer:
    """An HTTP server bound to ``host:port`` (port 0: any free port) that answers with ``service``."""

    class Handler(BaseHTTPRequestHandler):
        server_version = "xmer"

        def do_GET(self):  # noqa: N802 - the http.server API
            self._answer(*service.handle("GET", self.path))

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                self._answer(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": f"body over {MAX_BODY_BYTES} bytes"})
                return
            self._answer(*service.handle("POST", self.path, self.rfile.read(length)))

        def _answer(self, status: int, payload: dict) -> None:
            body = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    return ThreadingHTTPServer((host, port), Handler)
