"""`manage.py review_jobs [JOB-ID | STORY-KEY …] [--save | --discard] [--all]`: the review step without a browser.

Without `--save`/`--discard` it lists the jobs waiting for review (all, or the named ones). `--save` turns a job's
suggestions into test cases exactly as suggested (`jobs.save_suggestions`: one transaction, saving twice saves
nothing twice); `--discard` throws them away. A job is named by its id (or the first 8+ characters of it) or by a
story key, which means that story's latest job waiting for review.
"""

from __future__ import annotations

import uuid

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Count

from generation import jobs
from generation.models import GenerationJob, JobStatus
from stories.keys import normalise_key

MIN_ID_PREFIX = 8


class Command(BaseCommand):
    help = (
        "List the generation jobs waiting for review, or save (--save) or discard (--discard) them by job id or "
        "story key (--all: every job waiting). Exits 1 if any named job could not be saved or discarded."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "targets", nargs="*", metavar="JOB_OR_KEY", help="job ids (or 8+ first characters) or story keys"
        )
        action = parser.add_mutually_exclusive_group()
        action.add_argument("--save", action="store_true", help="save the suggestions as test cases, as suggested")
        action.add_argument("--discard", action="store_true", help="discard the suggestions")
        parser.add_argument("--all", action="store_true", help="every job waiting for review")

    def handle(self, *args, targets, save, discard, all, **options):
        if (save or discard) and not targets and not all:
            raise CommandError("Name the jobs (job ids or story keys), or use --all.")
        waiting = GenerationJob.objects.filter(status=JobStatus.READY).select_related("story").order_by("queued_at")
        if all:
            chosen = list(waiting)
            problems = []
        else:
            chosen, problems = self._resolve(targets, waiting) if targets else (list(waiting), [])
        for problem in problems:
            self.stderr.write(problem)
        if not (save or discard):
            self._list(chosen)
        else:
            for job in chosen:
                problem = self._save(job) if save else self._discard(job)
                if problem:
                    problems.append(problem)
                    self.stderr.write(problem)
        if problems:
            verb = "saved" if save else "discarded" if discard else "found"
            raise CommandError(f"{len(problems)} of the named jobs could not be {verb}.")

    def _list(self, chosen: list[GenerationJob]) -> None:
        if not chosen:
            self.stdout.write("No job is waiting for review.")
            return
        counts = dict(
            GenerationJob.objects.filter(pk__in=[j.pk for j in chosen])
            .annotate(n=Count("suggestions"))
            .values_list("pk", "n")
        )
        for job in chosen:
            note = f" — warning: {job.warning}" if job.warning else ""
            self.stdout.write(
                f"{job.pk}  {job.story.key}  {job.get_status_display()}: {counts.get(job.pk, 0)} suggested test "
                f"cases ({job.generator or 'unknown'} generator){note}"
            )

    def _save(self, job: GenerationJob) -> str | None:
        was_saved = job.status == JobStatus.SAVED
        try:
            saved = jobs.save_suggestions(job)
        except jobs.SuggestionErrors as error:
            details = "".join(f"\n  {line}" for line in error.lines())
            return f"{job.story.key} (job {str(job.pk)[:8]}): not saved — {error}{details}"
        except jobs.QueueError as error:
            return f"{job.story.key} (job {str(job.pk)[:8]}): not saved — {error}"
        verb = "was already saved" if was_saved else "saved"
        self.stdout.write(
            self.style.SUCCESS(f"{job.story.key}: {verb} — {len(saved)} test cases (job {str(job.pk)[:8]})")
        )
        return None

    def _discard(self, job: GenerationJob) -> str | None:
        if not jobs.discard_job(job):
            return f"{job.story.key} (job {str(job.pk)[:8]}): not discarded — it is {job.get_status_display().lower()}"
        self.stdout.write(f"{job.story.key}: discarded (job {str(job.pk)[:8]})")
        return None

    def _resolve(self, targets, waiting) -> tuple[list[GenerationJob], list[str]]:
        """The jobs named by ids, id prefixes or story keys, in the order given, and a message for each miss."""
        chosen: dict = {}
        problems = []
        all_jobs = GenerationJob.objects.select_related("story")
        for target in dict.fromkeys(targets):
            job = None
            try:
                job = all_jobs.filter(pk=uuid.UUID(target)).first()
            except ValueError:
                if len(target) >= MIN_ID_PREFIX and all(c in "0123456789abcdef-" for c in target.lower()):
                    matches = [
                        pk
                        for pk in GenerationJob.objects.values_list("pk", flat=True).iterator()
                        if str(pk).startswith(target.lower())
                    ]
                    if len(matches) > 1:
                        problems.append(f"{target}: more than one job starts with it; give more of the id.")
                        continue
                    job = all_jobs.filter(pk=matches[0]).first() if matches else None
                if job is None:
                    job = waiting.filter(story__key=normalise_key(target)).last()
                    if job is None:
                        latest = all_jobs.filter(story__key=normalise_key(target)).order_by("-queued_at").first()
                        if latest is not None:
                            problems.append(
                                f"{normalise_key(target)} has no job waiting for review (its latest job is "
                                f"{latest.get_status_display().lower()})."
                            )
                            continue
            if job is None:
                problems.append(f"{target}: no such job or story.")
                continue
            chosen[job.pk] = job
        return list(chosen.values()), problems
