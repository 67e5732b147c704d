"""``xmer serve [--model DIR] [--runtime torch|onnx] [--device cpu] [--host 127.0.0.1] [--port 8000] [--workers N] [--runtime torch|onnx] [--config serve.yaml] [--max-...]``"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import socket

from xmer.errors import ConfigError
from xmer.serving.limits import ServeLimits, flag

SETTINGS_ENV = "XMER_SERVE_SETTINGS"
"""How the parent process hands the model folder, runtime and limits to uvicorn's worker processes."""


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{port} is not a port number (0-65535; 0: any free port)")
    return port


def _workers(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(f"{value!r}: give a whole number of worker processes, at least 1")
    return int(value)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from xmer.cli.options import add_model_arguments

    add_model_arguments(parser, positional=True)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (0.0.0.0: every interface)")
    parser.add_argument("--port", type=_port, default=8000, help="port (0: any free port; the address is printed)")
    parser.add_argument("--workers", type=_workers, default=1, help="worker processes, each with its own model (one per core)")
    parser.add_argument("--config", metavar="SERVE.yaml", help="limits as a YAML mapping (keys below, without the dashes)")
    limits = parser.add_argument_group("limits (defaults in brackets; also settable in --config)")
    for f in dataclasses.fields(ServeLimits):
        default = f.default
        if f.name == "allowed_types":
            limits.add_argument(flag(f.name), type=lambda s: tuple(t.strip() for t in s.split(",") if t.strip()),
                                help=f"{f.metadata['doc'].replace('%', '%%')} [{','.join(default)}]")
        elif isinstance(default, bool):  # --text-bf16 / --no-text-bf16
            limits.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=None,
                                help=f"{f.metadata['doc'].replace('%', '%%')} [{'on' if default else 'off'}]")
        else:
            limits.add_argument(flag(f.name), type=type(default), help=f"{f.metadata['doc'].replace('%', '%%')} [{default}]")


def run(args: argparse.Namespace) -> int:
    from xmer.serving.limits import load_limits

    limits = load_limits(args.config, {f.name: getattr(args, f.name) for f in dataclasses.fields(ServeLimits)})
    try:
        import uvicorn  # noqa: F401
        import fastapi  # noqa: F401
    except ImportError:
        from xmer.serving import INSTALL_HINT

        raise ConfigError(f"xmer serve needs FastAPI and uvicorn; install them with: {INSTALL_HINT}") from None
    from xmer.cli.options import model_dir

    settings = {"run_dir": model_dir(args), "runtime": args.runtime, "device": args.device, "limits": dataclasses.asdict(limits)}
    load_service(settings)  # load once here: a bad model folder fails before anything listens
    sock = _bind(args.host, args.port)
    host, port = sock.getsockname()[:2]
    shown = f"[{host}]" if ":" in host else host
    print(f"xmer serving {settings['run_dir'] or 'the default model'} on http://{shown}:{port} with {args.workers} worker "
          f"process(es), runtime {args.runtime} (GET / for the page, /docs for the API); Ctrl-C stops", flush=True)
    os.environ[SETTINGS_ENV] = json.dumps(settings)
    import uvicorn

    from xmer.serving.protocol import JsonErrorsH11Protocol

    config = uvicorn.Config("xmer.cli.serve:app_from_environment", factory=True, fd=sock.fileno(), workers=args.workers,
                            http=JsonErrorsH11Protocol,
                            backlog=2048, limit_concurrency=limits.max_connections, timeout_keep_alive=5,
                            log_level="warning")
    server = uvicorn.Server(config)
    try:
        if args.workers > 1:
            from uvicorn.supervisors import Multiprocess

            Multiprocess(config, sockets=[sock]).run()
        else:
            server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
    return 0


def _bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``, or a ConfigError saying why not (one line)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except (socket.gaierror, UnicodeError) as error:
        raise ConfigError(f"--host {host!r} is not an address this machine can listen on ({error})") from None
    family, kind, proto, _, address = infos[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port}: {error.strerror or error}") from None
    sock.set_inheritable(True)
    return sock


def load_service(settings: dict):
    """The recogniser (torch or ONNX) named by ``settings``."""
    from xmer.runtime import load_recognizer

    return load_recognizer(settings["run_dir"], settings["runtime"], settings.get("device", "cpu"))


def app_from_environment():
    """The app of one uvicorn worker process, from the settings the parent left in the environment."""
    import torch

    from xmer.inference import DEFAULT_MODEL
    from xmer.serving.app import create_app

    torch.set_num_threads(1)  # one core per request: workers and pool threads, not intra-op threads, use the cores
    settings = json.loads(os.environ[SETTINGS_ENV])
    limits = ServeLimits(**{k: (tuple(v) if k == "allowed_types" else v) for k, v in settings["limits"].items()})
    return create_app(load_service(settings), limits, settings["run_dir"] or DEFAULT_MODEL, settings["runtime"])
