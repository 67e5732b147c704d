"""Can the voice's features reuse the encoder states that transcription computed? The voice alone, read three ways.

Transcription runs Whisper's encoder over 30 s windows of speech padded with silence; the
``whisper_stats`` front-end runs it over a clip's own frames, as the model was trained. Reusing the
first for the second would encode speech once instead of twice. This measures what it would cost:
the default model's voice-alone prediction (``Recognizer.predict_many`` on the ``audio`` features
only) on test clips of two corpora, with the clip's ``whisper_stats`` computed

- ``alone``: from the clip's own frames (what xmer does);
- ``padded``: from the first states of the clip padded to Whisper's 30 s window (a clip that starts
  a transcription window);
- ``in_context``: from the states of the clip inside a 30 s window that holds up to 6 s of the
  previous clip before it (a clip in the middle of a recording).

    python benchmarks/whisper_context.py [--model DIR] [--most 400] [--threads 2]

Each line: ``<set> n=<clips> accuracy alone=.. padded=.. in_context=.. agree_with_alone padded=.. in_context=..``.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

CONTEXT_S = 6.0


def pooled(states: np.ndarray) -> np.ndarray:
    """(T, 384) encoder states -> (1, 768) ``whisper_stats`` (mean and standard deviation over time)."""
    return np.concatenate([states.mean(0), states.std(0)])[None].astype(np.float32)


def windowed_states(wave: np.ndarray, before: np.ndarray | None = None) -> np.ndarray:
    """States of ``wave`` taken from one encoding of a 30 s window that starts with ``before`` (or with ``wave``)."""
    import ctranslate2

    from xmer.features.whisper import WINDOW_FRAMES, whisper_model

    model = whisper_model()
    before = np.zeros(0, np.float32) if before is None else before
    mel = model.feature_extractor(np.concatenate([before, wave]))
    window = np.zeros((mel.shape[0], WINDOW_FRAMES), np.float32)
    k = min(WINDOW_FRAMES, mel.shape[1])
    window[:, :k] = mel[:, :k]
    states = np.asarray(model.model.encode(ctranslate2.StorageView.from_array(window[None])))[0]
    start, frames = len(before) // 160, len(wave) // 160  # 10 ms mel frames; states are 20 ms apart
    return states[start // 2 : (start + frames) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="model folder (default: xmer's default model)")
    parser.add_argument("--sets", nargs="+", default=["data/default/ravdess", "data/default/nemo"],
                        help="prepared speech datasets (test split read)")
    parser.add_argument("--most", type=int, default=400, help="at most this many clips per set (a seeded draw)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    from xmer.data.dataset import PreparedDataset
    from xmer.features.audio import load_audio
    from xmer.features.whisper import encoder_states
    from xmer.inference import Recognizer

    recognizer = Recognizer.load(args.model)
    if not recognizer.card.get("extractors", {}).get("audio", "").startswith("whisper_stats@"):
        raise SystemExit(f"this benchmark reads whisper_stats models; {args.model or 'the default model'} reads speech with "
                         f"{recognizer.card.get('extractors', {}).get('audio')}: give --model a whisper_stats run")
    for folder in args.sets:
        if not (Path(folder) / "dataset.json").is_file():
            print(f"{folder}: no prepared dataset; skipped")
            continue
        records = [r for r in PreparedDataset.open(folder).split("test") if r.get("media", {}).get("audio")]
        if len(records) > args.most:
            records = [records[i] for i in sorted(np.random.default_rng(0).choice(len(records), args.most, replace=False))]
        waves = [load_audio(r["media"]["audio"]) for r in records]
        ways = {
            "alone": lambda i: encoder_states(waves[i]),
            "padded": lambda i: windowed_states(waves[i]),
            "in_context": lambda i: windowed_states(waves[i], waves[i - 1][: int(CONTEXT_S * 16_000)]),
        }
        predicted = {}
        for way, states in ways.items():
            features = [{"audio": pooled(states(i))} for i in range(len(waves))]
            predicted[way] = [p.prediction for p in recognizer.predict_many(features, [r["id"] for r in records])]
        truth = [r["label"] for r in records]
        accuracy = {w: 100 * np.mean([a == b for a, b in zip(p, truth)]) for w, p in predicted.items()}
        agree = {w: 100 * np.mean([a == b for a, b in zip(p, predicted["alone"])]) for w, p in predicted.items() if w != "alone"}
        print(f"{Path(folder).name} n={len(records)} accuracy " + " ".join(f"{w}={v:.1f}" for w, v in accuracy.items())
              + " agree_with_alone " + " ".join(f"{w}={v:.1f}" for w, v in agree.items()), flush=True)


if __name__ == "__main__":
    main()
