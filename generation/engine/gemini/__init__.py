"""One batch through Gemini (google-genai async client) with QAForge's own retry policy.

The SDK retries nothing unless asked (and with aiohttp installed it would silently retry connection errors for up to
10 s), so we pass retry options that allow exactly one attempt and decide ourselves:
- 429 RESOURCE_EXHAUSTED waits the server's RetryInfo.retryDelay (plus jitter); a per-day quota (QuotaFailure with a
  PerDay quota id) fails at once, since waiting seconds cannot help;
- 5xx, timeouts and connection errors back off exponentially with jitter, up to a bounded number of attempts;
- 400/401/403/404 fail at once with a message a QA lead understands;
- an answer that does not parse (bad JSON, off-schema, a SAFETY stop) is retried once, then fails the batch.
The API key is never put in a message: every text that leaves here goes through redact().

Each submodule answers one question:
- `client`: how a call reaches Gemini — the config, a client for one asyncio.run on the process's one TLS context,
  the request's fixed parts (response schema, generation config, thinking budget) built once, and `preload`;
- `diagnosis`: what went wrong — a `Failure` saying why and whether trying again can help, from an API error or an
  answer that does not read; which transport exceptions mean a timeout or an unreachable server;
- `answers`: what an answer holds — the planned test cases of valid Gherkin citing known criteria, what was dropped
  and why, the tokens a call used;
- `calls`: the calls for one batch — the estimate for the rate limiter, one attempt, the retries above, and the
  follow-up for what is missing (`run_batch`).

The submodules read the functions and constants of this package through it, at call time (`gemini.LIMITER`,
`gemini._backoff(…)`, `gemini.MAX_RETRY_DELAY_SECONDS`), as `generation.runs` does: a patch of
`generation.engine.gemini.X` reaches every reader, as when this was one module. The cached functions
(`_ssl_context`, `_response_schema`, `_content_config`) are defined once, in `client`, so each stays one cache per
process. Importing this package imports the SDK: `generation.engine.runner` imports it only when a job runs Gemini.
"""

import asyncio  # noqa: F401 - as before the split, gemini.asyncio.sleep and gemini.random.uniform can be patched
import random  # noqa: F401

from generation.engine.failures import FAILURE_RANK, redact
from generation.engine.gemini.answers import (
    _CITATION_RE,
    _PLACEHOLDER_RE,
    _batch_out,
    _citations,
    _count_drops,
    _known,
    _record,
    _steps,
    _unfilled_outline,
    _usage,
    suggestions_from,
)
from generation.engine.gemini.calls import (
    OUTPUT_TOKENS_PER_SCENARIO,
    SCHEMA_TOKENS,
    _ask_for_missing,
    _attempt,
    _backoff,
    estimate_tokens,
    run_batch,
)
from generation.engine.gemini.client import (
    GeminiConfig,
    _content_config,
    _response_schema,
    _ssl_context,
    _thinking,
    make_client,
    preload,
)
from generation.engine.gemini.diagnosis import (
    _BLOCKED_FINISH,
    _STREAM_ERRORS,
    _TIMEOUTS,
    _TRANSPORT,
    MAX_RETRY_DELAY_SECONDS,
    Failure,
    _content_failure,
    _duration,
    _pause_cluster_if_asked,
    classify_api_error,
    httpx2,
)
from generation.engine.limiter import LIMITER

__all__ = [
    "FAILURE_RANK",
    "LIMITER",
    "MAX_RETRY_DELAY_SECONDS",
    "OUTPUT_TOKENS_PER_SCENARIO",
    "SCHEMA_TOKENS",
    "_BLOCKED_FINISH",
    "_CITATION_RE",
    "_PLACEHOLDER_RE",
    "_STREAM_ERRORS",
    "_TIMEOUTS",
    "_TRANSPORT",
    "Failure",
    "GeminiConfig",
    "_ask_for_missing",
    "_attempt",
    "_backoff",
    "_batch_out",
    "_citations",
    "_content_config",
    "_content_failure",
    "_count_drops",
    "_duration",
    "_known",
    "_pause_cluster_if_asked",
    "_record",
    "_response_schema",
    "_ssl_context",
    "_steps",
    "_thinking",
    "_unfilled_outline",
    "_usage",
    "classify_api_error",
    "estimate_tokens",
    "httpx2",
    "make_client",
    "preload",
    "redact",
    "run_batch",
    "suggestions_from",
]
