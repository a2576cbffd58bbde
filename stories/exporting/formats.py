"""Which export formats there are — name, label, file name, content type, writer — and `export_chunks()`, the one
entry point the page, the API and the `export_tests` command call."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from django.db.models import QuerySet

from stories.exporting.cucumber import feature_zip
from stories.exporting.qaforge_json import json_export
from stories.exporting.selection import ExportError
from stories.exporting.spreadsheet_csv import generic_csv
from stories.exporting.testrail import testrail_csv
from stories.exporting.xray import xray_csv
from stories.models import UserStory


@dataclass(frozen=True)
class ExportFormat:
    name: str
    label: str
    hint: str  # where the file goes, for the export dialog
    filename: str  # download / default file name
    content_type: str
    binary: bool  # yields bytes (zip) rather than text
    write: Callable[..., Iterator]
    takes_excel: bool = False


FORMATS = {
    fmt.name: fmt
    for fmt in (
        ExportFormat(
            "feature",
            "Cucumber .feature files",
            "A zip of one .feature per test case, for a behave, pytest-bdd or cucumber repository.",
            "features.zip",
            "application/zip",
            True,
            feature_zip,
        ),
        ExportFormat(
            "xray-csv",
            "Xray CSV",
            "Xray → Test Case Importer: one Cucumber test per scenario, linked to its story.",
            "xray-tests.csv",
            "text/csv",
            False,
            xray_csv,
            True,
        ),
        ExportFormat(
            "testrail-csv",
            "TestRail CSV",
            "TestRail → Import from CSV: one case per scenario, a section per story.",
            "testrail-cases.csv",
            "text/csv",
            False,
            testrail_csv,
            True,
        ),
        ExportFormat(
            "json",
            "QAForge JSON",
            "Everything, with ids: edit and bring back with import_tests.",
            "test-cases.json",
            "application/json",
            False,
            json_export,
        ),
        ExportFormat(
            "csv", "Spreadsheet CSV", "One row per scenario.", "test-cases.csv", "text/csv", False, generic_csv, True
        ),
    )
}
EXPORT_FORMATS = tuple(FORMATS)


def export_chunks(
    format_name: str, stories: QuerySet[UserStory], *, excel: bool = False, testrail_template: str = "steps"
) -> Iterator:
    """The chunks of one export (str, or bytes for the zip): the single entry point for the UI, API and command."""
    fmt = FORMATS.get(format_name)
    if fmt is None:
        raise ExportError(f'Unknown format "{format_name}" (use {", ".join(EXPORT_FORMATS)}).')
    kwargs = {"excel": excel} if fmt.takes_excel else {}
    if format_name == "testrail-csv":
        kwargs["template"] = testrail_template
    return fmt.write(stories, **kwargs)
