"""`manage.py export_tests [KEY ...]`: saved test cases as .feature files, JSON or CSV."""

import io
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stories import exporting


class Command(BaseCommand):
    help = (
        "Export saved test cases: one .feature file per test case in a directory per story (or all to stdout), "
        "a JSON list of stories, or CSV with one row per scenario."
    )

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", metavar="KEY", help="story keys (default: every story with test cases)")
        parser.add_argument("--project", metavar="KEY", help="only stories of this project")
        parser.add_argument("--format", default="feature", metavar="|".join(exporting.EXPORT_FORMATS))
        parser.add_argument(
            "--output", metavar="DIR_OR_FILE", help="feature: a directory; json/csv: a file or a directory (stdout)"
        )

    def handle(self, *args, keys, project, format, output, **options):
        if format not in exporting.EXPORT_FORMATS:
            raise CommandError(f'Unknown format "{format}" (use {", ".join(exporting.EXPORT_FORMATS)}).')
        try:
            stories = exporting.select_stories(keys, project)
        except exporting.ExportError as error:
            raise CommandError(str(error)) from None
        for story in stories:
            if not story.test_cases.all():
                self.stderr.write(f"{story.key} has no saved test cases.")
        count = sum(len(story.test_cases.all()) for story in stories)
        if not count:
            self.stderr.write("Nothing to export: no saved test cases.")
            return

        if format == "feature":
            if output is None:
                self.stdout.write(exporting.features_stream_text(stories), ending="")
                return
            directory = Path(output)
            if directory.exists() and not directory.is_dir():
                raise CommandError(f"{output} is a file; .feature export needs a directory (one file per test case).")
            written = exporting.write_features(stories, directory)
            self.stderr.write(self.style.SUCCESS(f"Wrote {len(written)} .feature files under {directory}/"))
            return

        write = exporting.write_json if format == "json" else exporting.write_csv
        if output is None:
            buffer = io.StringIO()
            write(stories, buffer)
            self.stdout.write(buffer.getvalue(), ending="")
            return
        path = Path(output)
        if path.is_dir():
            path = path / f"test-cases.{format}"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", encoding="utf-8", newline="") as out:
            write(stories, out)
        self.stderr.write(self.style.SUCCESS(f"Wrote {count} test cases to {path}"))
