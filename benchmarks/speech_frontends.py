"""Which speech front-end carries emotion to unseen speakers and corpora? A linear probe.

Every clip of RAVDESS (24 actors, acted English) and URDU (natural Urdu TV speech) becomes one
vector per front-end; a logistic regression (standardised inputs, balanced classes, C = 0.1) is
trained and scored on three splits that a deployed model meets:

- ``ravdess 21-24``: RAVDESS actors 01-20 -> actors 21-24, the 7 Ekman classes (calm dropped), chance 14%;
- ``ravdess->urdu`` and ``urdu->ravdess``: one corpus -> the other, on the 4 classes they share
  (angry, happy, neutral, sad), chance 25%: another language, another recording setup.

Front-ends: ``egemaps_functionals`` (openSMILE eGeMAPSv02, 88 functionals), ``logmel_stats`` (mean
and std over time of 80 log-mel bands, not normalised), ``whisper_stats`` (xmer's extractor: mean
and std of Whisper tiny.en encoder states over the clip's own length). Each is scored as is and with
per-speaker standardisation (every speaker's clips standardised on that speaker's own statistics:
an upper bound for what speaker normalisation can give; a single clip has no speaker statistics,
so xmer's single-clip predictions cannot use it).

    python benchmarks/speech_frontends.py [--data-root ../shared/data]

Ends with ``best_unseen_actor_acc=<x>`` (the best front-end on RAVDESS 21-24, no speaker statistics).
About 4 minutes on 2 cores (extraction of 1,840 clips, three front-ends).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

RAVDESS = {1: "neutral", 2: "calm", 3: "happy", 4: "sad", 5: "angry", 6: "fear", 7: "disgust", 8: "surprise"}
URDU = {"Angry": "angry", "Happy": "happy", "Neutral": "neutral", "Sad": "sad"}
SHARED = ("angry", "happy", "neutral", "sad")


def clips(root: Path) -> list[tuple[Path, str, str, str]]:
    """(file, label, corpus, speaker) for every RAVDESS speech clip and URDU clip."""
    out = []
    for f in sorted((root / "ravdess").glob("Audio_Speech_Actors_01-24/Actor_*/*.flac")):
        parts = f.stem.split("-")
        out.append((f, RAVDESS[int(parts[2])], "ravdess", parts[6]))
    for f in sorted((root / "urdu").glob("*/*.flac")):
        out.append((f, URDU[f.parent.name], "urdu", f.stem.split("_")[0]))
    return out


def front_ends():
    import opensmile

    from xmer.features import get_extractor
    from xmer.features.audio import LogMel, load_audio

    smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02, feature_level=opensmile.FeatureLevel.Functionals)
    logmel = LogMel(80, normalize=False)
    whisper = get_extractor("whisper_stats")

    def functionals(wave):
        return smile.process_signal(np.clip(wave, -1, 32767 / 32768), 16_000).to_numpy()[0]

    def logmel_stats(wave):
        x = logmel.features(wave)
        return np.concatenate([x.mean(0), x.std(0)])

    return {"egemaps_functionals": functionals, "logmel_stats": logmel_stats,
            "whisper_stats": lambda wave: whisper(wave)[0]}, load_audio


def probe(x_train, y_train, x_test, y_test) -> tuple[float, float]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=3000, class_weight="balanced"))
    pred = clf.fit(x_train, y_train).predict(x_test)
    return float((pred == y_test).mean()), float(np.mean([(pred[y_test == k] == k).mean() for k in np.unique(y_test)]))


def per_speaker(x: np.ndarray, speakers: np.ndarray) -> np.ndarray:
    out = x.copy()
    for s in np.unique(speakers):
        rows = speakers == s
        out[rows] = (x[rows] - x[rows].mean(0)) / (x[rows].std(0) + 1e-5)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default="../shared/data")
    args = parser.parse_args()
    items = clips(Path(args.data_root))
    if not items:
        raise SystemExit(f"no RAVDESS or URDU clips under {args.data_root}")
    extract, load_audio = front_ends()
    labels = np.array([label for _, label, _, _ in items])
    corpus = np.array([c for _, _, c, _ in items])
    speakers = np.array([f"{c}:{s}" for _, _, c, s in items])
    actor = np.array([int(s) if c == "ravdess" else 0 for _, _, c, s in items])
    waves = [load_audio(f) for f, _, _, _ in items]
    seven = (corpus == "ravdess") & (labels != "calm")
    seen, unseen = seven & (actor <= 20), seven & (actor > 20)
    ravdess4, urdu = (corpus == "ravdess") & np.isin(labels, SHARED), corpus == "urdu"
    print("| front-end | normalisation | ravdess 21-24 (7) | ravdess->urdu (4) | urdu->ravdess (4) | extraction x real time |")
    print("| :-- | :-- | --: | --: | --: | --: |")
    seconds = sum(w.shape[0] for w in waves) / 16_000
    best = 0.0
    for name, fn in extract.items():
        started = time.perf_counter()
        x = np.nan_to_num(np.stack([fn(w) for w in waves]).astype(np.float64))
        speed = seconds / (time.perf_counter() - started)
        for norm, z in (("none", x), ("per speaker", per_speaker(x, speakers))):
            a = probe(z[seen], labels[seen], z[unseen], labels[unseen])
            b = probe(z[ravdess4], labels[ravdess4], z[urdu], labels[urdu])
            c = probe(z[urdu], labels[urdu], z[ravdess4], labels[ravdess4])
            if norm == "none":
                best = max(best, a[0])
            print(f"| {name} | {norm} | {100 * a[0]:.1f} | {100 * b[0]:.1f} | {100 * c[0]:.1f} | {speed:.0f} |")
    print(f"best_unseen_actor_acc={best:.3f}")


if __name__ == "__main__":
    main()
