"""A speech corpus the model never saw, read as is and adapted to its source: the full model, not a probe.

``benchmarks/loco.py`` measures front-ends with a linear probe. This asks the same of a trained xmer
model: train it without one speech corpus (a config of the default model with that corpus's line
removed), then read every clip of that corpus by its voice alone (the stored ``audio`` features,
``Recognizer.predict_many``) three ways:

- ``as_is``: each clip on its own (what a single prediction does; a model trained with
  ``data.standardise: [audio]`` reads it with its pooled training moments);
- ``corpus``: the corpus's clips read as one source. A model trained with ``data.standardise``
  reads them with their own moments, as xmer does for a collection (``Recognizer.source_moments``);
  for one trained without, the corpus's features are moved onto the mean and spread of its training
  audio (the train splits of the audio sources in its config, every clip once): adapting to a new
  source without retraining;
- ``speaker``: the same per speaker.
 Scored on the classes the model knows, with chance and majority; also the mean
top probability (how sure the model is) on the left-out corpus and, for comparison, on a corpus it
trained on (its test split).

    grep -v data/default/nemo configs/default_model.yaml > no_nemo.yaml
    xmer train --config no_nemo.yaml --set train.threads=2 --out runs/exp_no_nemo     # about 10 minutes on 2 cores
    python benchmarks/source_adaptation.py --model runs/exp_no_nemo --config no_nemo.yaml \
        --left-out data/default/nemo --familiar data/default/ravdess

The familiar corpus's test clips are read both ways too (single clips, and as one source).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def audio_of(folder: str | Path, splits=("train", "valid", "test")) -> tuple[np.ndarray, list[dict]]:
    """(N, D) one-step audio features and their records, of the given splits of a prepared dataset."""
    from xmer.data.dataset import PreparedDataset

    data = PreparedDataset.open(folder)
    records = [r for s in splits for r in data.split(s) if "audio" in r["modalities"] and data.store.has(r["id"], "audio")]
    return np.stack([data.read_features(r)["audio"].mean(0) for r in records]), records


def training_audio(config: str) -> np.ndarray:
    """The train-split audio features of every source in a training config (each clip once)."""
    from xmer.config import load_config, thaw

    rows = []
    for source in thaw(load_config(config).data.sources):
        if "audio" not in (source.get("modalities") or ["audio"]):
            continue
        try:
            x, _ = audio_of(source["dataset"], ("train",))
        except ValueError:
            continue  # no audio in this source
        rows.append(x)
    return np.concatenate(rows)


def matched(x: np.ndarray, groups: list, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Each group's rows standardised on the group's own statistics, then scaled to (mean, std)."""
    out = np.empty_like(x)
    for g in set(groups):
        rows = np.asarray([k == g for k in groups])
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-6) * std + mean
    return out


def read(recognizer, x: np.ndarray, ids: list[str], groups: list | None, train: np.ndarray | None) -> np.ndarray:
    """(N, K) probabilities of one-step audio rows ``x``: each alone (``groups`` None), or each group
    of rows read as one source (see the module docstring)."""
    labels = list(recognizer.labels)
    proba = np.empty((len(x), len(labels)))
    if groups is not None and not recognizer.moments:
        x, groups = matched(x, groups, train.mean(0), train.std(0)), None
    for g in set(groups) if groups is not None else [None]:
        rows = np.flatnonzero([k == g for k in groups]) if groups is not None else np.arange(len(x))
        items = [{"audio": x[i][None]} for i in rows]
        source = recognizer.source_moments(items) if groups is not None else None
        out = recognizer.predict_many(items, [ids[i] for i in rows], source=source)
        proba[rows] = [[o.probabilities[label] for label in labels] for o in out]
    return proba


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, help="a run trained without the corpus left out")
    parser.add_argument("--config", required=True, help="the config it was trained with")
    parser.add_argument("--left-out", required=True, help="the prepared corpus the model never saw")
    parser.add_argument("--familiar", help="a prepared corpus it trained on (its test split), for comparison")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(2)
    from xmer.inference import Recognizer

    recognizer = Recognizer.load(args.model)
    labels = list(recognizer.labels)
    train = training_audio(args.config)
    x, records = audio_of(args.left_out)
    truth = np.asarray([labels.index(r["label"]) if r["label"] in labels else -1 for r in records])
    keep = truth >= 0
    x, truth, records = x[keep], truth[keep], [r for r, k in zip(records, keep) if k]
    classes = np.unique(truth)
    ways = {"as_is": None, "corpus": ["all"] * len(x), "speaker": [r.get("speaker") or "?" for r in records]}
    print(f"{Path(args.left_out).name}: {len(x)} clips, {len(classes)} classes, chance {100 / len(classes):.1f}, "
          f"majority {100 * np.bincount(truth).max() / len(truth):.1f}; training audio: {len(train)} clips")
    neutral = labels.index("neutral") if "neutral" in labels else None
    for way, groups in ways.items():
        proba = read(recognizer, x, [r["id"] for r in records], groups, train)
        pred = classes[proba[:, classes].argmax(1)]
        acc = float((pred == truth).mean())
        called_neutral = float((pred[truth != neutral] == neutral).mean()) if neutral is not None else float("nan")
        print(f"  {way}: accuracy {100 * acc:.1f} ({acc * len(classes):.2f}x chance), emotional called neutral "
              f"{100 * called_neutral:.1f}%, mean top probability {proba.max(1).mean():.3f}")
    if args.familiar:
        fx, frecords = audio_of(args.familiar, ("test",))
        ftruth = np.asarray([labels.index(r["label"]) for r in frecords])
        for way, groups in (("as_is", None), ("corpus", ["all"] * len(fx))):
            proba = read(recognizer, fx, [r["id"] for r in frecords], groups, train)
            print(f"  familiar ({Path(args.familiar).name} test, {way}): accuracy {100 * np.mean(proba.argmax(1) == ftruth):.1f}, "
                  f"mean top probability {proba.max(1).mean():.3f}")


if __name__ == "__main__":
    main()
