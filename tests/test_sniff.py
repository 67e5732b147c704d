"""Media files are typed by their content, and FFmpeg never follows a playlist (xmer.features.sniff,
media.open_av): a playlist naming another local file is refused whatever it is called, and a real
file is read whatever it is called."""

from __future__ import annotations

import numpy as np
import pytest

from xmer.errors import DataError
from xmer.features.sniff import DEMUXERS, MEDIA_TYPES, sniff, sniff_bytes

sf = pytest.importorskip("soundfile", reason="the media extra is not installed")
av = pytest.importorskip("av", reason="the media extra is not installed")

from xmer.features.media import open_av, probe, read_audio  # noqa: E402


def test_magic_bytes_decide_the_type():
    assert sniff_bytes(b"\x00\x00\x00\x18ftypmp42").name == "mp4"
    assert sniff_bytes(b"\x1a\x45\xdf\xa3\x01").name == "webm"
    assert sniff_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ").name == "wav"
    assert sniff_bytes(b"RIFF\x00\x00\x00\x00AVI LIST").name == "avi"
    assert sniff_bytes(b"RIFF\x00\x00\x00\x00WEBPVP8 ").name == "webp"
    assert sniff_bytes(b"\xff\xd8\xff\xe0").name == "jpeg" and sniff_bytes(b"\xff\xfb\x90\x00").name == "mp3"
    assert sniff_bytes(b"\xff\xf1\x50\x80").name == "aac" and sniff_bytes(b"ID3\x03").name == "mp3"
    assert sniff_bytes(b"fLaC\x00").name == "flac" and sniff_bytes(b"OggS\x00").name == "ogg"
    assert sniff_bytes(b"#EXTM3U\n") is None and sniff_bytes(b"<html>") is None and sniff_bytes(b"") is None
    demuxers = set(DEMUXERS.split(","))
    assert {t.demuxer for t in MEDIA_TYPES.values()} <= demuxers
    assert not demuxers & {"hls", "concat", "tee", "dash", "rtsp", "sdp", "http"}


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.wav"
    sf.write(path, 0.3 * np.sin(np.arange(8000) / 5), 16000)
    return path


@pytest.mark.parametrize("name", ["list.m3u8", "list.mp4", "list.mkv", "list.txt"])
@pytest.mark.parametrize("text", ["#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:1.0,\n{}\n#EXT-X-ENDLIST\n",
                                  "ffconcat version 1.0\nfile {}\n", "\ufeff  #EXTM3U\n{}\n"])
def test_a_playlist_is_refused_whatever_its_name(tmp_path, secret, name, text):
    playlist = tmp_path / name
    playlist.write_text(text.format(secret))
    for read in (open_av, read_audio, probe):
        with pytest.raises(DataError, match="playlist|unsupported"):
            read(playlist)


def test_the_content_not_the_name_picks_the_demuxer(tmp_path, secret):
    misnamed = tmp_path / "speech.mp4"
    misnamed.write_bytes(secret.read_bytes())
    assert sniff(misnamed).name == "wav"
    with open_av(misnamed) as container:
        assert container.format.name == "wav"
    samples, rate = read_audio(misnamed)
    assert rate == 16000 and samples.shape == (8000, 1)
