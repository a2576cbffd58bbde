"""Bring test cases back from a Cucumber repository or a JSON export: the round trip of `stories.exporting`.

`import_tests(path)` reads a `.feature` file, a directory or zip of them, or QAForge's JSON export:

- a test case or scenario that carries a QAForge id (`@tc-<id>` on the Feature, `@sc-<id>` on a Scenario, `id` in
  JSON) is **updated** — title, test type, priority, scenario names, steps, tags and order — never duplicated; an id
  that names nothing in QAForge is refused (creating it would duplicate it again on every import);
- one without an id is created under the story named by its `@<STORY-KEY>` tag (or `story` = `--story KEY`); a
  scenario without an id added to an existing test case is matched by name, so importing the file twice adds it once;
- a scenario of a test case that is missing from the file is kept (importing never deletes);
- everything is checked before anything is written: invalid Gherkin is refused with `file:line:column`, and one
  problem anywhere writes nothing (one transaction);
- what did not change is counted as unchanged and not written, so re-importing an unchanged export writes nothing.

Steps are read from the file's own lines (not rebuilt from the parsed tree), so tables and doc strings come back
exactly as written.

The files are read and parsed into `Incoming*` objects (`incoming.py`) by `reading.py`; `writing.py` checks every one
of them and then writes them in one transaction, counting what it did in an `ImportReport`.
"""

from stories.importing_tests.incoming import ImportTestsError
from stories.importing_tests.writing import import_tests

__all__ = ["ImportTestsError", "import_tests"]
