"""The Python half of the shared display cases: ``orps.units`` must write exactly the texts of
``tests/fixtures/format_cases.json`` (the extension's TypeScript formatter is tested against the
same file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from orps.units import format_bytes, format_ns, format_ratio

CASES: dict[str, Any] = json.loads(
    (Path(__file__).parent / "fixtures" / "format_cases.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize(
    "case", CASES["ratios"], ids=lambda c: f"{c['speedup']}-{'tie' if c['tie'] else 'not'}"
)
def test_ratio_text(case: dict[str, Any]) -> None:
    assert format_ratio(case["speedup"], case["tie"]) == case["text"]


@pytest.mark.parametrize("case", CASES["bytes"], ids=lambda c: str(c["value"]))
def test_bytes_text(case: dict[str, Any]) -> None:
    assert format_bytes(case["value"]) == case["text"]


@pytest.mark.parametrize("case", CASES["durations_ns"], ids=lambda c: str(c["value"]))
def test_duration_text(case: dict[str, Any]) -> None:
    assert format_ns(case["value"]) == case["text"]


@pytest.mark.parametrize("speedup", [1e-9, 1e-4, 0.5, 1.0, 2.5, 1e4, 1e9])
def test_ratio_never_exponent_or_zero(speedup: float) -> None:
    text = format_ratio(speedup, False)
    assert "e+" not in text and "e-" not in text and not text.startswith("0")


def test_no_ratio_without_a_speedup() -> None:
    assert format_ratio(None, False) == ""
    assert format_ratio(None, True) == "≈ same"
