"""The schema of what crosses from the harness to the parent, and the checks every record passes.

Each record arrives as ``length | tag | JSON``: the length is checked against ``MAX_RECORD_BYTES``
before a byte is read, the tag is a keyed BLAKE2b over the JSON with the key the parent gave the
worker before any candidate code ran, and the JSON must match exactly one of the record types
below (strict types, no extra fields, bounded strings and lists) and carry the next sequence
number. Anything else raises ``ProtocolViolation``, which the sandbox turns into the candidate's
``protocol_violation`` status: a bad record never raises further into the engine. Which record may
come next (a ``result`` only for the test that was started, at most one per test) is the
sandbox's concern; this module checks each record on its own.
"""

from __future__ import annotations

import hashlib
import hmac
import marshal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from orps_sandbox._orps_harness._orps_values import MAX_VALUE_BYTES as _VALUE_LIMIT

MAX_RECORD_BYTES = 2 * 1024 * 1024
"""Hard cap per record: a batch of results, or one piece of a large value, with room for JSON
escaping."""
MAX_VALUE_BYTES = _VALUE_LIMIT
"""Most JSON one value may take once its ``chunk`` records are put together (the harness never
sends more: it reports a larger value as too large to judge)."""
MAX_BATCH = 512
"""Most results one ``results`` record may carry (the harness sends at most 256)."""
MAX_TEXT = 8192
"""Longest detail text a record may carry (the harness trims its own to 2,000)."""
MAX_SAMPLES = 256
"""Most timing samples one record may carry (the harness plans at most 200 per test)."""
TAG_BYTES = 16

NonNegative = Annotated[int, Field(ge=0)]
Text = Annotated[str, Field(max_length=MAX_TEXT)]
Samples = Annotated[list[NonNegative], Field(max_length=MAX_SAMPLES)]


class ProtocolViolation(Exception):
    """A record failed its size cap, authentication, schema, sequence or order."""


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    seq: NonNegative


class Ready(_Record):
    ev: Literal["ready"]


class Pong(_Record):
    ev: Literal["pong"]


class Loaded(_Record):
    ev: Literal["loaded"]
    ok: bool
    detail: Text
    rss: NonNegative
    memory: bool = False


class Start(_Record):
    ev: Literal["start"]
    index: NonNegative


class Judgement(BaseModel):
    """The values of one comparison, as the JSON text of their plain data
    (``_orps_values.encode``) for the parent to compare (``expected`` None when the parent
    holds it); for a value that is not plain data (``opaque``), its bounded repr and what it is
    instead. Text rather than parsed data: the parent compares it with its own literal's text
    first, and parses it only when they differ."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    mode: Literal["eq", "ne", "doctest", "opaque"]
    actual: Annotated[str, Field(max_length=_VALUE_LIMIT)]
    expected: Annotated[str, Field(max_length=_VALUE_LIMIT)] | None


JUDGEMENT: TypeAdapter[Judgement] = TypeAdapter(Judgement)


class Result(_Record):
    ev: Literal["result"]
    index: NonNegative
    status: Literal["passed", "failed", "error"]
    detail: Text
    wall_ns: NonNegative | None
    cpu_ns: NonNegative | None
    judge: Judgement | None
    chunks: NonNegative = 0
    """Pieces of the judgement sent ahead in ``chunk`` records (``judge`` is then None)."""
    memory: bool
    rss: NonNegative
    walls: Samples
    cpus: Samples


class ResultItem(BaseModel):
    """One verdict-only test in a ``results`` record: a ``result`` without timing samples."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    index: NonNegative
    status: Literal["passed", "failed", "error"]
    detail: Text
    wall_ns: NonNegative
    cpu_ns: NonNegative
    judge: Judgement | None
    chunks: NonNegative = 0
    memory: bool


class Results(_Record):
    """Several verdict-only results, in the order asked for."""

    ev: Literal["results"]
    items: Annotated[list[ResultItem], Field(min_length=1, max_length=MAX_BATCH)]
    rss: NonNegative


