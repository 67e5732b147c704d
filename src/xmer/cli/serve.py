"""``xmer serve [RUN_DIR] [--host 127.0.0.1] [--port 8000]``"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", nargs="?", help="run or model folder (default: xmer's default model)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=int, default=8000, help="port to listen on, 0..65535 (0: any free port)")


def run(args: argparse.Namespace) -> int:
    import socket

    from xmer.errors import ConfigError
    from xmer.inference import Recognizer
    from xmer.serving import PredictionService, make_server

    if not 0 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port}: expected a port number 0..65535")
    try:
        socket.getaddrinfo(args.host, args.port)
    except (socket.gaierror, UnicodeError) as error:
        raise ConfigError(f"--host {args.host!r}: not an address or host name this machine can resolve ({error})") from None
    recognizer = Recognizer.load(args.run_dir)
    try:
        server = make_server(PredictionService(recognizer), args.host, args.port)
    except OSError as error:
        raise ConfigError(f"cannot listen on {args.host}:{args.port}: {error.strerror or error}") from None
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
