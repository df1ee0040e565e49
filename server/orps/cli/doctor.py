"""``orps doctor``: the sandbox, model, endpoint, test tools and cache this machine would use."""

from __future__ import annotations

import argparse
import sys

from orps.cli.options import EXIT_ERROR, EXIT_OK, settings_from_args
from orps.model.chat import ModelError
from orps.session import make_limits


async def run_doctor(args: argparse.Namespace) -> int:
    from orps_sandbox import IsolationUnavailable, detect_isolation

    settings = settings_from_args(args)
    status = EXIT_OK
    print(f"python:    {sys.version.split()[0]} ({sys.executable})")
    try:
        info = detect_isolation(settings.isolation, make_limits(settings))
    except IsolationUnavailable as exc:
        print(f"sandbox:   refused (isolation '{settings.isolation}'): {exc}")
        status = EXIT_ERROR
    else:
        print(f"sandbox:   {info.kind} (isolation '{settings.isolation}'): {info.description}")
        for reason in info.reasons:
            print(f"           weaker than the best: {reason}")
    try:
        import pytest

        print(f"pytest:    {pytest.__version__}")
    except ImportError:
        print("pytest:    not installed (pytest-style tests cannot run)")
    if settings.uses_local_model():
        from orps.model.local import local_model_status

        ok, text = local_model_status(settings.model_path, load=True)
        print(f"model:     local ({'ready' if ok else 'unavailable'}): {text}")
    else:
        from orps.model.backends import check_endpoint, make_chat_model

        model = make_chat_model(settings)
        try:
            await check_endpoint(model)
            print(f"model:     {model.identity} (reachable)")
        except ModelError as exc:
            print(f"model:     {model.identity}: {exc}")
        finally:
            await model.aclose()
    key = settings.api_key()
    print(f"api key:   {'set' if key else 'not set'} (${settings.api_key_env} or $OPENAI_API_KEY)")
    if settings.cache:
        from orps.model.cache import default_cache_dir

        print(f"cache:     {settings.cache_dir or default_cache_dir()}")
    else:
        print("cache:     off")
    return status
