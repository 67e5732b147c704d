"""``xmer export RUN_DIR --out DIR [--onnx]``, ``xmer export RUN_DIR RUN_DIR ... --out DIR [--onnx]`` (an ensemble)
and ``xmer export visual_frontend.pt --out DIR``"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run folder written by xmer train (its best checkpoint is exported), or a model "
                                        "folder or visual front-end .pt of an older xmer, converted to safetensors")
    parser.add_argument("more_runs", nargs="*", metavar="RUN_DIR",
                        help="more runs of the same configuration (other seeds): one model averaging their probabilities")
    parser.add_argument("--out", required=True, help="folder for the exported model (xmer predict OUT ... loads it); not inside the run")
    parser.add_argument("--overwrite", action="store_true", help="replace an earlier export in --out")
    parser.add_argument("--calibration-data", metavar="DIR",
                        help="ensembles: the prepared dataset whose valid split fits the ensemble's temperature "
                             "(default: the one the runs were trained on, its path read from the working folder)")
    parser.add_argument("--no-calibration", action="store_true", help="ensembles: ship temperature 1 (uncalibrated)")
    parser.add_argument("--onnx", action="store_true",
                        help="also write OUT/onnx/: one ONNX graph per modality subset (recogniser + translators), "
                             "checked against PyTorch; run with --runtime onnx")


def run(args: argparse.Namespace) -> int:
    source = Path(args.run_dir)
    if source.is_file() and source.suffix == ".pt":
        if args.onnx:
            from xmer.errors import ConfigError

            raise ConfigError("--onnx exports a model, not the visual front-end's weights")
        from xmer.features.frontend import convert_legacy_weights

        written = convert_legacy_weights(source, Path(args.out))
        print(f"converted {source} -> {', '.join(str(p) for p in written)} (safetensors; the extractor id is kept)")
        return 0
    if args.more_runs:
        from xmer.export.folders import export_ensemble

        runs = [args.run_dir, *args.more_runs]
        out = export_ensemble(runs, args.out, overwrite=args.overwrite, calibration_data=args.calibration_data,
                              calibrate=not args.no_calibration)
        size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
        print(f"exported an ensemble of {len(runs)} runs -> {out} ({size / 1e6:.1f} MB); predictions average their probabilities")
    else:
        from xmer.export.folders import export_model
        from xmer.inference import ENSEMBLE_FILE

        out = export_model(args.run_dir, args.out, overwrite=args.overwrite)
        if (out / ENSEMBLE_FILE).is_file():
            print(f"copied the ensemble {args.run_dir} -> {out}")
        else:
            size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file() and f.parent == out)
            print(f"exported {args.run_dir} -> {out} ({size / 1e6:.1f} MB: float16 safetensors weights, no optimiser state, "
                  "no discriminators)")
    if args.onnx:
        from xmer.export.onnx import MANIFEST, TOLERANCE, export_onnx
        from xmer.io import read_json

        folder = export_onnx(out)
        manifest = read_json(folder / MANIFEST)
        size = sum(f.stat().st_size for f in folder.glob("*.onnx"))
        print(f"onnx: {len(manifest['subsets'])} graphs in {folder} ({size / 1e6:.1f} MB, float32, opset {manifest['opset']}); "
              f"largest difference from PyTorch {manifest['max_abs_difference']:.1e} (limit {TOLERANCE:g})")
    return 0
