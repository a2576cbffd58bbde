"""django-q2 entry points for the import page: plain functions taking primary keys, delegating to
stories.importing.jobs."""

from stories.importing import jobs


def parse_import(job_id: str) -> str:
    """Read an uploaded file into a preview (nothing written)."""
    return jobs.parse(job_id)


def write_import(job_id: str) -> str:
    """Write a confirmed import, in one transaction."""
    return jobs.write(job_id)
