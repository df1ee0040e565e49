"""A real LSP client session against ``python -m orps serve`` over stdio, for the tests.

It records what a client would see: ``orps/candidates`` and ``orps/status`` notifications,
work-done progress, messages, code-lens refreshes and ``workspace/applyEdit`` requests, and
offers small waits over them. The LLM at the other end is the scripted HTTP server.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Union

from lsprotocol import types
from pytest_lsp import LanguageClient, client_capabilities, make_test_lsp_client

from orps.lsp.functions import apply_text_edits

COMMAND_TIMEOUT_S = 30.0

SCRIPTED_SETTINGS: dict[str, Any] = {
    "model": "scripted",
    "cache": False,
    "beamWidth": 2,
    "children": 2,
    "rounds": 1,
    "maxCalls": 12,
    "timeoutSeconds": 5,
    # The test writer and the input generator have their own tests (tests/engine/test_scale.py);
    # here their empty scripted replies would only add calls and warnings.
    "generateTests": False,
    "scale": False,
}

STUB_MODULE = '''\
def fib(n):
    """Return the n-th Fibonacci number."""
    raise NotImplementedError
'''

SLOW_MODULE = '''\
def fib(n):
    """Return the n-th Fibonacci number."""
    if n < 2:
        return n
    return fib(n - 1) + fib(n - 2)
'''

TESTS_FILE = """\
from mod import fib

assert fib(10) == 55
assert fib(0) == 0
"""

FAST_FIB = """## Reasoning
Iterate with two running values instead of recursing.

## Code
```python
def fib(n):
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a
```"""

FAST_SQUARE = """## Reasoning
Multiply.

## Code
```python
def square(x):
    return x * x
```"""

WRONG_FIB = """## Reasoning
The identity is close enough.

