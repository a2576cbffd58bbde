"""The review queue: every story the user may edit whose latest job is ready to review, in the stories table's
order (project, then natural key). The stories page offers "N stories ready to review" (opening the first), and
the review dialog walks the queue with Previous / Next and *Save all and next*."""

from __future__ import annotations

from django.db.models import F, OuterRef, QuerySet, Subquery

from generation.models import GenerationJob, JobStatus
from stories import permissions
from stories.keys import NATURAL_ORDER


def ready_jobs(user) -> QuerySet[GenerationJob]:
    """The jobs waiting for `user`'s review, one per story (its latest), in table order."""
    latest = GenerationJob.objects.filter(story_id=OuterRef("story_id")).order_by("-queued_at", "-pk").values("pk")
    stories = permissions.editable(permissions.stories_visible_to(user), user)
    return (
        GenerationJob.objects.filter(status=JobStatus.READY, story__in=stories, pk=Subquery(latest[:1]))
        .select_related("story")
        .order_by(F("story__project__key").asc(nulls_last=True), *(f"story__{name}" for name in NATURAL_ORDER))
    )


def summary(user) -> dict:
    """For the stories page: how many wait, and the first to open."""
    jobs = list(ready_jobs(user).only("pk", "story__key")[:1])
    return {"count": ready_jobs(user).count(), "first": jobs[0] if jobs else None}


def around(user, job: GenerationJob) -> dict:
    """`job`'s place in the queue: its position (1-based, 0 when it is not in the queue), the total, and the
    jobs before and after it (None at either end)."""
    ids = list(ready_jobs(user).values_list("pk", flat=True))
    if job.pk not in ids:
        following = ids[0] if ids else None
        return {"position": 0, "total": len(ids), "previous": None, "next": following}
    index = ids.index(job.pk)
    return {
        "position": index + 1,
        "total": len(ids),
        "previous": ids[index - 1] if index > 0 else None,
        "next": ids[index + 1] if index + 1 < len(ids) else None,
    }
