"""Cucumber `.feature` files: one per test case at `<STORY-KEY>/tc-<id>-<slug>.feature`, loose or as a zip.

One file per test case (not per story) because that is how Cucumber repositories are usually laid out — a Feature is
one capability with its scenarios, and a QAForge test case is exactly that — and it keeps a file's diff to the test
case that changed. The text is `TestCase.feature_text()`: tags `@<STORY-KEY>` (Xray links the tests to that
requirement), `@tc-<id>`, the test type and `@priority-<p>` on the Feature; `@sc-<id>` and the scenario's own tags on
each Scenario. Preconditions become a `Background:` when they are steps, else a line of the Feature's description.
`stories.importing_tests` reads the ids back, so editing the files and importing them updates, never duplicates.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from django.db.models import QuerySet
from stream_zip import ZIP_32, stream_zip

from stories.exporting.selection import iter_test_cases
from stories.models import UserStory

ZIP_TIMESTAMP = datetime(2000, 1, 1)  # every zip member gets it, so the same data makes the same bytes


def feature_files(stories: QuerySet[UserStory]) -> Iterator[tuple[str, str]]:
    """(relative path, text) of every test case's `.feature` file."""
    for test_case in iter_test_cases(stories):
        yield test_case.feature_path(), test_case.feature_text()


def feature_zip(stories: QuerySet[UserStory]) -> Iterator[bytes]:
    """The `.feature` files as a zip archive, streamed (a member is built when the zip reaches it)."""
    members = ((path, ZIP_TIMESTAMP, 0o644, ZIP_32, (text.encode("utf-8"),)) for path, text in feature_files(stories))
    return stream_zip(members, extended_timestamps=False)
