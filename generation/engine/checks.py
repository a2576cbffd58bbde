"""The Gherkin check of a suggested scenario, remembered for the process.

The engine checks each scenario twice (when a batch's answer is read, and when a story's batches are merged), and
parsing Gherkin with the official parser is most of a job's CPU time: a worker running a sprint's jobs at once is
CPU-bound on it, so the second check of the same text is answered from memory.
"""

from __future__ import annotations

import functools

from stories.gherkin import ScenarioText, scenario_problems


def gherkin_problems(name: str, steps: str, tags) -> list[str]:
    """`stories.gherkin.scenario_problems` for these parts (an empty list: valid)."""
    return list(_problems(name, steps, tuple(tags)))


@functools.lru_cache(maxsize=8192)
def _problems(name: str, steps: str, tags: tuple) -> tuple:
    return tuple(scenario_problems(ScenarioText(name, steps, list(tags))))
