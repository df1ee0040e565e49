"""What clients send the server: the argument object of the ``orps.*`` commands and the params
of the ``orps/candidates`` request, both validated by one pydantic model, ``CommandArguments``.
pygls hands a command's arguments over as plain JSON values but a custom request's params as
nested named tuples, so both are turned into plain JSON once before validation; invalid input
gives a one-line reason for the user, never an exception. ``docs/protocol.md`` lists what each
command and the request accept.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.alias_generators import to_camel

from orps.lsp.payload import WirePosition


class CommandArguments(BaseModel):
    """The first argument of an ``orps.*`` command, or ``orps/candidates`` params (camelCase)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)

    uri: str
    version: int | None = None
    name: str | None = None
    position: WirePosition | None = None
    candidate_id: str | None = None
    confirmed: bool | None = None


def parse_arguments(arguments: tuple[Any, ...]) -> CommandArguments | str:
    """The first argument of a command, validated, or why it is not valid."""
    return validate_arguments(arguments[0] if arguments else None)


def validate_arguments(value: Any) -> CommandArguments | str:
    """A command's argument object or a request's params, validated, or why they are not."""
    value = plain_json(value)
    if not isinstance(value, dict):
        return "expected one object argument"
    try:
        return CommandArguments.model_validate(value)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        return f"invalid arguments: {where + ': ' if where else ''}{error['msg']}"


def plain_json(value: Any) -> Any:
    """``value`` with every named tuple (how pygls structures unknown params) as a dict."""
    if hasattr(value, "_asdict"):
        return {k: plain_json(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value
