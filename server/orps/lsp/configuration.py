"""The language server's settings: environment, ``initializationOptions`` and the ``orps``
section of ``workspace/configuration``, merged in that order into the engine's ``Settings``.

A client may send ``null`` for a setting it has no value for (VS Code does for unset
entries); such a null means "unset", so the environment or ``initializationOptions`` still
apply, except where null is itself a non-default value (``seed``: no seed). Invalid values are
dropped by ``parse_settings`` with one complaint each, and the defaults apply.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic.alias_generators import to_snake

from orps.settings import Settings, parse_settings, settings_from_environment

SECTION = "orps"


def section_of(value: Any) -> dict[str, Any]:
    """The ``orps`` settings in a client value: either ``{"orps": {...}}`` or the section itself."""
    if not isinstance(value, Mapping):
        return {}
    inner = value.get(SECTION)
    if isinstance(inner, Mapping):
        return dict(inner)
    return {str(k): v for k, v in value.items()}


def null_is_a_value(key: str) -> bool:
    """Whether ``null`` means something other than the default for this setting (``seed``:
    no seed); for every other setting a null is "unset" and lower layers show through."""
    name = key if key in Settings.model_fields else to_snake(key)
    field = Settings.model_fields.get(name)
    if field is None or field.default is None:
        return False
    return "None" in str(field.annotation)


def drop_unset(layer: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in layer.items() if v is not None or null_is_a_value(k)}


def resolve_settings(
    initialization_options: Any,
    workspace_section: Any,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, list[str]]:
    """Settings from the three layers, later wins; complaints name each rejected setting."""
    return parse_settings(
        settings_from_environment(environ),
        drop_unset(section_of(initialization_options)),
        drop_unset(section_of(workspace_section)),
    )
