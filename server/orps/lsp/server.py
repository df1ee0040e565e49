"""The pygls language server: thin handlers over ``refinement``, ``presentation`` and
``functions``.

Each handler fetches the document, calls one function and returns its value ("nothing" is
``None``, never an empty edit). Searches run as asyncio tasks owned by ``Refinements``, so the
message loop keeps answering hovers and code actions while they run; the server turns what
they report into ``orps/candidates`` notifications, work-done progress and messages. The
contract with clients is ``docs/protocol.md``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lsprotocol import types
from pydantic import ValidationError
from pydantic.alias_generators import to_camel
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer
from pygls.uris import to_fs_path
from pygls.workspace import TextDocument

from orps import __version__
from orps.lsp import presentation
from orps.lsp.arguments import (
    CommandArguments,
    parse_arguments,
    plain_json,
    validate_arguments,
)
from orps.lsp.configuration import SECTION, resolve_settings
from orps.lsp.functions import (
    DocumentError,
    accept_edits,
    apply_text_edits,
    parse_module,
    span_at,
    span_named,
    span_range,
    spans_of,
)
from orps.lsp.payload import (
    CandidatesPayload,
    IsolationView,
    ProgressView,
    RestoreParams,
    RunningSearch,
    StatusPayload,
    WireRange,
)
from orps.lsp.progress import SearchProgress
from orps.lsp.refinement import (
    FunctionKey,
    RefinementError,
    RefinementRequest,
    Refinements,
    SearchRun,
    warm_up,
)
from orps.lsp.watching import TestFileChanges, TestFileWatcher
from orps.settings import Settings

log = logging.getLogger(__name__)

CANDIDATES_METHOD = "orps/candidates"
STATUS_METHOD = "orps/status"
RESTORE_METHOD = "orps/restore"
PYTHON_SUFFIXES = (".py", ".pyi")
TEST_FILE_GLOBS = ("**/test_*.py", "**/*_test.py")


class OrpsLanguageServer(LanguageServer):
    """The language server and its session state: settings, searches, stored results."""

    def __init__(self) -> None:
        super().__init__("orps", __version__)
        self.initialization_options: Any = None
        self.settings = Settings.model_validate({})
        self.shown_complaints: set[str] = set()
        self.settings_applied: str | None = None
        self.refinements = Refinements(self)
        self.search_progress = SearchProgress(self)
        self.changes: TestFileChanges | None = None
        self.watcher: TestFileWatcher | None = None
        self._lens_refresh: asyncio.TimerHandle | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self.isolation: IsolationView | None = None

    # -- messages ---------------------------------------------------------------------------

    def show(self, message: str, kind: types.MessageType = types.MessageType.Error) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=f"orps: {message}"))

    def spawn(self, coroutine: Any) -> None:
        """Run a coroutine in the background, keeping a reference until it ends."""
        task: asyncio.Task[Any] = asyncio.ensure_future(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- capabilities -----------------------------------------------------------------------

    def supports_code_lens_refresh(self) -> bool:
        caps = self.client_capabilities
        return get_capability(caps, "workspace.code_lens.refresh_support", False)

    def supports_configuration(self) -> bool:
        return get_capability(self.client_capabilities, "workspace.configuration", False)

    def supports_document_changes(self) -> bool:
        caps = self.client_capabilities
        return get_capability(caps, "workspace.workspace_edit.document_changes", False)

    def supports_watched_files_registration(self) -> bool:
        caps = self.client_capabilities
        return get_capability(
            caps, "workspace.did_change_watched_files.dynamic_registration", False
        )

    def supports_configuration_registration(self) -> bool:
        caps = self.client_capabilities
        return get_capability(
            caps, "workspace.did_change_configuration.dynamic_registration", False
        )

    # -- settings ---------------------------------------------------------------------------

    async def load_settings(self, pushed: Any = None, *, reloaded: bool = False) -> None:
        """Settings from the environment, initializationOptions and the client's section.

        ``reloaded``: a live change (``workspace/didChangeConfiguration``); ``orps/status`` then
        says what changed in ``settingsApplied`` (searches started from now on use it)."""
        section: Any = pushed
        if self.supports_configuration():
            try:
                items = await self.workspace_configuration_async(
                    types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
                )
                section = items[0] if items else None
            except Exception as exc:  # a client that fails the request: keep what was pushed
                log.warning("workspace/configuration failed: %s", exc)
        settings, complaints = resolve_settings(self.initialization_options, section)
        if reloaded:
            self.settings_applied = settings_change(self.settings, settings)
        self.settings = settings
        for complaint in complaints:
            if complaint not in self.shown_complaints:
                self.show(complaint, types.MessageType.Warning)
        self.shown_complaints = set(complaints)
        self.send_status()
        self.spawn(self.check_isolation(settings))

    async def check_isolation(self, settings: Settings) -> None:
        """Probe the isolation the settings ask for (in a thread), then send the status again."""
        from orps.session import make_limits
        from orps_sandbox import IsolationUnavailable, detect_isolation

        choice = settings.isolation
        previous = self.isolation
        if previous is None or previous.choice != choice:
            self.isolation = IsolationView(kind="checking", choice=choice)
        try:
            info = await asyncio.to_thread(detect_isolation, choice, make_limits(settings))
            view = IsolationView.of(info)
        except IsolationUnavailable as exc:
            view = IsolationView(kind="refused", choice=choice, description=str(exc))
            if previous is None or previous.description != view.description:
                self.show(str(exc), types.MessageType.Error)
        if self.settings.isolation == choice:  # newer settings are checked by their own task
            self.isolation = view
            self.send_status()

    def model_label(self) -> str:
        settings = self.settings
        if settings.uses_local_model():
            return "local"
        return f"{settings.model or '(endpoint default)'} @ {settings.endpoint()}"

    # -- documents --------------------------------------------------------------------------

    def document_source(self, uri: str) -> str | None:
        document = self.workspace.text_documents.get(uri)
        return document.source if document is not None else None

    def python_document(self, uri: str) -> tuple[TextDocument, Path]:
        """The document and its path; DocumentError for anything that is not a Python file."""
        document = self.workspace.get_text_document(uri)
        path_text = to_fs_path(uri)
        name = Path(path_text).name if path_text else uri
        is_python = document.language_id == "python" or name.endswith(PYTHON_SUFFIXES)
        if not is_python:
            raise DocumentError(f"{name} is not a Python document")
        if path_text is None:
            raise DocumentError(f"{uri} is not a file on disk: save it first")
        return document, Path(path_text)

    def roots_for(self, path: Path) -> tuple[Path, ...]:
        """The workspace folders holding ``path`` (discovery's roots, as the CLI's)."""
        roots: list[Path] = []
        for folder in self.workspace.folders.values():
            folder_path = to_fs_path(folder.uri)
            if folder_path and path.is_relative_to(folder_path):
                roots.append(Path(folder_path))
        return tuple(roots)

    def workspace_edit(
        self, uri: str, version: int | None
    ) -> Callable[[list[types.TextEdit]], types.WorkspaceEdit]:
        def build(edits: list[types.TextEdit]) -> types.WorkspaceEdit:
            if self.supports_document_changes():
                return types.WorkspaceEdit(
                    document_changes=[
                        types.TextDocumentEdit(
                            text_document=types.OptionalVersionedTextDocumentIdentifier(
                                uri=uri, version=version
                            ),
                            edits=list(edits),
                        )
                    ]
                )
            return types.WorkspaceEdit(changes={uri: list(edits)})

        return build

    def lookup(self, uri: str) -> Callable[[str], CandidatesPayload | None]:
        return lambda qualname: self.refinements.payload(FunctionKey(uri, qualname))

    # -- RefinementListener -----------------------------------------------------------------

    def candidates_changed(self, payload: CandidatesPayload) -> None:
        self.track_range(payload)
        self.protocol.notify(CANDIDATES_METHOD, payload.to_wire())
        self.refresh_lenses()

    def progress_reported(self, run: SearchRun, progress: ProgressView) -> None:
        self.search_progress.report(run, progress)

    def warned(self, key: FunctionKey, message: str) -> None:
        self.show(f"{key.qualname}: {message}", types.MessageType.Warning)

    def running_changed(self) -> None:
        self.send_status()

    # -- notifications ----------------------------------------------------------------------

    def track_range(self, payload: CandidatesPayload) -> None:
        """Point the payload at the function's current range (documents change under it)."""
        source = self.document_source(payload.uri)
        if source is None:
            return
        span = span_named(spans_of(source), payload.name)
        if span is not None:
            payload.range = WireRange.of(span_range(source, span))

    def send_status(self) -> None:
        status = StatusPayload(
            model=self.model_label(),
            running=[
                RunningSearch(uri=key.uri, name=key.qualname, search_id=run.search_id)
                for key, run in self.refinements.running.items()
            ],
            isolation=self.isolation,
            settings_applied=self.settings_applied,
        )
        self.protocol.notify(STATUS_METHOD, status.to_wire())

    def refresh_lenses(self) -> None:
        """Ask the client to re-request code lenses, at most once per 50 ms."""
        if not self.supports_code_lens_refresh() or self._lens_refresh is not None:
            return

        def send() -> None:
            self._lens_refresh = None
            self.spawn(self._refresh_lenses())

        self._lens_refresh = asyncio.get_running_loop().call_later(0.05, send)

    async def _refresh_lenses(self) -> None:
        with contextlib.suppress(Exception):
            await self.workspace_code_lens_refresh_async(None)

    # -- commands ---------------------------------------------------------------------------

    def refinement_request(self, arguments: CommandArguments) -> RefinementRequest:
        document, path = self.python_document(arguments.uri)
        source = document.source
        spans = [s for s in spans_of(source)]
        if not spans:
            parse_module(source, str(path))  # raises on a syntax error
        span = span_named(spans, arguments.name) if arguments.name else None
        if span is None and arguments.position is not None:
            span = span_at(spans, arguments.position.line)
        if span is None:
            where = f"line {arguments.position.line + 1}" if arguments.position else "the cursor"
            raise DocumentError(f"no function at {where} of {path.name}")
        return RefinementRequest(
            uri=arguments.uri,
            path=path,
            source=source,
            version=document.version,
            qualname=span.qualname,
            roots=self.roots_for(path),
            settings=self.settings,
        )

    async def refine(self, arguments: CommandArguments) -> CandidatesPayload | None:
        try:
            request = self.refinement_request(arguments)
        except DocumentError as exc:
            self.show(str(exc))
            return None
        run = self.refinements.start(request)
        self.search_progress.cancel_with_request(run)
        payload: CandidatesPayload | None = None
        try:
            await self.search_progress.begin(run, f"ORPS: refining {request.qualname}")
            payload = await self.refinements.finish(run)
        except RefinementError as exc:
            self.show(str(exc))
        finally:
            self.search_progress.end(run, end_message(payload))
        return payload

    async def accept(self, arguments: CommandArguments) -> Acceptance:
        """The edit applying a stored candidate after a fresh re-run, the question to ask
        first, or why there is none."""
        if not arguments.name or not arguments.candidate_id:
            return Refused("orps.accept needs uri, name and candidateId")
        payload = self.refinements.payload(FunctionKey(arguments.uri, arguments.name))
        candidate = payload.candidate(arguments.candidate_id) if payload else None
        if payload is None or candidate is None:
            return Refused(f"no candidate {arguments.candidate_id} for {arguments.name}")
        question = presentation.confirmation_message(candidate, payload.current)
        if question is not None and not arguments.confirmed:
            return Question(question)
        try:
            document, path = self.python_document(arguments.uri)
        except DocumentError as exc:
            return Refused(str(exc))
        edits = accept_edits(document.source, arguments.name, candidate.code, path)
        if edits is None:
            return Refused(
                f"{arguments.name} is no longer in {path.name} as a parseable function; not applied"
            )
        refusal = await self.refinements.verify_accept(
            FunctionKey(arguments.uri, arguments.name),
            candidate.code,
            list(candidate.flags),
            candidate.tests_passed,
            path,
            accepted=apply_text_edits(document.source, edits),
        )
        if refusal:
            return Refused(f"candidate {candidate.id} not applied: {refusal}")
        document, path = self.python_document(arguments.uri)
        edits = accept_edits(document.source, arguments.name, candidate.code, path)
        if edits is None:
            return Refused(f"{arguments.name} changed during the re-run; not applied")
        return Edit(self.workspace_edit(arguments.uri, document.version)(edits), candidate.id)


