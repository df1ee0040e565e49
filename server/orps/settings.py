"""The one typed settings model shared by the command line, the environment and the language server.

Field names are snake_case in Python and camelCase on the wire (LSP ``workspace/configuration``,
``initializationOptions``, the VS Code extension's ``orps.*`` settings). Every field has a
default, so a partial or empty configuration is valid; ``parse_settings`` turns invalid input
into the defaults plus a list of readable complaints instead of an exception.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

LOCAL_MODEL = "local"
DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class Settings(BaseModel):
    """Search, model and sandbox settings with their defaults."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True
    )

    base_url: str | None = Field(
        None, description="OpenAI-compatible endpoint, e.g. http://127.0.0.1:8080/v1."
    )
    model: str | None = Field(
        None,
        description="Model name at the endpoint, or 'local' for the embedded model. "
        "Unset: the endpoint's model if base_url is set, else the embedded model.",
    )
    model_path: str | None = Field(None, description="A GGUF file to run as the local model.")
    api_key_env: str = Field(
        "ORPS_API_KEY",
        description="Name of the environment variable holding the API key "
        "(OPENAI_API_KEY is also tried).",
    )
    beam_width: int = Field(3, ge=1, le=20, description="Beam width K.")
    children: int = Field(3, ge=1, le=20, description="Children per node N.")
    rounds: int = Field(2, ge=0, le=20, description="Refinement rounds T after the first.")
    max_calls: int = Field(30, ge=1, le=10_000, description="Hard cap on LLM calls per search.")
    temperature: float = Field(0.5, ge=0.0, le=2.0)
    max_tokens: int = Field(1500, ge=64, le=32_768, description="New tokens per LLM call.")
    seed: int | None = Field(0, description="Sampling seed; null for none.")
    concurrency: int | None = Field(
        None,
        ge=1,
        le=64,
        description="Concurrent LLM calls (default: the backend's own). For the embedded model, "
        "the number of copies run side by side (default: one per CPU, at most 4).",
    )
    timeout_seconds: float = Field(
        5.0, gt=0, le=600, description="Wall-clock limit per test execution."
    )
    memory_limit_mb: int = Field(1024, ge=64, le=65_536, description="Memory limit per candidate.")
    isolation: Literal["auto", "bubblewrap", "none"] = Field(
        "auto",
        description="How candidates are confined: 'auto' uses bubblewrap and refuses to run when "
        "it is installed but cannot run; 'bubblewrap' demands it; 'none' runs candidates with "
        "resource limits only (no filesystem or network isolation).",
    )
    scratch_limit_mb: int = Field(
        256,
        ge=16,
        le=65_536,
        description="Size limit of a candidate's /tmp, /dev/shm and scratch directory, each (MB).",
    )
    request_timeout_seconds: float = Field(
        120.0, gt=0, le=3600, description="Timeout of one LLM request."
    )
    generate_tests: bool = Field(
        True,
        description="Have the model write tests when the function has few visible tests "
        "(one call, counted in max_calls).",
    )
    generate_tests_below: int = Field(
        5, ge=0, le=1000, description="Generate tests when there are fewer visible tests than this."
    )
    scale: bool = Field(
        True,
        description="Time passing candidates on generated inputs of growing size "
        "(one call, counted in max_calls).",
    )
    max_scale: int = Field(1 << 20, ge=8, le=1 << 26, description="The largest input scale tried.")
    cache: bool = Field(True, description="Replay identical LLM requests from the on-disk cache.")
    prefix_reuse: bool = Field(
        True,
        description="Embedded model: reuse the KV cache for the prompt prefix a request shares "
        "with the previous one (same text, fewer tokens evaluated).",
    )
    cache_dir: str | None = Field(None, description="Cache directory (default: user cache dir).")

    def uses_local_model(self) -> bool:
        if self.model_path:
            return True
        if self.model == LOCAL_MODEL:
            return True
        return self.base_url is None and self.model is None

    def endpoint(self) -> str:
        return self.base_url or DEFAULT_OPENAI_BASE_URL

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        env = os.environ if environ is None else environ
        return env.get(self.api_key_env) or env.get("OPENAI_API_KEY") or None


ENVIRONMENT_VARIABLES: dict[str, str] = {
    "ORPS_BASE_URL": "base_url",
    "ORPS_MODEL": "model",
    "ORPS_MODEL_PATH": "model_path",
}


def settings_from_environment(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    return {field: env[var] for var, field in ENVIRONMENT_VARIABLES.items() if env.get(var)}


def parse_settings(*layers: Mapping[str, Any] | None) -> tuple[Settings, list[str]]:
    """Merge layers (later wins; keys in either case style) into Settings.

    Unknown keys and invalid values are dropped, each with one complaint naming the setting;
    the remaining values still apply. Never raises.
    """
    merged: dict[str, Any] = {}
    complaints: list[str] = []
    known = {name: name for name in Settings.model_fields}
    known.update({to_camel(name): name for name in Settings.model_fields})
    for layer in layers:
        for key, value in (layer or {}).items():
            name = known.get(key)
            if name is None:
                complaints.append(f"unknown setting {key!r} ignored")
                continue
            merged[name] = value
    while True:
        try:
            return Settings.model_validate(merged), complaints
        except ValidationError as exc:
            bad = {str(err["loc"][0]) for err in exc.errors() if err["loc"]}
            if not bad:
                return Settings(), [*complaints, f"invalid settings ignored: {exc}"]
            for err in exc.errors():
                if not err["loc"]:
                    continue
                name = str(err["loc"][0])
                if name in merged:
                    complaints.append(
                        f"invalid setting {to_camel(name)!r} = {merged[name]!r}: "
                        f"{err['msg']}; using the default"
                    )
                    merged.pop(name)
            if not bad & set(Settings.model_fields):
                return Settings(), complaints


__all__ = [
    "DEFAULT_OPENAI_BASE_URL",
    "LOCAL_MODEL",
    "Settings",
    "parse_settings",
    "settings_from_environment",
]
