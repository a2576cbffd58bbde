"""django-q2 entry points: plain functions taking primary keys, delegating to generation.runs and generation.jobs."""

from generation import jobs, runs


def run_generation_job(job_id: str) -> str:
    """Run this job and, while the worker has room, other queued jobs too; safe to deliver twice (a job's lease
    makes a second delivery a no-op)."""
    return runs.run_task(job_id)


def reap_stale_jobs() -> dict:
    """Every minute: re-queue jobs whose worker died or whose queue task vanished."""
    return jobs.reap_stale_jobs()


def ping() -> str:
    """A task that does nothing: `manage.py serve` queues it to see that a worker answers."""
    return "pong"
