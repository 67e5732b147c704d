"""Batch prediction in one process against Ray Data with 1 and 2 workers, on 200 real items.

    python benchmarks/ray_batch.py [--data ../shared/data] [--items 200] [--no-asr]

Builds the items at run time in a temporary folder from ../shared/data (nothing is committed): GoEmotions
test texts, RAVDESS speech clips (FLAC; transcribed by Whisper unless --no-asr, as ``xmer predict``
does by default) and FER2013 test faces written as PNG, 40/40/20% of ``--items``. Then, with xmer's
default model:

* local: :func:`xmer.batch.predict_batch` in this process, one torch thread (a worker's share);
  ``local_load_s`` is the model and front-ends' load, the items/s exclude it;
* Ray: ``ray.init`` on this machine (``ray_init_s``), a one-item job per pool size (the start-up a
  job pays: actors start and load the model; ``job_overhead_s``), then the 200 items with 1 and 2
  workers of 1 CPU each (items/s over the job's whole wall time, start-up included).

It checks that every Ray output equals the local one (ids in order, probabilities within 1e-6) and
prints one line per pool size: ``local_items_s=<x> ray_items_s=<y> workers=<n> ratio=<y/x>``. On a
2-core machine shared with other work, 2 workers cannot show a speed-up over 2 cores; the ratios say
what Ray costs and what a second worker adds here, no more.
"""

from __future__ import annotations

import argparse
import gzip
import json
import logging
import os
import random
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def build_items(data: Path, folder: Path, n: int) -> Path:
    """``n`` items of real data: 40% texts, 40% speech clips, 20% faces; returns the items file."""
    from PIL import Image

    rng = random.Random(0)
    n_text, n_audio = int(0.4 * n), int(0.4 * n)
    n_face = n - n_text - n_audio
    texts = [line.split("\t")[0] for line in (data / "goemotions" / "test.tsv").read_text(encoding="utf-8").splitlines()]
    clips = sorted((data / "ravdess").rglob("*.flac"))
    items = [{"id": f"text-{i}", "text": t} for i, t in enumerate(rng.sample(texts, n_text))]
    items += [{"id": f"audio-{i}", "audio": str(p)} for i, p in enumerate(rng.sample(clips, n_audio))]
    faces = folder / "faces"
    faces.mkdir()
    with gzip.open(data / "fer2013" / "fer2013.csv.gz", "rt") as f:
        next(f)
        rows = [line for line in f if line.rstrip().endswith("PrivateTest")]
    for i, line in enumerate(rng.sample(rows, n_face)):
        pixels = np.array(line.split(",")[1].split(), np.uint8).reshape(48, 48)
        Image.fromarray(pixels).save(faces / f"{i}.png")
        items.append({"id": f"face-{i}", "image": f"faces/{i}.png"})
    rng.shuffle(items)
    path = folder / "items.jsonl"
    path.write_text("".join(json.dumps(item) + "\n" for item in items))
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def largest_difference(a: list[dict], b: list[dict]) -> float:
    assert [r["id"] for r in a] == [r["id"] for r in b], "outputs differ in ids or order"
    worst = 0.0
    for x, y in zip(a, b):
        assert ("error" in x) == ("error" in y) and x.get("prediction") == y.get("prediction"), x["id"]
        for k, p in x.get("probabilities", {}).items():
            worst = max(worst, abs(p - y["probabilities"][k]))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--no-asr", action="store_true", help="do not transcribe the speech clips")
    args = parser.parse_args()
    import ray
    import torch

    from xmer.batch import predict_batch
    from xmer.inference import Recognizer
    from xmer.scaling.ray_jobs import RayOptions, predict_on_ray

    torch.set_num_threads(1)
    asr = not args.no_asr
    with tempfile.TemporaryDirectory(prefix="xmer-ray-bench-") as tmp:
        folder = Path(tmp)
        items = build_items(Path(args.data), folder, args.items)
        n = args.items

        t0 = time.perf_counter()
        recognizer = Recognizer.load()
        recognizer.load_front_ends(asr)
        local_load = time.perf_counter() - t0
        t0 = time.perf_counter()
        predict_batch(recognizer, items, folder / "local.jsonl", asr=asr, progress=False)
        local_s = time.perf_counter() - t0
        local_rate = n / local_s
        print(f"local: {n} items in {local_s:.1f} s after {local_load:.1f} s of loading", flush=True)
        del recognizer

        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, logging_level=logging.WARNING)
        ray_init = time.perf_counter() - t0
        one = folder / "one.jsonl"
        one.with_name("one_items.jsonl").write_text(json.dumps({"id": "x", "text": "what a day"}) + "\n")
        lines = []
        for workers in (1, 2):
            options = RayOptions(workers=workers)
            t0 = time.perf_counter()
            predict_on_ray(one.with_name("one_items.jsonl"), one, None, options, asr=asr, progress=False)
            overhead = time.perf_counter() - t0
            out = folder / f"ray{workers}.jsonl"
            t0 = time.perf_counter()
            predict_on_ray(items, out, None, options, asr=asr, progress=False)
            ray_s = time.perf_counter() - t0
            diff = largest_difference(read(folder / "local.jsonl"), read(out))
            assert diff <= 1e-6 + 1e-12, f"Ray and local differ by {diff}"
            print(f"ray, {workers} worker(s): {n} items in {ray_s:.1f} s; a one-item job {overhead:.1f} s; "
                  f"largest probability difference to local {diff:.1e}", flush=True)
            lines.append(f"local_items_s={local_rate:.2f} ray_items_s={n / ray_s:.2f} workers={workers} "
                         f"ratio={n / ray_s / local_rate:.2f} job_overhead_s={overhead:.1f}")
        ray.shutdown()
    print(f"items={n} asr={asr} local_load_s={local_load:.1f} ray_init_s={ray_init:.1f} "
          f"local_ms_per_item={1000 * local_s / n:.0f}")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