## Code
```python
def fib(n):
    return n
```"""

CRITIQUE = "Correct and linear.\nSCORE: 4\nDONE: no"

FIB_SCRIPT: dict[str, Any] = {"programmer": [FAST_FIB, WRONG_FIB], "critic": [CRITIQUE]}


def structure_code_action(converter: Any) -> None:
    """Fix the client's converter: lsprotocol reads every code action carrying a ``command``
    as a bare ``Command``; the spec tells them apart by the type of ``command``."""

    def hook(value: Any, _: type) -> types.Command | types.CodeAction:
        if isinstance(value.get("command"), str):
            return converter.structure(value, types.Command)  # type: ignore[no-any-return]
        return converter.structure(value, types.CodeAction)  # type: ignore[no-any-return]

    converter.register_structure_hook(types.Command | types.CodeAction, hook)
    converter.register_structure_hook(Union[types.Command, types.CodeAction], hook)  # noqa: UP007


def clean_environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The server's environment without the developer's model settings."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("ORPS_") and k != "OPENAI_API_KEY"
    }
    env.update(extra or {})
    return env


class LspSession:
    """One server process and the client talking to it."""

    def __init__(self, client: LanguageClient, root: Path) -> None:
        self.client = client
        self.root = root
        self.candidates: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self.applied_edits: list[types.WorkspaceEdit] = []
        self.lens_refreshes = 0
        self.registrations: list[types.Registration] = []
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}

        @client.feature("orps/candidates")
        def on_candidates(params: Any) -> None:
            self.candidates.append(as_dict(params))

        @client.feature("orps/status")
        def on_status(params: Any) -> None:
            self.statuses.append(as_dict(params))

        @client.feature(types.WORKSPACE_CODE_LENS_REFRESH)
        def on_lens_refresh(params: None) -> None:
            self.lens_refreshes += 1

        @client.feature(types.CLIENT_REGISTER_CAPABILITY)
        def on_register(params: types.RegistrationParams) -> None:
            self.registrations.extend(params.registrations)

        @client.feature(types.WORKSPACE_APPLY_EDIT)
        def on_apply_edit(params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
            self.applied_edits.append(params.edit)
            return types.ApplyWorkspaceEditResult(applied=True)

    @property
    def server_pid(self) -> int:
        assert self.client._server is not None
        return self.client._server.pid

    @property
    def messages(self) -> list[str]:
        return [m.message for m in self.client.messages]

    def uri(self, name: str) -> str:
        return (self.root / name).as_uri()

    # -- documents --------------------------------------------------------------------------

    def open(self, name: str, text: str | None = None, language: str = "python") -> str:
        uri = self.uri(name)
        text = (self.root / name).read_text() if text is None else text
        self.texts[uri] = text
        self.versions[uri] = 1
        self.client.text_document_did_open(
            types.DidOpenTextDocumentParams(
                text_document=types.TextDocumentItem(
                    uri=uri, language_id=language, version=1, text=text
                )
            )
        )
        return uri

    def replace_text(self, uri: str, text: str) -> None:
        self.versions[uri] += 1
        self.texts[uri] = text
        self.client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                text_document=types.VersionedTextDocumentIdentifier(
                    uri=uri, version=self.versions[uri]
                ),
                content_changes=[types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def apply(self, edit: types.WorkspaceEdit) -> str:
        """Apply a workspace edit to the client's copy of the text, as an editor would."""
        changes: list[tuple[str, list[types.TextEdit]]] = []
        for change in edit.document_changes or []:
            assert isinstance(change, types.TextDocumentEdit)
            changes.append((change.text_document.uri, list(change.edits)))  # type: ignore[arg-type]
        for uri, edits in (edit.changes or {}).items():
            changes.append((uri, list(edits)))
        assert len(changes) == 1
        uri, text_edits = changes[0]
        new_text = apply_text_edits(self.texts[uri], text_edits)
        self.replace_text(uri, new_text)
        return new_text

    # -- requests ---------------------------------------------------------------------------

    async def code_actions(self, uri: str, line: int) -> list[types.CodeAction]:
        result = await self.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(
                    start=types.Position(line=line, character=4),
                    end=types.Position(line=line, character=4),
                ),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        assert all(isinstance(a, types.CodeAction) for a in result or []), result
        return [a for a in result or [] if isinstance(a, types.CodeAction)]

    async def code_lenses(self, uri: str) -> list[types.CodeLens]:
        result = await self.client.text_document_code_lens_async(
            types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
        )
        return list(result or [])

    async def hover(self, uri: str, line: int) -> types.Hover | None:
        return await self.client.text_document_hover_async(
            types.HoverParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                position=types.Position(line=line, character=4),
            )
        )

    async def command(self, command: str, *arguments: Any) -> Any:
        request = self.client.workspace_execute_command_async(
            types.ExecuteCommandParams(command=command, arguments=list(arguments))
        )
        return plain(await asyncio.wait_for(request, COMMAND_TIMEOUT_S))

    async def refine(self, uri: str, line: int) -> Any:
        return await self.command(
            "orps.refine",
            {
                "uri": uri,
                "version": self.versions.get(uri),
                "position": {"line": line, "character": 4},
            },
        )

    async def stored(self, params: dict[str, Any]) -> Any:
        return plain(await self.client.protocol.send_request_async("orps/candidates", params))

    async def set_settings(self, settings: dict[str, Any]) -> None:
        """Change the ``orps`` section and wait until the server has re-read it."""
        self.client.set_configuration(settings, section="orps")
        count = len(self.statuses)
        self.client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"orps": settings})
        )
        await wait_for(lambda: len(self.statuses) > count, 5)

    # -- waits ------------------------------------------------------------------------------

    def finished(self, name: str = "fib") -> list[dict[str, Any]]:
        return [c for c in self.candidates if c["name"] == name and not c["running"]]

    async def wait_message(self, fragment: str, within: float = 15) -> str:
        await wait_for(lambda: any(fragment in m for m in self.messages), within)
        return next(m for m in self.messages if fragment in m)


def plain(value: Any) -> Any:
    """Custom-message params as plain JSON values (pygls hands them over as named tuples)."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def as_dict(params: Any) -> dict[str, Any]:
    result = plain(params)
    assert isinstance(result, dict)
    return result


async def wait_for(predicate: Callable[[], bool], within: float) -> None:
    deadline = time.monotonic() + within
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        await asyncio.sleep(0.02)


async def start_session(
    root: Path,
    settings: dict[str, Any],
    *,
    initialization_options: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    client_name: str = "visual-studio-code",
) -> LspSession:
    client = make_test_lsp_client()
    structure_code_action(client.protocol._converter)
    session = LspSession(client, root)
    client.set_configuration(settings, section="orps")
    await client.start_io(sys.executable, "-m", "orps", "serve", env=clean_environment(env))
    await client.initialize_session(
        types.InitializeParams(
            capabilities=client_capabilities(client_name),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options=initialization_options,
        )
    )
    await wait_for(lambda: bool(session.statuses), 10)  # settings read
    return session
