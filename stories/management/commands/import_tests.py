"""`manage.py import_tests PATH [--story KEY] [--dry-run]`: bring edited test cases back (stories.importing_tests)."""

import os

from django.core.management.base import BaseCommand, CommandError

from stories import history
from stories.importing_tests import ImportTestsError, import_tests


class Command(BaseCommand):
    help = (
        "Import test cases from a .feature file, a directory or zip of them, or QAForge's JSON export. Test cases "
        "and scenarios with a QAForge id tag (@tc-N, @sc-N) are updated, others created under the story of their "
        "@STORY-KEY tag (or --story). Invalid Gherkin is refused with file:line:column and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", help="a .feature or .json file, a directory, or a .zip")
        parser.add_argument("--story", metavar="KEY", help="story for test cases without a @STORY-KEY tag or id")
        parser.add_argument("--dry-run", action="store_true", help="check and report, write nothing")
        history.add_user_option(parser)

    def handle(self, *args, path, story, dry_run, user, **options):
        try:
            with history.recorded_as(history.command_user(user), f"import_tests {os.path.basename(path)}"):
                report = import_tests(path, story_key=story, dry_run=dry_run)
        except ImportTestsError as error:
            for problem in error.problems:
                self.stderr.write(problem)
            count = len(error.problems)
            raise CommandError(f"Nothing imported: {count} problem{'s' if count != 1 else ''}.") from None
        self.stdout.write(self.style.SUCCESS(report.summary()))
