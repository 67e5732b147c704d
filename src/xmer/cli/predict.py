"""``xmer predict [--model DIR] [--runtime torch|onnx] [--device cpu] (--features FILE.npz | [--video F] [--audio F] [--image F] [--text "..." | --transcript F] [--no-asr]) [--json]``
and ``xmer predict [--model DIR] --batch ITEMS.jsonl --out PREDICTIONS.jsonl [--resume] [--ray [ADDRESS] --workers N]``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xmer.cli.options import add_model_arguments

    add_model_arguments(parser, positional=True)
    parser.add_argument("--features", metavar="FILE.npz",
                        help="an .npz whose keys are modality names (visual, audio, text), each a (T, D) array")
    parser.add_argument("--video", help="a video: faces for visual, and its audio track unless --audio is given")
    parser.add_argument("--audio", help="an audio file (or a video whose audio track to use)")
    parser.add_argument("--image", help="a face image (visual, when no --video)")
    text = parser.add_mutually_exclusive_group()
    text.add_argument("--text", help="the transcript")
    text.add_argument("--transcript", help="a .txt or .srt file with the transcript")
    parser.add_argument("--no-asr", action="store_true",
                        help="do not transcribe the speech of --video/--audio when no transcript is given")
    parser.add_argument("--batch", metavar="ITEMS.jsonl",
                        help="predict many inputs: one JSON object a line, with id and any of video, audio, image, text")
    parser.add_argument("--out", metavar="PREDICTIONS.jsonl", help="with --batch: where to write one prediction a line")
    parser.add_argument("--resume", action="store_true",
                        help="with --batch: keep the lines already in PREDICTIONS.jsonl (or in the .partial file of a "
                             "stopped job) and predict only the items whose id has none")
    parser.add_argument("--one-source", action="store_true",
                        help="with --batch: the items that name no 'source' come from one source (one corpus, one call "
                             "centre, one microphone). A model that standardises speech per source reads each source's "
                             "items (20 or more clips) with their own speech's mean and spread (from up to 500 of their "
                             "clips) instead of its training corpora's; items that name their source always are")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    from xmer.scaling.ray_jobs import add_ray_arguments

    add_ray_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from xmer.cli.options import load_model, model_dir
    from xmer.errors import ConfigError, DataError

    media = {"video": args.video, "audio": args.audio, "image": args.image,
             "text": args.text if args.text is not None else (Path(args.transcript) if args.transcript else None)}
    given = {k: v for k, v in media.items() if v is not None}
    from xmer.scaling.ray_jobs import ray_options

    on_ray = ray_options(args)
    if args.batch or args.out:
        if not (args.batch and args.out) or given or args.features:
            raise DataError("--batch ITEMS.jsonl needs --out PREDICTIONS.jsonl and no other input (--features, --video, ...)")
        if on_ray is not None:
            from xmer.scaling.ray_jobs import predict_on_ray

            if args.runtime != "torch" or args.device != "cpu":
                raise ConfigError("--ray runs the torch runtime on each worker's own device (its GPU when it has one): "
                                  "leave out --runtime and --device")
            counts = predict_on_ray(args.batch, args.out, model_dir(args), on_ray, asr=not args.no_asr, resume=args.resume,
                                    one_source=args.one_source)
        else:
            from xmer.batch import predict_batch

            recognizer = load_model(args)
            counts = predict_batch(recognizer, args.batch, args.out, asr=not args.no_asr, progress=True, resume=args.resume,
                                   one_source=args.one_source)
        print(f"{counts.written} predictions written to {args.out}" + (f" ({counts.failed} with an error)" if counts.failed else "")
              + (f"; {counts.kept} kept from before (--resume)" if counts.kept else "")
              + (f"; read as {counts.sources} source(s), with the speech of {counts.source_clips} of their clips"
                 if counts.source_clips else ""), file=sys.stderr)
        if args.one_source and not counts.source_clips and counts.written:
            print("--one-source: the model does not standardise speech per source, or fewer than 20 clips were readable; "
                  "every item was read on its own", file=sys.stderr)
        return 0
    if args.resume or on_ray is not None or args.one_source:
        raise DataError("--resume, --ray and --one-source go with --batch ITEMS.jsonl")
    if bool(args.features) == bool(given):
        raise DataError("give either --features FILE.npz or media inputs (--video, --audio, --image, --text/--transcript)")
    recognizer = load_model(args)
    if args.features:
        prediction = recognizer.predict_file(args.features)
    else:
        prediction = recognizer.predict_media(**given, asr=not args.no_asr)
    if args.json:
        print(json.dumps(prediction.to_json()))
        return 0
    if model_dir(args) is None:
        from xmer.inference import DEFAULT_MODEL

        print(f"model: xmer's default model (composite benchmark; {DEFAULT_MODEL / 'MODEL_CARD.md'})")
    print(f"prediction: {prediction.prediction}")
    for label, p in sorted(prediction.probabilities.items(), key=lambda kv: -kv[1]):
        print(f"  {label:12s} {p:6.3f}  {'#' * round(p * 40)}")
    print(f"observed: {', '.join(prediction.observed) or '-'}   imagined: {', '.join(prediction.imagined) or '-'}")
    if prediction.text_source is not None:
        print(f"text ({prediction.text_source}): {prediction.text}")
    for modality, why in prediction.notes.items():
        print(f"note: {modality}: {why}" if modality in prediction.observed else f"note: {modality} not used: {why}")
    return 0
