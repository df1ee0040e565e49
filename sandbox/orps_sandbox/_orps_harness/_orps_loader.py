"""Importing the candidate under its real dotted name from source held in memory.

``CandidateFinder`` sits first on ``sys.meta_path`` and answers only for ``ModuleSpec.name``,
serving ``ModuleSpec.source`` through ``CandidateLoader`` with ``ModuleSpec.filename`` as its
origin (so tracebacks and ``linecache`` show the candidate's lines under the user's file name); a
module ``__init__.py`` becomes a package, and every other import, including the parent package of
``pkg.mod``, resolves normally from the project. Part of the harness that runs inside the sandbox:
standard library only.
"""

from __future__ import annotations

import importlib.machinery
import os
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from importlib.abc import Loader as _LoaderBase
else:
    _LoaderBase = object


class CandidateLoader(_LoaderBase):
    """Serves the candidate's source for its module name; everything else imports normally.

    A plain class with the loader protocol's two methods: ``importlib.abc`` would cost every
    worker ~20 ms of start-up (it imports ``importlib.resources``)."""

    def __init__(self, name: str, source: str, filename: str) -> None:
        self.name = name
        self.source = source
        self.filename = filename

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        code = compile(self.source, self.filename, "exec", dont_inherit=True)
        exec(code, module.__dict__)


class CandidateFinder:
    """The meta-path finder protocol's one method, for the candidate's module name only."""

    def __init__(self, loader: CandidateLoader) -> None:
        self.loader = loader

    def find_spec(
        self, fullname: str, path: Any = None, target: types.ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != self.loader.name:
            return None
        is_package = os.path.basename(self.loader.filename) == "__init__.py"
        spec = importlib.machinery.ModuleSpec(
            fullname, self.loader, origin=self.loader.filename, is_package=is_package
        )
        spec.has_location = True
        if is_package:
            spec.submodule_search_locations = [os.path.dirname(self.loader.filename)]
        return spec
