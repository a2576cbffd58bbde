"""One batch through Gemini (google-genai async client) with QAForge's own retry policy.

The SDK retries nothing unless asked (and with aiohttp installed it would silently retry connection errors for up to
10 s), so we pass retry options that allow exactly one attempt and decide ourselves:
- 429 RESOURCE_EXHAUSTED waits the server's RetryInfo.retryDelay (plus jitter); a per-day quota (QuotaFailure with a
  PerDay quota id) fails at once, since waiting seconds cannot help;
- 5xx, timeouts and connection errors back off exponentially with jitter, up to a bounded number of attempts;
- 400/401/403/404 fail at once with a message a QA lead understands;
- an answer that does not parse (bad JSON, off-schema, a SAFETY stop) is retried once, then fails the batch.
The API key is never put in a message: every text that leaves here goes through redact().
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import os
import random
import re
import ssl
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlparse

import pydantic
from google import genai
from google.genai import errors as genai_errors
from google.genai import types

from generation.engine.checks import gherkin_problems
from generation.engine.data import PRIORITIES, TEST_TYPES, BatchResult, SuggestedScenario, Suggestion
from generation.engine.failures import FAILURE_RANK, redact  # noqa: F401 (FAILURE_RANK re-exported)
from generation.engine.limiter import LIMITER, LimiterUnavailable, stamp_send
from generation.engine.planning import Batch, Plan
from generation.engine.prompts import SYSTEM_INSTRUCTION, BatchOut, ScenarioOut, batch_prompt, followup_prompt
from generation.engine.shortfall import batch_problems, drop_reason, fold_in, missing_cases
from stories.gherkin import clean_tags, examples_lines, is_outline, normalise_steps

logger = logging.getLogger("qaforge.engine")

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

SCHEMA_TOKENS = 300  # the response schema sent with every call
OUTPUT_TOKENS_PER_SCENARIO = 150  # a scenario with its share of the test case's title and objective
MAX_RETRY_DELAY_SECONDS = 60.0  # a 429 asking for longer than this fails instead of parking a worker
_BLOCKED_FINISH = {"SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "LANGUAGE", "OTHER"}


@dataclass(frozen=True)
class GeminiConfig:
    api_key: str = field(repr=False)  # never printed by a log line or a debugger's repr
    model: str
    base_url: str
    timeout_seconds: float
    max_attempts: int
    retry_base_seconds: float
    retry_max_seconds: float


@dataclass
class Failure(Exception):
    """Why one attempt failed, and whether trying again can help."""

    kind: str  # auth | model | quota | request | rate | content | timeout | server | network
    message: str
    retryable: bool
    retry_after: float | None = None

    def __str__(self) -> str:
        return self.message


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context per process, chosen as the SDK would choose it.

    The SDK builds a fresh one for every client (about 150 ms of CPU, under the GIL): with ten jobs starting together
    that alone cost more than a model call. Sharing one is safe; contexts are thread-safe for client connections.
    """
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
    _ssl_context()
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
        client = make_client(config, transport=transport)
        try:
            response = await client.aio.models.generate_content(
                model=model, contents="rehearsal", config=_content_config(model)
            )
            assert _batch_out(response) is not None
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
    context = _ssl_context()
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


def _batch_out(response: types.GenerateContentResponse) -> BatchOut | None:
    """The answer as a BatchOut, or None when it is not one (then _content_failure says why)."""
    if not isinstance(response.parsed, dict):
        return None
    try:
        return BatchOut.model_validate(response.parsed)
    except pydantic.ValidationError:
        return None


@functools.cache
def _content_config(model: str) -> types.GenerateContentConfig:
    """One per model and process: the SDK copies a config before it uses it, so calls can share it."""
    return types.GenerateContentConfig(
        system_instruction=SYSTEM_INSTRUCTION,
        response_mime_type="application/json",
        response_schema=_response_schema(),
        temperature=0.4,
        thinking_config=_thinking(model),
    )


