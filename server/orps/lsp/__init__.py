"""The orps language server: a thin LSP front end over the ORPS search engine.

``server`` holds the pygls handlers; the logic they call lives in pure modules that take plain
values and return lsprotocol objects or typed records (``functions``, ``payload``,
``presentation``, ``configuration``, ``arguments``), plus the search orchestration in
``refinement``, its work-done progress and cancellation in ``progress``, and the test-file
watching in ``watching``. The wire contract is ``docs/protocol.md``.
"""
