"""How runtimes, memory figures and speed ratios are written for people: one format for the CLI,
the prompts and the language server, and the same rules as the extension's formatter (both are
tested against one table of cases, ``tests/fixtures/format_cases.json``). Memory uses binary
units (B, KiB, MiB, GiB) everywhere. Deliberately free of heavy imports, so any front end can
use it."""

from __future__ import annotations

import math

TIE_TEXT = "≈ same"


def format_ns(ns: int | float | None) -> str:
    if ns is None:
        return "-"
    if ns < 1_000:
        return f"{ns:.0f} ns"
    if ns < 1_000_000:
        return f"{ns / 1_000:.1f} µs"
    if ns < 1_000_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    return f"{ns / 1_000_000_000:.2f} s"


def format_bytes(value: int | None) -> str:
    if value is None:
        return "-"
    if value < 1024:
        return f"{value} B"
    for unit, scale in (("KiB", 1 << 10), ("MiB", 1 << 20), ("GiB", 1 << 30)):
        if value < scale * 1024 or unit == "GiB":
            return f"{value / scale:.1f} {unit}"
    raise AssertionError("unreachable")


def format_factor(factor: float) -> str:
    """A factor ≥ 1 as people say it: ``3.2``, ``1.04``, ``140``, ``12,346`` (never ``1e+02``)."""
    if factor < 10:
        text = f"{factor:.1f}"
        if text == "1.0":
            text = f"{factor:.2f}"
        if text != "10.0":
            return text
    return f"{round(factor):,}"


def format_ratio(speedup: float | None, tie: bool) -> str:
    """``3.2× faster``, ``140× slower`` or ``≈ same``; empty without a speed-up to show.

    ``speedup`` is the current runtime ÷ the candidate's runtime (over the tests both pass);
    ``tie`` says the two runtimes are within measurement noise.
    """
    if tie:
        return TIE_TEXT
    if speedup is None or not math.isfinite(speedup) or speedup <= 0:
        return ""
    if speedup >= 1:
        return f"{format_factor(speedup)}× faster"
    return f"{format_factor(1 / speedup)}× slower"


def format_growth(growth: float | None) -> str:
    """``≈ n^1.0``: the slope of log runtime against log scale."""
    if growth is None:
        return "-"
    return f"≈ n^{growth:.1f}"


def format_scale(scale: int | None) -> str:
    """``65,536``."""
    return "-" if scale is None else f"{scale:,}"
