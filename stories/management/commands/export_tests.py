"""`manage.py export_tests [KEY …] [--project KEY] [--all] --format FORMAT [--output PATH] [--excel]`."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from stories import exporting


class Command(BaseCommand):
    help = (
        "Export saved test cases: Cucumber .feature files (a directory or a .zip), the Xray or TestRail CSV import, "
        "QAForge JSON (re-importable with import_tests) or CSV. Exits 1 when there is nothing to export."
    )

    def add_arguments(self, parser):
        parser.add_argument("keys", nargs="*", metavar="KEY", help="story keys, e.g. SHOP-12")
        parser.add_argument("--project", metavar="KEY", help="every story of this project")
        parser.add_argument("--all", action="store_true", help="every story")
        parser.add_argument("--format", default="feature", choices=exporting.EXPORT_FORMATS)
        parser.add_argument(
            "--output",
            metavar="PATH",
            help="feature: a directory or FILE.zip (stdout only for a single feature); others: a file or a "
            "directory (default: stdout)",
        )
        parser.add_argument("--excel", action="store_true", help="CSV: start with a UTF-8 BOM so Excel reads accents")
        parser.add_argument(
            "--testrail-template",
            default="steps",
            choices=tuple(exporting.TESTRAIL_TEMPLATES),
            help='testrail-csv: the Template column, "steps" (Test Case (Steps)) or "bdd" (Behaviour Driven '
            "Development)",
        )

    def handle(self, *args, keys, project, all, format, output, excel, testrail_template, **options):
        try:
            stories = exporting.select_stories(keys, project, all)
        except exporting.ExportError as error:
            raise CommandError(str(error)) from None
        count = exporting.count_test_cases(stories)
        if not count:
            raise CommandError(exporting.nothing_to_export(stories, keys))
        for key in keys:
            if not stories.filter(key=key, test_cases__isnull=False).exists():
                self.stderr.write(f"{key} has no saved test cases.")
        if format == "feature":
            self._features(stories, count, output)
            return
        chunks = exporting.export_chunks(format, stories, excel=excel, testrail_template=testrail_template)
        if output is None:
            for chunk in chunks:
                self.stdout.write(chunk, ending="")
        else:
            path = Path(output)
            if path.is_dir():
                path = path / exporting.FORMATS[format].filename
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8", newline="") as out:
                out.writelines(chunks)
            self.stderr.write(self.style.SUCCESS(f"Wrote {count} test cases to {path}"))

    def _features(self, stories, count: int, output: str | None) -> None:
        if output is None:
            if count > 1:
                raise CommandError(
                    f"The selection has {count} test cases, one .feature file each: use --output DIR or "
                    "--output FILE.zip (standard output takes a single feature only)."
                )
            for _, text in exporting.feature_files(stories):
                self.stdout.write(text, ending="")
            return
        path = Path(output)
        if path.suffix.lower() == ".zip":
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "wb") as out:
                out.writelines(exporting.feature_zip(stories))
            self.stderr.write(self.style.SUCCESS(f"Wrote {count} .feature files into {path}"))
            return
        if path.exists() and not path.is_dir():
            raise CommandError(f"{output} is a file; .feature export needs a directory or a .zip file name.")
        for relative, text in exporting.feature_files(stories):
            target = path / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.stderr.write(self.style.SUCCESS(f"Wrote {count} .feature files under {path}/"))
