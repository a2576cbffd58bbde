"""The generation engine: a story and a request in, suggested test cases of valid Gherkin out.

Pure module (no views, no ORM writes): plan the test cases and their focus, run every batch at once through Gemini
(or the offline generator), merge, deduplicate and report. See runner.generate() for the entry point.
"""

from generation.engine.data import (
    BatchResult,
    Cancelled,
    EngineError,
    GenerationRequest,
    GenerationResult,
    StorySnapshot,
    SuggestedScenario,
    Suggestion,
)
from generation.engine.limiter import LIMITER
from generation.engine.planning import Batch, CaseFocus, Plan, plan
from generation.engine.runner import active_generator, generate

__all__ = [
    "LIMITER",
    "Batch",
    "BatchResult",
    "Cancelled",
    "CaseFocus",
    "EngineError",
    "GenerationRequest",
    "GenerationResult",
    "Plan",
    "StorySnapshot",
    "SuggestedScenario",
    "Suggestion",
    "active_generator",
    "generate",
    "plan",
]
