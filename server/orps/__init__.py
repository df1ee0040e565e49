"""orps: refine Python functions with ORPS (LLM search, sandboxed execution, measured ranking)."""

__version__ = "0.1.0"
