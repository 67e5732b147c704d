"""``xmer predict RUN_DIR --features FILE.npz [--json]``"""

from __future__ import annotations

import argparse
import json


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by xmer train")
    parser.add_argument("--features", required=True, metavar="FILE.npz",
                        help="an .npz whose keys are modality names (visual, audio, text), each a (T, D) array")
    parser.add_argument("--json", action="store_true", help="print one JSON object")


def run(args: argparse.Namespace) -> int:
    from xmer.inference import Recognizer

    prediction = Recognizer.load(args.run_dir).predict_file(args.features)
    if args.json:
        print(json.dumps(prediction.to_json()))
        return 0
    print(f"prediction: {prediction.prediction}")
    for label, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        print(f"  {label:12s} {p:6.3f}  {'#' * round(p * 40)}")
    print(f"observed: {', '.join(prediction.observed) or '-'}   imagined: {', '.join(prediction.imagined) or '-'}")
    return 0
