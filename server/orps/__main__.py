"""Run the command line with ``python -m orps``."""

from orps.cli.main import run

run()