@dataclass(frozen=True)
class Refused:
    """``orps.accept`` cannot apply the candidate; the reason is shown to the user."""

    reason: str


@dataclass(frozen=True)
class Question:
    """``orps.accept`` of a failing candidate without ``confirmed``: the client must ask."""

    message: str


@dataclass(frozen=True)
class Edit:
    edit: types.WorkspaceEdit
    candidate_id: str


Acceptance = Refused | Question | Edit


def settings_change(before: Settings, after: Settings) -> str:
    """``settings applied live (rounds, maxCalls): searches started from now on use them``."""
    old, new = before.model_dump(), after.model_dump()
    changed = [to_camel(name) for name in new if old.get(name) != new[name]]
    if not changed:
        return "settings re-read live: nothing changed"
    return f"settings applied live ({', '.join(changed)}): searches started from now on use them"


def end_message(payload: CandidatesPayload | None) -> str:
    if payload is None:
        return "no search ran"
    stopped = payload.stopped or "completed"
    if not payload.candidates:
        return f"{stopped}: 0 candidates ({payload.empty_reason or 'no reason known'})"
    return f"{stopped}: {len(payload.candidates)} candidate(s); {payload.verdict}"


# -- handlers ---------------------------------------------------------------------------------


def on_initialize(ls: OrpsLanguageServer, params: types.InitializeParams) -> None:
    ls.initialization_options = params.initialization_options


