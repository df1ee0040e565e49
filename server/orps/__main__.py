"""Run the command line with ``python -m orps``."""

from orps.cli import run

run()
