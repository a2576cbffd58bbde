"""The two similarity thresholds QAForge uses, measured: where "edited" ends and "different" begins.

Run: .venv/bin/python bench/similarity.py
Prints, for rapidfuzz's ratio (0-100):
1. acceptance criteria (stories.criteria.EDIT_SIMILARITY): two different criteria of one demo story, against one
   criterion and an edited copy of it (a number changed, the last word dropped, a clause added);
2. scenarios (generation.duplicates.SCENARIO_SIMILARITY): two different scenarios the offline generator designs for
   one demo story (10 test cases x 5 scenarios) that name the same numbers, against one scenario and a copy of it
   changed three ways (small words, step order or keywords; a content word; one character), and how many of each
   a threshold flags.
A threshold is right when it lies above the highest "different" score and below the lowest "edited" one.
"""

from __future__ import annotations

import itertools
import os
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def line(name: str, values: list[float]) -> str:
    return (
        f"  {name:<34} n={len(values):<5} min={min(values):5.1f}  p5={percentile(values, 0.05):5.1f}  "
        f"median={percentile(values, 0.5):5.1f}  p99={percentile(values, 0.99):5.1f}  max={max(values):5.1f}"
    )


def criteria_scores(stories) -> tuple[list[float], list[float]]:
    from rapidfuzz import fuzz
    from rapidfuzz.utils import default_process

    different, edited = [], []
    for story in stories:
        criteria = story["acceptance_criteria"]
        for a, b in itertools.combinations(criteria, 2):
            different.append(fuzz.ratio(a, b, processor=default_process))
        for text in criteria:
            words = text.split()
            copies = [
                re.sub(r"\d+", lambda m: str(int(m.group()) + 7), text),
                " ".join(words[:-1]) if len(words) > 4 else text + " now",
                text + ", and a confirmation is shown",
            ]
            edited += [fuzz.ratio(text, c, processor=default_process) for c in copies if c != text]
    return different, edited


def copies(steps: str) -> dict[str, list[str]]:
    """Re-worded copies of one scenario, by kind of change."""
    lines = steps.splitlines()
    small = [
        re.sub(r"\bthe\b", "a", steps, count=2),
        steps.replace("Then ", "Then I see that ", 1),
        steps.replace("And ", "* "),
    ]
    ands = [i for i, line in enumerate(lines) if line.startswith("And ")]
    if len(ands) >= 2:
        swapped = list(lines)
        swapped[ands[0]], swapped[ands[1]] = swapped[ands[1]], swapped[ands[0]]
        small.append("\n".join(swapped))
    words = [
        re.sub(r"\b(shopper|user|customer|guest|admin|payer|member)\b", "person", steps),
        " ".join(steps.split()[:-1]),
        steps.replace("\n", " now\n", 1),
    ]
    typo = [steps[: len(steps) // 2] + steps[len(steps) // 2 + 1 :]]
    return {
        "small words, order, keywords": [c for c in small if c != steps],
        "a content word replaced": [c for c in words if c != steps],
        "one character typed wrong": typo,
    }


def scenario_scores(stories) -> tuple[list[float], dict[str, list[float]]]:
    from generation.duplicates import similarity
    from generation.engine import GenerationRequest, StorySnapshot, generate

    different: list[float] = []
    edited: dict[str, list[float]] = {}
    for story in stories:
        snapshot = StorySnapshot(
            key=story["key"],
            title=story["title"],
            description=story.get("description", ""),
            acceptance_criteria=tuple(story["acceptance_criteria"]),
        )
        result = generate(snapshot, GenerationRequest(test_cases=10, scenarios_per_test=5), generator="offline")
        steps = [sc.steps for s in result.suggestions for sc in s.scenarios]
        for a, b in itertools.combinations(steps, 2):
            score = similarity(a, b)
            if score:  # pairs naming different numbers are never duplicates
                different.append(score)
        for original in steps:
            for kind, texts in copies(original).items():
                edited.setdefault(kind, []).extend(similarity(original, c) for c in texts)
    return different, edited


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qaforge.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from generation.duplicates import SCENARIO_SIMILARITY
    from stories.criteria import EDIT_SIMILARITY
    from stories.demo_data import STORIES

    different, edited = criteria_scores(STORIES)
    print(f"acceptance criteria ({len(STORIES)} demo stories), threshold EDIT_SIMILARITY={EDIT_SIMILARITY}")
    print(line("different criteria of one story", different))
    print(line("a criterion and its edited copy", edited))
    different, edited = scenario_scores(STORIES)
    print(f"scenarios (offline generator, 10 x 5 per demo story), threshold SCENARIO_SIMILARITY={SCENARIO_SIMILARITY}")
    print(line("different scenarios, same numbers", different))
    for kind, scores in edited.items():
        print(line(f"copy: {kind}", scores))
    print("  threshold  different scenarios flagged  " + "  ".join(f"{kind} caught" for kind in edited))
    for threshold in (95, 97, 98, 99, 100):
        flagged = sum(score >= threshold for score in different)
        caught = [f"{100 * sum(s >= threshold for s in scores) / len(scores):>5.0f}%" for scores in edited.values()]
        print(
            f"  {threshold:>9}  {flagged:>5} of {len(different):<19}"
            + "  ".join(f"{c:>{len(k) + 7}}" for c, k in zip(caught, edited, strict=True))
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
