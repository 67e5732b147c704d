"""Visual feature extraction speed in frames per second for 640x480 video (target: >= 25 frames/s on 2 cores).

    python benchmarks/visual_extraction.py [--seconds 20] [--threads 2] [--workers 2] [--codec libx264]

Writes a 640x480, 25 fps H.264 video (``--seconds`` long) of the face photo that ships with
matplotlib moving over a textured background, with a face-free second in every four, then times the
``fer`` extractor on it end to end (decode, face detection, crop, CNN embedding) in one process:

- ``every frame``: ``fps=None``, each of the video's frames is detected and embedded;
- ``8 fps``: the extractor's default sampling (every frame is still decoded).

"frames/s" is video frames processed per wall-clock second with ``--threads`` torch/OpenCV threads;
"frames/CPU-s" is frames per CPU second of this process (``time.process_time``), which other load
on a shared machine does not distort: on ``--threads`` idle cores the wall figure approaches
``frames/CPU-s x threads`` at best. A per-stage breakdown (ms per frame) follows. ``--workers N`` then runs N single-threaded processes
on the video at once, as ``xmer extract --workers N`` does, and reports their total frames/s (the way
to use 2 cores: the Haar search and the small CNN batches gain little from threads). The last line is
machine-readable: ``visual_fps=<every frame, --workers processes, frames/s>
visual_fps_1proc=<every frame, one process> visual_fps_per_cpu=<every frame, frames/CPU-s>``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def write_video(path: Path, seconds: float, codec: str, fps: int = 25) -> int:
    import av
    import cv2
    import matplotlib

    photo = cv2.imread(str(Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"))
    photo = cv2.resize(photo, (200, 234), interpolation=cv2.INTER_AREA)
    rng = np.random.default_rng(0)
    background = cv2.GaussianBlur(rng.integers(0, 255, (480, 640, 3), dtype=np.uint8), (0, 0), 6)
    n = int(seconds * fps)
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 640, 480, "yuv420p"
        for i in range(n):
            frame = background.copy()
            if (i // fps) % 4 != 3:  # every fourth second has no face
                x = 100 + int(150 * np.sin(i / 20)) + 100
                y = 120 + int(40 * np.cos(i / 15))
                frame[y : y + 234, x : x + 200] = photo
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame[:, :, ::-1].copy(), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return n


def _worker(video: str) -> int:
    import cv2
    import torch

    from xmer.features import get_extractor

    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    extractor = get_extractor("fer")
    extractor.fps = None
    return len(extractor(video))


def timed(fn):
    cpu, wall = time.process_time(), time.perf_counter()
    result = fn()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of the test video")
    parser.add_argument("--threads", type=int, default=2, help="torch and OpenCV threads")
    parser.add_argument("--codec", default="libx264", help="video codec of the test video (libx264, mpeg4)")
    parser.add_argument("--workers", type=int, default=2, help="processes for the parallel figure")
    args = parser.parse_args()

    import cv2
    import torch

    from xmer.features import get_extractor
    from xmer.features.face import read_frames

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)
    extractor = get_extractor("fer")
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "bench.mp4"
        n = write_video(video, args.seconds, args.codec)
        extractor(video)  # warm-up
        print(f"visual: {n} frames of 640x480 {args.codec} video at 25 fps ({args.seconds:.0f} s); "
              f"{args.threads} torch/OpenCV threads; extractor {extractor.id}")
        print(f"{'sampling':12s} {'frames':>7s} {'faces':>6s} {'frames/s':>9s} {'frames/CPU-s':>13s} {'x realtime':>11s}")
        results = {}
        for label, fps in (("every frame", None), ("8 fps", 8.0)):
            extractor.fps = fps
            features, wall, cpu = timed(lambda: extractor(video))
            results[label] = (n / wall, n / cpu)
            print(f"{label:12s} {n:7d} {len(features):6d} {n / wall:9.1f} {n / cpu:13.1f} {n / 25 / wall:11.1f}")
        extractor.fps = 8.0

        # Where the time goes, every frame (ms per video frame, wall clock).
        _, t_decode, _ = timed(lambda: sum(1 for _ in read_frames(video, fps=None)))
        extractor.fps = None
        track, t_faces, _ = timed(lambda: extractor.faces(video))
        extractor.fps = 8.0
        _, t_embed, _ = timed(lambda: extractor.embed(track.faces))
        _, t_full, _ = timed(lambda: [extractor.detector.detect(f.grey) for f in read_frames(video, fps=None, max_frames=50)])
        print(f"ms/frame (every frame): decode {1000 * t_decode / n:.2f}  detect+crop {1000 * (t_faces - t_decode) / n:.2f}  "
              f"embed {1000 * t_embed / n:.2f}  (a full-frame face search alone: {1000 * t_full / 50 - 1000 * t_decode / n:.1f})")

        parallel = None
        if args.workers > 1:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            # spawn: a forked child inherits this process's OpenMP/OpenCV thread pools and can hang.
            with ProcessPoolExecutor(args.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
                list(pool.map(_worker, [str(video)] * args.workers))  # warm-up: imports, weights
                _, wall, _ = timed(lambda: list(pool.map(_worker, [str(video)] * args.workers)))
            parallel = args.workers * n / wall
            print(f"{args.workers} processes x 1 thread, every frame: {parallel:.1f} frames/s in all")
    every_wall, every_cpu = results["every frame"]
    print(f"visual_fps={parallel or every_wall:.1f} visual_fps_1proc={every_wall:.1f} visual_fps_per_cpu={every_cpu:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
