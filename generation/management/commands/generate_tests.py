"""python manage.py generate_tests KEY [KEY …] [--project KEY] [--all] [--wait] [--inline] [--save] …"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from generation import jobs
from generation import options as opts
from generation.models import FINISHED_STATUSES, GenerationJob, JobStatus
from generation.options import GenerationOptions, OptionsError
from stories.models import Project, UserStory


def _run_inline(job_id) -> str:
    try:
        return jobs.run_job(job_id)
    finally:
        connection.close()


# Exit codes with --wait or --inline (documented in --help).
EXIT_FAILED = 1
EXIT_WARNINGS = 3


class Command(BaseCommand):
    help = (
        "Queue test generation for stories (or run it here with --inline); --wait shows progress until all end. "
        "Exit codes with --wait/--inline: 0 every job is ready with everything asked; "
        f"{EXIT_FAILED} a job failed or could not be queued; "
        f"{EXIT_WARNINGS} every job finished but some with warnings (fewer test cases or scenarios than asked)."
    )

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", metavar="KEY", help="story keys, e.g. SHOP-12")
        parser.add_argument("--project", help="every story of this project")
        parser.add_argument("--all", action="store_true", help="every story that belongs to a project")
        parser.add_argument(
            "--test-cases",
            default=opts.DEFAULT_TEST_CASES,
            help=f"test cases per story ({opts.MIN_COUNT}-{opts.MAX_TEST_CASES}, default {opts.DEFAULT_TEST_CASES})",
        )
        parser.add_argument(
            "--scenarios-per-test",
            default=opts.DEFAULT_SCENARIOS_PER_TEST,
            help=f"scenarios per test case ({opts.MIN_COUNT}-{opts.MAX_SCENARIOS_PER_TEST}, "
            f"default {opts.DEFAULT_SCENARIOS_PER_TEST})",
        )
        parser.add_argument(
            "--types",
            default=",".join(opts.DEFAULT_TEST_TYPES),
            help=f"comma-separated test types: {', '.join(opts.TEST_TYPES)}",
        )
        parser.add_argument("--wait", action="store_true", help="show progress and wait until every job ends")
        parser.add_argument("--inline", action="store_true", help="run the jobs in this process (no worker needed)")
        parser.add_argument(
            "--save",
            action="store_true",
            help="with --wait or --inline: save each ready job's suggestions as test cases, as suggested (no review)",
        )
        parser.add_argument("--poll", type=float, default=0.5, help=argparse_hidden())

    def handle(self, *args, **options):
        if options["save"] and not (options["wait"] or options["inline"]):
            raise CommandError("--save needs --wait or --inline: it saves the jobs once they are ready.")
        try:
            chosen = GenerationOptions.parse(
                test_cases=options["test_cases"],
                scenarios_per_test=options["scenarios_per_test"],
                test_types=options["types"],
            )
        except OptionsError as error:
            raise CommandError(str(error)) from error
        stories = self._stories(options)
        queued, refused = [], []
        for story in stories:
            try:
                job, created = jobs.queue_generation(story, options=chosen, enqueue=not options["inline"])
            except jobs.QueueError as error:
                refused.append((story.key, str(error)))
                self.stderr.write(f"{story.key}: {error}")
                continue
            queued.append(job)
            note = "queued" if created else f"already {job.status} (job {str(job.pk)[:8]})"
            self.stdout.write(f"{story.key}: {note} — job {job.pk}")
        if not queued:
            raise CommandError("No job was queued.")
        if options["inline"]:
            with ThreadPoolExecutor(max_workers=min(8, len(queued))) as pool:
                futures = [pool.submit(_run_inline, job.pk) for job in queued if job.status == JobStatus.QUEUED]
                if options["wait"]:
                    self._wait(queued, options["poll"])
                for future in futures:
                    future.result()
        elif options["wait"]:
            self._wait(queued, options["poll"])
        if options["wait"] or options["inline"]:
            failed, warned = self._report(queued, save=options["save"])
            if failed or refused:
                names = [f"{k} ({why})" for k, why in failed + refused]
                raise CommandError(f"{len(names)} failed: " + "; ".join(names), returncode=EXIT_FAILED)
            if warned:
                raise CommandError(
                    f"{len(warned)} finished with warnings: {', '.join(warned)}", returncode=EXIT_WARNINGS
                )

    def _stories(self, options) -> list[UserStory]:
        qs = UserStory.objects.select_related("project")
        if options["all"]:
            return list(qs.filter(project__isnull=False))
        if options["project"]:
            project = Project.objects.filter(key=options["project"]).first()
            if project is None:
                raise CommandError(f"There is no project with the key {options['project']!r}.")
            stories = list(qs.filter(project=project))
            if not stories:
                raise CommandError(f"Project {project.key} has no stories.")
            return stories + self._by_key(options["keys"])
        if not options["keys"]:
            raise CommandError("Name at least one story key, or use --project KEY or --all.")
        return self._by_key(options["keys"])

    def _by_key(self, keys) -> list[UserStory]:
        found = {s.key: s for s in UserStory.objects.select_related("project").filter(key__in=keys)}
        missing = [k for k in keys if k not in found]
        if missing:
            raise CommandError(f"Unknown story key(s): {', '.join(missing)}")
        return [found[k] for k in dict.fromkeys(keys)]

    def _wait(self, queued, poll: float) -> None:
        ids = [job.pk for job in queued]
        last = {}
        while True:
            rows = list(
                GenerationJob.objects.filter(pk__in=ids).values_list("pk", "story__key", "status", "progress", "phase")
            )
            for pk, key, status, progress, phase in rows:
                line = f"{key}: {status} {progress}% {phase}".rstrip()
                if last.get(pk) != line:
                    last[pk] = line
                    self.stdout.write(line)
            if all(status in FINISHED_STATUSES for _, _, status, _, _ in rows):
                return
            time.sleep(poll)

    def _report(self, queued, save: bool = False) -> tuple[list[tuple[str, str]], list[str]]:
        failed, warned = [], []
        for job in GenerationJob.objects.filter(pk__in=[j.pk for j in queued]).select_related("story"):
            if job.status == JobStatus.READY:
                count = job.suggestions.count()
                short = f" ({job.shortfall} asked)" if job.shortfall else ""
                style = self.style.WARNING if job.warnings else self.style.SUCCESS
                self.stdout.write(style(f"{job.story.key}: ready — {count} suggested test cases{short}"))
                for warning in job.warnings:
                    warned.append(job.story.key)
                    self.stdout.write(self.style.WARNING(f"{job.story.key}: warning: {warning}"))
                if save:
                    try:
                        saved = jobs.save_suggestions(job)
                    except (jobs.QueueError, jobs.SuggestionErrors) as error:
                        failed.append((job.story.key, f"not saved: {error}"))
                        lines = error.lines() if isinstance(error, jobs.SuggestionErrors) else []
                        self.stderr.write(f"{job.story.key}: not saved — {error}" + "".join(f"\n  {x}" for x in lines))
                    else:
                        self.stdout.write(self.style.SUCCESS(f"{job.story.key}: saved {len(saved)} test cases"))
            elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
                failed.append((job.story.key, job.error or job.get_status_display()))
                self.stderr.write(f"{job.story.key}: {job.status} — {job.error}")
            else:
                self.stdout.write(f"{job.story.key}: {job.status}")
        return failed, list(dict.fromkeys(warned))


def argparse_hidden():
    import argparse

    return argparse.SUPPRESS
