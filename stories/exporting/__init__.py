"""Export saved test cases for the places tests are run and tracked: a Cucumber repository, Xray, TestRail.

One writer per format, each taking a queryset of stories (whatever the caller may see) and yielding chunks, so a
project with thousands of test cases starts downloading at once and is never held whole in memory. The page, the API
and the `export_tests` command call `export_chunks(format, stories)`; each submodule answers one question:

- `selection`: what an export covers — the stories named by keys or a project, read a batch at a time in a fixed
  order; how many test cases that is, and why an empty selection exports nothing;
- `cucumber`: the `.feature` files, one per test case, loose or as a zip (`stories.importing_tests` reads them back);
- `xray`: Xray's Test Case Importer CSV, one Cucumber Test per scenario;
- `testrail`: TestRail's CSV import, one case per scenario, for its Steps or BDD template;
- `qaforge_json`: everything, with ids, re-importable by `import_tests`;
- `spreadsheet_csv`: one row per scenario, for a spreadsheet;
- `csv_writing`: how the three CSVs are written — formula-safe cells (OWASP "CSV Injection"), Excel's byte-order
  mark, steps indented in a cell;
- `formats`: the list of formats (label, file name, content type) and `export_chunks()`.

Exports are deterministic: stories in natural key order (SHOP-2 before SHOP-10), test cases by id, scenarios by
position, fixed zip timestamps — the same data gives a byte-identical file. The stories per query round are
`selection.BATCH_STORIES`: patch it there.
"""

from stories.exporting.csv_writing import safe_cell
from stories.exporting.cucumber import feature_files, feature_zip
from stories.exporting.formats import EXPORT_FORMATS, FORMATS, export_chunks
from stories.exporting.selection import ExportError, count_test_cases, iter_stories, nothing_to_export, select_stories
from stories.exporting.testrail import TESTRAIL_PRIORITY, TESTRAIL_TEMPLATES

__all__ = [
    "EXPORT_FORMATS",
    "FORMATS",
    "TESTRAIL_PRIORITY",
    "TESTRAIL_TEMPLATES",
    "ExportError",
    "count_test_cases",
    "export_chunks",
    "feature_files",
    "feature_zip",
    "iter_stories",
    "nothing_to_export",
    "safe_cell",
    "select_stories",
]
