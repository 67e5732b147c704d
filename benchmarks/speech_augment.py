"""Do augmented training copies (speed, reverberation, noise) help speech front-ends on a corpus
left out? The leave-one-corpus-out speech probe of ``benchmarks/loco.py``, with and without them.

    python benchmarks/speech_augment.py [--work data/default] [--copies 2] [--kinds speed,reverb,noise]
                                        [--extractor whisper_stats]

For each speech corpus left out (RAVDESS, URDU): a logistic regression on the other corpus's
training split (C chosen on its validation split), scored on the whole left-out corpus on the
classes both share (angry, happy, neutral, sad), as ``benchmarks/loco.py`` does. Then the same with
``--copies`` augmented copies of every training clip added (``xmer.features.augment.augment``,
seeded); validation and test clips are never augmented. One run, both ways, so the comparison is
fair. Needs ``data/default`` prepared and extracted (``SKIP_TRAIN=1 recipes/default_model.sh``:
the original clips' features come from there) and the audio files its manifests name.

Ends with ``plain_min_x_chance=<x> augmented_min_x_chance=<y>`` (the worse left-out corpus).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from xmer.evaluation.metrics import unweighted_accuracy

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

SPEECH = ("ravdess", "urdu")


def augmented_vectors(root: Path, extractor, copies: int, kinds: tuple[str, ...], seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(X, y) of ``copies`` augmented copies of every training clip of a prepared dataset."""
    from xmer.data.dataset import PreparedDataset
    from xmer.features.audio import load_audio
    from xmer.features.augment import augment

    data = PreparedDataset.open(root)
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for record in data.split("train"):
        if "audio" not in record["modalities"]:
            continue
        wave = load_audio(record["media"]["audio"])
        for _ in range(copies):
            xs.append(extractor(augment(wave, rng, kinds)).mean(0))
            ys.append(data.encode_label(record))
    return np.stack(xs), np.asarray(ys)


def probe(train: tuple[np.ndarray, np.ndarray], valid: tuple[np.ndarray, np.ndarray], test: tuple[np.ndarray, np.ndarray]) -> dict:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(train[0])
    best = None
    for c in (0.01, 0.1, 1.0):  # chosen on the training corpus's valid split, never on the left-out one
        clf = LogisticRegression(C=c, max_iter=3000, class_weight="balanced").fit(scaler.transform(train[0]), train[1])
        score = (clf.predict(scaler.transform(valid[0])) == valid[1]).mean()
        if best is None or score > best[0]:
            best = (score, c, clf)
    _, c, clf = best
    x, y = test
    shared = np.isin(y, clf.classes_)
    x, y = x[shared], y[shared]
    classes = np.unique(y)
    proba = clf.predict_proba(scaler.transform(x))
    pred = classes[proba[:, [list(clf.classes_).index(k) for k in classes]].argmax(1)]
    accuracy = float((pred == y).mean())
    return {"n": int(len(y)), "C": c, "accuracy": accuracy, "unweighted_accuracy": unweighted_accuracy(y, pred),
            "chance": 1 / len(classes), "x_chance": accuracy * len(classes)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", default="data/default")
    parser.add_argument("--copies", type=int, default=2)
    parser.add_argument("--kinds", default="speed,reverb,noise", help="augmentations to draw from (comma-separated)")
    parser.add_argument("--extractor", default="whisper_stats", help="the speech front-end the prepared sets were extracted with")
    args = parser.parse_args()

    from loco import vectors

    from xmer.features import get_extractor

    work = Path(args.work)
    extractor = get_extractor(args.extractor)
    data = {c: vectors(work / c, "audio") for c in SPEECH}
    started = time.perf_counter()
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    augmented = {c: augmented_vectors(work / c, extractor, args.copies, kinds) for c in SPEECH}
    print(f"augmented copies ({', '.join(kinds)}): {', '.join(f'{c} {len(augmented[c][1])}' for c in SPEECH)} in {time.perf_counter() - started:.0f} s", flush=True)
    print("| left out | trained on | n | chance | plain: accuracy (x chance) | UA | augmented: accuracy (x chance) | UA |")
    print("| :-- | :-- | --: | --: | --: | --: | --: | --: |")
    worst = {"plain": np.inf, "augmented": np.inf}
    for left in SPEECH:
        (other,) = [c for c in SPEECH if c != left]
        test = tuple(np.concatenate(parts) for parts in zip(*data[left].values()))
        plain = probe(data[other]["train"], data[other]["valid"], test)
        x, y = data[other]["train"]
        more = probe((np.concatenate([x, augmented[other][0]]), np.concatenate([y, augmented[other][1]])), data[other]["valid"], test)
        worst = {"plain": min(worst["plain"], plain["x_chance"]), "augmented": min(worst["augmented"], more["x_chance"])}
        print(f"| {left} | {other} | {plain['n']} | {100 * plain['chance']:.1f} | {100 * plain['accuracy']:.1f} ({plain['x_chance']:.2f}x) | "
              f"{100 * plain['unweighted_accuracy']:.1f} | {100 * more['accuracy']:.1f} ({more['x_chance']:.2f}x) | {100 * more['unweighted_accuracy']:.1f} |")
    print(f"plain_min_x_chance={worst['plain']:.2f} augmented_min_x_chance={worst['augmented']:.2f}")


if __name__ == "__main__":
    main()
