"""``xmer serve [RUN_DIR] [--host 127.0.0.1] [--port 8000]``"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="run or model folder (default: xmer's default model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000)


def run(args: argparse.Namespace) -> int:
    from xmer.inference import Recognizer
    from xmer.serving import PredictionService, make_server

    recognizer = Recognizer.load(args.run_dir)
    server = make_server(PredictionService(recognizer), args.host, args.port)
    host, port = server.server_address[:2]
    print(f"xmer serving {args.run_dir or 'the default model'} on http://{host}:{port} "
          "(GET /health, GET /model, POST /predict); Ctrl-C stops", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
