"""What went wrong with a call: a Failure with a message a QA lead understands and whether trying again can help,
from an API error (with the server's retry delay, and a 429 pausing the whole cluster) or an answer that does not
read; and which transport exceptions mean a timeout or an unreachable server."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from google.genai import errors as genai_errors
from google.genai import types

from generation.engine import gemini
from generation.engine.failures import redact

try:  # the SDK talks through httpx2 when it is installed, else httpx; catch whichever is there
    import httpx2

    _TIMEOUTS: tuple[type[BaseException], ...] = (httpx2.TimeoutException,)
    _TRANSPORT: tuple[type[BaseException], ...] = (httpx2.TransportError,)
except ImportError:  # pragma: no cover
    httpx2 = None
    _TIMEOUTS, _TRANSPORT = (), ()
try:
    import httpx

    _TIMEOUTS += (httpx.TimeoutException,)
    _TRANSPORT += (httpx.TransportError,)
except ImportError:  # pragma: no cover
    pass

try:  # a connection dropped mid-exchange can surface from the transport's stream layer unwrapped
    import anyio

    _STREAM_ERRORS: tuple[type[BaseException], ...] = (
        anyio.EndOfStream,
        anyio.BrokenResourceError,
        anyio.ClosedResourceError,
    )
except ImportError:  # pragma: no cover
    _STREAM_ERRORS = ()

MAX_RETRY_DELAY_SECONDS = 60.0  # a 429 asking for longer than this fails instead of parking a worker
_BLOCKED_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE", "OTHER"}


@dataclass
class Failure(Exception):
    """Why one attempt failed, and whether trying again can help."""

    kind: str  # auth | model | quota | request | rate | content | timeout | server | network
    message: str
    retryable: bool
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


def _duration(value) -> float | None:
    """'17s' / '0.05s' / {'seconds': 17, 'nanos': 0} -> seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([\d.]+)\s*s\s*", value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def classify_api_error(error: genai_errors.APIError, config: gemini.GeminiConfig) -> Failure:
    """Turn an SDK APIError into a Failure with a message for a QA lead."""
    code = error.code or 0
    status = error.status or ""
    body = error.details if isinstance(error.details, dict) else {}
    details = (body.get("error") or {}).get("details") or body.get("details") or []
    server_message = redact(str(error.message or "").strip(), config.api_key)
    short = f"HTTP {code}{' ' + status if status else ''}"
    reasons = {str(d.get("reason", "")) for d in details if isinstance(d, dict)}
    if code == 429:
        retry_after = None
        for detail in details:
            if not isinstance(detail, dict):
                continue
            kind = str(detail.get("@type", ""))
            if kind.endswith("google.rpc.QuotaFailure"):
                for violation in detail.get("violations", []) or []:
                    quota_id = str(violation.get("quotaId", ""))
                    if "perday" in quota_id.lower():
                        return Failure(
                            "quota",
                            f"Gemini daily quota exhausted ({quota_id}); try again tomorrow or raise the quota.",
                            retryable=False,
                        )
            if kind.endswith("google.rpc.RetryInfo"):
                retry_after = gemini._duration(detail.get("retryDelay"))
        return Failure("rate", f"Gemini rate limit reached ({short})", retryable=True, retry_after=retry_after)
    if code in (401, 403) or "API_KEY_INVALID" in reasons or (code == 400 and "api key" in server_message.lower()):
        return Failure("auth", f"Gemini rejected the API key ({short}); check GEMINI_API_KEY.", retryable=False)
    if code == 404:
        return Failure(
            "model", f"Gemini model '{config.model}' not found ({short}); check GEMINI_MODEL.", retryable=False
        )
    if code == 408 or code >= 500:
        return Failure("server", f"Gemini server error ({short})", retryable=True)
    detail = f": {server_message[:300]}" if server_message else ""
    return Failure("request", f"Gemini rejected the request ({short}){detail}", retryable=False)


def _content_failure(response: types.GenerateContentResponse) -> Failure:
    """Why an answer did not read as a BatchOut: a blocked answer, an empty one, bad JSON or JSON of the wrong
    shape."""
    feedback = getattr(response, "prompt_feedback", None)
    if feedback is not None and getattr(feedback, "block_reason", None):
        reason = getattr(feedback.block_reason, "value", feedback.block_reason)
        return Failure("content", f"Gemini blocked the prompt ({reason})", retryable=True)
    candidate = response.candidates[0] if response.candidates else None
    finish = getattr(getattr(candidate, "finish_reason", None), "value", None) if candidate else None
    if finish in gemini._BLOCKED_FINISH:
        what = "safety reasons" if finish == "SAFETY" else "a content filter"
        return Failure("content", f"Gemini stopped for {what} (finish reason {finish})", retryable=True)
    text = None
    if candidate and candidate.content and candidate.content.parts:
        text = "".join(p.text or "" for p in candidate.content.parts if getattr(p, "text", None))
    if not text:
        return Failure("content", f"Gemini returned an empty answer (finish reason {finish or 'none'})", True)
    try:
        json.loads(text)
    except ValueError:
        if finish == "MAX_TOKENS":
            return Failure("content", "Gemini's answer was cut off (MAX_TOKENS) before the JSON was complete", True)
        return Failure("content", "Gemini's answer was not valid JSON", retryable=True)
    return Failure("content", "Gemini's answer did not match the expected test case format", retryable=True)


def _pause_cluster_if_asked(failure: Failure) -> None:
    """The quota is the cluster's: a 429's retry delay holds back every call of every worker, not just this one."""
    if failure.kind == "rate" and failure.retry_after and failure.retry_after <= gemini.MAX_RETRY_DELAY_SECONDS:
        gemini.LIMITER.pause(failure.retry_after)