def _thinking(model: str) -> types.ThinkingConfig | None:
    # A low, fixed thinking budget keeps latency predictable. Flash models accept 0 (off); Pro needs at least 128.
    if "2.5" not in model and "2.0" not in model:
        return None
    return types.ThinkingConfig(thinking_budget=0 if "flash" in model else 128)


def _duration(value) -> float | None:
    """'17s' / '0.05s' / {'seconds': 17, 'nanos': 0} -> seconds."""
    if isinstance(value, str):
        match = re.fullmatch(r"\s*([\d.]+)\s*s\s*", value)
        return float(match.group(1)) if match else None
    if isinstance(value, dict):
        return float(value.get("seconds", 0)) + float(value.get("nanos", 0)) / 1e9
    return None


def classify_api_error(error: genai_errors.APIError, config: GeminiConfig) -> Failure:
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
                retry_after = _duration(detail.get("retryDelay"))
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
    if finish in _BLOCKED_FINISH:
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


_CITATION_RE = re.compile(r"^\s*(?:AC[\s-]*)?(\d+)\s*$", re.IGNORECASE)


def _citations(labels: list[str], known: set[int], dropped: Counter) -> list[int]:
    """AC numbers from the model's labels ("AC-2", "2"); unknown ones are dropped and counted as "unknown_citation"."""
    numbers: list[int] = []
    for label in labels:
        match = _CITATION_RE.match(str(label))
        number = int(match.group(1)) if match else None
        if number is None or number not in known:
            dropped["unknown_citation"] += 1
        elif number not in numbers:
            numbers.append(number)
    return sorted(numbers)


def _steps(scenario: ScenarioOut) -> str:
    """The one stored steps format: the step lines, then an outline's Examples table (an empty one is no table)."""
    lines = list(scenario.steps)
    examples = scenario.examples
    if examples is not None and (examples.columns or examples.rows):
        # Column names the model wrote as placeholders ("<amount>") name the same column.
        columns = [re.sub(r"^<(.*)>$", r"\1", column.strip()) for column in examples.columns]
        lines += examples_lines(columns, examples.rows)
    return normalise_steps("\n".join(lines))


_PLACEHOLDER_RE = re.compile(r"<[A-Za-z_][\w -]*>")


def _unfilled_outline(steps: str) -> bool:
    """An outline the model left without its Examples: `<placeholders>` in the steps and no table. Markup a
    security scenario types (`<script>…</script>`, `<img src=x>`) closes a tag or has attributes, so it is text."""
    if is_outline(steps) or "</" in steps or "/>" in steps:
        return False
    return bool(_PLACEHOLDER_RE.search(steps))


def suggestions_from(
    parsed: BatchOut, batch: Batch, known: set[int] | None = None
) -> tuple[list[Suggestion], Counter, list[str]]:
    """Keep the planned test cases from a parsed answer, drop invalid scenarios (counted by reason), keep citations
    of the story's criteria (`known` AC numbers; others are counted as "unknown_citation"), note what is missing."""
    planned = {case.number: case for case in batch.cases}
    by_number: dict[int, Suggestion] = {}
    dropped: Counter = Counter()
    known = known or set()
    for out in parsed.test_cases:
        number = out.case
        if number not in planned or number in by_number:
            # A model that renumbers cases: give the answer to the first planned case still open, in order.
            number = next((n for n in planned if n not in by_number), None)
            if number is None:
                continue
        case = planned[number]
        scenarios = []
        names = set()
        for scenario in out.scenarios:
            candidate = SuggestedScenario(
                name=" ".join(scenario.name.split())[:200],  # model text: keep it inside Scenario.name
                steps=_steps(scenario),
                tags=clean_tags(scenario.tags),
                criteria=_citations(scenario.criteria, known, dropped),
            )
            problems = gherkin_problems(candidate.name, candidate.steps, candidate.tags)
            if problems:
                dropped[drop_reason(problems)] += 1
                continue
            if _unfilled_outline(candidate.steps):
                dropped["placeholders without Examples"] += 1
                continue
            if candidate.name in names:
                candidate.name = f"{candidate.name} ({len(scenarios) + 1})"
            names.add(candidate.name)
            scenarios.append(candidate)
        scenarios = scenarios[: case.scenarios]
        test_type = out.test_type.strip().upper()
        priority = out.priority.strip().lower()
        by_number[number] = Suggestion(
            title=" ".join(out.title.split())[:300] or f"Test case {number}",
            objective=out.objective.strip(),
            preconditions=out.preconditions.strip(),
            test_type=test_type if test_type in TEST_TYPES else case.test_type,
            priority=priority if priority in PRIORITIES else case.priority,
            scenarios=scenarios,
            case_number=number,
        )
    suggestions = [by_number[n] for n in planned if n in by_number]
    return suggestions, dropped, batch_problems(batch, suggestions)


