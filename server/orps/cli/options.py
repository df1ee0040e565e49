"""The command line's shared parts: one-line usage errors, the model and search flags that
``refine``, ``serve``, ``doctor`` and ``bench`` share, and turning flags into ``Settings``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, NoReturn

from pydantic import ValidationError

from orps.settings import ENVIRONMENT_VARIABLES, Settings, settings_from_environment

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


class UserError(Exception):
    """Bad input: printed as one line, exit status 1."""


def fail(message: str) -> int:
    print(f"orps: error: {message}", file=sys.stderr)
    return EXIT_ERROR


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line (plus the exit status 2 argparse uses)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"orps: error: {message} (see '{self.prog} --help')\n")


def _int_at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value

    return parse


positive_int = _int_at_least(1)
non_negative_int = _int_at_least(0)


def add_model_options(parser: argparse.ArgumentParser) -> None:
    """The model flags of ``refine``, ``serve`` and ``bench``."""
    group = parser.add_argument_group("model")
    group.add_argument("--base-url", help="OpenAI-compatible endpoint (env ORPS_BASE_URL)")
    group.add_argument(
        "--model",
        help="model name at the endpoint, or 'local' for the embedded model (env ORPS_MODEL)",
    )
    group.add_argument("--model-path", help="run this GGUF file as the local model")
    group.add_argument(
        "--api-key-env", help="environment variable holding the API key (default ORPS_API_KEY)"
    )
    group.add_argument(
        "--concurrency",
        type=positive_int,
        metavar="N",
        help="concurrent LLM calls; for the embedded model, copies run side by side "
        "(default: one per CPU, at most 4)",
    )
    group.add_argument("--no-cache", action="store_true", help="do not replay or store replies")
    group.add_argument(
        "--no-prefix-reuse",
        action="store_true",
        help="embedded model: evaluate every prompt from its first token "
        "(default: reuse the KV cache for the prefix shared with the previous request; same text)",
    )
    group.add_argument("--cache-dir", help="response cache directory")


def add_search_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("search")
    group.add_argument("--beam-width", type=positive_int, metavar="K", help="beam width (3)")
    group.add_argument("--children", type=positive_int, metavar="N", help="children per node (3)")
    group.add_argument(
        "--rounds",
        type=non_negative_int,
        metavar="T",
        help="refinement rounds; 0 = first generation only (2)",
    )
    group.add_argument("--temperature", type=float, help="sampling temperature (0.5)")
    group.add_argument(
        "--max-calls",
        type=positive_int,
        metavar="B",
        help="hard cap on LLM calls, critic included (30)",
    )
    group.add_argument("--max-tokens", type=positive_int, help="new tokens per call (1500)")
    group.add_argument("--seed", type=int, help="sampling seed (0)")
    group.add_argument("--timeout", type=float, dest="timeout_seconds", help="seconds per test (5)")
    group.add_argument(
        "--no-generate-tests",
        action="store_true",
        help="do not have the model write tests when there are fewer than 5 visible ones",
    )
    group.add_argument(
        "--no-scale",
        action="store_true",
        help="do not time candidates on generated inputs of growing size",
    )
    group.add_argument(
        "--max-scale", type=positive_int, metavar="N", help="largest input scale tried (1048576)"
    )
    group.add_argument(
        "--memory-limit",
        type=positive_int,
        dest="memory_limit_mb",
        metavar="MB",
        help="memory per candidate (1024)",
    )
    add_sandbox_options(parser)


def add_sandbox_options(parser: argparse.ArgumentParser) -> None:
    """The sandbox flags of ``refine``, ``bench`` and ``doctor``."""
    group = parser.add_argument_group("sandbox")
    group.add_argument(
        "--isolation",
        choices=["auto", "bubblewrap", "none"],
        help="how candidates are confined: auto (bubblewrap; refuse if it is installed but "
        "cannot run), bubblewrap (demand it), none (resource limits only, no OS isolation)",
    )
    group.add_argument(
        "--scratch-limit",
        type=positive_int,
        dest="scratch_limit_mb",
        metavar="MB",
        help="size of a candidate's /tmp, /dev/shm and scratch directory, each (256)",
    )


FLAG_OF = {
    "timeout_seconds": "--timeout",
    "memory_limit_mb": "--memory-limit",
    "scratch_limit_mb": "--scratch-limit",
}
"""The flags whose setting has another name."""


def settings_from_args(args: argparse.Namespace) -> Settings:
    """Environment, then flags; an invalid value is an error here (not a silent default)."""
    flags: dict[str, Any] = {}
    for name in Settings.model_fields:
        value = getattr(args, name, None)
        if value is not None:
            flags[name] = value
    if getattr(args, "no_cache", False):
        flags["cache"] = False
    if getattr(args, "no_prefix_reuse", False):
        flags["prefix_reuse"] = False
    if getattr(args, "no_generate_tests", False):
        flags["generate_tests"] = False
    if getattr(args, "no_scale", False):
        flags["scale"] = False
    environment = settings_from_environment()
    try:
        return Settings.model_validate({**environment, **flags})
    except ValidationError as exc:
        err = exc.errors()[0]
        field = str(err["loc"][0]) if err["loc"] else ""
        if field in flags:
            where = FLAG_OF.get(field, "--" + field.replace("_", "-"))
        elif field in environment:
            where = next(var for var, name in ENVIRONMENT_VARIABLES.items() if name == field)
        else:
            where = field or "setting"
        raise UserError(f"invalid {where}: {err['msg']}") from None
