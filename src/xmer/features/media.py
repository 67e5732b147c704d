"""Reading media files: probe a file, decode audio (from audio files and from videos' audio tracks),
and turn a user's media files into features (:func:`collect_features`, behind
:func:`xmer.features.features_from_media`).

Every failure to read a file becomes a :class:`~xmer.errors.DataError` whose message names the file
and the reason (missing, empty, corrupt or truncated, unsupported format), and a readable file with
nothing in it for a modality (a video without an audio track) becomes
:class:`~xmer.features.ModalityAbsent`; no library's exception reaches the user. soundfile reads
the common audio formats (WAV, FLAC, OGG/Vorbis, MP3, AIFF, ...); everything else (MP4, MKV, WebM,
MOV, M4A/AAC, Opus, ...) is decoded with PyAV (FFmpeg).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from xmer.errors import ConfigError, DataError
from xmer.features import DEFAULT_EXTRACTORS, INSTALL_HINT, EXTRACTORS, ModalityAbsent, extractor_names, get_extractor

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".flv", ".wmv", ".3gp", ".ts"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"})
SOUNDFILE_SUFFIXES = frozenset({".wav", ".flac", ".ogg", ".oga", ".mp3", ".aif", ".aiff", ".aifc", ".au", ".snd", ".caf", ".w64", ".rf64", ".sph", ".nist"})
"""Suffixes tried with soundfile (libsndfile) first; PyAV is the fallback for these and the reader
for every other suffix."""


def require_soundfile():
    """The soundfile module, or a ConfigError with the install hint."""
    try:
        import soundfile
    except ImportError:
        raise ConfigError(f"reading audio files needs the 'soundfile' package; install it with: {INSTALL_HINT}") from None
    except OSError as error:
        raise ConfigError(f"soundfile cannot load libsndfile ({error}); reinstall it with: {INSTALL_HINT}") from None
    return soundfile


def require_av():
    """The av (PyAV) module, or a ConfigError with the install hint."""
    try:
        import av
    except ImportError:
        raise ConfigError(f"decoding video and compressed audio needs the 'av' package (PyAV); install it with: {INSTALL_HINT}") from None
    return av


def open_av(path: Path):
    """``av.open(path)`` made safe, or a DataError naming the file when FFmpeg cannot read it.

    The demuxer is chosen from the file's content (:func:`xmer.features.sniff.sniff`) when it is a
    known container, and FFmpeg may only use the ``file`` protocol and the demuxers of
    :data:`~xmer.features.sniff.DEMUXERS`: a playlist (HLS ``.m3u8``, ``concat``) that names other
    files or URLs is refused, whatever the file is called.
    """
    from xmer.features.sniff import DEMUXERS, is_playlist, sniff

    av = require_av()
    try:
        known = sniff(path)
        if known is None and is_playlist(path):
            raise DataError(f"{path}: a playlist or list of other files (HLS, concat, ...), not a media file; xmer never opens those")
        return av.open(str(path), format=known.demuxer if known else None,
                       options={"protocol_whitelist": "file", "format_whitelist": DEMUXERS})
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{path}: unsupported or corrupt media file ({error_reason(error)})") from None


def error_reason(error: BaseException) -> str:
    """The first line of an exception's message (FFmpeg's can run to pages), for an error message."""
    text = str(error).strip() or type(error).__name__
    return text.splitlines()[0][:300]


def check_file(path: str | Path) -> Path:
    """``path`` as a Path, after checking that it is a non-empty regular file (DataError if not)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    if not path.is_file():
        raise DataError(f"{path}: not a regular file")
    if path.stat().st_size == 0:
        raise DataError(f"{path}: file is empty (0 bytes)")
    return path


@dataclass(frozen=True)
class MediaInfo:
    """What :func:`probe` found in a media file."""

    path: Path
    kind: str
    """``"audio"``, ``"video"`` or ``"image"``."""
    duration_s: float | None
    has_audio: bool
    has_video: bool
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: float | None = None


