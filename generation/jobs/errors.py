"""What a job request can be refused with: the errors callers catch, each worded for a person."""

from __future__ import annotations

from dataclasses import dataclass, field

QUEUE_UNREACHABLE = (
    "Could not reach the job queue. Try again in a moment; if it persists, ask an admin to check the worker."
)
WORKER_STOPPED = (
    "The worker stopped responding (tried {attempts} times). Try again, or ask an admin to check the worker."
)


class QueueError(Exception):
    """A request for generation that cannot be queued; `str()` is the message for a person, `status` an HTTP hint."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class JobStateError(QueueError):
    """The job is not in a state that allows the action (e.g. saving a job that is still running)."""

    def __init__(self, message: str):
        super().__init__(message, status=409)


@dataclass
class SuggestionErrors(Exception):
    """Reviewed suggestions that are not valid; nothing was saved. errors[suggestion_id][scenario_index] = problems
    (index -1: the test case itself), each message naming its field as the review page does."""

    errors: dict[int, dict[int, list[str]]] = field(default_factory=dict)

    def __str__(self) -> str:
        count = sum(len(problems) for s in self.errors.values() for problems in s.values())
        return f"{count} problem{'s' if count != 1 else ''} to fix before saving; nothing was saved."

    def lines(self) -> list[str]:
        """Each problem on a line for a person: "suggestion 12 · scenario 1 · Steps: …"."""
        return [
            " · ".join([f"suggestion {sid}", *([f"scenario {index + 1}"] if index >= 0 else []), message])
            for sid, by_index in self.errors.items()
            for index, problems in by_index.items()
            for message in problems
        ]