def _backoff(config: GeminiConfig, attempt: int) -> float:
    base = config.retry_base_seconds * (2 ** (attempt - 1))
    return min(config.retry_max_seconds, base) + random.uniform(0, config.retry_base_seconds)


def _usage(response: types.GenerateContentResponse) -> dict[str, int]:
    meta = getattr(response, "usage_metadata", None)
    if meta is None:
        return {}
    counts = {
        "prompt": meta.prompt_token_count,
        "output": meta.candidates_token_count,
        "thinking": meta.thoughts_token_count,
        "total": meta.total_token_count,
    }
    return {name: int(value) for name, value in counts.items() if value}


def _record(result: BatchResult, usage: dict[str, int], model_version: str | None) -> None:
    for name, value in usage.items():
        result.usage[name] = result.usage.get(name, 0) + value
    if model_version:
        result.model_version = model_version


def _pause_cluster_if_asked(failure: Failure) -> None:
    """The quota is the cluster's: a 429's retry delay holds back every call of every worker, not just this one."""
    if failure.kind == "rate" and failure.retry_after and failure.retry_after <= MAX_RETRY_DELAY_SECONDS:
        LIMITER.pause(failure.retry_after)


def estimate_tokens(prompt: str, scenarios: int) -> int:
    """Tokens one call will likely use (about 4 characters a token in, a budget per scenario out), for the
    tokens-per-minute limit before the real count is known."""
    return (len(SYSTEM_INSTRUCTION) + len(prompt)) // 4 + SCHEMA_TOKENS + OUTPUT_TOKENS_PER_SCENARIO * max(1, scenarios)


async def _attempt(
    client: genai.Client, config: GeminiConfig, prompt: str, result: BatchResult, scenarios: int = 15
) -> BatchOut:
    """One call; its token usage and reported model version are added to `result` whether or not it parses."""
    generation_config = _content_config(config.model)
    try:
        # Counted against the cluster-wide limits with an estimate, corrected by the usage Gemini reports.
        async with LIMITER.slot(estimate_tokens(prompt, scenarios)) as permit:
            try:
                # The SDK timeout covers each read; this one bounds the whole call, however the bytes trickle in.
                async with asyncio.timeout(config.timeout_seconds):
                    response = await client.aio.models.generate_content(
                        model=config.model, contents=prompt, config=generation_config
                    )
            except genai_errors.APIError as error:
                _pause_cluster_if_asked(classify_api_error(error, config))  # before this call's slot is freed
                raise
            permit.tokens = _usage(response).get("total") or permit.estimate
    except LimiterUnavailable:
        raise Failure("rate", "The rate limiter's store (Redis or the database) did not answer", True) from None
    except genai_errors.APIError as error:
        raise classify_api_error(error, config) from None
    except (TimeoutError, *_TIMEOUTS):
        raise Failure("timeout", f"Gemini did not answer within {config.timeout_seconds:g} s", True) from None
    except (*_TRANSPORT, *_STREAM_ERRORS, OSError) as error:
        url = urlparse(config.base_url)  # host and port only: a base URL may carry user:password@
        host = (f"{url.hostname}:{url.port}" if url.port else url.hostname) or "generativelanguage.googleapis.com"
        raise Failure("network", f"Could not reach Gemini at {host} ({type(error).__name__})", True) from None
    _record(result, _usage(response), getattr(response, "model_version", None))
    parsed = _batch_out(response)
    if parsed is None:
        raise _content_failure(response)
    return parsed


