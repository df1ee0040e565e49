"""The ``orps`` command line: argument parsing, ``refine``, ``doctor``, ``bench`` and ``model
serve``, each a thin front end over ``orps.session``."""
