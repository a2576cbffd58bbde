"""generate(): plan, run every batch of a story at once, merge, deduplicate, report.

Sync on the outside (the job layer calls it from a django-q2 worker), one asyncio.run inside with the Gemini client
created and closed in it. The batch callback may touch the ORM, so it runs on a single helper thread (never on the loop)
whose database connection is closed before generate() returns.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from django.conf import settings

from generation.engine.checks import gherkin_problems
from generation.engine.data import (
    BatchResult,
    Cancelled,
    EngineError,
    GenerationRequest,
    GenerationResult,
    StorySnapshot,
    Suggestion,
)
from generation.engine.failures import FAILURE_RANK, redact
from generation.engine.offline import OFFLINE_VERSION, offline_batch
from generation.engine.planning import Batch, Plan, plan
from generation.engine.prompts import PROMPT_VERSION
from generation.engine.shortfall import drop_reason, warnings
from stories.gherkin import clean_tags, normalise_steps

if TYPE_CHECKING:
    from generation.engine import gemini

logger = logging.getLogger("qaforge.engine")

CANCEL_POLL_SECONDS = 0.5
GENERATORS = ("auto", "offline", "gemini")


def _api_key() -> str:
    return os.environ.get("GEMINI_API_KEY", "").strip()


def _resolve(generator: str | None) -> str:
    choice = (generator or getattr(settings, "QAFORGE_GENERATOR", "auto") or "auto").strip().lower()
    if choice not in GENERATORS:
        raise EngineError(f"Unknown generator '{choice}' (use one of: {', '.join(GENERATORS)}).")
    if choice == "auto":
        return "gemini" if _api_key() else "offline"
    return choice


def active_generator() -> dict:
    """What would run now: {"generator": "offline"|"gemini", "model": str, "label": str} for the UI."""
    which = _resolve(None)
    if which == "gemini":
        model = settings.GEMINI_MODEL
        return {"generator": "gemini", "model": model, "label": f"Gemini ({model})"}
    return {"generator": "offline", "model": "", "label": "Offline generator"}


def _gemini_config() -> gemini.GeminiConfig:
    # Imported here: the SDK costs about a second of CPU, which the web process and the offline generator never need.
    from generation.engine import gemini

    key = _api_key()
    if not key:
        raise EngineError("The Gemini generator is selected but GEMINI_API_KEY is not set.")
    return gemini.GeminiConfig(
        api_key=key,
        model=settings.GEMINI_MODEL,
        base_url=getattr(settings, "GEMINI_BASE_URL", "") or "",
        timeout_seconds=float(getattr(settings, "QAFORGE_LLM_TIMEOUT_SECONDS", 90) or 90),
        max_attempts=max(1, int(getattr(settings, "QAFORGE_LLM_MAX_ATTEMPTS", 4) or 4)),
        retry_base_seconds=float(getattr(settings, "QAFORGE_RETRY_BASE_SECONDS", 1.0)),
        retry_max_seconds=float(getattr(settings, "QAFORGE_RETRY_MAX_SECONDS", 20.0)),
    )


async def _offline_batch(the_plan: Plan, batch: Batch) -> BatchResult:
    started = time.monotonic()
    suggestions = offline_batch(the_plan, batch)
    await asyncio.sleep(0)  # a checkpoint, so cancellation and progress interleave like the Gemini path
    return BatchResult(
        index=batch.index, suggestions=suggestions, attempts=1, seconds=round(time.monotonic() - started, 3)
    )


async def _guarded(coro, batch: Batch, api_key: str) -> BatchResult:
    """A batch that fails in a way nobody planned for still ends as a failed BatchResult, not a lost task."""
    try:
        return await coro
    except asyncio.CancelledError:
        raise
    except Exception as error:  # noqa: BLE001 - one broken batch must not take the others down
        logger.exception("batch %d failed unexpectedly", batch.index)
        message = redact(f"Unexpected error in batch {batch.index + 1}: {type(error).__name__}", api_key)
        return BatchResult(index=batch.index, attempts=1, error=message, error_kind="internal")


async def _run(
    the_plan: Plan,
    which: str,
    config: gemini.GeminiConfig | None,
    done: dict[int, BatchResult],
    on_batch_done: Callable[[BatchResult, int, int], None] | None,
    should_cancel: Callable[[], bool] | None,
    helper: ThreadPoolExecutor,
) -> dict[int, BatchResult]:
    loop = asyncio.get_running_loop()

    async def call(fn, *args):
        return await loop.run_in_executor(helper, fn, *args)

    total = len(the_plan.batches)
    results = dict(done)
    finished = len(done)
    todo = [b for b in the_plan.batches if b.index not in done]
    if not todo:
        return results
    if should_cancel and should_cancel():
        raise Cancelled("Generation was cancelled before it started.")
    if which == "gemini":
        from generation.engine import gemini

        client = gemini.make_client(config)
    else:
        client = None
    pending: set[asyncio.Task] = set()
    try:
        for batch in todo:
            if client is not None:
                coro = gemini.run_batch(client, config, the_plan, batch)
            else:
                coro = _offline_batch(the_plan, batch)
            pending.add(asyncio.create_task(_guarded(coro, batch, config.api_key if config else "")))
        while pending:
            finished_now, pending = await asyncio.wait(
                pending, timeout=CANCEL_POLL_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            reports = []
            for task in sorted(finished_now, key=lambda t: t.result().index):
                result = task.result()
                results[result.index] = result
                finished += 1
                reports.append((result, finished))
                logger.info(
                    "story %s batch %d: %s after %d attempt(s) in %.2fs",
                    the_plan.snapshot.key,
                    result.index,
                    "failed" if result.error else f"{sum(len(s.scenarios) for s in result.suggestions)} scenarios",
                    result.attempts,
                    result.seconds,
                )
            if on_batch_done and reports:
                # Together, so batches that ended at the same moment share the caller's write (runs' group commit).
                await asyncio.gather(*(call(on_batch_done, result, done_now, total) for result, done_now in reports))
            if should_cancel and should_cancel():
                raise Cancelled(f"Generation was cancelled after {finished} of {total} batches.")
    finally:
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        if client is not None:
            await client.aio.aclose()
            client.close()
    return results


def _step_key(steps: str) -> str:
    return " ".join(normalise_steps(steps).lower().split())


def _merge(the_plan: Plan, results: dict[int, BatchResult]) -> tuple[list[Suggestion], int, Counter, list[str]]:
    """Suggestions in plan order, every scenario valid Gherkin and unique by its steps."""
    seen: set[str] = set()
    merged: list[Suggestion] = []
    duplicates = 0
    dropped: Counter = Counter()
    problems: list[str] = []
    for batch in the_plan.batches:
        result = results.get(batch.index)
        if result is None or result.error:
            continue
        for suggestion in result.suggestions:
            kept = []
            for scenario in suggestion.scenarios:
                scenario.steps = normalise_steps(scenario.steps)
                scenario.tags = clean_tags(scenario.tags)
                problems = gherkin_problems(scenario.name, scenario.steps, scenario.tags)
                if problems:
                    dropped[drop_reason(problems)] += 1
                    continue
                key = _step_key(scenario.steps)
                if key in seen:
                    duplicates += 1
                    continue
                seen.add(key)
                kept.append(scenario)
            suggestion.scenarios = kept
            if kept:
                merged.append(suggestion)
            else:
                problems.append(f"Test case {suggestion.case_number or '?'} had no scenario left after checks.")
    return merged, duplicates, dropped, problems


def generate(
    snapshot: StorySnapshot,
    request: GenerationRequest,
    *,
    done: dict[int, BatchResult] | None = None,
    on_batch_done: Callable[[BatchResult, int, int], None] | None = None,
    should_cancel: Callable[[], bool] | None = None,
    generator: str | None = None,
    callbacks: ThreadPoolExecutor | None = None,
) -> GenerationResult:
    """Generate suggested test cases for one story: every batch of the plan in flight at once.

    done: batches finished by an earlier run (checkpoints); successful ones are reused and counted for progress,
    failed ones are run again. on_batch_done(batch, batches_done, batches_total) is called once per newly finished
    batch, successful or failed, on a helper thread, so it may use the Django ORM: one of this call's own, or
    `callbacks` (a one-thread executor the caller shares between many jobs, so a worker running dozens of jobs holds
    one database connection for their callbacks, not dozens). should_cancel() is polled before the first call, after
    each batch and about every 0.5 s, on the event loop itself: it must be quick and must not touch the database
    (read state another thread keeps, as the job's lease does), because a shared helper thread busy writing other
    jobs' checkpoints would hold back this job's first call. When it returns True the remaining calls are cancelled
    and Cancelled is raised.

    Raises EngineError for an invalid request or missing configuration; batch failures are reported in the result
    (error when nothing usable came back; warnings, with the asked and got counts, when some batches failed or what
    came back is short of what was asked even after each short batch asked once more).
    """
    problems = request.problems()
    if problems:
        raise EngineError(" ".join(problems))
    which = _resolve(generator)
    config = _gemini_config() if which == "gemini" else None
    the_plan = plan(snapshot, request)
    reused = {i: r for i, r in (done or {}).items() if r.error is None and 0 <= i < len(the_plan.batches)}
    started = time.monotonic()
    helper = callbacks or ThreadPoolExecutor(max_workers=1, thread_name_prefix="qaforge-engine-callbacks")
    try:
        results = asyncio.run(_run(the_plan, which, config, reused, on_batch_done, should_cancel, helper))
    finally:
        if callbacks is None:  # (a caller's executor, and its connection, outlive this call)
            if on_batch_done:
                # The callbacks' database connection belongs to the helper thread: close it there, or it leaks.
                helper.submit(_close_connections).result()
            helper.shutdown(wait=True)
    wall = round(time.monotonic() - started, 3)
    suggestions, duplicates, dropped, merge_problems = _merge(the_plan, results)
    ordered = [results[b.index] for b in the_plan.batches]
    failed = [r for r in ordered if r.error]
    report_problems = [p for r in ordered for p in r.problems] + merge_problems
    report_problems += [f"Batch {r.index + 1} failed: {r.error}" for r in failed]
    clearest = None
    if failed:
        rank = FAILURE_RANK
        clearest = min(failed, key=lambda r: rank.index(r.error_kind) if r.error_kind in rank else len(rank)).error
    error = None
    job_warnings: list[str] = []
    total = len(ordered)
    if failed and len(failed) == total:
        error = clearest if total == 1 else f"{clearest} (all {total} batches failed)"
    elif not suggestions:
        error = "No valid scenarios came back from the generator."
    elif failed:
        job_warnings.append(f"{len(failed)} of {total} batches failed: {clearest}. The other test cases are ready.")
    asked = {"test_cases": request.test_cases, "scenarios": the_plan.total_scenarios}
    got = {"test_cases": len(suggestions), "scenarios": sum(len(s.scenarios) for s in suggestions)}
    dropped_reasons = dropped + sum((Counter(r.dropped_reasons) for r in ordered), Counter())
    if error is None:
        job_warnings += warnings(
            who="Gemini" if which == "gemini" else "The offline generator",
            asked=asked,
            got=got,
            dropped=dropped_reasons,
            duplicates=duplicates,
        )
    usage: Counter = sum((Counter(r.usage) for r in ordered if r.index not in reused), Counter())
    model = config.model if config else ""
    report = {
        "generator": which,
        "model": model,
        "label": f"Gemini ({model})" if which == "gemini" else "Offline generator",
        "model_version": next((r.model_version for r in ordered if r.model_version), ""),
        "story_revision": snapshot.revision,
        "story_criteria": [[number, text] for number, text in snapshot.numbered],
        "criteria_focus": list(request.criteria),
        "unknown_citations": sum(r.unknown_citations for r in ordered),
        "prompt_version": PROMPT_VERSION if which == "gemini" else OFFLINE_VERSION,
        "usage": dict(usage),
        "asked": asked,
        "got": got,
        "warnings": job_warnings,
        "requested": {
            "test_cases": request.test_cases,
            "scenarios_per_test": request.scenarios_per_test,
            "test_types": list(request.test_types),
        },
        "batch_size": the_plan.batch_size,
        "batches_total": total,
        "batches_failed": len(failed),
        "batches_reused": len(reused),
        "batches": [
            {
                "index": r.index,
                "cases": [c.number for c in the_plan.batches[r.index].cases],
                "focus": [c.describe() for c in the_plan.batches[r.index].cases],
                "attempts": r.attempts,
                "retries": r.retries,
                "seconds": r.seconds,
                "dropped_invalid": r.dropped_invalid,
                "reasked": r.reasked,
                "error": r.error,
                "reused": r.index in reused,
            }
            for r in ordered
        ],
        "attempts": sum(r.attempts for r in ordered if r.index not in reused),
        "reasked": sum(r.reasked for r in ordered if r.index not in reused),
        "retries": sum(r.retries for r in ordered if r.index not in reused),
        "test_cases": len(suggestions),
        "scenarios": sum(len(s.scenarios) for s in suggestions),
        "duplicates_removed": duplicates,
        "dropped_invalid": sum(dropped_reasons.values()),
        "dropped_reasons": dict(dropped_reasons),
        "timings": {"wall_seconds": wall, "batch_seconds": [r.seconds for r in ordered]},
        "problems": report_problems,
    }
    if config:
        report = _redacted(report, config.api_key)
    return GenerationResult(
        suggestions=suggestions,
        report=report,
        batches_total=total,
        batches_failed=len(failed),
        error=error,
        warnings=report["warnings"],  # redacted, like the rest of the report
        asked=asked,
        got=got,
    )


def _redacted(value, api_key: str):
    if isinstance(value, str):
        return redact(value, api_key)
    if isinstance(value, list):
        return [_redacted(v, api_key) for v in value]
    if isinstance(value, dict):
        return {k: _redacted(v, api_key) for k, v in value.items()}
    return value


def _close_connections() -> None:
    from django.db import connections

    connections.close_all()