async def run_batch(client: genai.Client, config: GeminiConfig, plan: Plan, batch: Batch) -> BatchResult:
    """Run one batch to a BatchResult; never raises (except CancelledError): a failure is the result's error."""
    prompt = batch_prompt(plan, batch)
    started = time.monotonic()
    attempts = 0
    content_failures = 0
    failure: Failure | None = None
    result = BatchResult(index=batch.index)
    while True:
        attempts += 1
        try:
            parsed = await _attempt(client, config, prompt, result, batch.scenarios)
            suggestions, dropped, problems = suggestions_from(parsed, batch, _known(plan))
            _count_drops(result, dropped)
            if not any(s.scenarios for s in suggestions):
                raise Failure("content", "Gemini's answer held no valid Gherkin scenario", retryable=True)
            result.suggestions, result.problems = suggestions, problems
            failure = None
            break
        except Failure as error:
            failure = error
        except pydantic.ValidationError:
            failure = Failure("content", "Gemini's answer did not match the expected test case format", True)
        if failure.kind == "content":
            content_failures += 1
        out_of_tries = attempts >= config.max_attempts or (failure.kind == "content" and content_failures > 1)
        if not failure.retryable or out_of_tries:
            break
        if failure.retry_after is not None:
            if failure.retry_after > MAX_RETRY_DELAY_SECONDS:
                failure = Failure(
                    failure.kind, f"{failure.message}; Gemini asked to wait {failure.retry_after:g} s", False
                )
                break
            delay = failure.retry_after + random.uniform(0, 0.1 * failure.retry_after + 0.05)
        else:
            delay = _backoff(config, attempts)
        logger.warning(
            "story %s batch %d: attempt %d failed (%s); retrying in %.2fs",
            plan.snapshot.key,
            batch.index,
            attempts,
            redact(failure.message, config.api_key),
            delay,
        )
        await asyncio.sleep(delay)
    if failure is None:
        await _ask_for_missing(client, config, plan, batch, result)
    result.attempts = attempts
    result.retries = attempts - 1
    result.seconds = round(time.monotonic() - started, 3)
    if failure is not None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        result.error = redact(f"{failure.message}{tries}", config.api_key)
        result.error_kind = failure.kind
    return result


def _known(plan: Plan) -> set[int]:
    return {number for number, _ in plan.snapshot.numbered}


def _count_drops(result: BatchResult, dropped: Counter) -> None:
    result.unknown_citations += dropped.pop("unknown_citation", 0)
    result.dropped_invalid += sum(dropped.values())
    for reason, count in dropped.items():
        result.dropped_reasons[reason] = result.dropped_reasons.get(reason, 0) + count


async def _ask_for_missing(client: genai.Client, config: GeminiConfig, plan: Plan, batch: Batch, result) -> None:
    """Ask once more, in one call, for the test cases and scenarios the answer left out or that were dropped.

    Each batch does this inside its own task, so follow-ups run in parallel with the other batches' calls. What the
    follow-up cannot supply stays missing and becomes a warning on the job (shortfall.warnings).
    """
    missing = missing_cases(batch, result.suggestions)
    if not missing:
        return
    result.reasked += 1
    written = {s.case_number: [sc.name for sc in s.scenarios] for s in result.suggestions}
    prompt = followup_prompt(plan, batch, missing, written)
    try:
        parsed = await _attempt(client, config, prompt, result, sum(case.scenarios for case in missing))
        extra, dropped, _ = suggestions_from(parsed, Batch(index=batch.index, cases=tuple(missing)), _known(plan))
    except (Failure, pydantic.ValidationError) as error:
        logger.warning("story %s batch %d: follow-up call failed (%s)", plan.snapshot.key, batch.index, error)
        result.problems = batch_problems(batch, result.suggestions) + [
            f"Batch {batch.index + 1}: the follow-up call for the missing items failed: "
            f"{redact(str(error), config.api_key)}"
        ]
        return
    _count_drops(result, dropped)
    result.suggestions = fold_in(batch, result.suggestions, extra)
    result.problems = batch_problems(batch, result.suggestions)
