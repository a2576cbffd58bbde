"""Exports of a large project: does the download start at once, and does it stay small in memory?

Builds a project of S stories x T test cases x 3 scenarios (default 500 x 10: 5,000 test cases, 15,000 scenarios) in
a fresh SQLite database, then for each format prints the time to the first chunk as a fraction of the whole export,
and the peak Python memory while streaming the export (each chunk dropped as it is sent) beside the peak when the same
export is held whole (what a non-streaming response would do). Streaming memory is bounded by one batch of stories
(exporting.selection.BATCH_STORIES) however large the project; held memory grows with it.

    .venv/bin/python bench/export.py [--stories 500] [--test-cases 10]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stories", type=int, default=500)
    parser.add_argument("--test-cases", type=int, default=10)
    args = parser.parse_args()

    os.environ.update(
        {"DEBUG": "1", "SECRET_KEY": "bench", "QAFORGE_DATA_DIR": tempfile.mkdtemp(prefix="qaforge-bench-export-")}
    )
    os.environ.pop("DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from stories import exporting
    from stories.models import Project, Scenario, TestCase, UserStory

    project = Project.objects.create(key="BIG", name="Big project")
    UserStory.objects.bulk_create(
        UserStory(project=project, key=f"BIG-{n}", title=f"Story {n}") for n in range(1, args.stories + 1)
    )
    TestCase.objects.bulk_create(
        TestCase(story=story, title=f"{story.key} case {t}", objective="Check it.", preconditions="Given a shop")
        for story in UserStory.objects.all()
        for t in range(args.test_cases)
    )
    steps = "Given a signed-in shopper\nWhen they add an item to the cart\nThen the cart shows 1 item"
    Scenario.objects.bulk_create(
        Scenario(test_case=tc, position=p, name=f"Scenario {p}", steps=steps, tags=["@smoke"])
        for tc in TestCase.objects.all()
        for p in range(3)
    )
    stories = UserStory.objects.filter(project=project)
    total = TestCase.objects.count()
    print(f"{args.stories} stories, {total} test cases, {Scenario.objects.count()} scenarios")
    print(f"{'format':<14}{'file':>8}{'first chunk / whole time':>27}{'peak memory streamed':>22}{'held whole':>12}")
    for name in exporting.EXPORT_FORMATS:
        start = time.perf_counter()
        chunks = iter(exporting.export_chunks(name, stories))
        next(chunks)
        first = time.perf_counter() - start
        size = sum(len(c) for c in chunks)
        whole = time.perf_counter() - start

        tracemalloc.start()
        for _ in exporting.export_chunks(name, stories):
            pass
        streamed_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        tracemalloc.start()
        held = list(exporting.export_chunks(name, stories))
        held_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        del held
        memory = f"{streamed_peak / 1e6:>20.1f}MB{held_peak / 1e6:>10.1f}MB"
        print(f"{name:<14}{size / 1e6:>6.1f}MB{first / whole:>27.3f}{memory}")


if __name__ == "__main__":
    main()
