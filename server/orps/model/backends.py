"""Choosing and checking a backend from Settings: the embedded model or an OpenAI-compatible
endpoint, and the pre-flight check that turns an unreachable endpoint or a rejected key into one
readable line before any search starts."""

from __future__ import annotations

import contextlib

import openai

from orps.model.chat import ChatModel, ModelAuthError, ModelError, ModelUnavailable
from orps.model.openai_compat import OpenAICompatibleModel
from orps.settings import Settings


def make_chat_model(settings: Settings) -> ChatModel:
    """The backend the settings name. Raises ModelUnavailable with a readable line.

    The embedded model runs ``settings.concurrency`` copies side by side (default: one per CPU,
    at most 4), so parallel calls do not queue behind each other; each reuses its KV cache for
    shared prompt prefixes unless ``settings.prefix_reuse`` is off.
    """
    if settings.uses_local_model():
        # Imported here: llama-cpp-python is optional, and the local module loads it only on use.
        from orps.model.local import default_copies, make_local_model, make_local_pool

        copies = settings.concurrency or default_copies()
        if copies > 1:
            return make_local_pool(settings.model_path, copies, reuse_prefix=settings.prefix_reuse)
        return make_local_model(settings.model_path, reuse_prefix=settings.prefix_reuse)
    return OpenAICompatibleModel(
        base_url=settings.endpoint(),
        model=settings.model or "",
        api_key=settings.api_key(),
        timeout_s=settings.request_timeout_seconds,
        concurrency=settings.concurrency or 4,
    )


async def check_endpoint(model: ChatModel) -> None:
    """Fail fast on an unreachable endpoint or a rejected key; pick a model name if unset.

    Only for OpenAI-compatible endpoints; the local model checks itself when loading.
    """
    if not isinstance(model, OpenAICompatibleModel):
        return
    client = openai.AsyncOpenAI(
        base_url=model.base_url, api_key=model.api_key or "not-needed", timeout=10.0, max_retries=1
    )
    try:
        listing = await client.models.list()
        ids = [m.id for m in listing.data]
        if not model.model_name and ids:
            model.model_name = ids[0]
    except openai.AuthenticationError:
        raise ModelAuthError(f"the endpoint {model.base_url} rejected the API key") from None
    except (openai.APIConnectionError, openai.APITimeoutError):
        raise ModelUnavailable(f"the endpoint {model.base_url} is unreachable") from None
    except openai.APIStatusError:
        pass  # some servers have no /models; the first completion will tell
    finally:
        with contextlib.suppress(Exception):
            await client.close()
    if not model.model_name:
        raise ModelError(f"no model name given for {model.base_url}: pass --model NAME")