def probe(path: str | Path) -> MediaInfo:
    """Open ``path`` far enough to say what it holds, without decoding it.

    Raises:
        DataError: the file is missing, empty, corrupt or in a format neither soundfile nor FFmpeg reads.
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix in SOUNDFILE_SUFFIXES:
        sf = require_soundfile()
        try:
            info = sf.info(str(path))
            return MediaInfo(path, "audio", info.frames / info.samplerate if info.samplerate else None, True, False,
                             int(info.samplerate), int(info.channels))
        except Exception:  # libsndfile does not know this variant; FFmpeg may
            pass
    av = require_av()
    try:
        with open_av(path) as container:
            audio = next((s for s in container.streams if s.type == "audio"), None)
            video = next((s for s in container.streams if s.type == "video"), None)
            duration = container.duration / 1_000_000 if container.duration else None
            if video is not None and suffix in IMAGE_SUFFIXES:
                kind = "image"
            elif video is not None:
                kind = "video"
            elif audio is not None:
                kind = "audio"
            else:
                raise DataError(f"{path}: holds neither an audio nor a video stream")
            if kind == "image":
                return MediaInfo(path, kind, None, False, False,
                                 width=video.codec_context.width, height=video.codec_context.height)
            return MediaInfo(
                path, kind, duration, audio is not None, video is not None,
                sample_rate=audio.codec_context.sample_rate if audio is not None else None,
                channels=audio.codec_context.channels if audio is not None else None,
                width=video.codec_context.width if video is not None else None,
                height=video.codec_context.height if video is not None else None,
                frame_rate=float(video.average_rate) if video is not None and video.average_rate else None,
            )
    except DataError:
        raise
    except Exception as error:
        raise DataError(f"{path}: unsupported or corrupt media file ({error_reason(error)})") from None


def read_audio(path: str | Path) -> tuple[np.ndarray, int]:
    """Decode an audio file, or the first audio track of a video, at its own rate and channels.

    Returns:
        ``(samples, sample_rate)`` with samples (N, C) float32 in [-1, 1].

    Raises:
        DataError: missing/empty/corrupt/truncated/unsupported file, or an image given as audio.
        ModalityAbsent: a video (or other container) without an audio track, or no samples in it.
    """
    path = check_file(path)
    suffix = path.suffix.lower()
    if suffix in IMAGE_SUFFIXES:
        raise DataError(f"{path}: an image has no audio")
    first_error = None
    if suffix in SOUNDFILE_SUFFIXES:
        try:
            return _read_soundfile(path)
        except _NotForSoundfile as error:
            first_error = error
    try:
        return _read_av(path)
    except ModalityAbsent:
        raise
    except DataError:
        if first_error is not None:
            raise first_error from None
        raise


class _NotForSoundfile(DataError):
    """libsndfile does not recognise the file: let FFmpeg try it."""


def _read_soundfile(path: Path) -> tuple[np.ndarray, int]:
    sf = require_soundfile()
    try:
        f = sf.SoundFile(str(path))
    except Exception as error:
        raise _NotForSoundfile(f"{path}: cannot read audio ({error_reason(error)})") from None
    try:
        with f:
            expected, rate = f.frames, f.samplerate
            samples = f.read(dtype="float32", always_2d=True)
    except Exception as error:  # the header was fine, the data is not
        raise DataError(f"{path}: corrupt or truncated audio data ({error_reason(error)})") from None
    # libsndfile quietly reads what is there when the data is cut off: compare with the header.
    missing = _wav_missing_bytes(path)
    if missing:
        raise DataError(f"{path}: truncated WAV file (its header announces {missing} more bytes of audio than the file holds)")
    if expected > 0 and samples.shape[0] < expected:
        raise DataError(
            f"{path}: truncated audio file (header says {expected} samples, only {samples.shape[0]} could be read)"
        )
    if samples.shape[0] == 0:
        raise ModalityAbsent(f"{path}: audio file holds no samples")
    return samples, int(rate)


def _wav_missing_bytes(path: Path) -> int:
    """For a RIFF/WAVE file: how many bytes of the ``data`` chunk its header announces but the file
    lacks (0 when complete, not a WAV, or written as a stream with a placeholder size)."""
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
            return 0
        while True:
            chunk = f.read(8)
            if len(chunk) < 8:
                return 0
            size = int.from_bytes(chunk[4:8], "little")
            if chunk[:4] == b"data":
                if size in (0, 0xFFFFFFFF):
                    return 0
                available = path.stat().st_size - f.tell()
                return max(0, size - available)
            f.seek(size + (size & 1), 1)


def _read_av(path: Path) -> tuple[np.ndarray, int]:
    av = require_av()
    with open_av(path) as container:
        stream = next((s for s in container.streams if s.type == "audio"), None)
        if stream is None:
            raise ModalityAbsent(f"{path}: no audio track")
        # Convert sample format only (to planar float); channels and rate are handled by our own
        # mixer and resampler, so a file gives the same waveform whichever library decoded it.
        resampler = av.AudioResampler(format="fltp")
        pieces: list[np.ndarray] = []
        rate = stream.codec_context.sample_rate
        try:
            for frame in container.decode(stream):
                rate = frame.sample_rate or rate
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray())  # (C, n)
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray())
        except Exception as error:
            raise DataError(f"{path}: corrupt or truncated audio stream ({error_reason(error)})") from None
    if not pieces or not rate:
        raise ModalityAbsent(f"{path}: the audio track holds no samples")
    channels = min(p.shape[0] for p in pieces)
    samples = np.concatenate([p[:channels] for p in pieces], axis=1).T  # (N, C)
    if samples.shape[0] == 0:
        raise ModalityAbsent(f"{path}: the audio track holds no samples")
    return np.ascontiguousarray(samples, dtype=np.float32), int(rate)


# ---------------------------------------------------------------------------------------------------
# From a user's media files to model inputs


def choose_extractors(extractors: dict[str, str] | None = None) -> dict[str, str]:
    """Modality -> registered extractor name, from names or ids (``"logmel@1"``, as a model card
    records them; the version must match this xmer's), or :data:`DEFAULT_EXTRACTORS`.

    Raises:
        ConfigError: an unknown name, one of another modality, or another version.
    """
    chosen = {}
    for modality, name in (DEFAULT_EXTRACTORS if extractors is None else extractors).items():
        name, _, version = str(name).partition("@")  # a name, or an id "name@version" from dataset.json
        if name not in EXTRACTORS or EXTRACTORS[name].modality != modality:
            get_extractor(name)  # raises the ConfigError that lists the valid names
            raise ConfigError(f"extractor {name!r} is a {EXTRACTORS[name].modality} extractor, not a {modality} one")
        if version and get_extractor(name).version != version:
            raise ConfigError(
                f"the model was trained on {name}@{version} {modality} features, but this xmer has {get_extractor(name).id}; "
                f"install the xmer version that made them or retrain"
            )
        chosen[modality] = name
    return chosen


def collect_features(
    video: str | Path | None = None,
    audio: str | Path | None = None,
    image: str | Path | None = None,
    text: str | Path | None = None,
    extractors: dict[str, str] | None = None,
) -> tuple[dict[str, np.ndarray], dict[str, str]]:
    """Implementation of :func:`xmer.features.features_from_media` (see there)."""
    chosen = choose_extractors(extractors)

    # Missing files are the caller's mistake (a typo), not a modality to imagine: fail loudly.
    for given in (video, audio, image):
        if given is not None:
            check_file(given)
    if isinstance(text, Path):
        check_file(text)

    sources: dict[str, object] = {}
    if video is not None or image is not None:
        sources["visual"] = video if video is not None else image
    if audio is not None or video is not None:
        sources["audio"] = audio if audio is not None else video
    if text is not None:
        sources["text"] = text

    features: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for modality, source in sources.items():
        name = chosen.get(modality)
        if name is None and modality == "visual" and extractors is None and extractor_names("visual"):
            name = extractor_names("visual")[0]
        if name is None:
            notes[modality] = f"no {modality} extractor chosen (registered: {', '.join(extractor_names(modality)) or 'none'})"
            continue
        extractor = get_extractor(name)
        try:
            array = np.asarray(extractor(source), dtype=np.float32)
        except DataError as error:
            if modality == "audio" and audio is None and isinstance(error, ModalityAbsent):
                notes[modality] = f"the video has no usable audio track ({error})"
            else:
                notes[modality] = str(error)
            continue
        except ConfigError:
            raise
        except Exception as error:  # a library failing on odd input: report it, keep the others
            notes[modality] = f"{_describe(modality, source)}: {name} failed ({type(error).__name__}: {error_reason(error)})"
            continue
        if array.ndim != 2 or array.shape[0] == 0 or not np.isfinite(array).all():
            notes[modality] = f"{_describe(modality, source)}: {name} gave no usable features (shape {array.shape})"
            continue
        features[modality] = array
    return features, notes


def _describe(modality: str, source: object) -> str:
    """A file's path, or the start of a transcript given as a string."""
    if modality == "text" and isinstance(source, str):
        return "transcript " + repr(source if len(source) <= 40 else source[:37] + "...")
    return str(source)