async def on_initialized(ls: OrpsLanguageServer, params: types.InitializedParams) -> None:
    ls.spawn(asyncio.to_thread(warm_up))
    await ls.load_settings()
    loop = asyncio.get_running_loop()
    ls.changes = TestFileChanges(loop, lambda paths: on_tests_changed(ls, paths))
    ls.watcher = TestFileWatcher(ls.changes)
    watch_folders(ls)
    registrations: list[types.Registration] = []
    if ls.supports_watched_files_registration():
        registrations.append(
            types.Registration(
                id="orps-test-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern=g) for g in TEST_FILE_GLOBS]
                ),
            )
        )
    if ls.supports_configuration_registration():
        registrations.append(
            types.Registration(
                id="orps-configuration", method=types.WORKSPACE_DID_CHANGE_CONFIGURATION
            )
        )
    if registrations:
        try:
            await ls.client_register_capability_async(
                types.RegistrationParams(registrations=registrations)
            )
        except Exception as exc:
            log.warning("dynamic registration failed: %s", exc)


def watch_folders(ls: OrpsLanguageServer) -> None:
    if ls.watcher is None:
        return
    folders = [to_fs_path(f.uri) for f in ls.workspace.folders.values()]
    if not folders and ls.workspace.root_path:
        folders = [ls.workspace.root_path]
    ls.watcher.watch(Path(f) for f in folders if f)


