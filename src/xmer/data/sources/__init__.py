"""Every dataset release ``xmer prepare`` reads, by name: :data:`SOURCES`.

``prepare(name, raw, out, label_space=None, allow_partial=False, **options)`` turns a release into a
prepared-dataset folder (``dataset.json`` + ``manifest.jsonl`` + PNGs or features; see
:mod:`xmer.data.store`) and returns a :class:`PrepareSummary`. Raw-media sources (RAVDESS, MELD,
IEMOCAP, ...) write a manifest whose ``media`` point at the raw files, for ``xmer extract``;
feature-file sources (``.csd``, the Multimodal Transformer and MMSA pickles) write features. Each
source's module docstring says what ``--raw`` is, how splits are made, and its default label space.
"""

from __future__ import annotations

from pathlib import Path

from xmer.data.labels import LabelSpace
from xmer.data.sources.base import PrepareSummary, RawSample, Scan, Source, prepare_source
from xmer.data.sources.clips import AFEW, EMODB, RAVDESS, TESS, URDU
from xmer.data.sources.composite import Composite
from xmer.data.sources.csd import CMUMOSEI, CMUMOSI
from xmer.data.sources.iemocap import IEMOCAP
from xmer.data.sources.images import FER2013, CKPlus
from xmer.data.sources.pickles import MMSAPickle, MultPickle
from xmer.data.sources.recordings import CMUMOSIBCLSTM, RAVDESSAV
from xmer.data.sources.speech import NEMO, EmoSpeech
from xmer.data.sources.text import MELD, GoEmotions, SemEval2018EC
from xmer.data.sources.text_more import ISEAR, WASSA2017, XED, DailyDialog, EmoryNLP
from xmer.errors import ConfigError

SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        CMUMOSEI(), CMUMOSI(), MultPickle(), MMSAPickle(), IEMOCAP(), RAVDESS(), CKPlus(), FER2013(), AFEW(),
        SemEval2018EC(), GoEmotions(), MELD(), TESS(), EMODB(), URDU(), XED(), EmoryNLP(), DailyDialog(), ISEAR(),
        WASSA2017(), NEMO(), EmoSpeech(), Composite(),
        CMUMOSIBCLSTM(), RAVDESSAV(),
    )
}
"""Source name -> :class:`Source`. The CLI's choices, the docs table and the tests read this dict."""


def prepare(
    source: str,
    raw: str | Path,
    out: str | Path | None,
    label_space: str | Path | LabelSpace | None = None,
    allow_partial: bool = False,
    dry_run: bool = False,
    overwrite: bool = False,
    transcribe: bool = False,
    **options,
) -> PrepareSummary:
    """Prepare the release of ``source`` found at ``raw`` into the folder ``out``.

    Args:
        source: a key of :data:`SOURCES`.
        raw: the release as its archive unpacks (see the source's module docstring).
        out: the prepared-dataset folder to create (complete or absent afterwards).
        label_space: target label space (name, YAML/JSON file, or LabelSpace); default: the source's.
        allow_partial: skip bad files and accept counts that differ from the release's, reporting both.
        dry_run: scan, check and summarise, but write nothing.
        overwrite: replace an existing ``out``.
        transcribe: each clip's text is what xmer hears in its speech (:mod:`xmer.data.hearing`).
        **options: source-specific options (``fold`` for IEMOCAP; ``csd``, ``folds`` for CMU-MOSEI/MOSI;
            ``dedupe_against`` for WASSA-2017).
    """
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; expected one of {', '.join(SOURCES)}")
    return prepare_source(SOURCES[source], raw, out, label_space, allow_partial, dry_run, overwrite, transcribe, **options)


def sources_table() -> str:
    """The Markdown table of supported sources in docs/datasets.md, generated from :data:`SOURCES`."""
    rows = ["| source | modalities | default label space | where to get it | command |", "|---|---|---|---|---|"]
    for name, s in SOURCES.items():
        command = f"`xmer prepare {name} --raw PATH --out data/{name}`"
        default = s.default_help or f"`{s.default_space}`"
        rows.append(f"| `{name}` ({s.title}) | {', '.join(s.modalities)} | {default} | {s.url} | {command} |")
    return "\n".join(rows)


__all__ = ["SOURCES", "PrepareSummary", "RawSample", "Scan", "Source", "prepare", "sources_table"]
