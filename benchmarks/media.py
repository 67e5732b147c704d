"""Wall time of one prediction from media: a 5-second 640x480 clip with its audio track, plus a text.

Builds the full model (recogniser + translators, default config, untrained weights: the time does
not depend on them) for the shipped extractors (visual=fer, audio=logmel, text=glove), writes a clip
of a real face photo (matplotlib's sample) with a tone muxed in, and times ``Recognizer.predict_media``
after one warm-up call (start-up: imports, loading GloVe and the face CNN), so the figure is what a
server or a batch job pays per clip. Ends with ``predict_seconds=<x>`` (target <= 2.0).
Usage: python benchmarks/media.py [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_predict_media import write_video  # noqa: E402  (the tests' clip writer)

from xmer.config import load_config  # noqa: E402
from xmer.features import get_extractor  # noqa: E402
from xmer.inference import Recognizer  # noqa: E402
from xmer.models.system import build_system  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    extractors = {"visual": get_extractor("fer"), "audio": get_extractor("logmel"), "text": get_extractor("glove")}
    dims = {m: e.dim for m, e in extractors.items()}
    config = load_config(None, ["translator.enabled=true"])
    labels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
    torch.manual_seed(0)
    model = build_system(config, dims, len(labels), False)
    card = {"labels": labels, "multi_label": False, "input_dims": dims, "synthetic": False,
            "extractors": {m: e.id for m, e in extractors.items()}}
    recognizer = Recognizer(model, card, config)
    with tempfile.TemporaryDirectory() as tmp:
        clip = write_video(Path(tmp) / "clip.mp4", seconds=5.0)
        text = "I can't believe we finally made it, this is the best day of my life"
        started = time.perf_counter()
        recognizer.predict_media(video=clip, text=text)
        first = time.perf_counter() - started
        times = []
        for _ in range(args.repeats):
            started = time.perf_counter()
            prediction, notes = recognizer.predict_media(video=clip, text=text)
            times.append(time.perf_counter() - started)
    print(f"torch threads {torch.get_num_threads()}; 5 s clip 640x480 @10 fps with AAC audio + {len(text.split())} words")
    print(f"first call (start-up included): {first:.2f} s; then {', '.join(f'{t:.2f}' for t in times)} s")
    print(f"observed: {prediction.observed}, notes: {notes or '-'}")
    print(f"predict_seconds={statistics.median(times):.2f}")


if __name__ == "__main__":
    main()