def on_tests_changed(ls: OrpsLanguageServer, paths: set[Path]) -> None:
    keys = ls.refinements.retest(paths)
    if keys:
        log.info("tests changed (%s): re-running %s", sorted(map(str, paths)), keys)


async def on_did_change_configuration(
    ls: OrpsLanguageServer, params: types.DidChangeConfigurationParams
) -> None:
    await ls.load_settings(params.settings, reloaded=True)


def on_did_change_folders(
    ls: OrpsLanguageServer, params: types.DidChangeWorkspaceFoldersParams
) -> None:
    watch_folders(ls)


def on_did_change_watched_files(
    ls: OrpsLanguageServer, params: types.DidChangeWatchedFilesParams
) -> None:
    if ls.changes is None:
        return
    paths = [Path(p) for change in params.changes if (p := to_fs_path(change.uri))]
    ls.changes.add(paths)


def on_code_action(
    ls: OrpsLanguageServer, params: types.CodeActionParams
) -> list[types.CodeAction] | None:
    uri = params.text_document.uri
    try:
        document, path = ls.python_document(uri)
    except DocumentError:
        return None
    only = params.context.only
    if only and not any(
        types.CodeActionKind.RefactorRewrite.value.startswith(str(kind)) for kind in only
    ):
        return None
    return presentation.code_actions(
        uri=uri,
        path=path,
        version=document.version,
        source=document.source,
        line=params.range.start.line,
        lookup=ls.lookup(uri),
        workspace_edit=ls.workspace_edit(uri, document.version),
    )


def on_code_lens(
    ls: OrpsLanguageServer, params: types.CodeLensParams
) -> list[types.CodeLens] | None:
    uri = params.text_document.uri
    try:
        document, _ = ls.python_document(uri)
    except DocumentError:
        return None
    return presentation.code_lenses(
        uri=uri,
        version=document.version,
        source=document.source,
        payloads=ls.refinements.payloads_of(uri),
    )


def on_hover(ls: OrpsLanguageServer, params: types.HoverParams) -> types.Hover | None:
    uri = params.text_document.uri
    try:
        document, _ = ls.python_document(uri)
    except DocumentError:
        return None
    return presentation.hover(document.source, params.position.line, ls.lookup(uri))


async def on_refine(ls: OrpsLanguageServer, *arguments: Any) -> dict[str, Any] | None:
    parsed = parse_arguments(arguments)
    if isinstance(parsed, str):
        ls.show(f"orps.refine: {parsed}")
        return None
    payload = await ls.refine(parsed)
    return payload.to_wire() if payload is not None else None


