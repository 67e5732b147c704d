"""Load on ``xmer serve``: many short text predictions while clips are being predicted and idle
connections stay open.

    python benchmarks/serve.py [--workers 2] [--texts 500] [--text-clients 50] [--clips 50]
                               [--clip-clients 5] [--idle 10] [--runtime torch|onnx] [--model DIR]
                               [--serve-flags "--text-batch 1 --media-nice 0"]

Starts ``xmer serve`` (the default model) on 127.0.0.1 with ``--workers`` processes, opens
``--idle`` connections that send nothing, then at once: ``--texts`` text predictions (15 words,
JSON) from ``--text-clients`` concurrent clients, and ``--clips`` predictions of a 5-second
640x480 video with its audio track (a face photo and a tone, multipart upload) from
``--clip-clients`` clients. Each client keeps its connection. Latency is from sending a request
to reading the whole answer. The clients run in this process (asyncio streams and a minimal
HTTP/1.1 client, so they cost little CPU), on the same cores as the server.

The last line is machine-readable:
``errors=<n> text_rps=<x> text_p99_ms=<y> clip_p99_s=<z>`` (errors: answers other than 200, and
failed connections; text_rps: text answers per second over the time the texts took).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

TEXT = "I cannot believe they cancelled the trip again, after all the plans we made together this year"


def start_server(workers: int, runtime: str, model: str | None, flags=()) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE.parent / "src"), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen([sys.executable, "-m", "xmer", "serve", *([model] if model else []), "--port", "0",
                                "--workers", str(workers), "--runtime", runtime, *flags], stdout=subprocess.PIPE, text=True, env=env)
    line = process.stdout.readline()
    if " on http://" not in line:
        process.kill()
        raise SystemExit(f"xmer serve did not start: {line!r}")
    return process, line.split(" on ")[1].split(" ")[0]


async def request(reader, writer, raw: bytes) -> tuple[int, bytes]:
    """One HTTP/1.1 request on a kept-alive connection: (status, body). A minimal client, so that the
    load generator costs far less CPU than the server it measures."""
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    return status, await reader.readexactly(length)


def build(host: str, path: str, body: bytes, content_type: str) -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


async def wait_ready(host: str, port: int, workers: int) -> None:
    for _ in range(600):
        try:
            reader, writer = await asyncio.open_connection(host, port)
            status, _ = await request(reader, writer, f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
            writer.close()
            if status == 200:
                await asyncio.sleep(2.0 * workers)  # every worker has loaded its model and warmed up
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit("xmer serve did not answer /health")


async def client_loop(host: str, port: int, n: int, raw: bytes, latencies: list[float], errors: list[str]) -> None:
    """One client: one connection, ``n`` requests one after the other (reconnecting after a failure)."""
    connection = None
    for _ in range(n):
        t0 = time.perf_counter()
        try:
            if connection is None:
                connection = await asyncio.open_connection(host, port)
            status, body = await asyncio.wait_for(request(*connection, raw), 120)
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as error:
            errors.append(repr(error))
            connection = None
            continue
        if status != 200:
            errors.append(f"{status} {body[:100]!r}")
            continue
        latencies.append(time.perf_counter() - t0)
    if connection is not None:
        connection[1].close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


async def run(host: str, port: int, args, clip: bytes) -> tuple[list, list, list, float]:
    text_lat, clip_lat, errors = [], [], []
    idle = [socket.create_connection((host, port)) for _ in range(args.idle)]  # connected, never send
    text = build(host, "/predict", json.dumps({"text": TEXT}).encode(), "application/json")
    boundary = "xmer-benchmark-boundary"
    form = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"clip.mp4\"\r\n"
            f"Content-Type: video/mp4\r\n\r\n").encode() + clip + f"\r\n--{boundary}--\r\n".encode()
    upload = build(host, "/predict", form, f"multipart/form-data; boundary={boundary}")
    per_text, per_clip = -(-args.texts // args.text_clients), -(-args.clips // args.clip_clients)
    t0 = time.perf_counter()
    clips = [asyncio.create_task(client_loop(host, port, per_clip, upload, clip_lat, errors)) for _ in range(args.clip_clients)]
    await asyncio.sleep(0.5)  # the clips are running before the texts arrive
    t1 = time.perf_counter()
    await asyncio.gather(*[client_loop(host, port, per_text, text, text_lat, errors) for _ in range(args.text_clients)])
    text_wall = time.perf_counter() - t1
    await asyncio.gather(*clips)
    print(f"all done in {time.perf_counter() - t0:.1f} s; idle connections still open: "
          f"{sum(1 for s in idle if s.fileno() >= 0)}/{args.idle}", flush=True)
    for s in idle:
        s.close()
    return text_lat, clip_lat, errors, text_wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--runtime", choices=("torch", "onnx"), default="torch")
    parser.add_argument("--model", help="model folder (default: xmer's default model); --runtime onnx needs one "
                                        "exported with --onnx")
    parser.add_argument("--texts", type=int, default=500)
    parser.add_argument("--text-clients", type=int, default=50)
    parser.add_argument("--clips", type=int, default=50)
    parser.add_argument("--clip-clients", type=int, default=5)
    parser.add_argument("--idle", type=int, default=10)
    parser.add_argument("--serve-flags", default="", help="more flags for xmer serve, e.g. '--light-threads 1 --media-nice 0'")
    args = parser.parse_args()

    from test_predict_media import write_video

    with tempfile.TemporaryDirectory() as tmp:
        clip = write_video(Path(tmp) / "clip.mp4", seconds=5.0).read_bytes()
    process, url = start_server(args.workers, args.runtime, args.model, args.serve_flags.split())
    host, port = url.split("//")[1].rsplit(":", 1)
    port = int(port)
    try:
        asyncio.run(wait_ready(host, port, args.workers))
        print(f"xmer serve at {url}: {args.workers} workers, runtime {args.runtime}; {args.texts} texts from "
              f"{args.text_clients} clients + {args.clips} 5-s clips ({len(clip) / 1e6:.2f} MB) from {args.clip_clients} "
              f"clients, {args.idle} idle connections; {os.cpu_count()} CPUs; flags: {args.serve_flags or 'none'}", flush=True)
        text_lat, clip_lat, errors, text_wall = asyncio.run(run(host, port, args, clip))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
    for e in errors[:5]:
        print("error:", e)
    print(f"text: n={len(text_lat)} p50 {1000 * percentile(text_lat, 50):.0f} ms, p99 {1000 * percentile(text_lat, 99):.0f} ms; "
          f"clip: n={len(clip_lat)} p50 {percentile(clip_lat, 50):.2f} s, p99 {percentile(clip_lat, 99):.2f} s")
    print(f"errors={len(errors)} text_rps={len(text_lat) / text_wall:.0f} text_p99_ms={1000 * percentile(text_lat, 99):.0f} "
          f"clip_p99_s={percentile(clip_lat, 99):.2f}")


if __name__ == "__main__":
    main()
