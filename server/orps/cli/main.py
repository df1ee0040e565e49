"""The ``orps`` command line: ``refine``, ``serve``, ``bench``, ``doctor`` and ``model serve``.

A thin front end over the engine: it parses flags into the shared Settings model, runs searches
through ``orps.session``'s pipeline, renders their events for a terminal (or one JSON document
with ``--json``), and can apply the best candidate to the file. Bad input ends with one line on
stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from orps.cli.bench import add_bench_arguments, run_bench
from orps.cli.options import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    OneLineParser,
    UserError,
    add_model_options,
    add_sandbox_options,
    add_search_options,
    fail,
    positive_int,
)
from orps.model.chat import ModelError
from orps.project.discovery import TestDiscoveryError
from orps.project.target import TargetError
from orps_sandbox import IsolationUnavailable


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="orps",
        description="Search, test and rank implementations of a Python function (ORPS).",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)

    refine = sub.add_parser(
        "refine", help="search implementations of one function and rank them by test results"
    )
    refine.add_argument("target", help="path/to/module.py::function or ::Class.method")
    refine.add_argument(
        "--tests",
        action="append",
        type=Path,
        default=None,
        metavar="PATH",
        help="a tests file or directory (repeatable); default: the project's test files that import the module",
    )
    refine.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    refine.add_argument(
        "--apply",
        action="store_true",
        help="replace the function in the file with the best candidate",
    )
    refine.add_argument(
        "--force", action="store_true", help="with --apply: apply even if not every test passes"
    )
    refine.add_argument(
        "--show", type=positive_int, default=10, metavar="N", help="rows in the table (10)"
    )
    refine.add_argument(
        "--save-tests",
        metavar="PATH",
        help="write the kept generated tests to PATH, a new pytest file (never over a file)",
    )
    add_search_options(refine)
    add_model_options(refine)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--tcp", type=int, metavar="PORT", help="listen on 127.0.0.1:PORT instead")
    serve.add_argument(
        "--stdio",
        action="store_true",
        help="talk over stdin/stdout (the default; LSP clients pass it)",
    )
    serve.add_argument("--host", default="127.0.0.1", help=argparse.SUPPRESS)

    doctor = sub.add_parser("doctor", help="report the sandbox, model, endpoint and test tools")
    add_model_options(doctor)
    add_sandbox_options(doctor)

    model = sub.add_parser("model", help="the embedded local model")
    model_sub = model.add_subparsers(
        dest="model_command", metavar="SUBCOMMAND", parser_class=OneLineParser
    )
    model_serve = model_sub.add_parser(
        "serve", help="serve the local model as an OpenAI-compatible endpoint"
    )
    model_serve.add_argument("--port", type=int, default=8080, help="port on 127.0.0.1 (8080)")
    model_serve.add_argument("--model-path", help="a GGUF file (default: the bundled SmolLM2)")

    bench = sub.add_parser("bench", help="measure ORPS against baselines on public benchmarks")
    add_bench_arguments(bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        if args.command == "refine":
            from orps.cli.refine import run_refine

            return asyncio.run(run_refine(args))
        if args.command == "doctor":
            from orps.cli.doctor import run_doctor

            return asyncio.run(run_doctor(args))
        if args.command == "serve":
            from orps.lsp.server import run_server

            run_server(tcp_port=args.tcp, host=args.host)
            return EXIT_OK
        if args.command == "model":
            if args.model_command != "serve":
                parser.parse_args(["model", "--help"])
            from orps.model.http_server import main as serve_model

            return serve_model(
                ["--port", str(args.port)]
                + (["--model-path", args.model_path] if args.model_path else [])
            )
        if args.command == "bench":
            return run_bench(args)
        parser.print_help()
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("orps: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except (UserError, TargetError, TestDiscoveryError, ModelError, IsolationUnavailable) as exc:
        return fail(str(exc))
    except BrokenPipeError:
        with contextlib.suppress(Exception):
            sys.stdout = open(os.devnull, "w")
        return EXIT_ERROR
    except OSError as exc:  # a file or directory the command could not use, as one line
        where = f": {exc.filename}" if exc.filename else ""
        return fail(f"{exc.strerror or exc}{where}")


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
