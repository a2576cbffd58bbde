"""The calls for one batch: what a call will likely cost the rate limiter, one attempt, the retry policy around it
(see the package's docstring), and the one follow-up call for what the answer left out."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from urllib.parse import urlparse

import pydantic
from google import genai
from google.genai import errors as genai_errors

from generation.engine import gemini
from generation.engine.data import BatchResult
from generation.engine.failures import redact
from generation.engine.limiter import LimiterUnavailable
from generation.engine.planning import Batch, Plan
from generation.engine.prompts import SYSTEM_INSTRUCTION, BatchOut, batch_prompt, followup_prompt
from generation.engine.shortfall import batch_problems, fold_in, missing_cases

logger = logging.getLogger("qaforge.engine")

SCHEMA_TOKENS = 300  # the response schema sent with every call
OUTPUT_TOKENS_PER_SCENARIO = 150  # a scenario with its share of the test case's title and objective


def estimate_tokens(prompt: str, scenarios: int) -> int:
    """Tokens one call will likely use (about 4 characters a token in, a budget per scenario out), for the
    tokens-per-minute limit before the real count is known."""
    return (
        (len(SYSTEM_INSTRUCTION) + len(prompt)) // 4
        + gemini.SCHEMA_TOKENS
        + gemini.OUTPUT_TOKENS_PER_SCENARIO * max(1, scenarios)
    )


async def _attempt(
    client: genai.Client, config: gemini.GeminiConfig, prompt: str, result: BatchResult, scenarios: int = 15
) -> BatchOut:
    """One call; its token usage and reported model version are added to `result` whether or not it parses."""
    generation_config = gemini._content_config(config.model)
    try:
        # Counted against the cluster-wide limits with an estimate, corrected by the usage Gemini reports.
        async with gemini.LIMITER.slot(gemini.estimate_tokens(prompt, scenarios)) as permit:
            try:
                # The SDK timeout covers each read; this one bounds the whole call, however the bytes trickle in.
                async with asyncio.timeout(config.timeout_seconds):
                    response = await client.aio.models.generate_content(
                        model=config.model, contents=prompt, config=generation_config
                    )
            except genai_errors.APIError as error:
                gemini._pause_cluster_if_asked(
                    gemini.classify_api_error(error, config)
                )  # before this call's slot is freed
                raise
            permit.tokens = gemini._usage(response).get("total") or permit.estimate
    except LimiterUnavailable:
        raise gemini.Failure("rate", "The rate limiter's store (Redis or the database) did not answer", True) from None
    except genai_errors.APIError as error:
        raise gemini.classify_api_error(error, config) from None
    except (TimeoutError, *gemini._TIMEOUTS):
        raise gemini.Failure("timeout", f"Gemini did not answer within {config.timeout_seconds:g} s", True) from None
    except (*gemini._TRANSPORT, *gemini._STREAM_ERRORS, OSError) as error:
        url = urlparse(config.base_url)  # host and port only: a base URL may carry user:password@
        host = (f"{url.hostname}:{url.port}" if url.port else url.hostname) or "generativelanguage.googleapis.com"
        raise gemini.Failure("network", f"Could not reach Gemini at {host} ({type(error).__name__})", True) from None
    gemini._record(result, gemini._usage(response), getattr(response, "model_version", None))
    parsed = gemini._batch_out(response)
    if parsed is None:
        raise gemini._content_failure(response)
    return parsed


async def run_batch(client: genai.Client, config: gemini.GeminiConfig, plan: Plan, batch: Batch) -> BatchResult:
    """Run one batch to a BatchResult; never raises (except CancelledError): a failure is the result's error."""
    prompt = batch_prompt(plan, batch)
    started = time.monotonic()
    attempts = 0
    content_failures = 0
    failure: gemini.Failure | None = None
    result = BatchResult(index=batch.index)
    while True:
        attempts += 1
        try:
            parsed = await gemini._attempt(client, config, prompt, result, batch.scenarios)
            suggestions, dropped, problems = gemini.suggestions_from(parsed, batch, gemini._known(plan))
            gemini._count_drops(result, dropped)
            if not any(s.scenarios for s in suggestions):
                raise gemini.Failure("content", "Gemini's answer held no valid Gherkin scenario", retryable=True)
            result.suggestions, result.problems = suggestions, problems
            failure = None
            break
        except gemini.Failure as error:
            failure = error
        except pydantic.ValidationError:
            failure = gemini.Failure("content", "Gemini's answer did not match the expected test case format", True)
        if failure.kind == "content":
            content_failures += 1
        out_of_tries = attempts >= config.max_attempts or (failure.kind == "content" and content_failures > 1)
        if not failure.retryable or out_of_tries:
            break
        if failure.retry_after is not None:
            if failure.retry_after > gemini.MAX_RETRY_DELAY_SECONDS:
                failure = gemini.Failure(
                    failure.kind, f"{failure.message}; Gemini asked to wait {failure.retry_after:g} s", False
                )
                break
            delay = failure.retry_after + random.uniform(0, 0.1 * failure.retry_after + 0.05)
        else:
            delay = gemini._backoff(config, attempts)
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
        await gemini._ask_for_missing(client, config, plan, batch, result)
    result.attempts = attempts
    result.retries = attempts - 1
    result.seconds = round(time.monotonic() - started, 3)
    if failure is not None:
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        result.error = redact(f"{failure.message}{tries}", config.api_key)
        result.error_kind = failure.kind
    return result


def _backoff(config: gemini.GeminiConfig, attempt: int) -> float:
    base = config.retry_base_seconds * (2 ** (attempt - 1))
    return min(config.retry_max_seconds, base) + random.uniform(0, config.retry_base_seconds)


async def _ask_for_missing(client: genai.Client, config: gemini.GeminiConfig, plan: Plan, batch: Batch, result) -> None:
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
        parsed = await gemini._attempt(client, config, prompt, result, sum(case.scenarios for case in missing))
        batch_asked = Batch(index=batch.index, cases=tuple(missing))
        extra, dropped, _ = gemini.suggestions_from(parsed, batch_asked, gemini._known(plan))
    except (gemini.Failure, pydantic.ValidationError) as error:
        logger.warning("story %s batch %d: follow-up call failed (%s)", plan.snapshot.key, batch.index, error)
        result.problems = batch_problems(batch, result.suggestions) + [
            f"Batch {batch.index + 1}: the follow-up call for the missing items failed: "
            f"{redact(str(error), config.api_key)}"
        ]
        return
    gemini._count_drops(result, dropped)
    result.suggestions = fold_in(batch, result.suggestions, extra)
    result.problems = batch_problems(batch, result.suggestions)
