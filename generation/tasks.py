"""django-q2 entry points: plain functions taking primary keys, delegating to generation.jobs."""

from generation import jobs


def run_generation_job(job_id: str) -> str:
    """Run one generation job; safe to deliver twice (the job's lease makes the second delivery a no-op)."""
    return jobs.run_job(job_id)


def reap_stale_jobs() -> dict:
    """Every minute: re-queue jobs whose worker died or whose queue task vanished."""
    return jobs.reap_stale_jobs()