def on_cancel(ls: OrpsLanguageServer, *arguments: Any) -> int:
    if not arguments:
        return ls.refinements.cancel()
    parsed = parse_arguments(arguments)
    if isinstance(parsed, str) or not parsed.name:
        ls.show("orps.cancel: expected [] or [{uri, name}]")
        return 0
    return ls.refinements.cancel([FunctionKey(parsed.uri, parsed.name)])


async def on_accept(ls: OrpsLanguageServer, *arguments: Any) -> bool | dict[str, Any]:
    parsed = parse_arguments(arguments)
    if isinstance(parsed, str):
        ls.show(f"orps.accept: {parsed}")
        return False
    outcome = await ls.accept(parsed)
    if isinstance(outcome, Refused):
        ls.show(outcome.reason)
        return False
    if isinstance(outcome, Question):
        return {"needsConfirmation": True, "message": outcome.message}
    try:
        result = await ls.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(
                edit=outcome.edit, label=f"ORPS candidate {outcome.candidate_id}"
            )
        )
    except Exception as exc:
        ls.show(f"the editor did not apply the candidate: {exc}")
        return False
    if not result.applied:
        ls.show(f"the editor did not apply the candidate: {result.failure_reason or 'refused'}")
        return False
    assert parsed.name is not None
    ls.refinements.accepted(FunctionKey(parsed.uri, parsed.name), outcome.candidate_id)
    return True


def on_restore(ls: OrpsLanguageServer, params: Any) -> int:
    """``orps/restore``: store the payloads a client kept across a server restart."""
    try:
        restore = RestoreParams.model_validate(plain_json(params))
    except ValidationError as exc:
        ls.show(f"{RESTORE_METHOD}: invalid payloads ({exc.error_count()} error(s)); none restored")
        return 0
    return ls.refinements.restore(restore.payloads, ls.settings)


def on_show_candidates(ls: OrpsLanguageServer, *arguments: Any) -> dict[str, Any] | None:
    parsed = parse_arguments(arguments)
    if isinstance(parsed, str) or not parsed.name:
        return None
    payload = ls.refinements.payload(FunctionKey(parsed.uri, parsed.name))
    if payload is None:
        return None
    ls.track_range(payload)
    return payload.to_wire()


def on_candidates_request(ls: OrpsLanguageServer, params: Any) -> dict[str, Any] | None:
    parsed = validate_arguments(params)
    if isinstance(parsed, str):
        ls.show(f"{CANDIDATES_METHOD}: {parsed}")
        return None
    name = parsed.name
    if name is None and parsed.position is not None:
        source = ls.document_source(parsed.uri)
        span = span_at(spans_of(source), parsed.position.line) if source is not None else None
        name = span.qualname if span is not None else None
    payload = ls.refinements.payload(FunctionKey(parsed.uri, name)) if name is not None else None
    if payload is None:
        return None
    ls.track_range(payload)
    return payload.to_wire()


async def on_shutdown(ls: OrpsLanguageServer, params: None) -> None:
    if ls.watcher is not None:
        ls.watcher.stop()
    await ls.refinements.close()


def create_server() -> OrpsLanguageServer:
    """A server with every handler registered."""
    ls = OrpsLanguageServer()
    ls.feature(types.INITIALIZE)(on_initialize)
    ls.feature(types.INITIALIZED)(on_initialized)
    ls.feature(types.SHUTDOWN)(on_shutdown)
    ls.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)(on_did_change_configuration)
    ls.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)(on_did_change_folders)
    ls.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)(on_did_change_watched_files)
    ls.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.RefactorRewrite]),
    )(on_code_action)
    ls.feature(types.TEXT_DOCUMENT_CODE_LENS, types.CodeLensOptions(resolve_provider=False))(
        on_code_lens
    )
    ls.feature(types.TEXT_DOCUMENT_HOVER)(on_hover)
    ls.feature(CANDIDATES_METHOD)(on_candidates_request)
    ls.feature(RESTORE_METHOD)(on_restore)
    ls.command(presentation.REFINE_COMMAND)(on_refine)
    ls.command(presentation.CANCEL_COMMAND)(on_cancel)
    ls.command(presentation.ACCEPT_COMMAND)(on_accept)
    ls.command(presentation.SHOW_COMMAND)(on_show_candidates)
    return ls


def run_server(tcp_port: int | None, host: str) -> None:
    """Serve LSP over stdio, or over TCP on ``host:tcp_port``."""
    logging.basicConfig(
        level=os.environ.get("ORPS_LOG_LEVEL", "WARNING").upper(),
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    server = create_server()
    if tcp_port is not None:
        server.start_tcp(host, tcp_port)
    else:
        server.start_io()
