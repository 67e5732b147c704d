"""Does fusing help on real recordings? Fused against each modality alone, where the modalities come from one person.

For every real set whose samples hold two or more modalities of one recording, each clip goes
through ``Recognizer.predict_media(audio=clip)`` exactly as ``xmer predict --audio CLIP`` runs it:
Whisper tiny.en transcribes the speech, the transcript rule keeps, down-weights or drops the words
(:func:`xmer.features.asr.judge`), the voice and the words are read, and the fused prediction
comes with each modality's own (``by_modality``, the same forward pass). Sets:

- ``ravdess``: RAVDESS test actors 21-24 (acted English, two neutral carrier sentences; 7 classes
  once calm is dropped), from a dataset prepared with ``xmer prepare ravdess --label-space ekman7``;
- ``nemo``: nEMO test speakers (acted Polish; 6 classes), ``xmer prepare nemo --label-space ekman7``.

Accuracy is over the set's clips; a modality alone is scored on the clips where it was read (the
words are dropped for speech Whisper does not understand: then the fused prediction is the voice's).
With ``--one-source``, each set's clips are read as one source (``xmer predict --batch ...
--one-source``: a model that standardises speech per source reads them with the moments of the
set's own speech, :func:`xmer.batch.collection_moments`); without it, each clip on its own.
``neutral_called`` is the share of non-neutral clips called neutral: the pull that neutral words
or an unfamiliar voice exert. Each line ends ``fused=... best_single=...``.

    python benchmarks/real_pairs.py [--model DIR] [--ravdess data/default/ravdess] [--nemo data/default/nemo] [--most N] [--threads 2]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def score(recognizer, records: list[dict], source: dict | None = None) -> dict:
    """Predict every clip from its audio file; accuracies of the fused and of each modality alone."""
    labels = recognizer.labels
    fused, alone, neutral_fused, neutral_voice, decisions = [], {}, [], [], {}
    for r in records:
        prediction = recognizer.predict_media(audio=r["media"]["audio"], source=source)
        notes = prediction.notes
        truth = r["label"]
        fused.append(prediction.prediction == truth)
        for m, reading in prediction.by_modality.items():
            alone.setdefault(m, []).append(reading["prediction"] == truth)
        note = notes.get("text", "")
        decision = "keep" if "text" in prediction.observed and not note else note.split(":")[0] or "no words"
        decisions[decision] = decisions.get(decision, 0) + 1
        if truth != "neutral" and "neutral" in labels:
            neutral_fused.append(prediction.prediction == "neutral")
            neutral_voice.append(prediction.by_modality.get("audio", {}).get("prediction") == "neutral")
    singles = {m: (float(np.mean(v)), len(v)) for m, v in alone.items()}
    return {"n": len(records), "fused": float(np.mean(fused)), "alone": singles,
            "best_single": max(acc for acc, _ in singles.values()), "transcripts": decisions,
            "neutral_called_fused": float(np.mean(neutral_fused)) if neutral_fused else None,
            "neutral_called_voice": float(np.mean(neutral_voice)) if neutral_voice else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: xmer's default model)")
    parser.add_argument("--ravdess", default="data/default/ravdess", help="RAVDESS prepared with --label-space ekman7")
    parser.add_argument("--nemo", default="data/default/nemo", help="nEMO prepared with --label-space ekman7")
    parser.add_argument("--split", default="test")
    parser.add_argument("--most", type=int, default=0, help="at most this many clips per set (a seeded draw; 0: all)")
    parser.add_argument("--one-source", action="store_true", help="read each set's clips as one source")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--threads", type=int, default=1, help="torch and Whisper CPU threads")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from xmer.batch import collection_moments
    from xmer.data.dataset import PreparedDataset
    from xmer.inference import Recognizer

    recognizer = Recognizer.load(args.model)
    results, lines = {}, []
    for name, folder in (("ravdess", args.ravdess), ("nemo", args.nemo)):
        if not (Path(folder) / "dataset.json").is_file():
            print(f"{name}: no prepared dataset at {folder}; skipped")
            continue
        records = [r for r in PreparedDataset.open(folder).split(args.split) if "audio" in r["modalities"]]
        if args.most and len(records) > args.most:
            rows = np.random.default_rng(0).choice(len(records), args.most, replace=False)
            records = [records[i] for i in sorted(rows)]
        started = time.perf_counter()
        source = None
        if args.one_source:
            sources, clips = collection_moments(recognizer, [(r["id"], {"audio": r["media"]["audio"]}, None) for r in records],
                                                one_source=True)
            source = sources.get("")
            print(f"{name}: read as one source, with the speech of {clips} clips")
        result = score(recognizer, records, source)
        result["seconds"] = round(time.perf_counter() - started, 1)
        results[name] = result
        singles = " ".join(f"{m}={100 * acc:.1f}(n={n})" for m, (acc, n) in result["alone"].items())
        neutral = (f" neutral_called: fused={100 * result['neutral_called_fused']:.1f} voice={100 * result['neutral_called_voice']:.1f}"
                   if result["neutral_called_fused"] is not None else "")
        lines.append(f"{name} {args.split} n={result['n']} transcripts={result['transcripts']} alone: {singles}{neutral} "
                     f"({result['seconds']} s)\n  {name}: fused={100 * result['fused']:.1f} best_single={100 * result['best_single']:.1f}")
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
