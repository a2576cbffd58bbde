"""How a call reaches Gemini: the config, a client for one asyncio.run (no SDK retries, the process's one TLS
context), the request's fixed parts built once per process (the response schema, the generation config, the thinking
budget), and preload(), the per-process set-up done before workers fork."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import ssl
from dataclasses import dataclass, field

from google import genai
from google.genai import types

from generation.engine import gemini
from generation.engine.checks import gherkin_problems
from generation.engine.limiter import stamp_send
from generation.engine.prompts import SYSTEM_INSTRUCTION, BatchOut

logger = logging.getLogger("qaforge.engine")


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str = field(repr=False)  # never printed by a log line or a debugger's repr
    model: str
    base_url: str
    timeout_seconds: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process, chosen as the SDK would choose it.

    The SDK builds a fresh one for every client (about 150 ms of CPU, under the GIL): with ten jobs starting together
    that alone cost more than a model call. Sharing one is safe; contexts are thread-safe for client connections.
    """
    httpx2 = gemini.httpx2
    cafile, capath = os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")
    if cafile or capath or httpx2 is None:
        import certifi

        return ssl.create_default_context(cafile=cafile or (None if capath else certifi.where()), capath=capath)
    return httpx2.create_ssl_context()


def preload(model: str = "gemini-2.5-flash") -> None:
    """Do the per-process set-up now, e.g. in a parent before it forks workers: the SDK import, the TLS context, and
    one rehearsal call through the SDK to a stand-in transport (nothing leaves the process).

    The rehearsal matters: the SDK's pydantic types finish building themselves (model_rebuild) on their first use and
    its HTTP stack imports modules lazily on the first client. Measured with py-spy on a fresh cluster: 8 workers
    doing that at once on their first jobs spent 4-5 CPU-seconds, holding a sprint's first calls back by 3-4 x L."""
    gemini._ssl_context()
    httpx2 = gemini.httpx2
    if httpx2 is None:  # pragma: no cover - the rehearsal speaks httpx2's MockTransport
        return
    answer = {
        "candidates": [
            {"content": {"role": "model", "parts": [{"text": '{"test_cases": []}'}]}, "finishReason": "STOP"}
        ],
        "usageMetadata": {"promptTokenCount": 1, "candidatesTokenCount": 1, "totalTokenCount": 2},
        "modelVersion": "rehearsal",
    }
    config = GeminiConfig(
        api_key="rehearsal",
        model=model,
        base_url="http://rehearsal.invalid",
        timeout_seconds=5,
        max_attempts=1,
        retry_base_seconds=0,
        retry_max_seconds=0,
    )

    async def rehearse() -> None:
        import anyio

        anyio.Event()  # imports anyio's asyncio backend, which the HTTP connection pool loads on its first request
        transport = httpx2.MockTransport(lambda request: httpx2.Response(200, json=answer))
        client = gemini.make_client(config, transport=transport)
        try:
            response = await client.aio.models.generate_content(
                model=model, contents="rehearsal", config=gemini._content_config(model)
            )
            assert gemini._batch_out(response) is not None
        finally:
            await client.aio.aclose()
            client.close()

    gherkin_problems("Rehearsal", "Given a story\nWhen it is read\nThen it is understood", [])
    try:
        asyncio.run(rehearse())
    except Exception:  # noqa: BLE001 - a warm-up only: the first real call does the same work if this fails
        logger.warning("Gemini SDK rehearsal failed; workers will warm up on their first call", exc_info=True)


def make_client(config: GeminiConfig, transport=None) -> genai.Client:
    """A client for one asyncio.run: no SDK retries, an explicit timeout (HttpOptions.timeout is milliseconds).
    `transport`: an httpx2 transport to use instead of the network (preload's rehearsal)."""
    context = gemini._ssl_context()
    # "ssl" is where the SDK looks for websockets; the hook tells the rate limiter when a request really leaves.
    async_args = {"verify": context, "ssl": context, "event_hooks": {"request": [stamp_send]}}
    if transport is not None:
        async_args["transport"] = transport
    options = types.HttpOptions(
        timeout=int(config.timeout_seconds * 1000),
        retry_options=types.HttpRetryOptions(attempts=1),
        base_url=config.base_url or None,
        client_args={"verify": context},
        async_client_args=async_args,
    )
    return genai.Client(api_key=config.api_key, http_options=options)


@functools.cache
def _response_schema() -> dict:
    """BatchOut in the SDK's Schema format, converted once per process, as the plain dict the SDK sends.

    Given the pydantic class, the SDK converts it again on every call (model_json_schema and its clean-up); given a
    types.Schema, it deep-copies that tree of pydantic objects with the config and dumps, cleans and re-validates it
    on every call. Given this dict, the request is byte for byte the same and its CPU about 1 ms lower (of ~4.5 ms a
    call, measured: a sprint's 150 calls build in one burst on two cores); `parsed` comes back as plain JSON, which
    _batch_out() validates."""
    from google.genai import _transformers  # the SDK's own conversion, so the wire stays what it would send

    return _transformers.t_schema(None, BatchOut).model_dump(mode="json", exclude_none=True)


@functools.cache
def _content_config(model: str) -> types.GenerateContentConfig:
    """One per model and process: the SDK copies a config before it uses it, so calls can share it."""
    return types.GenerateContentConfig(
        system_instruction=SYSTEM_INSTRUCTION,
        response_mime_type="application/json",
        response_schema=gemini._response_schema(),
        temperature=0.4,
        thinking_config=gemini._thinking(model),
    )


def _thinking(model: str) -> types.ThinkingConfig | None:
    # A low, fixed thinking budget keeps latency predictable. Flash models accept 0 (off); Pro needs at least 128.
    if "2.5" not in model and "2.0" not in model:
        return None
    return types.ThinkingConfig(thinking_budget=0 if "flash" in model else 128)
