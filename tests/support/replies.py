"""Builders for scripted model replies in the formats the prompts ask for."""

from __future__ import annotations


def programmer(code: str, reasoning: str = "A plan.") -> str:
    return f"## Reasoning\n{reasoning}\n\n## Code\n```python\n{code.strip()}\n```\n"


def critic(score: int | str = 4, done: str = "no", text: str = "Looks reasonable.") -> str:
    return f"{text}\n\nSCORE: {score}\nDONE: {done}\n"