class Chunk(_Record):
    """A piece of the JSON of a value too large for one record (the next result's judgement)."""

    ev: Literal["chunk"]
    data: Annotated[str, Field(max_length=MAX_RECORD_BYTES)]


class Digest(_Record):
    """A value too large for one record, offered by the SHA-256 digest of its JSON text before
    it is sent: the parent answers whether it matches its own literal's (then the test is
    judged, and no result follows) or not (its chunks and result follow)."""

    ev: Literal["digest"]
    index: NonNegative
    digest: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    length: Annotated[int, Field(ge=0, le=_VALUE_LIMIT)]
    wall_ns: NonNegative
    cpu_ns: NonNegative
    memory: bool
    rss: NonNegative


class Forked(_Record):
    """A zygote's child exists (its pid in the sandbox's namespace)."""

    ev: Literal["forked"]
    pid: NonNegative


class Exited(_Record):
    """A zygote's child ended with this wait status; ``clean``: nothing it started is left."""

    ev: Literal["exited"]
    status: NonNegative
    clean: bool


class Memory(_Record):
    ev: Literal["memory"]
    index: NonNegative
    peak: NonNegative | None


class TimingSamples(_Record):
    ev: Literal["samples"]
    index: NonNegative
    wall: Samples
    cpu: Samples


class Done(_Record):
    ev: Literal["done"]


class Bye(_Record):
    ev: Literal["bye"]
    rss: NonNegative


Record = Annotated[
    Ready
    | Pong
    | Loaded
    | Start
    | Result
    | Results
    | Chunk
    | Digest
    | Memory
    | TimingSamples
    | Done
    | Bye
    | Forked
    | Exited,
    Field(discriminator="ev"),
]
_RECORD: TypeAdapter[Record] = TypeAdapter(Record)


def tag(key: bytes, data: bytes) -> bytes:
    return hashlib.blake2b(data, key=key, digest_size=TAG_BYTES).digest()


def check_size(size: int) -> None:
    if size > MAX_RECORD_BYTES or size < TAG_BYTES:
        raise ProtocolViolation(
            f"a record of {size:,} bytes is outside the {MAX_RECORD_BYTES:,}-byte cap"
        )


def parse_record(key: bytes, frame: bytes, seq: int) -> Record:
    """One framed record (tag + JSON) checked for authenticity, schema and sequence number."""
    received, data = frame[:TAG_BYTES], frame[TAG_BYTES:]
    if not hmac.compare_digest(received, tag(key, data)):
        raise ProtocolViolation("a record failed authentication (not written by the harness)")
    try:
        record = _RECORD.validate_json(data)
    except (ValidationError, ValueError, RecursionError) as exc:
        first = str(exc).splitlines()
        reason = first[0] if first else type(exc).__name__
        if isinstance(exc, ValidationError) and exc.errors():
            error = exc.errors()[0]
            reason = f"{'.'.join(str(p) for p in error['loc'])}: {error['msg']}"
        raise ProtocolViolation(f"a record failed its schema ({reason[:200]})") from None
    if record.seq != seq:
        raise ProtocolViolation(f"record {record.seq} arrived where {seq} was due (replayed?)")
    return record


def command_bytes(message: dict[str, Any]) -> bytes:
    """A command for the harness: ``marshal`` data (only the parent writes commands)."""
    return marshal.dumps(message)


def judgement_from_chunks(parts: list[str]) -> Judgement:
    """The judgement a result's ``chunk`` records carried, checked like any record."""
    if sum(len(part) for part in parts) > MAX_VALUE_BYTES:
        raise ProtocolViolation(f"a value of more than {MAX_VALUE_BYTES:,} bytes")
    try:
        return JUDGEMENT.validate_json("".join(parts))
    except (ValidationError, ValueError, RecursionError):
        raise ProtocolViolation("a chunked value failed its schema") from None
