"""What a media file is, decided from its first bytes (never from its name), and which FFmpeg
demuxers xmer lets open a file at all.

FFmpeg picks a demuxer by probing a file's content and name; some demuxers read other files or URLs
that the file names (HLS and other playlists, ``concat``, ``tee``). :func:`sniff` recognises the
containers xmer reads from their magic bytes, so :func:`xmer.features.media.open_av` opens each
with an explicit demuxer, only through FFmpeg's ``file`` protocol, and only with a demuxer on
:data:`DEMUXERS`. The server (:mod:`xmer.serving`) also uses :func:`sniff` to decide whether an
upload is an allowed video, audio file or image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MediaType:
    """A container format xmer reads."""

    name: str
    """Short name, used in the allow-list of ``xmer serve`` (e.g. ``"mp4"``, ``"wav"``, ``"png"``)."""
    kind: str
    """``"video"``, ``"audio"`` or ``"image"`` (what the container usually holds; a video may lack
    pictures, the probe says)."""
    demuxer: str
    """The FFmpeg demuxer that opens it."""
    suffix: str
    """The file-name suffix xmer gives a file of this type (the readers go by suffix)."""


MEDIA_TYPES: dict[str, MediaType] = {t.name: t for t in (
    MediaType("mp4", "video", "mov", ".mp4"),          # also MOV, M4A, 3GP: ISO base media, "ftyp" box
    MediaType("webm", "video", "matroska", ".webm"),   # also MKV (EBML header); browsers' MediaRecorder output
    MediaType("avi", "video", "avi", ".avi"),
    MediaType("wav", "audio", "wav", ".wav"),
    MediaType("flac", "audio", "flac", ".flac"),
    MediaType("ogg", "audio", "ogg", ".ogg"),          # Vorbis/Opus; MediaRecorder's audio in Firefox
    MediaType("mp3", "audio", "mp3", ".mp3"),
    MediaType("aac", "audio", "aac", ".aac"),          # ADTS
    MediaType("jpeg", "image", "jpeg_pipe", ".jpg"),
    MediaType("png", "image", "png_pipe", ".png"),
    MediaType("gif", "image", "gif", ".gif"),
    MediaType("bmp", "image", "bmp_pipe", ".bmp"),
    MediaType("webp", "image", "webp_pipe", ".webp"),
)}
"""Every format :func:`sniff` recognises, by short name."""

DEMUXERS = ",".join(sorted({t.demuxer for t in MEDIA_TYPES.values()} | {
    "image2", "tiff_pipe", "pgm_pipe", "ppm_pipe", "pgmyuv_pipe",   # more image files for the CLI
    "flv", "asf", "mpegts", "mpeg", "aiff", "au", "caf", "w64", "amr", "wv", "m4v", "h264", "hevc",
}))
"""The demuxers FFmpeg may use in xmer (its ``format_whitelist``): containers of media, none that
reads a list of other files or URLs."""


PLAYLIST_STARTS = (b"#EXTM3U", b"#EXT", b"ffconcat", b"[playlist]", b"<?xml", b"<MPD", b"<smil", b"<asx", b"<ASX")
"""How the playlist and file-list formats FFmpeg knows begin (HLS, concat, PLS, DASH, SMIL, ASX)."""


def is_playlist(path: str | Path) -> bool:
    """Whether ``path`` starts like a playlist or a list of other files (after a byte-order mark and blanks)."""
    with open(path, "rb") as f:
        head = f.read(64)
    head = head.removeprefix(b"\xef\xbb\xbf").lstrip()
    return head.startswith(PLAYLIST_STARTS)


def sniff(path: str | Path) -> MediaType | None:
    """The :class:`MediaType` of ``path`` from its first bytes, or None when it is none of them."""
    with open(path, "rb") as f:
        head = f.read(64)
    return sniff_bytes(head)


def sniff_bytes(head: bytes) -> MediaType | None:
    """:func:`sniff` for the first bytes of a file (at least 12 needed; 64 is plenty)."""
    t = MEDIA_TYPES
    if head[4:8] == b"ftyp":
        return t["mp4"]
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return t["webm"]
    if head[:4] == b"RIFF":
        return {b"WAVE": t["wav"], b"AVI ": t["avi"], b"WEBP": t["webp"]}.get(head[8:12])
    if head[:4] == b"fLaC":
        return t["flac"]
    if head[:4] == b"OggS":
        return t["ogg"]
    if head[:3] == b"ID3":
        return t["mp3"]
    if head[:3] == b"\xff\xd8\xff":
        return t["jpeg"]
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        layer = (head[1] >> 1) & 0b11
        return t["aac"] if layer == 0 else t["mp3"]  # ADTS frames say layer 0; MPEG audio 1-3
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return t["png"]
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return t["gif"]
    if head[:2] == b"BM" and len(head) >= 26:
        return t["bmp"]
    return None
