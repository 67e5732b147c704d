"""The Ekman-7 auxiliary sets: which prepared datasets in a folder can join an Ekman-7 run, and what
each would add to its training split.

The paper trains on a primary set with every other labelled set as auxiliary data
(:mod:`xmer.data.mixing`). :func:`ekman7_auxiliaries` looks at every prepared dataset directly under
a folder (``DIR/*/dataset.json``) and, for those whose labels map onto ``ekman7``, counts the
training samples by Ekman class after mapping (:func:`xmer.data.labels.map_sample`, as the mixing
code maps them) and the ones that do not map. :data:`EKMAN7_RELEASES` says where each Ekman-7
source's release sits in a data root laid out as ``../shared/data``, so that the releases found
there but not yet prepared are listed with the command that prepares them (:func:`unprepared`).

``python -m xmer.data.auxiliary DIR [--raw DATA_ROOT]`` prints both.
"""

from __future__ import annotations

import argparse
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from xmer.data.dataset import PreparedDataset
from xmer.data.labels import EKMAN7, SENTIMENT_SPACES, TO_EKMAN7, map_sample

EKMAN7_RELEASES: dict[str, str] = {
    "fer2013": "fer2013",
    "ravdess": "ravdess",
    "urdu": "urdu",
    "goemotions": "goemotions",
    "meld": "meld",
    "semeval2018-ec": "semeval2018_ec",
    "xed": "xed",
    "emorynlp": "emorynlp",
    "dailydialog": "dailydialog_reccon",
    "isear": "isear",
    "wassa2017": "wassa2017",
    "nemo": "nemo",
    "emospeech": "indian_emospeech",
}
"""Source (a key of :data:`xmer.data.sources.SOURCES`) -> its release's folder in ``../shared/data``."""


@dataclass(frozen=True)
class Auxiliary:
    """A prepared dataset whose labels map onto Ekman-7.

    Attributes:
        path: the prepared-dataset folder.
        source: the source that prepared it (``dataset.json``'s ``name``).
        label_space: its label space.
        modalities: modality -> training samples that have it.
        extracted: the modalities with extracted features (those a run can use).
        train: Ekman-7 class -> training samples mapped onto it, in Ekman-7's order.
        dropped: training samples with no single Ekman-7 class (reason -> count).
    """

    path: Path
    source: str
    label_space: str
    modalities: dict[str, int]
    extracted: tuple[str, ...]
    train: dict[str, int]
    dropped: dict[str, int]

    @property
    def n_train(self) -> int:
        return sum(self.train.values())


def maps_onto_ekman7(label_space: str) -> bool:
    """True for a built-in emotion space with an Ekman-7 table (every one but the sentiment spaces)."""
    return label_space in TO_EKMAN7 and label_space not in SENTIMENT_SPACES


def ekman7_auxiliaries(root: str | Path) -> list[Auxiliary]:
    """The prepared datasets directly under ``root`` whose labels map onto Ekman-7, sorted by folder.

    Folders without ``dataset.json`` and datasets in other label spaces (sentiment, user spaces)
    are left out. A folder whose ``dataset.json`` or manifest is broken raises the
    :class:`~xmer.errors.DataError` that names it.
    """
    found = []
    for folder in sorted(p for p in Path(root).iterdir() if (p / "dataset.json").is_file()):
        dataset = PreparedDataset.open(folder)
        space = dataset.info.label_space
        if not maps_onto_ekman7(space):
            continue
        classes: Counter = Counter()
        dropped: Counter = Counter()
        modalities: Counter = Counter()
        for record in dataset.records:
            if record["split"] != "train":
                continue
            label, reason = (record["label"], None) if space == "ekman7" else map_sample(record["label"], space, EKMAN7)
            if label is None:
                dropped[reason] += 1
                continue
            classes[label] += 1
            modalities.update(record["modalities"])
        found.append(
            Auxiliary(
                path=folder, source=dataset.info.name, label_space=space, modalities=dict(modalities),
                extracted=dataset.store.modalities, train={c: classes[c] for c in EKMAN7.labels}, dropped=dict(dropped),
            )
        )
    return found


def unprepared(raw_root: str | Path, prepared: list[Auxiliary], out_root: str | Path = "data") -> list[str]:
    """``xmer prepare`` commands for the Ekman-7 releases under ``raw_root`` that no dataset in
    ``prepared`` was prepared from."""
    done = {a.source for a in prepared}
    return [
        f"xmer prepare {source} --raw {Path(raw_root) / folder} --out {Path(out_root) / source} --label-space ekman7"
        for source, folder in EKMAN7_RELEASES.items()
        if source not in done and (Path(raw_root) / folder).exists()
    ]


def format_table(auxiliaries: list[Auxiliary]) -> str:
    """One line per dataset: training samples by Ekman-7 class, what drops, modalities, features."""
    head = f"{'dataset':28s} {'space':13s} " + " ".join(f"{c[:7]:>7s}" for c in EKMAN7.labels) + f" {'train':>7s} {'dropped':>7s}  features"
    lines = [head]
    for a in auxiliaries:
        features = ", ".join(f"{m}{'' if m in a.extracted else ' (not extracted)'}" for m in a.modalities) or "-"
        lines.append(
            f"{str(a.path.name):28s} {a.label_space:13s} " + " ".join(f"{a.train[c]:7d}" for c in EKMAN7.labels)
            + f" {a.n_train:7d} {sum(a.dropped.values()):7d}  {features}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xmer.data.auxiliary", description=__doc__.split("\n\n")[0])
    parser.add_argument("root", help="folder holding prepared datasets (one per subfolder)")
    parser.add_argument("--raw", metavar="DATA_ROOT", help="also list the Ekman-7 releases here not yet prepared under ROOT")
    args = parser.parse_args(argv)
    auxiliaries = ekman7_auxiliaries(args.root)
    print(format_table(auxiliaries))
    if args.raw:
        for command in unprepared(args.raw, auxiliaries, args.root):
            print(f"not prepared: {command}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
