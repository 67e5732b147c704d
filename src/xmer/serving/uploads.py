"""An uploaded file, from bytes to a checked media file on disk: type from content, size within limits.

The client's file name is never used for anything but messages: the file is written under a name
xmer chooses, in a temporary folder of the request (removed when the request ends, whatever
happens), its type is decided from its first bytes against the deployer's allow-list, and its
duration, frames, audio samples or pixels are counted from the container (by demuxing, not trusting
the header; nothing is decoded) before any extractor runs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from xmer.features.sniff import MEDIA_TYPES, MediaType, is_playlist, sniff_bytes
from xmer.serving.limits import ServeLimits


class RequestProblem(Exception):
    """A request xmer refuses, with the HTTP status that says why (400, 413, 415, 422)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


FIELD_KINDS: dict[str, tuple[str, ...]] = {
    "video": ("video",),
    "audio": ("audio", "video"),  # a video's audio track, as `xmer predict --audio clip.mp4`
    "image": ("image",),
    "file": ("video", "audio", "image"),  # any: the content decides which input it is
}
"""Upload field -> the media kinds it accepts."""


@dataclass(frozen=True)
class Upload:
    """A saved upload: where it is, what it is, and the input (video, audio, image) it becomes."""

    field: str
    path: Path
    type: MediaType
    input: str
    """What it becomes for the recogniser: ``video``, ``audio`` or ``image`` (content and field decide)."""
    name: str
    """The client's file name, cleaned, for messages only."""


def save_upload(field: str, source: bytes | BinaryIO, filename: str | None, folder: Path, limits: ServeLimits) -> Upload:
    """Write ``source`` into ``folder`` under a name xmer chooses, then check its type and size.

    Args:
        field: ``video``, ``audio``, ``image`` or ``file`` (any of them, decided from the content).
        source: the bytes, or a binary file object to copy from.
        filename: what the client called it (messages only).

    Raises:
        RequestProblem: 415 for a type not allowed for ``field``, 413 over a limit, 400 unreadable.
    """
    name = clean_name(filename or field)
    tmp = folder / f"{field}.upload"
    with open(tmp, "wb") as out:
        if isinstance(source, (bytes, bytearray)):
            out.write(source)
        else:
            shutil.copyfileobj(source, out, 1 << 20)
    with open(tmp, "rb") as f:
        head = f.read(64)
    if not head:
        raise RequestProblem(400, f"'{field}' ({name}) is empty")
    media = sniff_bytes(head)
    if media is None:
        what = "a playlist or list of other files" if is_playlist(tmp) else "not a media file xmer reads"
        raise RequestProblem(415, f"'{field}' ({name}): {what}; allowed types: {', '.join(limits.allowed_types)}")
    if media.name not in limits.allowed_types:
        raise RequestProblem(415, f"'{field}' ({name}) is {media.name}, which this server does not accept; allowed: {', '.join(limits.allowed_types)}")
    if media.kind not in FIELD_KINDS[field]:
        raise RequestProblem(415, f"'{field}' ({name}) is {_a(media.kind)} file ({media.name}), not {' or '.join(_a(k) for k in FIELD_KINDS[field])}")
    path = tmp.rename(folder / f"{field}{media.suffix}")
    has_video = check_size(path, media, name, field, limits)
    if media.kind == "image":
        role = "image"
    elif field == "audio" or not has_video:  # e.g. a browser's audio recording, in a WebM container
        role = "audio"
    else:
        role = "video"
    if field == "video" and role != "video":
        raise RequestProblem(415, f"'video' ({name}) holds no video stream; send it as 'audio' or 'file'")
    return Upload(field, path, media, role, name)


def check_size(path: Path, media: MediaType, name: str, field: str, limits: ServeLimits) -> bool:
    """Count duration, frames and audio samples by demuxing (pixels from the header for images),
    stopping as soon as a limit is passed. Returns whether it holds pictures (a video stream or an image).

    Raises:
        RequestProblem: 413 over a limit, 400 when the container cannot be read.
    """
    where = f"'{field}' ({name})"
    if media.kind == "image":
        from PIL import Image

        try:
            with Image.open(path) as image:
                width, height = image.size
        except Exception as error:
            raise RequestProblem(400, f"{where}: not a readable {media.name} image ({type(error).__name__})") from None
        if width * height > limits.max_image_pixels:
            raise RequestProblem(413, f"{where}: {width}x{height} pixels is over this server's limit of {limits.max_image_pixels}")
        return True
    from xmer.errors import DataError
    from xmer.features.media import error_reason, open_av

    try:
        container = open_av(path)
    except DataError as error:
        raise RequestProblem(400, f"{where}: {str(error).split(': ', 1)[-1]}") from None
    frames, seconds, samples = 0, 0.0, 0
    try:
        with container:
            video = next((s for s in container.streams if s.type == "video"), None)
            audio = next((s for s in container.streams if s.type == "audio"), None)
            if video is not None and video.codec_context.width * video.codec_context.height > limits.max_image_pixels:
                raise RequestProblem(413, f"{where}: frames of {video.codec_context.width}x{video.codec_context.height} pixels are over this server's limit of {limits.max_image_pixels}")
            rate = audio.codec_context.sample_rate if audio is not None else 0
            for packet in container.demux(*[s for s in (video, audio) if s is not None]):
                if packet.size == 0:
                    continue
                if packet.stream is video:
                    frames += 1
                    end = _end_seconds(packet)
                elif packet.stream is audio:
                    length = _packet_seconds(packet)
                    samples += round(length * rate)
                    end = _end_seconds(packet) or samples / max(rate, 1)
                seconds = max(seconds, end or 0.0)
                if frames > limits.max_frames:
                    raise RequestProblem(413, f"{where}: over {limits.max_frames} video frames, this server's limit")
                if samples > limits.max_audio_samples:
                    raise RequestProblem(413, f"{where}: over {limits.max_audio_samples} audio samples, this server's limit")
                if seconds > limits.max_media_seconds:
                    raise RequestProblem(413, f"{where}: longer than {limits.max_media_seconds:g} s, this server's limit")
    except RequestProblem:
        raise
    except Exception as error:  # a corrupt container fails while demuxing
        raise RequestProblem(400, f"{where}: corrupt or truncated media ({error_reason(error)})") from None
    if frames == 0 and samples == 0:
        raise RequestProblem(400, f"{where}: holds no audio or video data")
    return frames > 0


def _packet_seconds(packet) -> float:
    if packet.duration and packet.time_base:
        return float(packet.duration * packet.time_base)
    return 0.0


def _end_seconds(packet) -> float | None:
    pts = packet.pts if packet.pts is not None else packet.dts
    if pts is None or not packet.time_base:
        return None
    return float((pts + (packet.duration or 0)) * packet.time_base)


def clean_name(filename: str) -> str:
    """A client's file name made safe to print: its last part, printable characters, 80 at most."""
    name = str(filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isprintable() else "?" for c in name)
    return (name[:77] + "...") if len(name) > 80 else (name or "upload")


def _a(kind: str) -> str:
    return ("an " if kind[0] in "aeiou" else "a ") + kind


__all__ = ["FIELD_KINDS", "MEDIA_TYPES", "RequestProblem", "Upload", "check_size", "clean_name", "save_upload"]
