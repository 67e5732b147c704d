"""The web service: a FastAPI app around one :class:`~xmer.inference.Recognizer` (or its ONNX twin).

Endpoints (OpenAPI at ``/docs``)::

    GET  /          the web page (upload, record, type; probability bars)
    GET  /health    {"status": "ok", "runtime": ...}
    GET  /model     model.json (labels, input sizes, extractors), the model card's metadata, the limits
    POST /predict   multipart (video / audio / image / file uploads and/or text) or the JSON body
                    {"text", "video"|"audio"|"image": {"filename", "base64"}, "features"}
    POST /analyze   one video or audio file -> its emotion timeline; options as form fields or JSON
                    keys: asr (true/false), window, hop (seconds), faces (main/all), transcript (.srt/.vtt)

Every error is JSON ``{"error": "..."}`` with a status that says whose fault it is: 400 a body that
cannot be read (not JSON, bad base64, corrupt media), 413 over a limit, 415 a type the server does
not take, 422 a readable request with wrong content (unknown field, wrong type, features of the
wrong shape, nothing to predict from), 404/405 no such endpoint, 408/504 too slow, 500 xmer's own failure (the traceback goes to the log only). The event
loop never predicts: uploads are checked in media threads and predicted in media processes at a
lower CPU priority (:mod:`xmer.serving.media_workers`); texts that arrive together are predicted in
one batch (:mod:`xmer.serving.batching`) in a thread of their own, so a long clip never holds up the
short requests, and no lock is held around any of it.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import gc
import json
import logging
import os
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect

from xmer.errors import DataError, NothingToRead, XmerError
from xmer.serving.batching import Batcher
from xmer.serving.limits import ServeLimits
from xmer.serving.media_workers import MediaWorkers, analyze_job, predict_media_job
from xmer.serving.middleware import LimitsMiddleware
from xmer.serving.uploads import FIELD_KINDS, RequestProblem, Upload, clean_name, save_upload

log = logging.getLogger("xmer.serving")

MEDIA_FIELDS = ("video", "audio", "image")
MULTIPART_FIELDS = (*FIELD_KINDS, "text")

_PREDICT_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {
            **{f: {"type": "string", "format": "binary", "description": d} for f, d in (
                ("video", "a video: faces, and its audio track unless 'audio' is given"),
                ("audio", "an audio file (or a video whose audio track to use)"),
                ("image", "a face image"),
                ("file", "any of the three; its content decides which"))},
            "text": {"type": "string", "description": "the transcript"}}}},
        "application/json": {"schema": {"type": "object", "properties": {
            "text": {"type": "string"},
            **{f: {"type": "object", "properties": {"filename": {"type": "string"}, "base64": {"type": "string"}}}
               for f in MEDIA_FIELDS},
            "features": {"type": "object", "description": "modality -> (T, D) list of lists, instead of media"}}}},
    },
}


class Service:
    """What the endpoints share: the recogniser, the limits, the worker pools and the media processes."""

    def __init__(self, recognizer, limits: ServeLimits, model_dir: str | Path | None = None, runtime: str = "torch"):
        from xmer.export.card import card_metadata

        self.recognizer, self.limits, self.runtime = recognizer, limits, runtime
        self.card_metadata = card_metadata(model_dir) if model_dir else {}
        # Media processes need a model folder to load; without one (an app around an object built
        # in Python), uploads are predicted in the media threads, at the lower priority.
        separate = limits.media_processes > 0 and model_dir is not None
        self.media_workers = MediaWorkers(model_dir, runtime, limits.media_processes, limits.media_nice) if separate else None
        self.media_pool = ThreadPoolExecutor(limits.media_threads, thread_name_prefix="xmer-media", initializer=lower_priority,
                                             initargs=(0 if separate else limits.media_nice,))
        self.light_pool = ThreadPoolExecutor(limits.light_threads, thread_name_prefix="xmer-light")
        self.texts = Batcher(self.predict_texts, self.light_pool, limits.text_batch, consumers=limits.light_threads)

    async def run(self, pool: ThreadPoolExecutor, fn, *args):
        return await asyncio.get_running_loop().run_in_executor(pool, fn, *args)

    def close(self) -> None:
        self.texts.close()
        self.media_pool.shutdown(wait=False, cancel_futures=True)
        self.light_pool.shutdown(wait=False, cancel_futures=True)
        if self.media_workers is not None:
            self.media_workers.close()

    def heavy(self, job, *args):
        """``job(recognizer, *args)`` in a media process, or here when there is none."""
        if self.media_workers is not None:
            return self.media_workers.run(job, *args)
        return job(self.recognizer, *args)

    def load_front_ends(self) -> dict[str, str]:
        if self.media_workers is not None:
            return self.media_workers.warm_up()
        return self.recognizer.load_front_ends()

    # -- the work, in a pool thread -------------------------------------------------------------

    def predict_texts(self, texts: list[str]) -> list[dict | Exception]:
        """The answers to a batch of text-only requests, in order, each exactly what the text alone
        gets (:meth:`Recognizer.predict_texts` predicts one text at a time); a text that fails gets
        its own exception, the others their answers."""
        bf16 = self.limits.text_bf16
        try:
            return [p.to_json() for p in self.recognizer.predict_texts(texts, bf16=bf16)]
        except DataError:  # one bad text (or a model that reads no text): find out which, one by one
            pass
        answers: list[dict | Exception] = []
        for text in texts:
            try:
                answers.append(self.recognizer.predict_texts([text], bf16=bf16)[0].to_json())
            except Exception as error:
                answers.append(error)
        return answers

    def predict_features(self, raw: Any) -> dict:
        features = _features(raw, self.limits)
        try:
            features = self.recognizer.check_features(features, "features")
        except XmerError as error:  # well-formed JSON, wrong content: a validation error
            raise RequestProblem(422, str(error)) from None
        return self.recognizer.predict(features).to_json()

    def predict_media(self, files: list[tuple[str, Any, str | None]], text: str | None) -> dict:
        """``files``: (field, bytes or file object, client file name). The uploads live in a
        temporary folder removed before this returns, whatever happens."""
        if not files:  # text alone: no folder to make
            return predict_media_job(self.recognizer, {}, text)
        with tempfile.TemporaryDirectory(prefix="xmer-serve-") as tmp:
            uploads = [save_upload(field, data, name, Path(tmp), self.limits) for field, data, name in files]
            out = self.heavy(predict_media_job, _inputs(uploads), text)
            out["sources"] = {u.input: u.name for u in uploads}  # what the client called each file
        return out

    def analyze(self, field: str, data: Any, name: str | None, options: dict | None = None) -> dict:
        """The timeline of one upload; ``options`` as :func:`_analyze_options` checked them. Replies
        and messages name the client's file, never the server's copy of it."""
        options = dict(options or {})
        with tempfile.TemporaryDirectory(prefix="xmer-analyze-") as tmp:
            upload = save_upload(field, data, name, Path(tmp), self.limits)
            if upload.type.kind == "image":
                raise RequestProblem(415, f"'{field}' ({upload.name}): /analyze takes a video or an audio file, not an image")
            if "transcript" in options:
                subtitles = Path(tmp) / "transcript.srt"
                subtitles.write_text(options["transcript"], encoding="utf-8")
                options["transcript"] = subtitles
            try:
                out = self.heavy(analyze_job, upload.input, upload.path, Path(tmp), options)
            except XmerError as error:
                raise type(error)(str(error).replace(str(upload.path), upload.name)) from None
            out["source"] = upload.name
            return out


def _offline_docs(app: FastAPI) -> None:
    """``GET /docs``: Swagger UI from the ``swagger-ui-bundle`` package, served by this server, so the
    page works without a network (FastAPI's own loads its scripts from a CDN). Without the package,
    ``/docs`` says how to get it; ``/openapi.json`` is there either way."""
    from fastapi.openapi.docs import get_swagger_ui_html

    try:
        from swagger_ui_bundle import swagger_ui_path
    except ImportError:
        swagger_ui_path = None
    if swagger_ui_path is not None:
        app.mount("/docs-assets", StaticFiles(directory=str(swagger_ui_path)), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs():
        if swagger_ui_path is None:
            return _error(404, "the API page needs swagger-ui-bundle (pip install 'xmer[serve]'); "
                               "the API itself is described at GET /openapi.json")
        return get_swagger_ui_html(openapi_url=app.openapi_url, title="xmer API", swagger_js_url="/docs-assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs-assets/swagger-ui.css", swagger_favicon_url="/docs-assets/favicon-32x32.png")


def create_app(recognizer, limits: ServeLimits | None = None, model_dir: str | Path | None = None,
               runtime: str = "torch", warm_up: bool = True) -> FastAPI:
    """The ASGI app serving ``recognizer`` (what ``xmer serve`` runs under uvicorn).

    Args:
        recognizer: a :class:`~xmer.inference.Recognizer` (or the ONNX one, same interface).
        limits: per-request limits and pool sizes (default: :class:`ServeLimits` defaults).
        model_dir: the model folder, for its model card's metadata in ``GET /model``.
        warm_up: predict one text at start-up, so the first request does not pay for loading
            the text vectors.
    """
    limits = limits or ServeLimits()
    service = Service(recognizer, limits, model_dir, runtime)
    app = FastAPI(title="xmer", version=_version(), lifespan=_lifespan(service, warm_up), docs_url=None, redoc_url=None,
                  description="Multimodal emotion recognition: any subset of video, audio, image and text in, "
                              "emotion probabilities out (missing modalities are imagined by the translators).")
    app.state.service = service
    app.add_middleware(LimitsMiddleware, limits=limits)
    static = resources.files("xmer.serving") / "static"
    app.mount("/static", StaticFiles(directory=str(static)), name="static")
    _offline_docs(app)
    _error_handlers(app)
    _routes(app, service, static)
    return app


def _lifespan(service: Service, warm_up: bool):
    """Start-up (front-ends loaded, one text predicted, the loaded objects frozen) and shut-down."""
    recognizer = service.recognizer

    @asynccontextmanager
    async def lifespan(app):
        if warm_up:
            # The media front-ends load in a media thread: threads a library starts there (Whisper's
            # workers) inherit its lower priority. Loading them before the first request also keeps
            # a model load, which may hold Python's GIL, from stalling every request of the process.
            for modality, what in (await service.run(service.media_pool, service.load_front_ends)).items():
                if what.startswith("not loaded"):
                    log.warning("%s front-end %s", modality, what)
        if warm_up and "text" in recognizer.input_dims and recognizer.card.get("extractors", {}).get("text"):
            try:
                await service.run(service.light_pool, service.predict_texts, ["hello", "good morning"])
            except Exception as error:  # a model without usable text extraction still serves the rest
                log.warning("warm-up prediction failed: %s", error)
        # What is loaded now lives as long as the process: keep it out of the garbage collector's
        # full passes, which otherwise walk the model's objects and stall every request in flight.
        gc.collect()
        gc.freeze()
        yield
        service.close()

    return lifespan


def _error_handlers(app: FastAPI) -> None:
    """Every error as ``{"error": "one line"}`` with the status that says whose fault it is."""

    @app.exception_handler(RequestProblem)
    async def _problem(request: Request, error: RequestProblem):
        return _error(error.status, str(error))

    @app.exception_handler(XmerError)
    async def _bad_input(request: Request, error: XmerError):
        return _error(422 if isinstance(error, NothingToRead) else 400, str(error))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, error: HTTPException):
        detail = error.detail if isinstance(error.detail, str) else json.dumps(error.detail)
        path = "".join(c if c.isprintable() else "?" for c in request.url.path)[:100]
        if error.status_code == 404:
            detail = f"no endpoint {request.method} {path}; see GET /docs"
        elif error.status_code == 405:
            detail = f"{request.method} is not allowed on {path}; see GET /docs"
        return _error(error.status_code, detail, getattr(error, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, error: RequestValidationError):
        first = error.errors()[0] if error.errors() else {}
        return _error(422, f"invalid request: {first.get('msg', 'malformed')} at {'.'.join(map(str, first.get('loc', ())))}")

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, error: ClientDisconnect):
        log.info("%s %s: the client went away before its body arrived", request.method, request.url.path)
        return _error(400, "the client disconnected")  # nobody reads it; the request ends quietly

    @app.exception_handler(Exception)
    async def _bug(request: Request, error: Exception):
        log.exception("%s %s failed", request.method, request.url.path)
        return _error(500, f"internal error ({type(error).__name__}); the server's log has the details")


def _routes(app: FastAPI, service: Service, static) -> None:
    """The endpoints of the module docstring."""
    recognizer, limits = service.recognizer, service.limits

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def page():
        return HTMLResponse((static / "index.html").read_text(encoding="utf-8"))

    @app.get("/health", summary="Is the server up")
    async def health():
        return {"status": "ok", "runtime": service.runtime}

    @app.get("/model", summary="The model: labels, inputs, extractors, model card metadata, limits")
    async def model():
        return {**recognizer.card, "model_card": service.card_metadata, "runtime": service.runtime,
                "limits": dataclasses.asdict(limits)}

    @app.post("/predict", summary="Predict emotions from media files, text or features",
              openapi_extra={"requestBody": _PREDICT_BODY})
    async def predict(request: Request):
        body = await _json_or_none(request, service)
        if body is not None and "features" in body:
            if set(body) != {"features"}:
                raise RequestProblem(422, "give either 'features' or media fields (text, video, audio, image), not both")
            return await service.run(service.light_pool, service.predict_features, body["features"])
        files, text = _json_media(body, limits) if body is not None else await _form_media(request, limits)
        if not files and text is None:
            raise RequestProblem(422, "empty request: give text, video, audio, image, file or features")
        if not files:  # text alone: batched with the other texts waiting
            return await service.texts.submit(text)
        return await service.run(service.media_pool, service.predict_media, files, text)

    @app.post("/analyze", summary="The emotion over time of one video or audio file",
              openapi_extra={"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
                  "type": "object", "properties": {"file": {"type": "string", "format": "binary"}}}}}}})
    async def analyze(request: Request):
        body = await _json_or_none(request, service)
        if body is not None:
            raw = {k: body.pop(k) for k in ANALYZE_OPTIONS if k in body}
            files, text = _json_media(body, limits)
        else:
            files, text, raw = await _form_media(request, limits, options=ANALYZE_OPTIONS)
        if len(files) != 1 or text is not None:
            raise RequestProblem(422, "/analyze takes exactly one video or audio file (field 'file', 'video' or 'audio')")
        options = await _analyze_options(raw, limits)
        return await service.run(service.media_pool, service.analyze, *files[0], options)


# -- request parsing ------------------------------------------------------------------------------


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _json_or_none(request: Request, service: Service) -> dict | None:
    """The request's JSON object, or None for a form (multipart or URL-encoded) to be read as one.

    JSON is read from ``application/json``, and also from a body that is plainly a JSON object but
    came without a Content-Type or as a URL-encoded form (``curl -d '{"text": ...}'`` sends the
    latter): the intent is not in doubt. Any other Content-Type is a 415 that says what to send.
    """
    kind = _content_type(request)
    if kind == "application/json":
        return await _json_body(request, service)
    if kind in ("", "application/x-www-form-urlencoded"):
        raw = await request.body()  # Starlette keeps it: a form parse afterwards reads the same bytes
        if raw.lstrip()[:1] == b"{":
            return await _json_body(request, service)
        if kind == "":
            raise RequestProblem(415, "the request has no Content-Type: send JSON (Content-Type: application/json) "
                                      "or a multipart form (curl -F text=... or -F file=@clip.mp4)")
    if kind in ("multipart/form-data", "application/x-www-form-urlencoded"):
        return None
    raise RequestProblem(415, f"send multipart/form-data or application/json, not {kind}")


async def _json_body(request: Request, service: Service) -> dict:
    """The JSON object of the body; a large one (base64 media) is parsed in the media pool, off the event loop."""
    raw = await request.body()
    if len(raw) > 256 * 1024:
        return await service.run(service.media_pool, _parse_json, raw)
    return _parse_json(raw)


def _parse_json(body: bytes) -> dict:
    try:
        request = json.loads(body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise RequestProblem(400, f"the request body is not valid JSON ({error})") from None
    except RecursionError:
        raise RequestProblem(400, "the request body is JSON nested too deeply") from None
    if not isinstance(request, dict):
        raise RequestProblem(400, "the request body must be a JSON object")
    return request


def _json_media(request: dict, limits: ServeLimits) -> tuple[list, str | None]:
    unknown = set(request) - {"text", "features", *MEDIA_FIELDS}
    if unknown:
        raise RequestProblem(422, f"unknown field(s) {', '.join(sorted(map(clean_name, unknown)))}; expected text, video, audio, image or features")
    text = _text(request.get("text"), limits)
    files = []
    for field in MEDIA_FIELDS:
        if field not in request:
            continue
        item = request[field]
        if not isinstance(item, dict) or not isinstance(item.get("base64"), str):
            raise RequestProblem(422, f"'{field}' must be an object {{\"filename\": ..., \"base64\": ...}}")
        name = clean_name(str(item.get("filename") or field))
        try:
            data = base64.b64decode(item["base64"], validate=True)
        except (binascii.Error, ValueError):
            raise RequestProblem(400, f"'{field}' ({name}): base64 field is not valid base64") from None
        files.append((field, data, name))
    return files, text


async def _form_media(request: Request, limits: ServeLimits, options: tuple[str, ...] = ()):
    """``(files, text)`` of a form; with ``options`` (field names), ``(files, text, {option: value})``."""
    try:
        form = await request.form(max_files=len(FIELD_KINDS) + len(options), max_fields=len(MULTIPART_FIELDS) + len(options))
    except HTTPException:
        raise
    except Exception as error:  # python-multipart's parse errors
        raise RequestProblem(400, f"malformed multipart body ({str(error)[:200]})") from None
    known = (*MULTIPART_FIELDS, *options)
    unknown = sorted(set(form.keys()) - set(known))
    if unknown:
        raise RequestProblem(422, f"unknown form field(s) {', '.join(map(clean_name, unknown))}; expected {', '.join(known)}")
    files = []
    for field in FIELD_KINDS:
        values = form.getlist(field)
        if len(values) > 1:
            raise RequestProblem(422, f"one '{field}' per request, got {len(values)}")
        if values:
            upload = values[0]
            if isinstance(upload, str):
                raise RequestProblem(422, f"'{field}' must be a file upload, not a text field")
            files.append((field, upload.file, upload.filename))
    if sum(f[0] == "file" for f in files) and len(files) > 1:
        raise RequestProblem(422, "give 'file' alone, or 'video', 'audio' and 'image' (not both ways)")
    texts = form.getlist("text")
    if len(texts) > 1 or (texts and not isinstance(texts[0], str)):
        raise RequestProblem(422, "'text' must be one text field")
    text = _text(texts[0] if texts else None, limits)
    if options:
        return files, text, {k: form.get(k) for k in options if k in form}
    return files, text


ANALYZE_OPTIONS = ("asr", "window", "hop", "faces", "transcript")
"""What ``POST /analyze`` takes beside its file, as ``xmer analyze`` does (``--no-asr`` is ``asr=false``)."""


async def _analyze_options(raw: dict, limits: ServeLimits) -> dict:
    """``Recognizer.analyze`` keyword arguments from form fields or JSON keys, checked (422 when wrong)."""
    out: dict = {}
    if "asr" in raw:
        value = raw["asr"]
        if isinstance(value, str) and value.strip().lower() in ("true", "1", "yes", "false", "0", "no"):
            value = value.strip().lower() in ("true", "1", "yes")
        if not isinstance(value, bool):
            raise RequestProblem(422, f"'asr' must be true or false, got {clean_name(str(value))}")
        out["asr"] = value
    for key in ("window", "hop"):
        if key in raw:
            try:
                value = float(raw[key])
            except (TypeError, ValueError):
                value = float("nan")
            if not 0 < value <= 60:
                raise RequestProblem(422, f"'{key}' must be a number of seconds in (0, 60], got {clean_name(str(raw[key]))}")
            out[key] = value
    if "faces" in raw:
        if raw["faces"] not in ("main", "all"):
            raise RequestProblem(422, f"'faces' must be main or all, got {clean_name(str(raw['faces']))}")
        out["faces"] = raw["faces"]
    if "transcript" in raw:
        value = raw["transcript"]
        if hasattr(value, "read"):  # an uploaded .srt/.vtt file
            value = (await value.read(limits.max_text_chars * 4 + 1)).decode("utf-8", errors="replace")
        if not isinstance(value, str) or len(value) > limits.max_text_chars * 4:
            raise RequestProblem(422, f"'transcript' must be the text of an .srt or .vtt file of at most {limits.max_text_chars * 4} characters")
        out["transcript"] = value
    return out


def _text(text: Any, limits: ServeLimits) -> str | None:
    if text is None:
        return None
    if not isinstance(text, str):
        raise RequestProblem(422, "'text' must be a string")
    if len(text) > limits.max_text_chars:
        raise RequestProblem(413, f"'text' has {len(text)} characters, over this server's limit of {limits.max_text_chars}")
    if "\x00" in text:
        raise RequestProblem(422, "'text' holds a NUL character")
    return text if text.strip() else None


def _features(raw: Any, limits: ServeLimits) -> dict[str, np.ndarray]:
    if not isinstance(raw, dict):
        raise RequestProblem(422, "'features' must be an object: modality -> (T, D) list of lists")
    out = {}
    for modality, rows in raw.items():
        if isinstance(rows, list) and len(rows) > limits.max_feature_steps:
            raise RequestProblem(413, f"'features.{clean_name(modality)}' has {len(rows)} rows, over this server's limit of {limits.max_feature_steps}")
        try:
            out[modality] = np.asarray(rows, dtype=np.float32)
        except (TypeError, ValueError) as error:
            raise RequestProblem(422, f"'features' must hold numbers only, (T, D) per modality ({str(error)[:200]})") from None
    return out


def _inputs(uploads: list[Upload]) -> dict[str, Path]:
    media: dict[str, Path] = {}
    for upload in uploads:
        if upload.input in media:
            raise RequestProblem(422, f"two uploads are both {upload.input} input; give one of each at most")
        media[upload.input] = upload.path
    if "image" in media and "video" in media:
        raise RequestProblem(422, "give a video or an image for the visual input, not both")
    return media


def lower_priority(nice: int) -> None:
    """Lower the CPU priority of the calling thread by ``nice`` (Linux: a thread's nice is its own,
    and the threads it starts, such as a media library's workers, inherit it). Elsewhere, nothing."""
    if nice and hasattr(os, "setpriority") and sys.platform.startswith("linux"):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), min(19, os.getpriority(os.PRIO_PROCESS, 0) + nice))
        except OSError as error:  # e.g. a sandbox that forbids it: serve anyway, at equal priority
            log.warning("cannot lower the priority of the media threads (%s)", error)


def _error(status: int, message: str, headers: dict | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


def _version() -> str:
    from xmer import __version__

    return __version__
