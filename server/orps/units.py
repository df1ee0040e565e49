"""How runtimes and memory figures are written for people: one format for the CLI, the prompts
and the language server. Deliberately free of heavy imports, so any front end can use it."""

from __future__ import annotations


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
    if value < 1024 * 1024:
        return f"{value / 1024:.1f} KiB"
    return f"{value / (1024 * 1024):.1f} MiB"


def format_growth(growth: float | None) -> str:
    """``≈ n^1.0``: the slope of log runtime against log scale."""
    if growth is None:
        return "-"
    return f"≈ n^{growth:.1f}"


def format_scale(scale: int | None) -> str:
    """``65,536``."""
    return "-" if scale is None else f"{scale:,}"
