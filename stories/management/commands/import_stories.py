"""`manage.py import_stories PATH`: load user stories from a tracker export (Jira CSV, Azure DevOps CSV, GitHub
issues JSON) or QAForge's own CSV/JSON."""

import os

from django.core.management.base import BaseCommand, CommandError

from stories import history
from stories.importing import FORMATS, ImportFailed, import_stories


class Command(BaseCommand):
    help = (
        "Import user stories from a Jira or Azure DevOps CSV export, GitHub issues JSON, or QAForge's CSV/JSON, "
        "upserting by key. Nothing is written unless every row is valid; guessed mappings are listed as warnings."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV or JSON file")
        parser.add_argument(
            "--project",
            metavar="KEY",
            help="project for stories the file leaves without one; numeric ids (Azure DevOps, GitHub) become KEY-<id>",
        )
        # No argparse `choices`: the importer's own message names the allowed formats.
        parser.add_argument("--format", default="auto", metavar="|".join(FORMATS), help="default: recognised")
        parser.add_argument("--types", metavar="Story,Bug", help="import only these tracker types (default: all)")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
        history.add_user_option(parser)

    def handle(self, *args, path, project, format, types, dry_run, user, **options):
        progress = self._progress_line if self.stderr.isatty() else self._progress_message
        try:
            with history.recorded_as(history.command_user(user), f"import_stories {os.path.basename(path)}"):
                summary = import_stories(
                    path,
                    project_key=project,
                    fmt=format,
                    types=types.split(",") if types else None,
                    dry_run=dry_run,
                    progress=progress,
                )
        except ImportFailed as failure:
            problems = f"{failure.total} problem{'s' if failure.total != 1 else ''}"
            raise CommandError(f"nothing imported ({problems}):\n{failure.message}") from None
        finally:
            if self.stderr.isatty():
                self.stderr.write("\r\033[K", ending="")
        self.stdout.write(f"{summary.format}: {summary.rows:,} row{'s' if summary.rows != 1 else ''}")
        if summary.types_line():
            self.stdout.write(f"types: {summary.types_line()}")
        for line in summary.warning_lines():
            self.stdout.write(self.style.WARNING(f"warning: {line}"))
        self.stdout.write(self.style.SUCCESS(str(summary)))

    def _progress_line(self, message: str) -> None:
        # One line, rewritten in place, on a terminal.
        self.stderr.write(f"\r\033[K  … {message}", ending="")
        self.stderr.flush()

    def _progress_message(self, message: str) -> None:
        self.stderr.write(f"  … {message}")
