"""What a selection will cost: how many model calls, and about how long, given the cluster's limits and the work
already queued or running (the generate dialog's estimate)."""

from __future__ import annotations

import math

from django.conf import settings

from generation import engine, runs
from generation.models import GenerationJob, JobStatus

DEFAULT_CALL_SECONDS = 20.0  # a model call's latency before any job has measured one
TOKENS_PER_CALL = 3000  # roughly, for a batch of 15 scenarios (the limiter corrects with what Gemini reports)


def typical_call_seconds() -> float:
    """The median latency of recent Gemini calls (from the last finished jobs' reports), or a default."""
    reports = GenerationJob.objects.filter(generator="gemini", status__in=[JobStatus.READY, JobStatus.SAVED])
    seconds = sorted(
        s
        for report in reports.order_by("-finished_at").values_list("report", flat=True)[:20]
        for s in (report or {}).get("timings", {}).get("batch_seconds", [])
        if s
    )
    return seconds[len(seconds) // 2] if seconds else runs.DEFAULT_CALL_SECONDS


def _calls_per_job(request: engine.GenerationRequest) -> int:
    return len(engine.plan(engine.StorySnapshot(key="", title=""), request).batches)


def work_ahead() -> dict:
    """What the cluster still has to do before a selection queued now is done: {"jobs", "calls"} of the queued and
    running jobs (a running job counts only the batches it has left)."""
    rows = GenerationJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING]).values_list(
        "test_cases", "scenarios_per_test", "batches_total", "batches_done"
    )
    jobs_count = calls = 0
    per_shape: dict[tuple, int] = {}
    for test_cases, scenarios_per_test, total, done in rows:
        jobs_count += 1
        if total:
            calls += max(0, total - done)
            continue
        shape = (test_cases, scenarios_per_test)
        if shape not in per_shape:  # (the batch count depends only on these two)
            request = engine.GenerationRequest(test_cases=test_cases, scenarios_per_test=scenarios_per_test)
            per_shape[shape] = runs._calls_per_job(request)
        calls += per_shape[shape]
    return {"jobs": jobs_count, "calls": calls}


def estimate(stories: int, request: engine.GenerationRequest, ahead: dict | None = None) -> dict:
    """Model calls and about how long `stories` stories take with these options, given the cluster's limits and the
    work already queued or running (`ahead`, work_ahead() when not given), which the limits serve first or
    alongside: {"calls", "seconds", "limited_by", "ahead_calls"} ("limited_by" names the limit that sets the time,
    or "")."""
    if stories <= 0:
        return {"calls": 0, "seconds": 0.0, "limited_by": "", "ahead_calls": 0}
    ahead = runs.work_ahead() if ahead is None else ahead
    calls = stories * runs._calls_per_job(request)
    all_calls, all_jobs = calls + ahead["calls"], stories + ahead["jobs"]
    latency = runs.typical_call_seconds()
    window = float(settings.QAFORGE_LLM_RATE_WINDOW_SECONDS or 60)
    capacity = max(1, settings.QAFORGE_WORKERS * settings.QAFORGE_JOBS_PER_WORKER)
    times = {"": latency, "workers": math.ceil(all_jobs / capacity) * latency}
    if settings.QAFORGE_LLM_CONCURRENCY:
        times["calls in flight"] = math.ceil(all_calls / settings.QAFORGE_LLM_CONCURRENCY) * latency
    if settings.QAFORGE_LLM_RPM:
        times["requests per minute"] = (math.ceil(all_calls / settings.QAFORGE_LLM_RPM) - 1) * window + latency
    if settings.QAFORGE_LLM_TPM:
        tokens = all_calls * runs.TOKENS_PER_CALL
        times["tokens per minute"] = (math.ceil(tokens / settings.QAFORGE_LLM_TPM) - 1) * window + latency
    limited_by = max(times, key=lambda name: (times[name], name == ""))
    return {
        "calls": calls,
        "seconds": times[limited_by],
        "limited_by": limited_by if times[limited_by] > latency else "",
        "ahead_calls": ahead["calls"],
    }
