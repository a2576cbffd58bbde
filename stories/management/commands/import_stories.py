"""`manage.py import_stories PATH`: load user stories from a CSV (ours or Jira's export) or JSON file."""

from django.core.management.base import BaseCommand, CommandError

from stories.importing import FORMATS, ImportFailed, import_stories


class Command(BaseCommand):
    help = (
        "Import user stories from a CSV file (our column names or Jira's CSV export) or a JSON list, upserting by key. "
        "Nothing is written unless every row is valid."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="the CSV or JSON file")
        parser.add_argument("--project", metavar="KEY", help="project for stories the file leaves without one")
        # No argparse `choices`: the importer's own message names the allowed formats.
        parser.add_argument("--format", default="auto", metavar="|".join(FORMATS), help="default: from the file")
        parser.add_argument("--dry-run", action="store_true", help="check and count, write nothing")

    def handle(self, *args, path, project, format, dry_run, **options):
        def progress(message: str) -> None:
            self.stderr.write(f"  … {message}")

        try:
            summary = import_stories(path, project_key=project, fmt=format, dry_run=dry_run, progress=progress)
        except ImportFailed as failure:
            problems = f"{failure.total} problem{'s' if failure.total != 1 else ''}"
            raise CommandError(f"nothing imported ({problems}):\n{failure.message}") from None
        self.stdout.write(self.style.SUCCESS(str(summary)))
